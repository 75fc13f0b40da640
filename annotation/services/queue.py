"""The annotators' queue: leases on work items, idempotent judgements, gold, repeats and fatigue (the training
round is in training.py, the shared lease and lock helpers in leasing.py).

CONTRACT (the lead's skeleton; the implementer keeps these names and shapes, pages and API build on them).

Serving order in `assignment_next` for an annotator of a project:
1. the annotator's own active, unexpired lease in this project, if any (asking twice never leases twice);
2. refuse with `TrainingRequired` when the project requires training and the annotator has not passed;
3. refuse with `Paused` when the annotator has done `fatigue_pause_after` consecutive items and the break
   (`fatigue_break_minutes` since the last submission) is not over;
4. with probability `gold_rate` a gold item the annotator has not judged; with `repeat_rate` one of their
   own earlier work items again (a consistency repeat);
5. otherwise a work item of an enabled kind with `judgement_count + active leases < overlap + extra_judgements`
   that the annotator has neither judged nor leased: only the kind the annotator chose
   (`Membership.preferred_kind`) while the researcher has it enabled; on "mixed" (blank) the kind of their last
   judgement while it has work (else another enabled kind at random); within a kind highest `priority` first, then
   fewest judgements, then oldest. (Gold items and repeats in step 4 may be of any enabled kind.)
   Rows are locked with `select_for_update(skip_locked=True)` and the active leases recounted after the
   lock, so two annotators never take the last slot of one item (PostgreSQL), and SQLite's IMMEDIATE
   transactions serialise writers.
Pairs get `swap` drawn at random per lease (the screen position).

Locks (PostgreSQL): the annotator's membership row (never the project's, so annotators do not wait for each
other), the work item while it is leased (skipping rows others hold) or while a judgement on it is written, and the
lease being answered. Times (`issued_at`, `closed_at`, the expiry check) are read after the locks are held, so they
follow the order in which the database really applied the changes.
"""
from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.models import Judgement, Lease, Membership, Project, WorkItem
from annotation.services.answers import answer_clean, answer_for_screen, gold_check
from annotation.services.leasing import (  # the errors and results are the queue's public API too
    ITEM_IMAGES, Assignment, ClientIdReused, LeaseClosed, LeaseNotFound, NotAnnotator, NoWork, Paused, Progress,
    QueueError, TrainingRequired, enabled_kinds, in_transaction, lease_create, leases_expire,
    membership_lock, membership_lock_for_lease, run_count,
)
from annotation.services.revisions import revision_request
from annotation.services.training import training_blocks, training_feedback, training_score
from annotation.signals import judgements_submitted
from annotation.vocabulary import TaskKind

__all__ = [
    "Assignment", "ClientIdReused", "LeaseClosed", "LeaseNotFound", "NoWork", "NotAnnotator", "Paused", "Progress", "QueueError",
    "SubmitResult", "TrainingRequired", "annotator_progress", "assignment_next", "judgement_submit", "lease_release",
]

#: A client's duration may be anything from 0 to a day; beyond that the clock was wrong.
DURATION_MS_MAX = 24 * 3600 * 1000
#: Rounds before giving up when other transactions hold every candidate.
_CANDIDATE_ROUNDS = 6

@dataclass(frozen=True)
class SubmitResult:
    judgement: Judgement
    created: bool  # False: the same client_id was submitted before; the first judgement is returned
    # Training items only: {"correct": bool, "expected": <answer in screen terms>, "feedback": str}
    training_feedback: dict | None = None


# --------------------------------------------------------------------------------------------- helpers


def _seen(annotator) -> Exists:
    """Items the annotator has held a lease on (active, answered or skipped): not served to them again."""
    return Exists(
        Lease.objects.filter(item=OuterRef("pk"), annotator=annotator).exclude(status=Lease.Status.EXPIRED)
    )


def _open_work(project: Project) -> QuerySet[WorkItem]:
    return WorkItem.objects.filter(
        project=project,
        purpose=WorkItem.Purpose.WORK,
        kind__in=enabled_kinds(project),
        retired=False,
        judgement_count__lt=F("extra_judgements") + project.overlap,
    )


