"""Blinded side-by-side studies: the study, its items and systems, the systems' answers, trials, leases and votes."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from config.runs import RunRow

DEFAULT_INSTRUCTION = "Please describe the visual quality of this image."

#: The three criteria of a "reasonable" answer (DepictQA, paper 002, appendix A3.2), in the order votes store them.
CRITERIA = (
    ("main_issue", "Finds the main quality issue"),
    ("no_false_distortion", "No serious false distortion"),
    ("consistent", "Description, reasoning and conclusion agree"),
)


class Study(models.Model):
    """A researcher's side-by-side comparison of systems' answers on some of a project's images."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="studies")
    name = models.CharField(max_length=200)
    instruction = models.TextField(default=DEFAULT_INSTRUCTION, help_text="What every system was asked about each image.")
    votes_per_trial = models.PositiveSmallIntegerField(default=2, help_text="Votes wanted per item and pair of systems.")
    show_reference = models.BooleanField(default=True, help_text="Show the image's reference (if it has one) beside it.")
    ask_criteria = models.BooleanField(default=False, help_text="Ask annotators to mark each answer against the DepictQA criteria.")
    lease_seconds = models.PositiveIntegerField(default=600, help_text="How long a trial stays reserved for the annotator it was given to.")
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="studies", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.project})"


class StudyItem(models.Model):
    """One image of the study; every system answers the study's instruction about it."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "image"], name="one_item_per_study_image")]

    def __str__(self) -> str:
        return f"item {self.pk} of study {self.study_id}"


class System(RunRow):
    """Where a study's answers come from: a critic version, an imported JSONL file, or an OpenAI-compatible endpoint.

    An endpoint's key is never stored: `endpoint_key_env` names the environment variable the worker reads it from.
    """

    class Kind(models.TextChoices):
        CRITIC = "critic", "Critic version"
        IMPORTED = "imported", "Imported answers (JSONL)"
        ENDPOINT = "endpoint", "OpenAI-compatible endpoint"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Generating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="systems")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    critic_version = models.ForeignKey("modeling.CriticVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    endpoint_base_url = models.URLField(blank=True)
    endpoint_model = models.CharField(max_length=200, blank=True)
    endpoint_key_env = models.CharField(max_length=100, blank=True, help_text="Name of the environment variable holding the key.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    answered_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0, help_text="Items whose answer failed in the last run.")
    chunks = models.JSONField(
        default=dict, blank=True, help_text="A critic system's chunks across `gpu` workers (config.chunks): run, total, done, attempts, failures.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    RUN_DONE = Status.READY
    RUN_CANCELLED = None
    RUN_STALE_HINT = "Answers already written are kept; Retry asks only for the items still missing."

    @property
    def chunks_total(self) -> int:
        return int((self.chunks or {}).get("total", 0))

    @property
    def chunks_done(self) -> int:
        return len((self.chunks or {}).get("done", []))

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["study", "name"], name="system_name_unique_in_study")]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Answer(models.Model):
    """A system's answer about one item."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="answers")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="answers")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["system", "item"], name="one_answer_per_system_item")]

    def __str__(self) -> str:
        return f"answer of system {self.system_id} on item {self.item_id}"


class AnswerScore(models.Model):
    """The GPT4-score judge's verdict on one answer against the human description of its image (paper 002, A4).

    `reference_score` and `answer_score` are the judge's 0-10 scores of the human answer and of the system's; both
    are null, with `error` saying why, when the judge could not score it (no human description, an unreadable reply,
    the endpoint failing). Judging again fills only the rows without scores.
    """

    answer = models.OneToOneField(Answer, on_delete=models.CASCADE, related_name="judge_score")
    judge_model = models.CharField(max_length=200, help_text="The model that judged (base URL's model name).")
    reference_text = models.TextField(blank=True, help_text="The human answer it was judged against.")
    reference_score = models.FloatField(null=True, blank=True)
    answer_score = models.FloatField(null=True, blank=True)
    explanation = models.TextField(blank=True)
    error = models.TextField(blank=True, help_text="Why this answer has no score.")
    judged_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"judge score of answer {self.answer_id}"


class Trial(models.Model):
    """One item and one pair of systems (a.id < b.id) to be voted on `votes_per_trial` times."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="trials")
    item = models.ForeignKey(StudyItem, on_delete=models.CASCADE, related_name="trials")
    system_a = models.ForeignKey(System, on_delete=models.CASCADE, related_name="+")
    system_b = models.ForeignKey(System, on_delete=models.CASCADE, related_name="+")
    vote_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "system_a", "system_b"], name="one_trial_per_item_pair"),
            models.CheckConstraint(condition=Q(system_a__lt=models.F("system_b")), name="trial_systems_ordered"),
        ]
        indexes = [models.Index(fields=["study", "vote_count"])]

    def __str__(self) -> str:
        return f"trial {self.pk} of study {self.study_id}"


class TrialLease(models.Model):
    """A trial handed to one annotator, with the side each answer was shown on; the token is all the browser sees.

    One row per trial and annotator, so nobody is given the same trial twice; an unanswered lease is renewed,
    not duplicated, when its holder comes back.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DONE = "done", "Voted"
        RELEASED = "released", "Released"

    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=64, unique=True, help_text="Opaque random id used in URLs and the API.")
    left_is_a = models.BooleanField(help_text="System A's answer was shown on the left.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["trial", "annotator"], name="one_lease_per_trial_annotator")]
        indexes = [models.Index(fields=["annotator", "status"])]

    def __str__(self) -> str:
        return f"lease {self.pk} on trial {self.trial_id}"


class Vote(models.Model):
    """An annotator's verdict on a trial: outcome relative to system A (+1 A better, 0 same, -1 B better)."""

    class Outcome(models.IntegerChoices):
        A_BETTER = 1, "A better"
        SAME = 0, "Same"
        B_BETTER = -1, "B better"

    lease = models.OneToOneField(TrialLease, on_delete=models.CASCADE, related_name="vote")
    trial = models.ForeignKey(Trial, on_delete=models.CASCADE, related_name="votes")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    outcome = models.SmallIntegerField(choices=Outcome.choices)
    left_is_a = models.BooleanField(help_text="Copied from the lease: A was on the left.")
    criteria_a = models.JSONField(null=True, blank=True, help_text="Three booleans (CRITERIA) for A's answer, or null.")
    criteria_b = models.JSONField(null=True, blank=True, help_text="Three booleans (CRITERIA) for B's answer, or null.")
    client_id = models.UUIDField(help_text="Made by the client once per vote; a resubmission carries the same id.")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Per annotator: another user's ids are none of this one's business (a global rule would tell them apart).
        constraints = [models.UniqueConstraint(fields=["annotator", "client_id"], name="one_vote_per_annotator_client_id")]

    def __str__(self) -> str:
        return f"vote {self.pk} on trial {self.trial_id}"
