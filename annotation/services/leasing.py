"""What the annotators' queue and the training round share: errors, leases, the membership lock, retries.

`queue.py` serves work items and takes judgements; `training.py` runs the training round. Both lock the
annotator's membership row (`membership_lock`) inside `in_transaction`, so one annotator's queue operations
run one at a time, and both lease items with `lease_create`.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.db import OperationalError, connection, transaction
from django.db.models import F

from annotation.models import Lease, Membership, Project, WorkItem
from annotation.vocabulary import TaskKind

T = TypeVar("T")


class QueueError(Exception):
    """A request the queue refuses; `code` is stable (API clients switch on it), `status` the HTTP status."""

    code = "queue_error"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NoWork(QueueError):
    code, status = "no_work", 404


class TrainingRequired(QueueError):
    code, status = "training_required", 403


class Paused(QueueError):
    code, status = "paused", 429

    def __init__(self, message: str, *, until: datetime):
        super().__init__(message)
        self.until = until


class LeaseNotFound(QueueError):
    """No such lease, or it belongs to someone else (the same answer for both, so ids leak nothing)."""

    code, status = "lease_not_found", 404


class NotAnnotator(QueueError):
    """The user is not an annotator member of the project (any more)."""

    code, status = "not_annotator", 403


class LeaseClosed(QueueError):
    """The lease expired or was released; nothing was written."""

    code, status = "lease_closed", 409


class ClientIdReused(QueueError):
    """The client_id came before with another answer: nothing was written; `stored` is the answer kept for it (in
    screen terms), so that the client sees what counts."""

    code, status = "client_id_reused", 409

    def __init__(self, message: str, *, stored):
        super().__init__(message)
        self.stored = stored


@dataclass(frozen=True)
class Progress:
    done: int  # the annotator's judgements in this project (training not counted)
    remaining: int  # items still to come, every served item (work, gold or repeat) counting one (queue._remaining)
    run_count: int  # consecutive items without a break
    warn_fatigue: bool  # run_count >= project.fatigue_warn_after
    pause_after: int
    on_screen: int = 0  # items leased to the annotator now, not yet answered (the one the work page shows)

    @property
    def left(self) -> int:
        """Items left to do, the one on screen included: what the project card and the work page both show, so the
        two agree (the API's `remaining` counts only what is still to come after the item served)."""
        return self.remaining + self.on_screen


@dataclass(frozen=True)
class Assignment:
    lease: Lease
    progress: Progress


# --------------------------------------------------------------------------------------------- helpers


def _is_transient(exc: OperationalError) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "deadlock detected" in text or "could not serialize" in text


def in_transaction(fn: Callable[[], T], *, attempts: int = 8) -> T:
    """Run `fn` in a transaction, retrying the whole of it when the database says "locked" or "deadlock".

    SQLite's IMMEDIATE transactions wait up to the busy timeout and may still give up under many writers;
    PostgreSQL may pick a deadlock victim. Both leave nothing written, so running again is safe. Inside a
    caller's transaction there is nothing to retry: the error goes up.
    """
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                return fn()
        except OperationalError as exc:
            if connection.in_atomic_block or attempt == attempts - 1 or not _is_transient(exc):
                raise
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
    raise AssertionError("unreachable")


def membership_lock(project_id: int, annotator) -> Membership:
    """The annotator's membership row, locked: one annotator's queue operations run one at a time.

    Only that row: the project comes along unlocked (`of=("self",)`; a plain FOR UPDATE would lock the project
    row too on PostgreSQL and make every annotator of the project wait for every other).
    """
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(project_id=project_id, user_id=annotator.pk, role=Membership.Role.ANNOTATOR)
        .first()
    )
    if membership is None or not annotator.is_active:
        raise NotAnnotator("Only annotators of this project may work on it.")
    return membership


def membership_lock_for_lease(lease_id: int, annotator) -> Membership:
    """`membership_lock` for the project of one of the annotator's leases, found in the same query.

    Raises LeaseNotFound when the lease is not theirs (or does not exist), NotAnnotator when it is but they no
    longer annotate its project.
    """
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(
            user_id=annotator.pk, role=Membership.Role.ANNOTATOR,
            project__work_items__leases__id=lease_id, project__work_items__leases__annotator_id=annotator.pk,
        )
        .first()
    )
    if membership is None or not annotator.is_active:
        if not Lease.objects.filter(pk=lease_id, annotator_id=annotator.pk).exists():
            raise LeaseNotFound("No such lease.")
        raise NotAnnotator("Only annotators of this project may work on it.")
    return membership


def enabled_kinds(project: Project) -> list[str]:
    return [kind for kind in TaskKind.values if kind in (project.task_kinds or [])]


def leases_expire(*, project: Project, annotator, now: datetime) -> None:
    """Lazily close the annotator's leases in the project that ran out (their items are back in the queue)."""
    Lease.objects.filter(
        annotator=annotator, item__project=project, status=Lease.Status.ACTIVE, expires_at__lte=now
    ).update(status=Lease.Status.EXPIRED, closed_at=F("expires_at"))


def leases_expire_due(*, now: datetime) -> int:
    """Close every lease of every project that ran out (the periodic sweep); returns how many."""
    return Lease.objects.filter(status=Lease.Status.ACTIVE, expires_at__lte=now).update(
        status=Lease.Status.EXPIRED, closed_at=F("expires_at"),
    )


def run_count(membership: Membership, project: Project, now: datetime) -> int:
    """Consecutive items so far: 0 once a break of `fatigue_break_minutes` has passed since the last submission."""
    last = membership.last_submitted_at
    if last is None or now - last >= timedelta(minutes=project.fatigue_break_minutes):
        return 0
    return membership.run_count


def lease_create(*, item: WorkItem, annotator, project: Project, now: datetime, rng: random.Random,
                  is_repeat: bool = False, training_attempt: int | None = None) -> Lease:
    return Lease.objects.create(
        item=item,
        annotator=annotator,
        is_repeat=is_repeat,
        training_attempt=training_attempt,
        swap=item.kind == TaskKind.PAIR and rng.random() < 0.5,
        issued_at=now,
        expires_at=now + timedelta(seconds=project.lease_seconds),
    )


#: What a served item carries to the page and the API (`select_related` names from the work item).
ITEM_IMAGES = ("image", "image__reference", "image_b")


def lease_with_images(lease: Lease) -> Lease:
    return Lease.objects.select_related("item", "item__project", *(f"item__{name}" for name in ITEM_IMAGES)).get(pk=lease.pk)
