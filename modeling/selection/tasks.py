"""Celery tasks of pair selection, and the requests that queue them."""
from django.core.cache import cache
from django.db import transaction

from annotation.models import Project
from annotation.services.work import pair_items_open_count
from annotation.vocabulary import TaskKind
from config.tasks import default_task
from modeling.selection import services as selection

#: How long to wait before another refill of the same project is enqueued: a burst of judgements enqueues one.
#: With the default local-memory cache this holds per process (CACHE_URL shares it); several processes may
#: each enqueue one, which is harmless because the refill itself is idempotent (it adds nothing while the
#: queue holds a batch).
REFILL_DEBOUNCE_SECONDS = 10


# Safe to run twice: the refill locks the project row and adds pairs only while fewer than a batch
# are open, so a redelivered or duplicated message (acks_late, reject_on_worker_lost) adds nothing
# more. Not retried: a failure is bad data, and the next judgements or scaling run enqueue it again.
@default_task(name="modeling.pair_queue_refill", soft_time_limit=120, time_limit=150)
def pair_queue_refill(project_id: int) -> int:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0  # deleted since
    return selection.pair_queue_refill(project)


def pair_queue_refill_request(*, project: Project, only_if_low: bool = True) -> bool:
    """Enqueue a refill of the project's pairs (after the transaction commits); True if one was enqueued.

    With `only_if_low`, only when fewer than half a batch of pairs is open. Debounced per process for
    REFILL_DEBOUNCE_SECONDS with a cache key, so a burst of judgements enqueues one refill.
    """
    if TaskKind.PAIR not in (project.task_kinds or []):
        return False
    if only_if_low and pair_items_open_count(project) >= project.pair_batch_size / 2:
        return False
    if not cache.add(f"loupe:pair-refill:{project.pk}", True, timeout=REFILL_DEBOUNCE_SECONDS):
        return False
    transaction.on_commit(lambda: pair_queue_refill.delay(project.pk))
    return True


# Safe to run twice: the re-plan locks the project row and retires only proposals nobody has judged or
# leased, then refills through the same idempotent refill; a second run re-draws the same critic's batch.
@default_task(name="modeling.pair_queue_replan", soft_time_limit=120, time_limit=150)
def pair_queue_replan(project_id: int) -> int:
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0  # deleted since
    return selection.pair_queue_replan(project).added


def selection_prior_refresh(*, project_id: int) -> None:
    """New critic scores or a new active critic: re-plan the project's waiting pairs with it (after commit).

    Critic versions belong to one project, so the projects whose selection uses this critic are its own.
    """
    transaction.on_commit(lambda: pair_queue_replan.delay(project_id))
