"""The annotators' queue: leases, expiry, overlap, gold, repeats, fatigue, training and idempotent judgements."""
import random
import threading
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from annotation.models import Judgement, Lease, Membership, WorkItem
from annotation.services import queue, training
from annotation.signals import judgements_submitted
from tests.factories import PairItemFactory, WorkItemFactory, annotators_add

T0 = timezone.now().replace(microsecond=0)


class SequenceRng:
    """A stand-in for random.Random that returns the given draws in turn (then 0.99: work, not swapped)."""

    def __init__(self, *draws: float):
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0) if self.draws else 0.99


@pytest.fixture
def work_project(project):
    """A project with ratings enabled, overlap 2, no gold, no repeats, no training."""
    project.task_kinds = ["rating"]
    project.overlap = 2
    project.gold_rate = 0.0
    project.repeat_rate = 0.0
    project.training_required = False
    project.save()
    return project


def _submit(lease, user, answer=None, *, client_id=None, now=None, duration_ms=1000):
    return queue.judgement_submit(
        lease_id=lease.pk, annotator=user, client_id=client_id or uuid.uuid4(), answer=answer or {"level": 3},
        duration_ms=duration_ms, now=now,
    )


def _nothing_written(item, lease, membership):
    """No judgement, the lease still active, the item's count and the annotator's run unchanged."""
    item.refresh_from_db()
    lease.refresh_from_db()
    membership.refresh_from_db()
    return (Judgement.objects.count(), lease.status, item.judgement_count, membership.run_count) == (0, Lease.Status.ACTIVE, 0, 0)


# ------------------------------------------------------------------------------------------ leases


def test_asking_twice_returns_the_same_lease(work_project):
    """An annotator who asks again before answering gets the lease they hold, not a second one."""
    [user] = annotators_add(work_project, 1)
    WorkItemFactory.create_batch(3, project=work_project)

    first = queue.assignment_next(project=work_project, annotator=user, now=T0)
    second = queue.assignment_next(project=work_project, annotator=user, now=T0 + timedelta(seconds=5))

    assert first.lease.pk == second.lease.pk
    assert Lease.objects.filter(annotator=user, status=Lease.Status.ACTIVE).count() == 1
    assert first.lease.expires_at == T0 + timedelta(seconds=work_project.lease_seconds)


def test_overlap_limits_how_many_annotators_hold_or_judged_an_item(work_project):
    """With overlap 2, two annotators get the one item and a third finds no work."""
    a, b, c = annotators_add(work_project, 3)
    item = WorkItemFactory(project=work_project)

    lease_a = queue.assignment_next(project=work_project, annotator=a, now=T0).lease
    _submit(lease_a, a, now=T0)
    lease_b = queue.assignment_next(project=work_project, annotator=b, now=T0).lease

    assert lease_a.item_id == lease_b.item_id == item.pk
    with pytest.raises(queue.NoWork):
        queue.assignment_next(project=work_project, annotator=c, now=T0)


def test_expired_lease_puts_the_item_back_in_the_queue(work_project):
    """Once a lease runs out another annotator gets the item, and the old lease is closed as expired."""
    work_project.overlap = 1
    work_project.save()
    a, b = annotators_add(work_project, 2)
    item = WorkItemFactory(project=work_project)
    lease = queue.assignment_next(project=work_project, annotator=a, now=T0).lease
    with pytest.raises(queue.NoWork):
        queue.assignment_next(project=work_project, annotator=b, now=T0 + timedelta(seconds=10))

    later = T0 + timedelta(seconds=work_project.lease_seconds + 1)
    taken = queue.assignment_next(project=work_project, annotator=b, now=later).lease
    assert taken.item_id == item.pk

    with pytest.raises(queue.LeaseClosed):
        _submit(lease, a, now=later)
    assert Judgement.objects.count() == 0
    with pytest.raises(queue.NoWork):  # touching the queue marks the stale lease expired
        queue.assignment_next(project=work_project, annotator=a, now=later)
    lease.refresh_from_db()
    assert lease.status == Lease.Status.EXPIRED and lease.closed_at == lease.expires_at


def test_an_annotator_never_gets_the_same_item_twice(work_project):
    """Working until the queue is empty, an annotator judges each item once."""
    work_project.overlap = 3
    work_project.save()
    [user] = annotators_add(work_project, 1)
    items = WorkItemFactory.create_batch(4, project=work_project)

    seen = []
    while True:
        try:
            lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
        except queue.NoWork:
            break
        seen.append(lease.item_id)
        _submit(lease, user, now=T0)

    assert sorted(seen) == sorted(item.pk for item in items)


