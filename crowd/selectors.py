"""Reads of the crowd app: the link's URLs, a participant's progress, and the researcher's participant table."""
from __future__ import annotations

from django.db.models import Count, Q
from django.urls import reverse

from annotation.models import Judgement, Membership, Project
from crowd.models import CrowdLink, CrowdParticipant, Platform
from evaluation.quality import annotator_screening

#: The entry URL's query string as each platform wants it in the study's settings (the placeholders are theirs).
PLATFORM_QUERY = {
    Platform.PROLIFIC: "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}",
    # MTurk appends assignmentId, hitId, turkSubmitTo and workerId to an ExternalQuestion's URL by itself.
    Platform.MTURK: "",
    Platform.OTHER: "?PID=<participant id>",
}


def crowd_entry_url(*, link: CrowdLink, base_url: str) -> str:
    """The URL to paste into the platform (`base_url`: scheme and host, e.g. request.build_absolute_uri('/'))."""
    path = reverse("crowd:entry", kwargs={"token": link.token})
    return base_url.rstrip("/") + path + PLATFORM_QUERY[Platform(link.platform)]


def crowd_link_by_token(*, token: str) -> CrowdLink | None:
    return CrowdLink.objects.select_related("project").filter(token=token).first()


def crowd_participant_of(*, project: Project, user) -> CrowdParticipant | None:
    if not (user and user.is_authenticated):
        return None
    return CrowdParticipant.objects.filter(project=project, user=user).first()


def crowd_items_done(*, participant: CrowdParticipant) -> int:
    """Work judgements the participant has made in the project (training answers not counted)."""
    return Judgement.objects.filter(
        project_id=participant.project_id, annotator_id=participant.user_id, training_attempt__isnull=True,
    ).count()


def crowd_participant_rows(*, project: Project) -> list[dict]:
    """One row per participant: ids, progress, training, completion code, quality control's verdict, decision."""
    participants = list(CrowdParticipant.objects.filter(project=project).select_related("user"))
    if not participants:
        return []
    user_ids = [participant.user_id for participant in participants]
    done = dict(
        Judgement.objects.filter(project=project, annotator_id__in=user_ids, training_attempt__isnull=True)
        .values("annotator_id").annotate(n=Count("id")).values_list("annotator_id", "n")
    )
    memberships = {
        membership.user_id: membership
        for membership in Membership.objects.filter(project=project, user_id__in=user_ids, role=Membership.Role.ANNOTATOR)
    }
    screening = {row["annotator_id"]: row for row in annotator_screening(project=project)}
    rows = []
    for participant in participants:
        membership = memberships.get(participant.user_id)
        screen = screening.get(participant.user_id, {})
        gold = screen.get("gold") or {"correct": 0, "answered": 0, "accuracy": None}
        flags = list(screen.get("flags") or [])
        if membership is not None and project.training_required and membership.training_passed_at is None:
            flags.insert(0, "training not passed")
        rows.append(
            {
                "participant": participant,
                "judgements": done.get(participant.user_id, 0),
                "training_passed": membership is not None and membership.training_passed_at is not None,
                "gold": gold,
                "flags": flags,
                "verdict": "flagged: " + ", ".join(flags) if flags else "ok",
                "excluded": membership is not None and membership.excluded,
            }
        )
    return rows


def crowd_counts(*, project: Project) -> dict:
    return CrowdParticipant.objects.filter(project=project).aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(completed_at__isnull=False)),
        approved=Count("id", filter=Q(decision=CrowdParticipant.Decision.APPROVED)),
        rejected=Count("id", filter=Q(decision=CrowdParticipant.Decision.REJECTED)),
    )
