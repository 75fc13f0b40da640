"""Annotators' side of a study: the next trial (a lease with a random left/right), idempotent votes, skipping.

Blinding: what these functions hand to pages and the API is a `BlindTrial` — the lease's opaque token, the
image, the instruction and the two answers as left/right. System ids and names stay on the server.
"""
from __future__ import annotations

import random
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from annotation.permissions import can_annotate_project
from studies.models import CRITERIA, Answer, Study, Trial, TrialLease, Vote
from studies.services import StudyError

CHOICES = ("left", "same", "right")
DURATION_MS_MAX = 24 * 3600 * 1000
_CANDIDATES = 50


class NoTrial(StudyError):
    code, status = "no_trial", 404


class NotStudyAnnotator(StudyError):
    """The user is not an annotator of this study (or no longer of its project)."""

    code, status = "not_study_annotator", 403


class LeaseNotFound(StudyError):
    """No such trial token, or it was given to someone else (the same answer for both, so tokens leak nothing)."""

    code, status = "lease_not_found", 404


class LeaseClosed(StudyError):
    code, status = "lease_closed", 409


class ClientIdReused(StudyError):
    """The annotator sent this client_id before with another vote: nothing was written; `stored` is the vote kept
    (as that annotator saw it)."""

    code, status = "client_id_reused", 409

    def __init__(self, message: str, *, stored: dict):
        super().__init__(message)
        self.stored = stored


def _vote_as_shown(vote: Vote) -> dict:
    """The vote in the terms its annotator saw: choice and criteria by side."""
    on_left = vote.outcome if vote.left_is_a else -vote.outcome
    left, right = (vote.criteria_a, vote.criteria_b) if vote.left_is_a else (vote.criteria_b, vote.criteria_a)
    return {"choice": {1: "left", 0: "same", -1: "right"}[on_left], "criteria_left": left, "criteria_right": right}


@dataclass(frozen=True)
class BlindTrial:
    """What an annotator may see of a trial: nothing that names or numbers a system."""

    token: str
    lease_id: int  # the server's key for the opaque image URLs (annotation/image_links.py); never rendered
    image_id: int
    reference_id: int | None
    instruction: str
    left_text: str
    right_text: str
    ask_criteria: bool
    done: int  # this annotator's votes in the study
    remaining: int  # trials still open to them


@dataclass(frozen=True)
class VoteResult:
    vote: Vote
    created: bool  # False: already voted (same client id, or a second submit on the lease); the first vote is returned


def study_annotator_check(*, study: Study, user) -> None:
    """Raise NotStudyAnnotator unless the user is assigned to the study and still annotates its project."""
    if not (can_annotate_project(user, study.project) and study.annotators.filter(pk=user.pk).exists()):
        raise NotStudyAnnotator("Only annotators assigned to this study may vote in it.")


def _open_trials(study: Study, annotator, now: datetime):
    """Trials the annotator has not been given, still short of votes counting others' live leases."""
    live = Count("leases", filter=Q(leases__status=TrialLease.Status.ACTIVE, leases__expires_at__gt=now))
    return (
        Trial.objects.filter(study=study, vote_count__lt=study.votes_per_trial)
        .exclude(leases__annotator=annotator)
        .annotate(live=live)
        .filter(vote_count__lt=study.votes_per_trial - F("live"))
    )


def _blind(lease: TrialLease, study: Study, annotator, now: datetime) -> BlindTrial:
    trial = lease.trial
    texts = dict(Answer.objects.filter(item_id=trial.item_id, system_id__in=(trial.system_a_id, trial.system_b_id)).values_list("system_id", "text"))
    a, b = texts[trial.system_a_id], texts[trial.system_b_id]
    image = trial.item.image
    return BlindTrial(
        token=lease.token,
        lease_id=lease.pk,
        image_id=image.pk,
        reference_id=image.reference_id if study.show_reference else None,
        instruction=study.instruction,
        left_text=a if lease.left_is_a else b,
        right_text=b if lease.left_is_a else a,
        ask_criteria=study.ask_criteria,
        done=Vote.objects.filter(trial__study=study, annotator=annotator).count(),
        remaining=_open_trials(study, annotator, now).count(),
    )