def test_released_item_goes_to_someone_else(work_project):
    """A skipped item is not offered to the same annotator again, but another annotator gets it."""
    work_project.overlap = 1
    work_project.save()
    a, b = annotators_add(work_project, 2)
    item = WorkItemFactory(project=work_project)
    lease = queue.assignment_next(project=work_project, annotator=a, now=T0).lease

    queue.lease_release(lease_id=lease.pk, annotator=a, now=T0)

    lease.refresh_from_db()
    assert lease.status == Lease.Status.RELEASED
    with pytest.raises(queue.NoWork):
        queue.assignment_next(project=work_project, annotator=a, now=T0)
    assert queue.assignment_next(project=work_project, annotator=b, now=T0).lease.item_id == item.pk
    with pytest.raises(queue.LeaseClosed):
        queue.lease_release(lease_id=lease.pk, annotator=a, now=T0)


def test_priority_then_fewest_judgements_then_oldest(work_project):
    """Higher priority is served first; among equals, the item with fewer judgements, then the older one."""
    work_project.overlap = 5
    work_project.save()
    [user] = annotators_add(work_project, 1)
    old, busy, urgent = WorkItemFactory.create_batch(3, project=work_project)
    WorkItem.objects.filter(pk=busy.pk).update(judgement_count=2)
    WorkItem.objects.filter(pk=urgent.pk).update(priority=1.0)

    order = []
    for _ in range(3):
        lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
        order.append(lease.item_id)
        _submit(lease, user, now=T0)
    assert order == [urgent.pk, old.pk, busy.pk]


def test_disabled_kinds_and_retired_items_are_not_served(work_project):
    """Only enabled kinds, and only items that are not retired, are handed out."""
    [user] = annotators_add(work_project, 1)
    WorkItemFactory(project=work_project, kind="description")
    WorkItemFactory(project=work_project, retired=True)
    with pytest.raises(queue.NoWork):
        queue.assignment_next(project=work_project, annotator=user, now=T0)


def test_only_annotator_members_may_work(work_project, researcher):
    """A researcher (or a non-member) cannot take or answer items."""
    WorkItemFactory(project=work_project)
    with pytest.raises(queue.NotAnnotator):
        queue.assignment_next(project=work_project, annotator=researcher, now=T0)


def test_pair_position_is_recorded_and_answers_are_stored_in_item_terms(work_project):
    """A swapped pair shows B on the left; choosing the left image stores "b"."""
    work_project.task_kinds = ["pair"]
    work_project.save()
    [user] = annotators_add(work_project, 1)
    PairItemFactory(project=work_project)

    lease = queue.assignment_next(project=work_project, annotator=user, now=T0, rng=SequenceRng(0.99, 0.1)).lease
    result = _submit(lease, user, {"choice": "a"}, now=T0)

    assert lease.swap is True
    assert (result.judgement.choice, result.judgement.answer, result.judgement.swap) == ("b", {"choice": "b"}, True)


def test_high_priority_pairs_do_not_starve_other_kinds(work_project):
    """Proposed pairs outrank other pairs, not ratings: an annotator on ratings stays on ratings while they last."""
    work_project.task_kinds = ["rating", "pair"]
    work_project.overlap = 1
    work_project.save()
    [user] = annotators_add(work_project, 1)
    WorkItemFactory.create_batch(3, project=work_project)
    PairItemFactory.create_batch(3, project=work_project, priority=5.0)

    kinds = []
    for _ in range(6):
        lease = queue.assignment_next(project=work_project, annotator=user, now=T0, rng=random.Random(0)).lease
        answer = {"choice": "a"} if lease.item.kind == "pair" else {"level": 3}
        _submit(lease, user, answer, now=T0)
        kinds.append(lease.item.kind)

    assert sorted(kinds) == ["pair"] * 3 + ["rating"] * 3
    assert kinds[:3] == [kinds[0]] * 3  # no switching while the first kind has work


# ------------------------------------------------------------------------------------ gold, repeats


