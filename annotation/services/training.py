"""The training round: fixed-order attempts with feedback after each answer, a score against the pass mark,
and a restart after a failed attempt. Its leases and locking are the queue's (`leasing.py`)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from annotation.models import Judgement, Lease, Membership, Project, WorkItem
from annotation.services.answers import answer_for_screen
from annotation.services.leasing import (
    Assignment, NoWork, NotAnnotator, Progress, enabled_kinds, in_transaction, lease_create, lease_with_images,
    leases_expire, membership_lock, run_count,
)


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


def training_items(project: Project):
    """The training round, in its fixed serving order: highest priority first, then as the researcher added them."""
    return WorkItem.objects.filter(
        project=project, purpose=WorkItem.Purpose.TRAINING, kind__in=enabled_kinds(project), retired=False
    ).order_by("-priority", "id")


def training_missing(project: Project) -> bool:
    """The project requires training, has kinds enabled, and no training item to give: annotators skip the round
    (training_blocks is False for them), which the researcher is told on every project page."""
    return bool(project.training_required and enabled_kinds(project)) and not training_items(project).exists()


def training_blocks(project: Project, membership: Membership) -> bool:
    """Training is required when the project asks for it and has a training round to pass."""
    return (
        project.training_required
        and membership.training_passed_at is None
        and training_items(project).exists()
    )


def training_next(*, project: Project, annotator, now: datetime | None = None, rng: random.Random | None = None) -> Assignment:
    """The next training item of the current attempt (starting attempt 1 if none); NoWork when the attempt is complete."""
    now = now or timezone.now()
    rng = rng or random.Random()
    in_transaction(lambda: leases_expire(project=project, annotator=annotator, now=now))

    def attempt() -> Assignment:
        membership = membership_lock(project.pk, annotator)
        current = membership.project
        if membership.training_passed_at is not None:
            raise NoWork("You have passed the training round.")
        if membership.training_attempt == 0:
            membership.training_attempt = 1
            membership.save(update_fields=["training_attempt"])
        number = membership.training_attempt
        lease = (
            Lease.objects.filter(annotator=annotator, item__project=current, status=Lease.Status.ACTIVE, training_attempt=number)
            .order_by("issued_at")
            .first()
        )
        if lease is None:
            answered = Judgement.objects.filter(annotator=annotator, training_attempt=number).values("item_id")
            item = training_items(current).exclude(pk__in=answered).first()
            if item is None:
                raise NoWork("This training round is complete.")
            lease = lease_create(item=item, annotator=annotator, project=current, now=now, rng=rng, training_attempt=number)
        status = _training_status(current, annotator, membership)
        progress = Progress(
            done=status.answered,
            remaining=status.total - status.answered,
            run_count=run_count(membership, current, now),
            warn_fatigue=False,
            pause_after=current.fatigue_pause_after,
        )
        return Assignment(lease=lease_with_images(lease), progress=progress)

    return in_transaction(attempt)


def _training_status(project: Project, annotator, membership: Membership) -> TrainingStatus:
    total = training_items(project).count()
    number = membership.training_attempt
    judged = Judgement.objects.filter(project=project, annotator=annotator, training_attempt=number) if number else Judgement.objects.none()
    return TrainingStatus(
        required=project.training_required and total > 0,
        passed=membership.training_passed_at is not None,
        attempt=number,
        answered=judged.count(),
        total=total,
        correct=judged.filter(gold_correct=True).count(),
        pass_mark=project.training_pass_mark,
        last_score=membership.training_score,
    )


def training_status(*, project: Project, annotator) -> TrainingStatus:
    membership = Membership.objects.filter(project=project, user=annotator, role=Membership.Role.ANNOTATOR).first()
    if membership is None:
        raise NotAnnotator("Only annotators of this project may work on it.")
    return _training_status(membership.project, annotator, membership)


def training_restart(*, project: Project, annotator) -> TrainingStatus:
    """Start a new attempt after a failed one (ValidationError when passed or the attempt is unfinished)."""

    def attempt() -> TrainingStatus:
        membership = membership_lock(project.pk, annotator)
        current = membership.project
        status = _training_status(current, annotator, membership)
        if status.passed:
            raise ValidationError("You have passed the training round already.")
        if status.attempt == 0 or status.answered < status.total:
            raise ValidationError("Finish the current training round first.")
        Lease.objects.filter(annotator=annotator, item__project=current, status=Lease.Status.ACTIVE).exclude(
            training_attempt__isnull=True
        ).update(status=Lease.Status.RELEASED, closed_at=timezone.now())
        membership.training_attempt += 1
        membership.save(update_fields=["training_attempt"])
        return _training_status(current, annotator, membership)

    return in_transaction(attempt)


def training_feedback(judgement: Judgement, item: WorkItem) -> dict | None:
    if judgement.training_attempt is None:
        return None
    return {
        "correct": judgement.gold_correct,
        "expected": answer_for_screen(kind=item.kind, answer=item.gold_answer, swap=judgement.swap),
        "feedback": item.feedback,
    }


def training_score(*, project: Project, annotator, membership: Membership, now: datetime) -> None:
    """When every training item of the attempt is answered: record the score, and the pass if it reaches the mark."""
    status = _training_status(project, annotator, membership)
    if status.total == 0 or status.answered < status.total:
        return
    membership.training_score = status.correct / status.total
    fields = ["training_score"]
    if membership.training_score >= project.training_pass_mark:
        membership.training_passed_at = now
        fields.append("training_passed_at")
    membership.save(update_fields=fields)
