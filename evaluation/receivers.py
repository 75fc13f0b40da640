"""Receivers of the evaluation app: thin, each calls one service (connected in evaluation/apps.py)."""
from annotation.models import Judgement, WorkItem
from annotation.vocabulary import TaskKind
from evaluation.models import ScalingRun
from evaluation.services import scaling_request_if_due, scaling_run_request

_SCALED_KINDS = {TaskKind.PAIR.value, TaskKind.RATING.value}
_SCALED_PURPOSES = {WorkItem.Purpose.WORK.value, WorkItem.Purpose.GOLD.value}


def judgements_submitted_scale(sender, *, project, judgement, **kwargs) -> None:
    """A pair or rating judgement came in: queue a scaling run if enough have since the last one."""
    if judgement.kind not in _SCALED_KINDS or judgement.purpose not in _SCALED_PURPOSES:
        return
    scaling_request_if_due(project=project)


def annotator_exclusion_changed_scale(sender, *, project, event, **kwargs) -> None:
    """An annotator's data was excluded or restored: re-scale if any of it was pairs or ratings."""
    if Judgement.objects.filter(project=project, annotator_id=event.annotator_id, kind__in=_SCALED_KINDS).exists():
        scaling_run_request(project=project, trigger=ScalingRun.Trigger.MANUAL)