def test_gold_items_are_mixed_in_at_roughly_the_gold_rate(work_project):
    """Over 200 assignments with gold rate 0.2, about a fifth are gold items, and each is checked."""
    work_project.gold_rate = 0.2
    work_project.overlap = 1
    work_project.fatigue_warn_after, work_project.fatigue_pause_after = 500, 1000
    work_project.save()
    [user] = annotators_add(work_project, 1)
    WorkItemFactory.create_batch(220, project=work_project)
    WorkItemFactory.create_batch(80, project=work_project, purpose=WorkItem.Purpose.GOLD, gold_answer={"level": 3})
    rng = random.Random(7)

    purposes = []
    for _ in range(200):
        lease = queue.assignment_next(project=work_project, annotator=user, now=T0, rng=rng).lease
        purposes.append(lease.item.purpose)
        _submit(lease, user, {"level": 4}, now=T0)

    share = purposes.count(WorkItem.Purpose.GOLD) / len(purposes)
    assert 0.12 <= share <= 0.28, share
    gold = Judgement.objects.filter(purpose=WorkItem.Purpose.GOLD)
    assert gold.count() == purposes.count(WorkItem.Purpose.GOLD)
    assert set(gold.values_list("gold_correct", flat=True)) == {True}
    assert Judgement.objects.filter(purpose=WorkItem.Purpose.WORK, gold_correct__isnull=False).count() == 0


def test_repeats_come_back_once_and_are_not_counted(work_project):
    """With a repeat rate, earlier items come back marked as repeats, each at most once, outside judgement_count."""
    work_project.repeat_rate = 0.5
    work_project.overlap = 1
    work_project.save()
    [user] = annotators_add(work_project, 1)
    items = WorkItemFactory.create_batch(6, project=work_project)
    rng = random.Random(3)

    while True:
        try:
            lease = queue.assignment_next(project=work_project, annotator=user, now=T0, rng=rng).lease
        except queue.NoWork:
            break
        _submit(lease, user, now=T0)

    repeats = Judgement.objects.filter(is_repeat=True)
    assert repeats.exists()
    repeated_items = list(repeats.values_list("item_id", flat=True))
    assert len(repeated_items) == len(set(repeated_items))
    assert Judgement.objects.filter(is_repeat=False).count() == len(items)
    assert set(WorkItem.objects.values_list("judgement_count", flat=True)) == {1}


# ------------------------------------------------------------------------------------------ fatigue


def test_fatigue_warns_then_pauses_until_a_break(work_project):
    """After warn_after items the progress warns; after pause_after the server refuses until the break is over."""
    work_project.fatigue_warn_after, work_project.fatigue_pause_after, work_project.fatigue_break_minutes = 2, 3, 10
    work_project.overlap = 1
    work_project.save()
    [user] = annotators_add(work_project, 1)
    WorkItemFactory.create_batch(6, project=work_project)

    for minute in range(3):
        now = T0 + timedelta(minutes=minute)
        assignment = queue.assignment_next(project=work_project, annotator=user, now=now)
        assert assignment.progress.warn_fatigue is (minute >= 2)
        _submit(assignment.lease, user, now=now)

    with pytest.raises(queue.Paused) as paused:
        queue.assignment_next(project=work_project, annotator=user, now=T0 + timedelta(minutes=5))
    assert paused.value.until == T0 + timedelta(minutes=12)
    assert paused.value.status == 429

    after_break = T0 + timedelta(minutes=12)
    assignment = queue.assignment_next(project=work_project, annotator=user, now=after_break)
    assert assignment.progress.run_count == 0 and not assignment.progress.warn_fatigue
    _submit(assignment.lease, user, now=after_break)
    assert Membership.objects.get(user=user).run_count == 1


# ----------------------------------------------------------------------------------------- training


@pytest.fixture
def training_project(work_project):
    """Ratings with a training round of three items (levels 5, 1, 3) and a pass mark of 0.6."""
    work_project.training_required = True
    work_project.training_pass_mark = 0.6
    work_project.save()
    WorkItemFactory(project=work_project)
    for level in (5, 1, 3):
        WorkItemFactory(project=work_project, purpose=WorkItem.Purpose.TRAINING, gold_answer={"level": level}, feedback=f"It is {level}.")
    return work_project


def _train(project, user, answers):
    results = []
    for level in answers:
        lease = training.training_next(project=project, annotator=user, now=T0).lease
        results.append((lease, _submit(lease, user, {"level": level}, now=T0)))
    return results


