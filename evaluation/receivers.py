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


def project_data_changed_quality(sender, *, project, **kwargs) -> None:
    """Judgements came in or were undone, an annotator was excluded or restored, or new scores: refresh the dashboard."""
    from evaluation.report_cache import QUALITY, report_mark_stale

    report_mark_stale(kind=QUALITY, object_id=project.pk)


def quality_report_compute(project_id: int) -> dict | None:
    """The quality report of a project, for the report cache; None if the project is gone."""
    from annotation.models import Project
    from evaluation.quality import project_quality_report

    project = Project.objects.filter(pk=project_id).first()
    return None if project is None else project_quality_report(project=project)