def _remaining(*, project: Project, annotator) -> tuple[int, int]:
    """Items still to come for the annotator, counted so that every item served lowers it by one, gold and
    repeats as much as work (the open work alone would stand still when a check is served, and give it away).

    The open work they have not seen, plus the checks expected over all their work at the project's gold and
    repeat rates (gold no more than the project has), less the checks served so far. Serving a work item takes
    one from the open work; serving a check takes one from the checks to come. Other annotators filling items
    move it too, as before. 0 once there is no open work left for them.

    Returns (remaining, on screen): the second is the items leased to them now and not yet answered, counted in the
    same statement.
    """
    taken = Lease.objects.filter(annotator=annotator, item__project=project, training_attempt__isnull=True).exclude(
        status=Lease.Status.EXPIRED
    )
    unseen_work = _open_work(project).filter(~_seen(annotator)).count()
    if unseen_work == 0:
        return 0, taken.filter(status=Lease.Status.ACTIVE).count()
    check = Q(item__purpose=WorkItem.Purpose.GOLD) | Q(is_repeat=True)
    counts = taken.aggregate(
        checks=Count("pk", filter=check), work=Count("pk", filter=Q(item__purpose=WorkItem.Purpose.WORK, is_repeat=False)),
        on_screen=Count("pk", filter=Q(status=Lease.Status.ACTIVE)),
    )
    checks_served = counts["checks"]
    # Constant while the annotator works: each work item served moves from `unseen_work` to the taken ones.
    their_work = unseen_work + counts["work"]
    work_share = max(1.0 - project.gold_rate - project.repeat_rate, 0.2)  # the settings keep it >= 0.2
    gold_pool = WorkItem.objects.filter(
        project=project, purpose=WorkItem.Purpose.GOLD, kind__in=enabled_kinds(project), retired=False
    ).count() if project.gold_rate > 0 else 0
    gold_expected = min(round(their_work * project.gold_rate / work_share), gold_pool)
    repeats_expected = min(round(their_work * project.repeat_rate / work_share), their_work)
    return max(0, unseen_work + gold_expected + repeats_expected - checks_served), counts["on_screen"]


def _count(queryset: QuerySet) -> Subquery:
    """COUNT(*) of `queryset` as a scalar subquery."""
    return Subquery(queryset.order_by().annotate(n=Func(Value(1), function="COUNT")).values("n"), output_field=IntegerField())


def _progress(*, project: Project, annotator, membership: Membership, now: datetime) -> Progress:
    """The annotator's progress: judgements done, and items to come counted so that checks pass unnoticed (_remaining)."""
    run = run_count(membership, project, now)
    done = Judgement.objects.filter(project=project, annotator=annotator, training_attempt__isnull=True).count()
    remaining, on_screen = _remaining(project=project, annotator=annotator)
    return Progress(
        done=done,
        remaining=remaining,
        on_screen=on_screen,
        run_count=run,
        warn_fatigue=run >= project.fatigue_warn_after,
        pause_after=project.fatigue_pause_after,
    )


# ------------------------------------------------------------------------------------------ choosing


def _gold_candidate(*, project: Project, annotator) -> WorkItem | None:
    return (
        WorkItem.objects.filter(project=project, purpose=WorkItem.Purpose.GOLD, kind__in=enabled_kinds(project), retired=False)
        .filter(~_seen(annotator))
        .select_related(*ITEM_IMAGES)
        .order_by("?")
        .first()
    )


def _repeat_candidate(*, project: Project, annotator) -> WorkItem | None:
    repeated = Judgement.objects.filter(annotator=annotator, project=project, is_repeat=True).values("item_id")
    judgement = (
        Judgement.objects.filter(
            annotator=annotator, project=project, purpose=WorkItem.Purpose.WORK, is_repeat=False,
            kind__in=enabled_kinds(project), item__retired=False,
        )
        .exclude(item_id__in=repeated)
        .select_related("item", *(f"item__{name}" for name in ITEM_IMAGES))
        .order_by("?")
        .first()
    )
    return judgement.item if judgement else None