def test_training_is_required_before_work_and_passing_opens_the_queue(training_project):
    """Work is refused until training is passed; training items come in a fixed order with feedback each."""
    [user] = annotators_add(training_project, 1)
    with pytest.raises(queue.TrainingRequired):
        queue.assignment_next(project=training_project, annotator=user, now=T0)

    results = _train(training_project, user, [5, 1, 1])  # right, right, wrong (3 vs 1 is two levels off)

    expected_order = list(WorkItem.objects.filter(purpose=WorkItem.Purpose.TRAINING).order_by("id").values_list("pk", flat=True))
    assert [lease.item_id for lease, _ in results] == expected_order
    assert [result.training_feedback["correct"] for _, result in results] == [True, True, False]
    assert results[2][1].training_feedback == {"correct": False, "expected": {"level": 3}, "feedback": "It is 3."}
    status = training.training_status(project=training_project, annotator=user)
    assert (status.passed, status.answered, status.correct, status.total, status.last_score) == (True, 3, 2, 3, pytest.approx(2 / 3))
    assert Membership.objects.get(user=user).training_passed_at is not None
    assert queue.assignment_next(project=training_project, annotator=user, now=T0).lease.item.purpose == WorkItem.Purpose.WORK
    assert WorkItem.objects.filter(purpose=WorkItem.Purpose.TRAINING, judgement_count__gt=0).count() == 0
    with pytest.raises(ValidationError):
        training.training_restart(project=training_project, annotator=user)


def test_failed_training_can_be_restarted(training_project):
    """A failed round stays failed until restarted; an unfinished round cannot be restarted."""
    [user] = annotators_add(training_project, 1)
    _train(training_project, user, [1])
    with pytest.raises(ValidationError, match="Finish"):
        training.training_restart(project=training_project, annotator=user)
    _train(training_project, user, [5, 5])

    status = training.training_status(project=training_project, annotator=user)
    assert (status.passed, status.correct, status.last_score) == (False, 0, 0.0)
    with pytest.raises(queue.NoWork):
        training.training_next(project=training_project, annotator=user, now=T0)
    with pytest.raises(queue.TrainingRequired):
        queue.assignment_next(project=training_project, annotator=user, now=T0)

    restarted = training.training_restart(project=training_project, annotator=user)
    assert (restarted.attempt, restarted.answered) == (2, 0)
    _train(training_project, user, [5, 1, 3])
    assert training.training_status(project=training_project, annotator=user).passed


# ---------------------------------------------------------------------------------------- submitting


def test_double_submit_returns_the_first_judgement(work_project):
    """The same client_id and answer twice writes one judgement; the second call gets it back with created=False,
    and the same client_id with another answer is refused with the stored answer."""
    [user] = annotators_add(work_project, 1)
    item = WorkItemFactory(project=work_project)
    lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
    client_id = uuid.uuid4()

    first = _submit(lease, user, {"level": 2}, client_id=client_id, now=T0)
    second = _submit(lease, user, {"level": 2}, client_id=client_id, now=T0)
    with pytest.raises(queue.ClientIdReused) as reused:
        _submit(lease, user, {"level": 5}, client_id=client_id, now=T0)
    assert reused.value.stored == {"level": 2}

    assert (first.created, second.created) == (True, False)
    assert first.judgement.pk == second.judgement.pk and second.judgement.level == 2
    item.refresh_from_db()
    assert (Judgement.objects.count(), item.judgement_count, Membership.objects.get(user=user).run_count) == (1, 1, 1)
    with pytest.raises(queue.LeaseClosed):  # a new client_id for an answered lease
        _submit(lease, user, {"level": 5}, now=T0)


def test_judgement_records_timings(work_project):
    """The judgement keeps the lease's issue time and the client's duration."""
    [user] = annotators_add(work_project, 1)
    WorkItemFactory(project=work_project)
    lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
    judgement = _submit(lease, user, now=T0 + timedelta(seconds=9), duration_ms=8500).judgement
    assert (judgement.issued_at, judgement.duration_ms) == (T0, 8500)


def test_client_id_of_another_answer_is_refused(work_project):
    """Reusing a client_id for a different lease is refused (ClientIdReused, with the answer kept), not a silent success."""
    [user] = annotators_add(work_project, 1)
    WorkItemFactory.create_batch(2, project=work_project)
    client_id = uuid.uuid4()
    _submit(queue.assignment_next(project=work_project, annotator=user, now=T0).lease, user, client_id=client_id, now=T0)
    lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
    with pytest.raises(queue.ClientIdReused) as caught:
        _submit(lease, user, client_id=client_id, now=T0)
    assert caught.value.stored == Judgement.objects.get().answer
    assert Judgement.objects.count() == 1


