"""A project's public entry link for crowd platforms, the participants who came in by it, and the platform ids
recorded with each of their judgements."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Platform(models.TextChoices):
    """Which platform's URL parameters the link reads."""

    PROLIFIC = "prolific", "Prolific"
    MTURK = "mturk", "Amazon Mechanical Turk"
    OTHER = "other", "Other (a PID parameter)"


class CrowdLink(models.Model):
    """The project's public entry link: off until the researcher turns it on; a new token makes the old URL dead."""

    project = models.OneToOneField("annotation.Project", on_delete=models.CASCADE, related_name="crowd_link")
    enabled = models.BooleanField(default=False, help_text="Participants may enter by the link.")
    token = models.CharField(max_length=64, unique=True, help_text="The random part of the public URL.")
    platform = models.CharField(max_length=16, choices=Platform.choices, default=Platform.PROLIFIC)
    items_required = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Items each participant judges (after training) before getting the completion code.",
    )
    completion_code = models.CharField(
        max_length=40, help_text="The code participants are given at the end (Prolific's study completion code).",
    )
    completion_url = models.URLField(
        blank=True, max_length=500,
        help_text="Where participants are sent at the end, e.g. https://app.prolific.com/submissions/complete?cc={code} (blank: show the code).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"crowd link of {self.project} ({'on' if self.enabled else 'off'})"


class CrowdParticipant(models.Model):
    """One platform worker in one project, with the annotator account made for them (no password: the link signs
    them in). `platform_ids` are the ids of their latest entry (study/session, or HIT/assignment)."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="crowd_participants")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="crowd_participant")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    worker_id = models.CharField(max_length=64, help_text="The platform's id of the worker (PROLIFIC_PID, workerId).")
    platform_ids = models.JSONField(default=dict, blank=True)
    entries = models.PositiveIntegerField(default=1, help_text="How many times they came in by the link.")
    started_at = models.DateTimeField(auto_now_add=True)
    last_entry_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True, help_text="When they were first shown the completion code.")
    completion_code = models.CharField(max_length=40, blank=True, help_text="The code they were shown.")
    decision = models.CharField(max_length=16, choices=Decision.choices, default=Decision.PENDING)
    decision_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "platform", "worker_id"], name="one_participant_per_platform_id"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.worker_id} in {self.project}"


class CrowdJudgement(models.Model):
    """The platform ids a participant's judgement was made under (their entry's study/session or HIT/assignment)."""

    judgement = models.OneToOneField("annotation.Judgement", on_delete=models.CASCADE, related_name="crowd")
    participant = models.ForeignKey(CrowdParticipant, on_delete=models.CASCADE, related_name="judgements")
    platform_ids = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"judgement {self.judgement_id} by {self.participant}"
