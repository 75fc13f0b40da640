"""Scaling runs and the per-image scores they produce: Thurstone scores with uncertainty, and MOS."""
from django.db import models

from config.runs import RunRow


class ScalingRun(RunRow):
    """One fit of a project's human judgements onto a single scale (see evaluation/services.py).

    Progress lives on this row, so pages and the API read it from the database. A project's latest
    `done` run is its *current* scores (`evaluation.selectors.scaling_run_current`).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Asked for by a researcher"
        JUDGEMENTS = "judgements", "New judgements"
        COMMAND = "command", "Management command"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="scaling_runs")
    created_at = models.DateTimeField(auto_now_add=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    duration_seconds = models.FloatField(null=True, blank=True, help_text="Reading, fitting and writing, in seconds.")
    last_judgement_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The run reads judgements up to this id (set when it starts).",
    )
    n_items = models.PositiveIntegerField(default=0, help_text="Images scored (all of the project's images).")
    n_comparisons = models.PositiveIntegerField(default=0, help_text="Pair judgements used.")
    n_ratings = models.PositiveIntegerField(default=0, help_text="Rating judgements used.")
    iterations = models.PositiveIntegerField(default=0, help_text="Newton iterations of the MAP fit.")
    variance_method = models.CharField(max_length=16, blank=True, help_text='"exact" or "diagonal" Laplace variances.')
    method = models.TextField(blank=True, help_text="How the scores were made, in words.")

    RUN_CANCELLED = None
    RUN_STALE_HINT = "Its scores were not changed; ask for a new run."

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"Scaling run #{self.pk} of {self.project} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ItemScore(models.Model):
    """One image's score in one scaling run.

    `score` is on the Thurstone scale (one unit: one standard deviation of a perceptual difference;
    a gap of 1 wins about 84% of comparisons); `ci_low`/`ci_high` are its 95% Laplace interval;
    `score_0_100` maps the run's lowest score to 0 and its highest to 100, for display only.
    """

    run = models.ForeignKey(ScalingRun, on_delete=models.CASCADE, related_name="scores")
    image = models.ForeignKey("annotation.Image", on_delete=models.CASCADE, related_name="scores")
    score = models.FloatField()
    variance = models.FloatField()
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    score_0_100 = models.FloatField()
    n_comparisons = models.PositiveIntegerField(default=0)
    n_ratings = models.PositiveIntegerField(default=0)
    mos = models.FloatField(null=True, blank=True, help_text="Mean rating (1-5), if the image was rated.")

    class Meta:
        ordering = ["-score", "image_id"]
        constraints = [models.UniqueConstraint(fields=["run", "image"], name="unique_score_per_run_and_image")]
        indexes = [models.Index(fields=["run", "score"])]

    def __str__(self) -> str:
        return f"{self.image_id}: {self.score:.3f} (run {self.run_id})"


class ReportCache(models.Model):
    """A computed report (a project's quality dashboard, a study's results), kept until its data changes.

    One row per (`kind`, `object_id`). `project` is whose data it is: a read also checks it, so a row can never
    show another project's numbers. A data change bumps `stamp` and sets `pending`; the worker's recompute
    (evaluation/report_cache.py) clears `pending` only if no change came in while it computed.
    """

    kind = models.CharField(max_length=32)
    object_id = models.PositiveBigIntegerField()
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="report_caches")
    data = models.JSONField(default=dict)
    computed_at = models.DateTimeField()
    stamp = models.PositiveBigIntegerField(default=0, help_text="Bumped at every data change.")
    pending = models.BooleanField(default=False, help_text="A recompute is queued or running.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="unique_report_cache_per_kind_and_object")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.object_id} ({'pending' if self.pending else 'fresh'})"
