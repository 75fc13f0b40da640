"""Celery tasks of the exports app."""
from config.tasks import default_task
from exports import services


# Safe to run twice: the job row is locked and its status checked first, so a finished (or failed) job is skipped;
# a job whose worker died mid-way (acks_late + reject_on_worker_lost hand the message back) is written again from
# the start into a temporary file, which replaces the final one only when complete. Never retried: a failure here
# is bad data or a full disk, and the job row shows it.
@default_task(name=services.EXPORT_TASK, soft_time_limit=3600, time_limit=3660)
def export_job_run_task(job_id: int) -> None:
    services.export_job_run(job_id=job_id)
