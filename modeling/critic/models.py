"""Critic versions (one per training run), the scores each gives the pool, and the texts it writes."""
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.runs import RunRow


class CriticVersion(RunRow):
    """One training run of a project's critic and, once trained, its adapter (issue 8, "Versions").

    Progress and a heartbeat live on this row, so the page and the API read them from the database.
    The judgements it trained on are snapshotted to a compressed id file in the artifact folder
    (`judgements_file`, `n_judgements`, `judgements_sha256`), which stays small at a million judgements.
    The held-out images (a fixed share chosen by content hash) never enter training. At most one version
    of a project is `active`; only a finished, evaluated one can become active (modeling.critic.services).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        EVALUATING = "evaluating", "Evaluating"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Asked for by a researcher"
        API = "api", "API"
        JUDGEMENTS = "judgements", "New judgements"
        RETRY = "retry", "Retry of a failed run"
        COMMAND = "command", "Management command"

    class ScoreStatus(models.TextChoices):
        NONE = "", "Not scored"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Scoring"
        DONE = "done", "Scored"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="critic_versions")
    number = models.PositiveIntegerField(help_text="1, 2, ... within the project.")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children",
        help_text="The version this one retries, or the one that was active when it was asked for.",
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, help_text="Why the run failed, if it did.")
    cancel_requested = models.BooleanField(default=False)

    base_model_dir = models.CharField(max_length=500, help_text="The base checkpoint directory (local).")
    model_type = models.CharField(max_length=64, blank=True, help_text="config.json's model_type (the family).")
    is_tiny = models.BooleanField(default=False, help_text="A tiny random base built offline (demo and tests).")
    training_settings = models.JSONField(
        default=dict, blank=True,
        help_text="adapter (CriticTrainingSettings), optimisation (TrainingConfig), data (split, mix, curriculum, seed).",
    )

    last_judgement_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Judgements up to this id were considered (set when asked for, fixed when training starts).",
    )
    n_judgements = models.PositiveIntegerField(default=0, help_text="Judgements used for training.")
    judgements_file = models.CharField(max_length=200, blank=True, help_text="The id snapshot, relative to artifact_dir.")
    judgements_sha256 = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the sorted ids as little-endian int64.")
    heldout_image_ids = models.JSONField(default=list, blank=True, help_text="Images kept out of training, for evaluation.")
    n_training_images = models.PositiveIntegerField(default=0)
    n_conversations = models.PositiveIntegerField(default=0)
    conversation_counts = models.JSONField(default=dict, blank=True, help_text="Training conversations per task.")
    training_composition = models.JSONField(
        default=dict, blank=True,
        help_text="What went into the training set: conversations per task and source, the mix configured vs built, distinct images, notes.",
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out metrics (see critic_services.heldout_evaluate).")

    artifact_dir = models.CharField(max_length=500, blank=True, help_text="Relative to LOUPE_CRITIC_DIR.")
    artifact_sha256 = models.CharField(max_length=64, blank=True)

    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True, help_text="Seconds of training left, as last estimated.")
    stage = models.CharField(max_length=200, blank=True, help_text="The stage of a stage-wise run, as progress shows it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker running it.")
    attempt = models.PositiveSmallIntegerField(default=0, help_text="Deliveries of its training task that started work.")
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process that claimed it.")

    score_status = models.CharField(max_length=16, choices=ScoreStatus.choices, blank=True, default=ScoreStatus.NONE)
    scored_count = models.PositiveIntegerField(default=0)
    scored_at = models.DateTimeField(null=True, blank=True)
    score_error = models.TextField(blank=True)
    score_chunks = models.JSONField(
        default=dict, blank=True,
        help_text="The scoring run's chunks (modeling.critic.pool_scoring): run, total, done, attempts, workers, failures.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True, help_text="When it last became active.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_critic_version_number"),
            models.UniqueConstraint(fields=["project"], condition=Q(status="active"), name="one_active_critic_version"),
        ]
        indexes = [models.Index(fields=["project", "status"])]

    def __str__(self) -> str:
        return f"Critic v{self.number} of {self.project} ({self.status})"

    PENDING = (Status.QUEUED, Status.TRAINING, Status.EVALUATING)
    TRAINED = (Status.READY, Status.ACTIVE, Status.RETIRED)

    @property
    def has_trained_adapter(self) -> bool:
        """Trained to the end, with its adapter written: it can score, answer and run benchmarks."""
        return bool(self.artifact_sha256) and self.status in self.TRAINED

    RUN_RUNNING = Status.TRAINING
    RUN_WORKING = (Status.TRAINING, Status.EVALUATING)
    RUN_DONE = Status.READY
    # A training run resumes only from a checkpoint (optimisation.checkpoint_every; the rule is registered by
    # modeling.apps, modeling.critic.training_job): without one, a redelivery after its worker died fails it, and
    # Retry makes a fresh version.
    RUN_RESUMES = False
    RUN_STALE_HINT = "Nothing was activated; Retry trains a fresh version from the start."

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING

    @property
    def score_chunks_total(self) -> int:
        return int((self.score_chunks or {}).get("total", 0))

    @property
    def score_chunks_done(self) -> int:
        return len((self.score_chunks or {}).get("done", []))

    @property
    def is_evaluated(self) -> bool:
        return bool(self.metrics) and bool(self.artifact_sha256)

    @property
    def can_be_activated(self) -> bool:
        return self.status in (self.Status.READY, self.Status.RETIRED) and self.is_evaluated


class CriticScore(models.Model):
    """One image's score from one critic version: expected level on 0-100 and its variance (paper 001, eqs. 4-5)."""

    version = models.ForeignKey(CriticVersion, on_delete=models.CASCADE, related_name="scores")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="critic_scores")
    score = models.FloatField(help_text="0 (bad) to 100 (excellent).")
    variance = models.FloatField(help_text="Of the level distribution, in the same 0-100 units.")
    probabilities = models.JSONField(help_text="P(bad), P(poor), P(fair), P(good), P(excellent).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version", "image_id"]
        constraints = [models.UniqueConstraint(fields=["version", "image"], name="unique_critic_score")]

    def __str__(self) -> str:
        return f"{self.image_id}: {self.score:.1f} (critic v{self.version_id})"


class CriticText(models.Model):
    """Free text a critic version wrote about one image (quality descriptions, for the studies)."""

    version = models.ForeignKey(CriticVersion, on_delete=models.CASCADE, related_name="texts")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="critic_texts")
    task = models.CharField(max_length=32, default="description")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["version", "image_id"]
        constraints = [models.UniqueConstraint(fields=["version", "image", "task"], name="unique_critic_text")]

    def __str__(self) -> str:
        return f"{self.task} of {self.image_id} by critic v{self.version_id}"


class GeneralDataUpload(models.Model):
    """A researcher's zip of general-purpose instruction data (paper 001's D3): a LLaVA-style JSON and its images.

    Validated whole before anything is stored (modeling/critic/general_uploads.py); the JSON and the images
    it names live under MEDIA_ROOT in `folder`, which the `gpu` workers share. A retrain names it as
    `general_data = "upload:<id>"`.
    """

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="general_data_uploads")
    name = models.CharField(max_length=200, help_text="The uploaded zip's file name.")
    folder = models.CharField(max_length=300, help_text="Relative to MEDIA_ROOT: data.json and the images beside it.")
    json_name = models.CharField(max_length=300, help_text="The JSON's path inside the folder.")
    n_records = models.PositiveIntegerField()
    n_images = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.n_records} records)"

    @property
    def option(self) -> str:
        """How a retrain's `general_data` names it."""
        return f"upload:{self.pk}"
