"""Twenty annotators fetching and submitting in parallel threads against the real database: no duplicate leases,
no item over its overlap, no lost or duplicated judgements. Prints the judgements per second it sustained."""
import random
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.db.models import Count

from annotation.models import Judgement, Lease, WorkItem
from annotation.services import queue
from tests.factories import ImageFactory, WorkItemFactory, annotators_add

ANNOTATORS = 20
OVERLAP = 3
RATING_ITEMS = 60
PAIR_ITEMS = 30
GOLD_ITEMS = 10


@dataclass
class Tally:
    """What one annotator's thread saw: every submit that came back, and anything unexpected."""

    submitted: list = field(default_factory=list)  # (lease_id, client_id, judgement_id, created)
    released: int = 0
    overlapping_leases: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _work(project, user, seed: int, tally: Tally, stop_at: float) -> Tally:
    rng = random.Random(seed)
    try:
        while time.monotonic() < stop_at:
            try:
                assignment = queue.assignment_next(project=project, annotator=user, rng=rng)
            except queue.NoWork:
                # Slots may still be held by others; a skip gives one back. Done only when nobody holds any.
                if not Lease.objects.filter(item__project=project, status=Lease.Status.ACTIVE).exists():
                    break
                time.sleep(0.05)
                continue
            lease = assignment.lease
            held = Lease.objects.filter(annotator=user, item_id=lease.item_id, status=Lease.Status.ACTIVE).count()
            if held != 1:
                tally.overlapping_leases.append((lease.item_id, held))
            if rng.random() < 0.05:  # a skip
                queue.lease_release(lease_id=lease.pk, annotator=user)
                tally.released += 1
                continue
            kind = lease.item.kind
            answer = {"choice": rng.choice(["a", "b", "tie"])} if kind == "pair" else {"level": rng.randint(1, 5)}
            client_id = uuid.uuid4()
            result = queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=client_id, answer=answer, duration_ms=1200)
            tally.submitted.append((lease.pk, client_id, result.judgement.pk, result.created))
            if rng.random() < 0.2:  # a double click: the same answer again
                again = queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=client_id, answer=answer, duration_ms=1200)
                tally.submitted.append((lease.pk, client_id, again.judgement.pk, again.created))
    except Exception as exc:  # collected and reported by the test
        tally.errors.append(repr(exc))
    finally:
        connection.close()  # each thread has its own connection; close it before the test database goes
    return tally


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
    stop_at = time.monotonic() + 240
    with ThreadPoolExecutor(max_workers=ANNOTATORS) as pool:
        list(pool.map(lambda args: _work(project, *args, stop_at), [(user, seed, tally) for seed, (user, tally) in enumerate(zip(users, tallies))]))
    elapsed = time.perf_counter() - started

    errors = [error for tally in tallies for error in tally.errors]
    assert not errors, errors[:5]
    assert not [o for tally in tallies for o in tally.overlapping_leases]

    submits = [entry for tally in tallies for entry in tally.submitted]
    created = [entry for entry in submits if entry[3]]
    judgements = {j.pk: j for j in Judgement.objects.all()}
    # No lost and no duplicated judgements: each created submit is exactly one row, resubmits return it.
    assert len(judgements) == len(created) == len({entry[2] for entry in created})
    for lease_id, client_id, judgement_id, _ in submits:
        judgement = judgements[judgement_id]
        assert (judgement.lease_id, judgement.client_id) == (lease_id, client_id)
    assert Judgement.objects.values("lease").annotate(n=Count("id")).filter(n__gt=1).count() == 0

    # The queue ran empty and no item went over its overlap; counts match the rows.
    work_items = WorkItem.objects.filter(purpose=WorkItem.Purpose.WORK)
    per_item = Counter(Judgement.objects.filter(purpose=WorkItem.Purpose.WORK, is_repeat=False).values_list("item_id", flat=True))
    for item in work_items:
        assert item.judgement_count == per_item[item.pk] == OVERLAP, (item.pk, item.judgement_count, per_item[item.pk])
    pairs = Judgement.objects.filter(is_repeat=False, training_attempt__isnull=True).values_list("item_id", "annotator_id")
    assert len(pairs) == len(set(pairs))
    assert not Lease.objects.filter(status=Lease.Status.ACTIVE).exists()

    rate = len(created) / elapsed
    print(
        f"\n[queue concurrency] {connection.vendor}: {len(created)} judgements ({len(submits) - len(created)} resubmits, "
        f"{sum(t.released for t in tallies)} skips) by {ANNOTATORS} threads in {elapsed:.2f} s = {rate:.1f} judgements/s"
    )
