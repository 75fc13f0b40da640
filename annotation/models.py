"""Projects (labelling campaigns), their members, their images, and image imports."""
from django.conf import settings
from django.db import models


class Project(models.Model):
    """A labelling campaign: a pool of images and the people who work on it."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

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
    mos_normalised = models.FloatField(null=True, blank=True, help_text="MOS rescaled linearly to 0-100.")
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


class ImportBatch(models.Model):
    """One import (upload, API call or server-side folder) and its per-file report."""

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
    # Batch-wide defaults for rows that do not say: {"mos_scale": [min, max], "source_dataset": "..."}.
    options = models.JSONField(default=dict, blank=True)
    # Where uploaded files wait for the worker (deleted once the batch is done).
    staging_dir = models.CharField(max_length=500, blank=True)
    # One entry per file or manifest row: {"name", "status": imported|duplicate|error, "message", "image_id"}.
    report = models.JSONField(default=list, blank=True)
    imported_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True, help_text="Why the whole batch failed, if it did.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"Import #{self.pk} into {self.project} ({self.status})"
