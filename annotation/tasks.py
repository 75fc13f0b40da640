"""Celery tasks of the annotation app."""
from annotation.services import imports
from config.tasks import default_task


# Safe to run twice: a finished batch is skipped, and a re-run of an interrupted one finds its own
# images by content hash instead of storing them again. So a worker that dies mid-import hands the
# message back (acks_late, reject_on_worker_lost from the defaults) and the next run completes it.
@default_task(name=imports.IMPORT_TASK, soft_time_limit=3600, time_limit=3700)
def import_batch_process(batch_id: int) -> None:
    imports.import_batch_process_staged(batch_id=batch_id)