def _work_candidate(*, project: Project, annotator, now: datetime, kind: str) -> WorkItem | None:
    """The first open work item of `kind` with a free slot, locked; None when there is none.

    One query finds and locks the first candidate no other transaction holds (PostgreSQL skips locked rows, so
    concurrent annotators spread over the candidates); the active leases are then recounted under the lock,
    because the first query counted them before the lock was taken. A slot is never given twice.
    """
    active_leases = Lease.objects.filter(item=OuterRef("pk"), status=Lease.Status.ACTIVE, expires_at__gt=now)
    candidates = (
        _open_work(project)
        .filter(kind=kind)
        .filter(~_seen(annotator))
        .annotate(slots_taken=F("judgement_count") + Coalesce(_count(active_leases), Value(0)))
        .filter(slots_taken__lt=F("extra_judgements") + project.overlap)
        .order_by("-priority", "judgement_count", "id")
    )
    rejected: list[int] = []
    for _round in range(_CANDIDATE_ROUNDS):
        while True:
            item = (
                candidates.exclude(pk__in=rejected)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related(*ITEM_IMAGES)
                .first()
            )
            if item is None:
                break
            held = Lease.objects.filter(item=item, status=Lease.Status.ACTIVE, expires_at__gt=now).count()
            if item.judgement_count + held < project.overlap + item.extra_judgements:
                item.project = project
                return item
            rejected.append(item.pk)
        if not candidates.exclude(pk__in=rejected).exists():
            return None
        # What is left is held by other transactions a moment ago: look again.
        time.sleep(0.005 * (_round + 1))
    return None


# ---------------------------------------------------------------------------------------------- queue


def annotator_progress(*, project: Project, annotator, now: datetime | None = None) -> Progress:
    """The annotator's progress in the project (what the page's progress bar and fatigue warning show)."""
    membership = Membership.objects.filter(project=project, user=annotator, role=Membership.Role.ANNOTATOR).first()
    if membership is None:
        raise NotAnnotator("Only annotators of this project may work on it.")
    return _progress(project=membership.project, annotator=annotator, membership=membership, now=now or timezone.now())


def assignment_next(
    *, project: Project, annotator, now: datetime | None = None, rng: random.Random | None = None
) -> Assignment:
    """Lease the next item to the annotator (see the module docstring for the order); raises a QueueError otherwise.

    `rng` draws gold, repeats and the screen side of pairs; a fresh one per call when not given.
    """
    rng = rng or random.Random()

    # Its own transaction, so that the bookkeeping stays even when no item is left to lease.
    in_transaction(lambda: leases_expire(project=project, annotator=annotator, now=now or timezone.now()))

    def attempt() -> Assignment:
        membership = membership_lock(project.pk, annotator)
        at = now or timezone.now()  # after the lock: issue times follow the order leases were given in
        current = membership.project  # the settings as they are now
        lease = (
            Lease.objects.filter(
                annotator=annotator, item__project=current, status=Lease.Status.ACTIVE, training_attempt__isnull=True,
                expires_at__gt=at,
            )
            .select_related("item", *(f"item__{name}" for name in ITEM_IMAGES))
            .order_by("issued_at")
            .first()
        )
        if lease is None:
            if training_blocks(current, membership):
                raise TrainingRequired("Pass the training round before working on this project.")
            run = run_count(membership, current, at)
            if run >= current.fatigue_pause_after:
                until = membership.last_submitted_at + timedelta(minutes=current.fatigue_break_minutes)
                raise Paused(
                    f"You have judged {run} items in a row: take a break. You can go on at {until:%H:%M} (UTC).",
                    until=until,
                )
            item, is_repeat = _item_choose(project=current, annotator=annotator, now=at, rng=rng, preferred_kind=membership.preferred_kind)
            lease = lease_create(item=item, annotator=annotator, project=current, now=at, rng=rng, is_repeat=is_repeat)
        lease.item.project = current
        return Assignment(lease=lease, progress=_progress(project=current, annotator=annotator, membership=membership, now=at))

    return in_transaction(attempt)


