"""Celery tasks of the modeling app."""
from celery import shared_task

from annotation.models import Project
from modeling import selection, services


# Safe to run twice: each run only adds one dated report row.
@shared_task(name="modeling.device_report", soft_time_limit=60, time_limit=90)
def device_report() -> int:
    return services.device_report_create().pk


# Safe to run twice: the refill locks the project row and adds pairs only while fewer than a batch
# are open, so a redelivered or duplicated message (acks_late, reject_on_worker_lost) adds nothing
# more. Not retried: a failure is bad data, and the next judgements or scaling run enqueue it again.
@shared_task(name="modeling.pair_queue_refill", soft_time_limit=120, time_limit=150)
def pair_queue_refill(project_id: int) -> int:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0  # deleted since
    return selection.pair_queue_refill(project)