def trial_next(*, study: Study, annotator, now: datetime | None = None, rng: random.Random | None = None) -> BlindTrial:
    """The annotator's open lease in this study if any (renewed), else a new lease on the least-voted open trial.

    Sides are drawn at random per lease and recorded on it. Raises NotStudyAnnotator or NoTrial.
    """
    study_annotator_check(study=study, user=annotator)
    now = now or timezone.now()
    rng = rng or random.SystemRandom()
    with transaction.atomic():
        lease = (
            TrialLease.objects.select_for_update().select_related("trial__item__image")
            .filter(trial__study=study, annotator=annotator, status=TrialLease.Status.ACTIVE).order_by("issued_at").first()
        )
        if lease is not None:
            lease.expires_at = now + timedelta(seconds=study.lease_seconds)
            lease.save(update_fields=["expires_at"])
            return _blind(lease, study, annotator, now)
        candidates = list(_open_trials(study, annotator, now).order_by("vote_count", "live", "pk").values_list("pk", flat=True)[:_CANDIDATES])
        if not candidates:
            raise NoTrial("There is nothing left for you to judge in this study.")
        # Among the least-voted, a random one: annotators working at once spread over items.
        trial = Trial.objects.select_related("item__image").get(pk=rng.choice(candidates[: max(1, len(candidates) // 2)]))
        try:
            with transaction.atomic():
                lease = TrialLease.objects.create(
                    trial=trial, annotator=annotator, token=secrets.token_urlsafe(24), left_is_a=rng.random() < 0.5,
                    issued_at=now, expires_at=now + timedelta(seconds=study.lease_seconds),
                )
        except IntegrityError:  # a second request of the same annotator leased it a moment ago
            lease = TrialLease.objects.select_related("trial__item__image").get(trial=trial, annotator=annotator)
        return _blind(lease, study, annotator, now)


#: What `secrets.token_urlsafe(24)` makes; anything else (a NUL byte, which PostgreSQL's text type refuses) is no lease.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _lease_token(token) -> str:
    if not _TOKEN.fullmatch(str(token)):
        raise LeaseNotFound("No such trial.")
    return str(token)


def _criteria(value, side: str) -> list[bool] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != len(CRITERIA) or not all(isinstance(v, bool) for v in value):
        raise StudyError(f"criteria_{side} must be a list of {len(CRITERIA)} booleans (or left out).")
    return list(value)


def vote_submit(
    *, token: str, annotator, choice: str, client_id, criteria_left=None, criteria_right=None, duration_ms: int | None = None,
    study: Study | None = None, now: datetime | None = None,
) -> VoteResult:
    """Record a vote ("left", "same" or "right" as the annotator saw it) on the annotator's lease `token`.

    Idempotent: the same `client_id` with the same vote returns the first vote, with another vote (or on another
    trial) raises ClientIdReused; client_ids are the annotator's own, so another user's say nothing. A second submit
    on a voted lease with a new client_id (another tab) returns the vote already there. Raises LeaseNotFound
    (unknown or someone else's token), LeaseClosed (skipped) or StudyError (bad input).
    """
    lease = TrialLease.objects.select_related("trial__study__project").filter(token=_lease_token(token), annotator=annotator).first()
    if lease is None or (study is not None and lease.trial.study_id != study.pk):
        raise LeaseNotFound("No such trial.")
    study_annotator_check(study=lease.trial.study, user=annotator)
    try:
        client_id = uuid.UUID(str(client_id))
    except ValueError:
        raise StudyError("client_id must be a UUID.") from None
    existing = Vote.objects.filter(annotator=annotator, client_id=client_id).first()
    if existing is not None:
        stored = _vote_as_shown(existing)
        sent = {"choice": choice, "criteria_left": criteria_left, "criteria_right": criteria_right}
        if existing.lease_id != lease.pk or sent != stored:
            raise ClientIdReused("This client_id was sent before with another vote; the first vote is kept.", stored=stored)
        return VoteResult(existing, False)
    existing = Vote.objects.filter(lease=lease).first()
    if existing is not None:
        return VoteResult(existing, False)
    if choice not in CHOICES:
        raise StudyError(f"choice must be one of {', '.join(CHOICES)}.")
    left, right = _criteria(criteria_left, "left"), _criteria(criteria_right, "right")
    if duration_ms is not None and not (isinstance(duration_ms, int) and 0 <= duration_ms <= DURATION_MS_MAX):
        raise StudyError("duration_ms must be a whole number of milliseconds up to a day.")
    if lease.status == TrialLease.Status.RELEASED:
        raise LeaseClosed("You skipped this trial.")
    on_left = {"left": 1, "same": 0, "right": -1}[choice]  # +1: the left answer is better
    outcome = on_left if lease.left_is_a else -on_left
    now = now or timezone.now()
    try:
        with transaction.atomic():
            # The trial row is locked, so a late vote (its lease ran out) is taken only while the trial still
            # needs one: an expired slot may have gone to someone else, who then voted.
            trial = Trial.objects.select_for_update().get(pk=lease.trial_id)
            if lease.expires_at <= now and trial.vote_count >= lease.trial.study.votes_per_trial:
                raise LeaseClosed("This trial ran out of time and others have voted on it; here is the next one.")
            vote = Vote.objects.create(
                lease=lease, trial=lease.trial, annotator=annotator, outcome=outcome, left_is_a=lease.left_is_a,
                criteria_a=left if lease.left_is_a else right, criteria_b=right if lease.left_is_a else left,
                client_id=client_id, duration_ms=duration_ms,
            )
            Trial.objects.filter(pk=lease.trial_id).update(vote_count=F("vote_count") + 1)
            TrialLease.objects.filter(pk=lease.pk).update(status=TrialLease.Status.DONE)
    except IntegrityError:  # a concurrent submit of the same vote won the race
        existing = Vote.objects.filter(lease=lease).first()
        if existing is None:
            raise
        return VoteResult(existing, False)
    return VoteResult(vote, True)


def lease_skip(*, token: str, annotator) -> None:
    """Give the trial back unvoted; the annotator is not offered it again."""
    token = _lease_token(token)
    updated = TrialLease.objects.filter(token=str(token), annotator=annotator, status=TrialLease.Status.ACTIVE).update(status=TrialLease.Status.RELEASED)
    if not updated and not TrialLease.objects.filter(token=str(token), annotator=annotator).exists():
        raise LeaseNotFound("No such trial.")
