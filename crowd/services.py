"""Writes of the crowd app: the project's entry link, participants coming in by it, completion, approval."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Role
from annotation.models import Judgement, Membership, Project
from annotation.services.exclusion import annotator_exclude, annotator_restore
from crowd.models import CrowdJudgement, CrowdLink, CrowdParticipant, Platform

#: What a platform id may look like: Prolific's are 24 hex digits, MTurk's A-Z and 0-9; we allow a little more.
PLATFORM_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: The URL parameters each platform sends, by what we call them: the worker's id first.
PLATFORM_PARAMETERS = {
    Platform.PROLIFIC: {"worker_id": "PROLIFIC_PID", "study_id": "STUDY_ID", "session_id": "SESSION_ID"},
    Platform.MTURK: {"worker_id": "workerId", "assignment_id": "assignmentId", "hit_id": "hitId"},
    Platform.OTHER: {"worker_id": "PID"},
}
#: MTurk's assignmentId while a worker only previews the HIT (they have not accepted it yet).
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"


class CrowdEntryError(ValueError):
    """A participant cannot come in: the link is off, or the URL's ids are missing or malformed."""


def _new_code() -> str:
    return secrets.token_hex(4).upper()


def crowd_link_get_or_create(*, project: Project) -> CrowdLink:
    """The project's link (made, turned off, with a fresh token and completion code, the first time it is asked for)."""
    link, _ = CrowdLink.objects.get_or_create(
        project=project, defaults={"token": secrets.token_urlsafe(24), "completion_code": _new_code()},
    )
    return link


def crowd_link_update(
    *, project: Project, enabled: bool, platform: str, items_required: int, completion_code: str, completion_url: str = "",
) -> CrowdLink:
    """Save the link's settings (validated as the model says); raises ValidationError, saving nothing, on bad input."""
    link = crowd_link_get_or_create(project=project)
    link.enabled, link.platform, link.items_required = enabled, platform, items_required
    link.completion_code, link.completion_url = (completion_code or "").strip(), (completion_url or "").strip()
    link.full_clean(exclude=["project", "token"])
    link.save()
    return link


def crowd_link_rotate(*, project: Project) -> CrowdLink:
    """A new token: the old URL stops working (participants already in keep their accounts)."""
    link = crowd_link_get_or_create(project=project)
    link.token = secrets.token_urlsafe(24)
    link.save(update_fields=["token", "updated_at"])
    return link


@dataclass(frozen=True)
class EntryIds:
    """The ids a platform put in the entry URL: the worker's id, and the others by our names."""

    worker_id: str
    others: dict


def entry_ids_parse(*, platform: str, params) -> EntryIds:
    """Read and check the platform's ids from the URL's parameters; CrowdEntryError says which is wrong."""
    names = PLATFORM_PARAMETERS[Platform(platform)]
    values = {}
    for ours, theirs in names.items():
        value = (params.get(theirs) or "").strip()
        if not value:
            if ours == "worker_id":
                raise CrowdEntryError(
                    f"This link needs your {Platform(platform).label} id in its {theirs} parameter: open it from the study's page."
                )
            continue
        if not PLATFORM_ID_PATTERN.match(value):
            raise CrowdEntryError(f"The {theirs} parameter is not a valid id (a letter or digit, then letters, digits, - and _; at most 64).")
        values[ours] = value
    return EntryIds(worker_id=values.pop("worker_id"), others=values)


#: Participants' usernames start with this (`_username`); the judgement hook skips everyone else without a query.
USERNAME_PREFIX = "crowd-"


def _username(project: Project, platform: str, worker_id: str) -> str:
    return f"{USERNAME_PREFIX}{project.pk}-{platform}-{worker_id}"


