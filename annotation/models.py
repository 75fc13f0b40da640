"""Projects (labelling campaigns), their members and images, image imports, and the annotators' work:
work items, leases and judgements."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from annotation.vocabulary import PairChoice, TaskKind
from config.runs import RunRow


class PairSource(models.TextChoices):
    """How a project's comparison pairs are chosen."""

    RANDOM = "random", "Random pairs"
    SAME_REFERENCE = "same_reference", "Pairs sharing a reference image"
    SAME_SOURCE = "same_source", "Pairs from the same source dataset"
    PROPOSED = "proposed", "Proposed by the active selector"


class SelectionStrategy(models.TextChoices):
    """How the active selector proposes pairs (used when the pair source is `proposed`)."""

    RANDOM = "random", "Random"
    EIG = "eig", "Expected information gain"
    EIG_PRIOR = "eig_prior", "Expected information gain, critic as prior"
    CRITIC_DISAGREEMENT = "critic_disagreement", "Where the critic disagrees with people"


class Project(models.Model):
    """A labelling campaign: a pool of images, the people who work on it, and how the work is handed out."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    # What annotators do, and how much of it (see annotation/services/queue.py).
    task_kinds = models.JSONField(default=list, blank=True, help_text="Enabled TaskKind values.")
    overlap = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Distinct annotators per item or pair.",
    )
    pair_source = models.CharField(max_length=20, choices=PairSource.choices, default=PairSource.RANDOM)
    pair_reasoning = models.BooleanField(
        default=False, help_text="Follow each comparison with the comparison-reasoning questionnaire (DepictQA Task-3).",
    )
    pair_allow_tie = models.BooleanField(default=True, help_text='Offer "hard to decide" on comparisons.')
    selection_strategy = models.CharField(
        max_length=24, choices=SelectionStrategy.choices, default=SelectionStrategy.EIG_PRIOR,
    )
    pair_batch_size = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1), MaxValueValidator(500)],
        help_text="Pairs proposed per refill of the queue (k).",
    )
    gold_rate = models.FloatField(
        default=0.1, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of served items that are hidden gold items.",
    )
    repeat_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of served items that repeat an annotator's earlier item, as a consistency check.",
    )
    lease_seconds = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(30), MaxValueValidator(24 * 3600)],
        help_text="How long an annotator holds an item before it returns to the queue.",
    )
    fatigue_warn_after = models.PositiveSmallIntegerField(default=30, help_text="Warn after this many consecutive items.")
    fatigue_pause_after = models.PositiveSmallIntegerField(default=50, help_text="Pause after this many consecutive items.")
    fatigue_break_minutes = models.PositiveSmallIntegerField(
        default=10, help_text="A gap this long between submissions ends a run of consecutive items; the pause lasts this long.",
    )
    pathway_show_mos = models.BooleanField(
        default=False,
        help_text="Show the image's MOS (0-100), when it has one, while annotators write pathway feedback (Q-SiT §III-B3).",
    )
    training_required = models.BooleanField(default=True, help_text="Annotators pass a training round before real work.")
    training_pass_mark = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of training items answered right to pass.",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a project. A researcher member manages it; an annotator member works on it."""

    class Role(models.TextChoices):
        RESEARCHER = "researcher", "Researcher"
        ANNOTATOR = "annotator", "Annotator"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    added_at = models.DateTimeField(auto_now_add=True)

    # An annotator's standing in the project: training and fatigue. The row is locked while a
    # judgement is submitted, which also serialises one annotator's submissions.
    training_attempt = models.PositiveSmallIntegerField(default=0, help_text="Current training round (0: not started).")
    training_passed_at = models.DateTimeField(null=True, blank=True)
    training_score = models.FloatField(null=True, blank=True, help_text="Share right in the last finished round.")
    run_count = models.PositiveIntegerField(default=0, help_text="Consecutive items without a break.")
    last_submitted_at = models.DateTimeField(null=True, blank=True)
    # Quality control's current state; ExclusionEvent holds the history (annotation/services/exclusion.py).
    excluded = models.BooleanField(default=False, help_text="The annotator's judgements are kept out of scores, exports and training.")
    # The kind of task the annotator chose to work on; blank: mixed, every kind the researcher enabled.
    preferred_kind = models.CharField(max_length=16, blank=True, default="", help_text="Blank: mixed (every enabled kind).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class Authenticity(models.TextChoices):
    UNKNOWN = "", "Unknown"
    PHOTOGRAPHIC = "photographic", "Photographic"
    AI_GENERATED = "ai_generated", "AI-generated"


class Image(models.Model):
    """One image of a project's pool, stored once per project (by content hash)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="images/", max_length=255)
    thumbnail = models.FileField(upload_to="thumbnails/", max_length=255)
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of the file's bytes.")
    original_name = models.CharField(max_length=255, help_text="The file name it was imported under.")
    format = models.CharField(max_length=16, help_text="Pillow's format name: JPEG, PNG, WEBP, BMP, TIFF.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file_size = models.PositiveBigIntegerField()
    source_dataset = models.CharField(max_length=200, blank=True)
    reference = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="distorted_versions",
        help_text="The pristine reference image, for full-reference pairs.",
    )
    mos_raw = models.FloatField(null=True, blank=True, help_text="Mean opinion score on its own scale.")
    mos_scale_min = models.FloatField(null=True, blank=True)
    mos_scale_max = models.FloatField(null=True, blank=True)
    mos_std = models.FloatField(null=True, blank=True, help_text="Standard deviation, on the raw scale.")
    mos_normalised = models.FloatField(null=True, blank=True, help_text="MOS rescaled linearly to 0-100, higher is better.")
    mos_lower_is_better = models.BooleanField(
        default=False, help_text="The raw score is a DMOS (lower is better); the normalised MOS is flipped so higher is better.",
    )
    authenticity = models.CharField(max_length=16, choices=Authenticity.choices, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True, help_text="Extra manifest columns.")
    # Known truth for generated data (distortion type, severity). Never shown to annotators:
    # no annotator-facing serializer or template reads it.
    hidden_ground_truth = models.JSONField(default=dict, blank=True)
    import_batch = models.ForeignKey("ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="images")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["project", "content_hash"], name="unique_image_per_project")]
        indexes = [models.Index(fields=["project", "original_name"])]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.project})"


class ImportBatch(RunRow):
    """One import (upload, API call or server-side folder) and its per-file report; a run row (config/runs.py)."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Browser upload"
        API = "api", "API"
        FOLDER = "folder", "Server folder"
        DEMO = "demo", "Demo seed"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    source = models.CharField(max_length=16, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Batch-wide defaults for rows that do not say: {"mos_scale": [min, max], "source_dataset": "...",
    # "mos_lower_is_better": true (the mos column holds DMOS)}.
    options = models.JSONField(default=dict, blank=True)
    # Where uploaded files wait for the worker (deleted once the batch is done).
    staging_dir = models.CharField(max_length=500, blank=True)
    # One entry per file or manifest row: {"name", "status": imported|duplicate|error, "message", "image_id"}.
    report = models.JSONField(default=list, blank=True)
    imported_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    RUN_CANCELLED = None
    RUN_STALE_HINT = (
        "The images imported before it stopped are kept; upload the files again to import the rest "
        "(those already in are skipped as duplicates)."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"Import #{self.pk} into {self.project} ({self.status})"


class WorkItem(models.Model):
    """One thing to judge: an image (pathway, description, rating) or a pair of images A and B.

    `purpose` says how it is served: `work` items go to `project.overlap` distinct annotators; `gold`
    items have a known answer and are mixed in, hidden, at the project's gold rate; `training` items
    have a known answer and an explanation and make up the training round.
    """

    class Purpose(models.TextChoices):
        WORK = "work", "Work"
        GOLD = "gold", "Gold"
        TRAINING = "training", "Training"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="work_items")
    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.WORK)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="work_items", help_text="The image, or A.")
    image_b = models.ForeignKey(Image, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Gold and training: {"level": 1-5} (rating, pathway), {"choice": "a"|"b"|"tie"} (pair),
    # {"overall": "nearly_undistorted"|"mild"|"severe"} (description).
    gold_answer = models.JSONField(default=dict, blank=True)
    feedback = models.TextField(blank=True, help_text="Training: the explanation shown after an answer.")
    # Pairs proposed by the active selector (modeling fills these; annotation only serves them).
    strategy = models.CharField(max_length=24, blank=True)
    expected_gain = models.FloatField(null=True, blank=True, help_text="The selector's expected gain (bits; squared ranks for the ranking objective).")
    critic_version_id = models.PositiveIntegerField(null=True, blank=True, help_text="Critic used as prior, if any.")
    priority = models.FloatField(default=0.0, help_text="Higher is served first.")
    judgement_count = models.PositiveIntegerField(default=0, help_text="Judgements so far, repeats not counted.")
    extra_judgements = models.PositiveIntegerField(
        default=0, help_text="Judgements wanted beyond the project's overlap (a pair the selector asks again).",
    )
    retired = models.BooleanField(default=False, help_text="No longer served (e.g. a superseded proposal).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "kind", "purpose", "image"],
                condition=Q(image_b__isnull=True),
                name="unique_single_image_item",
            ),
            models.UniqueConstraint(
                fields=["project", "kind", "purpose", "image", "image_b"],
                condition=Q(image_b__isnull=False),
                name="unique_pair_item",
            ),
            models.CheckConstraint(
                condition=Q(image_b__isnull=True) | Q(image__lt=models.F("image_b")),
                name="pair_images_ordered",
            ),
        ]
        indexes = [models.Index(fields=["project", "purpose", "kind", "retired", "judgement_count"])]

    def __str__(self) -> str:
        images = f"{self.image_id}" if self.image_b_id is None else f"{self.image_id} vs {self.image_b_id}"
        return f"{self.get_kind_display()} #{self.pk} ({images}, {self.purpose})"


class Lease(models.Model):
    """An item handed to one annotator until `expires_at`; each submitted lease has one judgement.

    `swap` records the screen position of a pair: False shows A on the left, True shows B there.
    Pages and the API call the left image "A"; answers are stored in the item's own A/B terms.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUBMITTED = "submitted", "Submitted"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"

    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    is_repeat = models.BooleanField(default=False, help_text="A consistency-check repeat of an earlier item.")
    training_attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    swap = models.BooleanField(default=False)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator"], condition=Q(status="active"), name="one_active_lease_per_item_and_annotator",
            ),
        ]
        indexes = [models.Index(fields=["item", "status", "expires_at"]), models.Index(fields=["annotator", "status"])]

    def __str__(self) -> str:
        return f"Lease #{self.pk} of item {self.item_id} to {self.annotator_id} ({self.status})"


class Judgement(models.Model):
    """One annotator's answer to one leased item, written once (idempotent by `client_id`)."""

    item = models.ForeignKey(WorkItem, on_delete=models.CASCADE, related_name="judgements")
    lease = models.OneToOneField(Lease, on_delete=models.CASCADE, related_name="judgement")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgements")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judgements")
    kind = models.CharField(max_length=16, choices=TaskKind.choices)
    purpose = models.CharField(max_length=16, choices=WorkItem.Purpose.choices)
    is_repeat = models.BooleanField(default=False)
    training_attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    client_id = models.UUIDField(help_text="Made by the client once per answer; a resubmission carries the same id.")
    # The validated answer in the item's A/B terms (see annotation/services/answers.py for the shapes).
    answer = models.JSONField()
    level = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1-5 (rating, optional for pathway).")
    choice = models.CharField(max_length=4, choices=PairChoice.choices, blank=True, help_text="Pairs: the better image.")
    swap = models.BooleanField(default=False, help_text="Pairs: B was shown on the left.")
    gold_correct = models.BooleanField(null=True, blank=True, help_text="Gold and training items: right or wrong.")
    issued_at = models.DateTimeField(help_text="When the lease was issued (server clock).")
    submitted_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time on the item, as the client measured it.")
    excluded = models.BooleanField(default=False, help_text="Excluded by quality control: never used for scores or training.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["annotator", "client_id"], name="unique_client_id_per_annotator"),
            models.UniqueConstraint(
                fields=["item", "annotator"],
                condition=Q(is_repeat=False, training_attempt__isnull=True),
                name="one_judgement_per_item_and_annotator",
            ),
            models.UniqueConstraint(
                fields=["item", "annotator", "training_attempt"],
                condition=Q(training_attempt__isnull=False),
                name="one_training_judgement_per_attempt",
            ),
        ]
        indexes = [models.Index(fields=["project", "kind", "purpose"]), models.Index(fields=["project", "annotator"])]

    def __str__(self) -> str:
        return f"Judgement #{self.pk} on item {self.item_id} by {self.annotator_id}"


