"""Receivers of pair selection: thin, each calls one service (connected in modeling/apps.py)."""
from annotation.models import PairSource
from annotation.vocabulary import TaskKind
from modeling.selection.selectors import selection_critic_number
from modeling.selection.tasks import pair_queue_refill_request


def judgements_submitted_refill(sender, *, project, judgement, **kwargs) -> None:
    """A comparison was answered: refill the pair queue if it runs low (below half a batch)."""
    if judgement.kind != TaskKind.PAIR:
        return
    pair_queue_refill_request(project=project, only_if_low=True)


def scaling_run_done_refill(sender, *, project, run, **kwargs) -> None:
    """New scores, so a new posterior: let the selector top the queue up from it."""
    if project.pair_source != PairSource.PROPOSED:
        return
    pair_queue_refill_request(project=project, only_if_low=False)


def scores_selection_note(sender, *, project, **kwargs) -> str:
    """The Scores page's and exports' note when the newest pairs were chosen with a critic's prior."""
    number = selection_critic_number(project=project)
    if number is None:
        return ""
    return f"Pairs are chosen with Critic v{number}'s prior; scores shown are from human judgements only."
