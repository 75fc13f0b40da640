"""Twenty annotators fetching and submitting in parallel threads against the real database: no duplicate leases,
no item over its overlap, no lost or duplicated judgements. Prints the judgements per second it sustained.

The test ends by its own deadline however loaded the machine is: every thread checks it before each operation, and
each lock wait is bounded (SQLite's busy timeout, PostgreSQL's lock_timeout), so one operation cannot outlive it by
more than the queue's retries of those waits. When the deadline comes first the queue is not empty; everything
written by then is still checked."""
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from django.db import OperationalError, connection
from django.db.models import Count

from annotation.models import Judgement, Lease, WorkItem
from annotation.services import queue
from tests.factories import ImageFactory, WorkItemFactory, annotators_add

ANNOTATORS = 20
OVERLAP = 3
RATING_ITEMS = 60
PAIR_ITEMS = 30
GOLD_ITEMS = 10
#: The threads stop taking work after this many seconds; a lock wait gives up after LOCK_WAIT_MS (and is retried).
DEADLINE_S = 90
LOCK_WAIT_MS = 3000
#: How far past the deadline the last operation may end: the queue's retries of a bounded lock wait (8 attempts,
#: backoff up to about 13 s in all, plus the waits).
OVERRUN_S = 45


@dataclass
class Tally:
    """What one annotator's thread saw: every submit that came back, and anything unexpected."""

    submitted: list = field(default_factory=list)  # (lease_id, client_id, judgement_id, created)
    released: int = 0
    lock_giveups: int = 0  # operations refused after every bounded lock wait (nothing written; the thread goes on)
    overlapping_leases: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _bound_lock_waits() -> None:
    """Make this thread's connection give up a lock wait after LOCK_WAIT_MS instead of SQLite's 30 s default."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"SET lock_timeout = {LOCK_WAIT_MS}")


def _work(project, user, seed: int, tally: Tally, stop_at: float) -> Tally:
    rng = random.Random(seed)
    try:
        _bound_lock_waits()
        while time.monotonic() < stop_at:
            try:
                _step(project, user, rng, tally, stop_at)
            except _Done:
                break
            except OperationalError as exc:
                if "locked" not in str(exc) and "lock timeout" not in str(exc):
                    raise
                tally.lock_giveups += 1
    except Exception as exc:  # collected and reported by the test
        tally.errors.append(repr(exc))
    finally:
        connection.close()  # each thread has its own connection; close it before the test database goes
    return tally


class _Done(Exception):
    """The queue is empty and nobody holds a slot."""


def _step(project, user, rng: random.Random, tally: Tally, stop_at: float) -> None:
    """One assignment and what the annotator does with it."""
    try:
        assignment = queue.assignment_next(project=project, annotator=user, rng=rng)
    except queue.NoWork:
        # Slots may still be held by others; a skip gives one back. Done only when nobody holds any.
        if not Lease.objects.filter(item__project=project, status=Lease.Status.ACTIVE).exists():
            raise _Done() from None
        time.sleep(0.05)
        return
    lease = assignment.lease
    held = Lease.objects.filter(annotator=user, item_id=lease.item_id, status=Lease.Status.ACTIVE).count()
    if held != 1:
        tally.overlapping_leases.append((lease.item_id, held))
    if rng.random() < 0.05:  # a skip
        queue.lease_release(lease_id=lease.pk, annotator=user)
        tally.released += 1
        return
    kind = lease.item.kind
    answer = {"choice": rng.choice(["a", "b", "tie"])} if kind == "pair" else {"level": rng.randint(1, 5)}
    client_id = uuid.uuid4()
    if time.monotonic() >= stop_at:  # the lease is left active, as an annotator who walked away would leave it
        return
    result = queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=client_id, answer=answer, duration_ms=1200)
    tally.submitted.append((lease.pk, client_id, result.judgement.pk, result.created))
    if rng.random() < 0.2 and time.monotonic() < stop_at:  # a double click: the same answer again
        again = queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=client_id, answer=answer, duration_ms=1200)
        tally.submitted.append((lease.pk, client_id, again.judgement.pk, again.created))


@pytest.mark.django_db(transaction=True)
def test_twenty_annotators_in_parallel_lose_and_duplicate_nothing(project):
    """20 threads work the queue empty: every slot filled once, every submit one row, no item over the overlap."""
    project.task_kinds = ["rating", "pair"]
    project.overlap = OVERLAP
    project.gold_rate = 0.1
    project.training_required = False
    project.fatigue_warn_after, project.fatigue_pause_after = 900, 1000
    project.save()
    images = ImageFactory.create_batch(RATING_ITEMS, project=project)
    for image in images:
        WorkItemFactory(project=project, image=image)
    for index in range(PAIR_ITEMS):
        WorkItemFactory(project=project, kind="pair", image=images[index], image_b=images[index + 1])
    for image in images[:GOLD_ITEMS]:
        WorkItemFactory(project=project, purpose=WorkItem.Purpose.GOLD, image=image, gold_answer={"level": 3})
    users = annotators_add(project, ANNOTATORS)
    tallies = [Tally() for _ in users]

    started = time.perf_counter()
    stop_at = time.monotonic() + DEADLINE_S
    with ThreadPoolExecutor(max_workers=ANNOTATORS) as pool:
        list(pool.map(lambda args: _work(project, *args, stop_at), [(user, seed, tally) for seed, (user, tally) in enumerate(zip(users, tallies))]))
    elapsed = time.perf_counter() - started
    finished = time.monotonic() < stop_at  # the queue ran empty before the deadline
    assert elapsed < DEADLINE_S + OVERRUN_S, f"the threads ran {elapsed:.0f} s, past their {DEADLINE_S} s deadline"

    errors = [error for tally in tallies for error in tally.errors]
    assert not errors, errors[:5]
    assert not [o for tally in tallies for o in tally.overlapping_leases]

    submits = [entry for tally in tallies for entry in tally.submitted]
    created = [entry for entry in submits if entry[3]]
    judgements = {j.pk: j for j in Judgement.objects.all()}
    # No lost and no duplicated judgements: each created submit is exactly one row, resubmits return it. A submit
    # whose lock wait gave up after its row committed (in a post-commit hook) was never acknowledged, so rows may
    # exceed the created submits by at most the give-ups; every row still has its own lease (checked below).
    giveups = sum(tally.lock_giveups for tally in tallies)
    assert len(created) == len({entry[2] for entry in created}) and {entry[2] for entry in created} <= set(judgements)
    assert len(created) <= len(judgements) <= len(created) + giveups
    for lease_id, client_id, judgement_id, _ in submits:
        judgement = judgements[judgement_id]
        assert (judgement.lease_id, judgement.client_id) == (lease_id, client_id)
    assert Judgement.objects.values("lease").annotate(n=Count("id")).filter(n__gt=1).count() == 0

    # No item went over its overlap and the counts match the rows; when it finished in time, the queue ran empty.
    work_items = WorkItem.objects.filter(purpose=WorkItem.Purpose.WORK)
    per_item = Counter(Judgement.objects.filter(purpose=WorkItem.Purpose.WORK, is_repeat=False).values_list("item_id", flat=True))
    held = Counter(Lease.objects.filter(status=Lease.Status.ACTIVE).values_list("item_id", flat=True))
    for item in work_items:
        assert item.judgement_count == per_item[item.pk], (item.pk, item.judgement_count, per_item[item.pk])
        assert item.judgement_count + held[item.pk] <= OVERLAP, (item.pk, item.judgement_count, held[item.pk])
        if finished:
            assert item.judgement_count == OVERLAP, (item.pk, item.judgement_count)
    pairs = Judgement.objects.filter(is_repeat=False, training_attempt__isnull=True).values_list("item_id", "annotator_id")
    assert len(pairs) == len(set(pairs))
    live = Counter(Lease.objects.filter(status=Lease.Status.ACTIVE).values_list("annotator_id", flat=True))
    assert all(count == 1 for count in live.values()), live  # one live lease per annotator
    if finished:
        assert not held
    assert created, "not one judgement before the deadline"

    rate = len(created) / elapsed
    print(
        f"\n[queue concurrency] {connection.vendor}: {len(created)} judgements ({len(submits) - len(created)} resubmits, "
        f"{sum(t.released for t in tallies)} skips, {sum(t.lock_giveups for t in tallies)} lock waits given up) by "
        f"{ANNOTATORS} threads in {elapsed:.2f} s = {rate:.1f} judgements/s"
        + ("" if finished else f" (stopped at the {DEADLINE_S} s deadline before the queue ran empty)")
    )