def test_someone_elses_lease_and_unknown_ids_are_not_found(work_project):
    """Another annotator's lease, and a lease id that does not exist, give the same LeaseNotFound."""
    a, b = annotators_add(work_project, 2)
    WorkItemFactory(project=work_project)
    lease = queue.assignment_next(project=work_project, annotator=a, now=T0).lease
    with pytest.raises(queue.LeaseNotFound):
        _submit(lease, b, now=T0)
    with pytest.raises(queue.LeaseNotFound):
        queue.judgement_submit(lease_id=999999, annotator=a, client_id=uuid.uuid4(), answer={"level": 3}, now=T0)
    with pytest.raises(queue.LeaseNotFound):
        queue.lease_release(lease_id=lease.pk, annotator=b, now=T0)
    assert Judgement.objects.count() == 0


@pytest.mark.parametrize(
    "answer, duration_ms, client_id",
    [
        ({"level": 7}, 1000, None),
        ({"level": "good"}, 1000, None),
        ({}, 1000, None),
        ({"level": 3}, -1, None),
        ({"level": 3}, 24 * 3600 * 1000 + 1, None),
        ({"level": 3}, 1000, "not-a-uuid"),
    ],
)
def test_bad_input_writes_nothing(work_project, answer, duration_ms, client_id):
    """Invalid choices, missing parts, bad durations or client ids raise ValidationError and change nothing."""
    [user] = annotators_add(work_project, 1)
    item = WorkItemFactory(project=work_project)
    lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
    with pytest.raises(ValidationError):
        queue.judgement_submit(
            lease_id=lease.pk, annotator=user, client_id=client_id or uuid.uuid4(), answer=answer, duration_ms=duration_ms, now=T0
        )
    assert _nothing_written(item, lease, Membership.objects.get(user=user))


def test_missing_pathway_text_writes_nothing(work_project):
    """A pathway answer without its conclusion is refused with a message and nothing is stored."""
    work_project.task_kinds = ["pathway"]
    work_project.save()
    [user] = annotators_add(work_project, 1)
    item = WorkItemFactory(project=work_project, kind="pathway")
    lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
    with pytest.raises(ValidationError) as caught:
        _submit(lease, user, {"description": "The left part is underexposed and noisy all over it."}, now=T0)
    assert "conclusion" in caught.value.message_dict
    assert _nothing_written(item, lease, Membership.objects.get(user=user))


def test_signal_is_sent_after_commit(work_project, django_capture_on_commit_callbacks):
    """judgements_submitted fires once per new judgement, after commit, never for a resubmission."""
    [user] = annotators_add(work_project, 1)
    WorkItemFactory(project=work_project)
    received = []

    def receiver(sender, project, judgement, **kwargs):
        received.append((project.pk, judgement.pk))

    judgements_submitted.connect(receiver)
    try:
        lease = queue.assignment_next(project=work_project, annotator=user, now=T0).lease
        client_id = uuid.uuid4()
        with django_capture_on_commit_callbacks(execute=True):
            result = _submit(lease, user, client_id=client_id, now=T0)
        with django_capture_on_commit_callbacks(execute=True):
            _submit(lease, user, client_id=client_id, now=T0)
    finally:
        judgements_submitted.disconnect(receiver)
    assert received == [(work_project.pk, result.judgement.pk)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_writes_one_judgement(project):
    """Two threads sending the same answer at once: one judgement, one created=True, the other gets it back."""
    project.task_kinds, project.training_required = ["rating"], False
    project.save()
    [user] = annotators_add(project, 1)
    WorkItemFactory(project=project)
    lease = queue.assignment_next(project=project, annotator=user).lease
    client_id = uuid.uuid4()
    barrier = threading.Barrier(2, timeout=30)
    results, errors = [], []

    def submit():
        try:
            barrier.wait()
            results.append(queue.judgement_submit(lease_id=lease.pk, annotator=user, client_id=client_id, answer={"level": 4}))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a submit still waiting after 60 s"

    assert not errors, errors
    assert sorted(result.created for result in results) == [False, True]
    assert len({result.judgement.pk for result in results}) == 1
    assert Judgement.objects.count() == 1
    assert WorkItem.objects.get().judgement_count == 1
