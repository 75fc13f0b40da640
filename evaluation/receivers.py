"""Receivers of the evaluation app: thin, each calls one service (connected in evaluation/apps.py)."""
from annotation.models import WorkItem
from annotation.vocabulary import TaskKind
from evaluation.services import scaling_request_if_due

_SCALED_KINDS = {TaskKind.PAIR.value, TaskKind.RATING.value}
_SCALED_PURPOSES = {WorkItem.Purpose.WORK.value, WorkItem.Purpose.GOLD.value}


def judgements_submitted_scale(sender, *, project, judgement, **kwargs) -> None:
    """A pair or rating judgement came in: queue a scaling run if enough have since the last one."""
    if judgement.kind not in _SCALED_KINDS or judgement.purpose not in _SCALED_PURPOSES:
        return
    scaling_request_if_due(project=project)
