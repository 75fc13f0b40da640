"""Celery tasks of the evaluation app."""
from annotation.models import Project
from config.tasks import default_task
from evaluation import services
from evaluation.models import ScalingRun
from evaluation.report_cache import REFRESH_TASK, report_refresh_run


# Safe to run twice: the run row is locked and its status checked first, so a finished run is skipped;
# a run whose worker died mid-way (acks_late + reject_on_worker_lost hand the message back) is redone
# from the start, its partial scores deleted in the same transaction that writes the new ones.
# Never retried: a failure here is bad data or a fit that does not converge, and the run row shows it.
@default_task(name=services.SCALE_TASK, soft_time_limit=600, time_limit=660)
def project_scale(project_id: int, run_id: int | None = None) -> None:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return  # deleted since: nothing to scale
    run = None
    if run_id is not None:
        run = ScalingRun.objects.filter(pk=run_id, project=project).first()
        if run is None:
            return
    services.project_scale(project, run=run, trigger=ScalingRun.Trigger.COMMAND)


# Safe to run twice: it recomputes from the database and overwrites the cached row.
@default_task(name=REFRESH_TASK, soft_time_limit=300, time_limit=330)
def report_refresh(kind: str, object_id: int) -> None:
    report_refresh_run(kind=kind, object_id=object_id)