class TextRevision(models.Model):
    """A paragraph drafted from one questionnaire judgement, and the annotator's revision of it (paper 002, §3.2).

    After a description or comparison-reasoning questionnaire, a language model (or, with none configured, the
    offline template drafter) drafts a paragraph from the answers; the annotator corrects it and saves the final
    text. The questionnaire answer itself lives on the judgement and is never touched here. A comparison paragraph
    calls the images as the annotator saw them ("Image A" is the left one); `judgement.swap` maps that to the
    item's A and B.
    """

    class Status(models.TextChoices):
        DRAFTING = "drafting", "Drafting"
        DRAFT_READY = "draft_ready", "Draft ready"
        DRAFT_FAILED = "draft_failed", "Drafting failed"
        SAVED = "saved", "Saved"

    judgement = models.OneToOneField(Judgement, on_delete=models.CASCADE, related_name="text_revision")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="text_revisions")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="text_revisions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFTING)
    prompt_name = models.CharField(max_length=100, blank=True, help_text="The prompt template that wrote the draft.")
    prompt_version = models.PositiveIntegerField(null=True, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="The model that wrote the draft, or loupe-template-drafter.")
    draft = models.TextField(blank=True)
    draft_problems = models.JSONField(default=list, blank=True, help_text="How the draft breaks the prompt's rules (sentences).")
    draft_error = models.TextField(blank=True, help_text="Why no draft came, as shown to the annotator.")
    final_text = models.TextField(blank=True)
    edit_distance = models.PositiveIntegerField(
        null=True, blank=True, help_text="Character-level Levenshtein distance from the draft shown to the final text.",
    )
    accepted_unchanged = models.BooleanField(default=False, help_text="The draft was saved as it was.")
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time on the draft box, as the client measured it.")
    drafted_at = models.DateTimeField(null=True, blank=True)
    saved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "annotator", "status"])]

    def __str__(self) -> str:
        return f"Text revision #{self.pk} of judgement {self.judgement_id} ({self.status})"


class ExclusionEvent(models.Model):
    """One exclusion or restoration of an annotator's data in a project: the audit log of quality control.

    `Membership.excluded` is the current state. An exclusion records which of the annotator's judgements were
    excluded already (by anything else), so that the restoration after it clears only what it set.
    """

    class Action(models.TextChoices):
        EXCLUDE = "exclude", "Excluded"
        RESTORE = "restore", "Restored"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exclusion_events")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exclusion_events")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    judgements_changed = models.PositiveIntegerField(default=0, help_text="Judgements whose `excluded` flag this action changed.")
    kept_excluded_ids = models.JSONField(
        default=list, blank=True, help_text="Exclusions: the annotator's judgements excluded before it (a restore leaves them).",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "annotator", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.annotator} in {self.project}"


class Invitation(models.Model):
    """A one-time link that lets a new person choose a username and password and join a project.

    Only a hash of the token is stored: the link is shown once, to the researcher who made it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.ANNOTATOR)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="invitations_created")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"invitation to {self.project} as {self.role}"