def crowd_participant_enter(*, link: CrowdLink, ids: EntryIds) -> tuple[CrowdParticipant, bool]:
    """The participant for these ids (one per platform id per project), made with an annotator account the first
    time; their latest ids are kept. Returns (participant, created); raises CrowdEntryError when the link is off."""
    if not link.enabled:
        raise CrowdEntryError("This study link is not open.")
    project = link.project
    User = get_user_model()
    for _ in range(2):  # a second try when a concurrent first entry made the same participant meanwhile
        try:
            with transaction.atomic():
                participant = (
                    CrowdParticipant.objects.select_for_update()
                    .select_related("user")
                    .filter(project=project, platform=link.platform, worker_id=ids.worker_id)
                    .first()
                )
                if participant is not None:
                    participant.platform_ids = ids.others
                    participant.entries += 1
                    participant.last_entry_at = timezone.now()
                    participant.save(update_fields=["platform_ids", "entries", "last_entry_at"])
                    return participant, False
                user = User(username=_username(project, link.platform, ids.worker_id), role=Role.ANNOTATOR)
                user.set_unusable_password()
                user.save()
                Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
                participant = CrowdParticipant.objects.create(
                    project=project, user=user, platform=link.platform, worker_id=ids.worker_id, platform_ids=ids.others,
                )
                return participant, True
        except IntegrityError:
            continue
    raise CrowdEntryError("This id is taken by another account; ask the researcher.")


def crowd_completion_record(*, participant: CrowdParticipant, link: CrowdLink) -> CrowdParticipant:
    """Note that the participant was shown the completion code (the first time only; the code they saw is kept)."""
    if participant.completed_at is None:
        participant.completed_at = timezone.now()
        participant.completion_code = link.completion_code
        participant.save(update_fields=["completed_at", "completion_code"])
    return participant


def crowd_judgement_record(*, judgement: Judgement) -> CrowdJudgement | None:
    """Keep the participant's current platform ids with their judgement (nothing for other annotators)."""
    # The queue creates the judgement with the annotator object, so this costs no query; the queue's query budget
    # per submission (tests/annotation/test_work_api.py) stays as it was for everyone who is not a participant.
    if not judgement.annotator.get_username().startswith(USERNAME_PREFIX):
        return None
    participant = CrowdParticipant.objects.filter(project_id=judgement.project_id, user_id=judgement.annotator_id).first()
    if participant is None:
        return None
    ids = {"platform": participant.platform, "worker_id": participant.worker_id, **participant.platform_ids}
    crowd_judgement, _ = CrowdJudgement.objects.get_or_create(
        judgement=judgement, defaults={"participant": participant, "platform_ids": ids},
    )
    return crowd_judgement


def crowd_participant_decide(*, participant: CrowdParticipant, decision: str, by, reason: str = "") -> CrowdParticipant:
    """Approve or reject a participant before payment. Rejecting excludes their judgements through quality control's
    exclusion (annotation/services/exclusion.py), so scores, exports and training leave them out; approving a
    rejected participant restores them."""
    if decision not in (CrowdParticipant.Decision.APPROVED, CrowdParticipant.Decision.REJECTED):
        raise ValidationError({"decision": "Choose approve or reject."})
    reason = (reason or "").strip()
    with transaction.atomic():
        participant = CrowdParticipant.objects.select_for_update().select_related("user", "project").get(pk=participant.pk)
        if decision == CrowdParticipant.Decision.REJECTED:
            membership = Membership.objects.get(project=participant.project, user=participant.user)
            if not membership.excluded:
                annotator_exclude(
                    project=participant.project, annotator=participant.user, by=by,
                    reason=f"Crowd participant {participant.worker_id} rejected: {reason or 'no reason given'}",
                )
        elif participant.decision == CrowdParticipant.Decision.REJECTED:
            # Approving after a rejection gives back what the rejection took away.
            membership = Membership.objects.get(project=participant.project, user=participant.user)
            if membership.excluded:
                annotator_restore(
                    project=participant.project, annotator=participant.user, by=by,
                    reason=f"Crowd participant {participant.worker_id} approved after a rejection: {reason or 'no reason given'}",
                )
        participant.decision, participant.decision_reason = decision, reason
        participant.decided_at, participant.decided_by = timezone.now(), by
        participant.save(update_fields=["decision", "decision_reason", "decided_at", "decided_by"])
    return participant
