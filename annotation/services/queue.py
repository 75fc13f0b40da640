"""The annotators' queue: leases on work items, idempotent judgements, gold, repeats, training and fatigue.

CONTRACT (the lead's skeleton; the implementer keeps these names and shapes, pages and API build on them).

Serving order in `assignment_next` for an annotator of a project:
1. the annotator's own active, unexpired lease in this project, if any (asking twice never leases twice);
2. refuse with `TrainingRequired` when the project requires training and the annotator has not passed;
3. refuse with `Paused` when the annotator has done `fatigue_pause_after` consecutive items and the break
   (`fatigue_break_minutes` since the last submission) is not over;
4. with probability `gold_rate` a gold item the annotator has not judged; with `repeat_rate` one of their
   own earlier work items again (a consistency repeat);
5. otherwise a work item of an enabled kind with `judgement_count + active leases < overlap` that the
   annotator has neither judged nor leased: highest `priority` first, then fewest judgements, then oldest.
   Rows are locked with `select_for_update(skip_locked=True)` and the active leases recounted after the
   lock, so two annotators never take the last slot of one item (PostgreSQL), and SQLite's IMMEDIATE
   transactions serialise writers.
Pairs get `swap` drawn at random per lease (the screen position).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from annotation.models import Judgement, Lease, Project


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


class LeaseClosed(QueueError):
    """The lease expired or was released; nothing was written."""

    code, status = "lease_closed", 409


@dataclass(frozen=True)
class Progress:
    done: int  # the annotator's judgements in this project (training not counted)
    remaining: int  # open work slots this annotator could still take
    run_count: int  # consecutive items without a break
    warn_fatigue: bool  # run_count >= project.fatigue_warn_after
    pause_after: int


@dataclass(frozen=True)
class Assignment:
    lease: Lease
    progress: Progress


@dataclass(frozen=True)
class SubmitResult:
    judgement: Judgement
    created: bool  # False: the same client_id was submitted before; the first judgement is returned
    # Training items only: {"correct": bool, "expected": <answer in screen terms>, "feedback": str}
    training_feedback: dict | None = None


@dataclass(frozen=True)
class TrainingStatus:
    required: bool
    passed: bool
    attempt: int
    answered: int  # in the current attempt
    total: int  # training items
    correct: int  # in the current attempt
    pass_mark: float
    last_score: float | None


def assignment_next(*, project: Project, annotator, now: datetime | None = None) -> Assignment:
    raise NotImplementedError


def training_next(*, project: Project, annotator, now: datetime | None = None) -> Assignment:
    """The next training item of the current attempt (starting attempt 1 if none); NoWork when the attempt is complete."""
    raise NotImplementedError


def training_status(*, project: Project, annotator) -> TrainingStatus:
    raise NotImplementedError


def training_restart(*, project: Project, annotator) -> TrainingStatus:
    """Start a new attempt after a failed one (ValidationError when passed or the attempt is unfinished)."""
    raise NotImplementedError


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
    written on any error. A repeated client_id returns the first judgement with created=False.
    """
    raise NotImplementedError


def lease_release(*, lease_id: int, annotator, now: datetime | None = None) -> None:
    """Give the item back (skip)."""
    raise NotImplementedError
