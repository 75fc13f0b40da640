"""Export jobs: one request for a project's datasets as a file, with its filters, progress and result."""
from django.conf import settings
from django.db import models

from config.runs import RunRow


class ExportJob(RunRow):
    """One export of a project's data in one or more formats (exports/formats.py), written by the worker.

    Progress lives on this row (`rows_written` of about `rows_expected`), so pages and the API read it from the
    database. The file is written under `MEDIA_ROOT/exports/` to a temporary name and renamed when complete, so a
    `done` job always has a whole file and a rerun of a finished job does nothing. `MEDIA_ROOT` is never served as
    is: the file is only reachable through the permission-checked download views.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="export_jobs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    formats = models.JSONField(default=list, help_text="Format names (exports/formats.py), in order.")
    include_images = models.BooleanField(default=False, help_text="Put the project's image files in the zip.")
    filters = models.JSONField(default=dict, blank=True, help_text="ExportFilters.to_dict(): dates, annotators, gold, exclusions.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_written = models.PositiveBigIntegerField(default=0)
    rows_expected = models.PositiveBigIntegerField(default=0, help_text="About how many rows the formats will write (for progress).")
    row_counts = models.JSONField(default=dict, blank=True, help_text="Rows written per format.")
    file_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT.")
    file_name = models.CharField(max_length=255, blank=True, help_text="The name it downloads under.")
    sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the export failed, if it did.")
    notes = models.JSONField(default=dict, blank=True, help_text="Format -> what a reader should know (also in the manifest).")
    created_at = models.DateTimeField(auto_now_add=True)

    RUN_CANCELLED = None
    RUN_STALE_HINT = "No file was kept; ask for the export again."

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"Export #{self.pk} of {self.project} ({', '.join(self.formats)}; {self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_bundle(self) -> bool:
        """A zip (with a manifest) rather than one plain file."""
        from exports.registry import formats_bundled

        return formats_bundled(self.formats, include_images=self.include_images)

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_expected:
            return 0
        return min(99, int(100 * self.rows_written / self.rows_expected))