def _item_choose(*, project: Project, annotator, now: datetime, rng: random.Random, preferred_kind: str = "") -> tuple[WorkItem, bool]:
    draw = rng.random()
    if draw < project.gold_rate:
        gold = _gold_candidate(project=project, annotator=annotator)
        if gold is not None:
            return gold, False
    elif draw < project.gold_rate + project.repeat_rate:
        repeat = _repeat_candidate(project=project, annotator=annotator)
        if repeat is not None:
            return repeat, True
    kinds = _kinds_in_serving_order(project=project, annotator=annotator, rng=rng)
    if preferred_kind in kinds:
        kinds = [preferred_kind]
    for kind in kinds:
        item = _work_candidate(project=project, annotator=annotator, now=now, kind=kind)
        if item is not None:
            return item, False
    if kinds == [preferred_kind] and len(enabled_kinds(project)) > 1:
        label = TaskKind(preferred_kind).label.lower()
        raise NoWork(f"There is no {label} left for you in this project for now: choose another kind of task, or mixed, on My projects.")
    raise NoWork("There is nothing left for you to judge in this project for now.")


def _kinds_in_serving_order(*, project: Project, annotator, rng: random.Random) -> list[str]:
    """The kind of the annotator's last judgement first (fewer switches between task kinds), then the others
    in random order. Priority orders items within a kind only, so proposed pairs never starve the other kinds."""
    kinds = enabled_kinds(project)
    if len(kinds) < 2:
        return kinds
    kinds.sort(key=lambda _kind: rng.random())
    last = (
        Judgement.objects.filter(project=project, annotator=annotator, training_attempt__isnull=True)
        .order_by("-id")
        .values_list("kind", flat=True)
        .first()
    )
    if last in kinds:
        kinds.remove(last)
        kinds.insert(0, last)
    return kinds


# ------------------------------------------------------------------------------------------ submitting


def _client_id_clean(client_id) -> uuid.UUID:
    if isinstance(client_id, uuid.UUID):
        return client_id
    try:
        return uuid.UUID(str(client_id))
    except (TypeError, ValueError, AttributeError):
        raise ValidationError({"client_id": "Send a UUID made once per answer."}) from None


def _duration_clean(duration_ms) -> int | None:
    if duration_ms is None:
        return None
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int) or not 0 <= duration_ms <= DURATION_MS_MAX:
        raise ValidationError({"duration_ms": f"The duration must be a whole number of milliseconds from 0 to {DURATION_MS_MAX}."})
    return duration_ms


def judgement_submit(
    *,
    lease_id: int,
    annotator,
    client_id: uuid.UUID,
    answer: dict,
    duration_ms: int | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Validate `answer` (screen terms: for pairs "a" is the LEFT image) and write one judgement.

    Raises LeaseNotFound, LeaseClosed, django ValidationError (field -> messages) for a bad answer; nothing is
    written on any error. A repeated client_id with the same answer returns the first judgement with created=False;
    with another answer (or for another lease) it raises ClientIdReused, which carries the stored answer.
    """
    client_id = _client_id_clean(client_id)
    duration_ms = _duration_clean(duration_ms)

    def attempt() -> SubmitResult:
        membership = membership_lock_for_lease(lease_id, annotator)
        project = membership.project
        # The item too: a lease that runs out while its judgement is written cannot lose its slot to someone else
        # meanwhile (assignment_next skips locked items).
        lease = Lease.objects.select_for_update(of=("self", "item")).select_related("item").get(pk=lease_id)
        item = lease.item
        at = now or timezone.now()  # after the locks: expiry is judged when the write really happens
        if lease.status == Lease.Status.SUBMITTED:
            # Under the lock: a concurrent double submit waits above, then finds the first one here.
            earlier = _judgement_by_client_id(annotator, client_id, lease_id, answer, project)
            if earlier is not None:
                return earlier
            raise LeaseClosed("This item has been answered already.")
        if lease.status != Lease.Status.ACTIVE or lease.expires_at <= at:
            raise LeaseClosed("This lease has expired or was given back; ask for the next item.")
        clean = answer_clean(kind=item.kind, answer=answer, project=project, swap=lease.swap)
        gold_correct = (
            gold_check(item.kind, clean.answer, item.gold_answer)
            if item.purpose in (WorkItem.Purpose.GOLD, WorkItem.Purpose.TRAINING)
            else None
        )
        try:
            with transaction.atomic():  # a savepoint: losing a race on client_id leaves the transaction usable
                judgement = Judgement.objects.create(
                    item=item, lease=lease, annotator=annotator, project=project, kind=item.kind, purpose=item.purpose,
                    is_repeat=lease.is_repeat, training_attempt=lease.training_attempt, client_id=client_id,
                    answer=clean.answer, level=clean.level, choice=clean.choice, swap=lease.swap,
                    gold_correct=gold_correct, issued_at=lease.issued_at, duration_ms=duration_ms,
                    excluded=membership.excluded,  # quality control excluded this annotator (services/exclusion.py)
                )
        except IntegrityError:
            earlier = _judgement_by_client_id(annotator, client_id, lease_id, answer, project)
            if earlier is not None:
                return earlier
            raise LeaseClosed("You have answered this item already.") from None
        lease.status, lease.closed_at = Lease.Status.SUBMITTED, at
        lease.save(update_fields=["status", "closed_at"])
        if lease.training_attempt is None:
            if not lease.is_repeat:
                WorkItem.objects.filter(pk=item.pk).update(judgement_count=F("judgement_count") + 1)
            membership.run_count = run_count(membership, project, at) + 1
            membership.last_submitted_at = at
            membership.save(update_fields=["run_count", "last_submitted_at"])
        else:
            training_score(project=project, annotator=annotator, membership=membership, now=at)
        # After a description or pair-reasoning questionnaire: a text revision whose paragraph is drafted in
        # the background (annotation/services/revisions.py); the page shows it before the next item.
        revision_request(judgement=judgement)
        transaction.on_commit(lambda: judgements_submitted.send(sender=Project, project=project, judgement=judgement))
        return SubmitResult(judgement=judgement, created=True, training_feedback=training_feedback(judgement, item))

    return in_transaction(attempt)


def _judgement_by_client_id(annotator, client_id: uuid.UUID, lease_id: int, answer, project) -> SubmitResult | None:
    """The judgement already written for this client_id, if its answer is the one sent again (compared once cleaned,
    so that key order or a default left out does not count as a change); ClientIdReused if it differs."""
    earlier = Judgement.objects.select_related("item").filter(annotator=annotator, client_id=client_id).first()
    if earlier is None:
        return None
    try:
        same = earlier.lease_id == lease_id and answer_clean(
            kind=earlier.kind, answer=answer, project=project, swap=earlier.swap
        ).answer == earlier.answer
    except ValidationError:
        same = False
    if not same:
        raise ClientIdReused(
            "This client_id was sent before with another answer; the first answer is kept. Make a new client_id per answer.",
            stored=answer_for_screen(kind=earlier.kind, answer=earlier.answer, swap=earlier.swap),
        )
    return SubmitResult(judgement=earlier, created=False, training_feedback=training_feedback(earlier, earlier.item))


def lease_release(*, lease_id: int, annotator, now: datetime | None = None) -> None:
    """Give the item back (skip)."""

    def attempt() -> None:
        lease = Lease.objects.select_for_update(of=("self",)).filter(pk=lease_id, annotator_id=annotator.pk).first()
        if lease is None:
            raise LeaseNotFound("No such lease.")
        at = now or timezone.now()  # after the lock
        if lease.status != Lease.Status.ACTIVE or lease.expires_at <= at:
            raise LeaseClosed("This lease has expired or was closed already.")
        lease.status, lease.closed_at = Lease.Status.RELEASED, at
        lease.save(update_fields=["status", "closed_at"])

    in_transaction(attempt)
