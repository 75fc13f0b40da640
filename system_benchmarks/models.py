"""Benchmark runs of a system over a labelled pool, their per-call rows, and challenge sets."""
from django.conf import settings
from django.db import models

from config.runs import RunRow, run_is_stale


class BenchmarkRun(RunRow):
    """One system run over a snapshot of a project's labelled pool under chosen protocols × promptings.

    Every prompt is a `BenchmarkCall` row made when the run is created; the worker answers the pending
    ones, so a run that stopped (crash, failure, cancel) resumes without redoing finished calls. The
    pool (image ids with human scores and spreads) is snapshotted in `pool`, so results do not move when
    new judgements arrive. Keys are never stored: `endpoint_key_env` names an environment variable.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class SystemKind(models.TextChoices):
        ENDPOINT = "endpoint", "OpenAI-compatible vision endpoint"
        CRITIC = "critic", "Critic version"

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="benchmark_runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    name = models.CharField(max_length=200, blank=True)

    system_kind = models.CharField(max_length=16, choices=SystemKind.choices)
    endpoint_base_url = models.CharField(max_length=500, blank=True)
    endpoint_model = models.CharField(max_length=200, blank=True)
    endpoint_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable (on the worker) holding the API key; empty: no key.",
    )
    requests_per_minute = models.FloatField(default=0.0, help_text="Local request limit for the endpoint; 0: none (its 429s are retried).")
    critic_version = models.ForeignKey(
        "modeling.CriticVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="benchmark_runs",
    )

    protocols = models.JSONField(default=list, help_text='Subset of ["single", "double", "multiple"].')
    promptings = models.JSONField(default=list, help_text='Subset of ["standard", "in_context", "chain_of_thought"].')
    subset_size = models.PositiveIntegerField(help_text="Labelled images drawn (with `seed`) for the run.")
    seed = models.PositiveIntegerField(default=0)
    list_size = models.PositiveSmallIntegerField(default=4, help_text="Images per multiple-stimulus prompt.")
    rounds = models.PositiveSmallIntegerField(default=2, help_text="Double/multiple-stimulus prompts each image appears in.")
    full_reference = models.BooleanField(
        default=False, help_text="Paper 004's full-reference scenario: images with a reference only, shown with it; pairs and lists share one reference.",
    )
    pool = models.JSONField(default=list, help_text="[{image_id, score, std, source}] on 0-100, snapshotted at creation.")
    exemplars = models.JSONField(default=list, help_text="[{image_id, score, protocol}] shown in in-context prompts of that protocol (no protocol: all).")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(default=False)
    n_calls = models.PositiveIntegerField(default=0)
    n_answered = models.PositiveIntegerField(default=0, help_text="Calls with an answer, parseable or not.")
    n_unparseable = models.PositiveIntegerField(default=0)
    n_failed = models.PositiveIntegerField(default=0, help_text="Calls the system gave no usable reply to.")
    results = models.JSONField(default=dict, blank=True, help_text="Metrics per protocol × prompting (see services).")
    predictions = models.JSONField(default=dict, blank=True, help_text='{"protocol:prompting": {image_id: score}}.')
    chunks = models.JSONField(
        default=dict, blank=True, help_text="A critic run's chunks across `gpu` workers (config.chunks): run, total, done, attempts, failures.",
    )

    RUN_STALE_HINT = "Answered calls are kept; Resume goes on from here."

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"Benchmark #{self.pk} of {self.system_label} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_silent(self) -> bool:
        """Running, but its worker stopped answering (config.runs.run_is_stale): it may be resumed."""
        return run_is_stale(self)

    @property
    def system_label(self) -> str:
        if self.system_kind == self.SystemKind.CRITIC and self.critic_version_id:
            return f"critic v{self.critic_version.number}"
        return f"{self.endpoint_model} at {self.endpoint_base_url}"

    @property
    def chunks_total(self) -> int:
        return int((self.chunks or {}).get("total", 0))

    @property
    def chunks_done(self) -> int:
        return len((self.chunks or {}).get("done", []))

    @property
    def n_done(self) -> int:
        return self.n_answered + self.n_failed


class BenchmarkCall(models.Model):
    """One prompt of a run: which images, the prompt, the raw answer and what it parsed to.

    `key` ("protocol:prompting:index") is unique in its run; the worker answers only `pending` rows.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ANSWERED = "answered", "Answered"
        UNPARSEABLE = "unparseable", "Unparseable"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(BenchmarkRun, on_delete=models.CASCADE, related_name="calls")
    key = models.CharField(max_length=80)
    protocol = models.CharField(max_length=16)
    prompting = models.CharField(max_length=24)
    image_ids = models.JSONField(help_text="Test images in the order shown (Image A, B, ...).")
    reference_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="Full-reference runs: the reference image shown before the test images.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    prompt = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    parsed = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why the answer is unparseable or the call failed.")
    latency_s = models.FloatField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "id"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_benchmark_call_key")]
        indexes = [models.Index(fields=["run", "status"])]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.key} ({self.status})"


class ChallengeSet(models.Model):
    """Hard, diverse items chosen from a finished run (the expert) by paper 004's eq. 5 (or eqs. 3-4 with references)."""

    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="challenge_sets")
    source_run = models.ForeignKey(BenchmarkRun, null=True, on_delete=models.SET_NULL, related_name="challenge_sets")
    source_cell = models.CharField(max_length=48, help_text='The expert: the run\'s "protocol:prompting" predictions.')
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    lam = models.FloatField(help_text="λ, the weight of diversity.")
    epsilon = models.FloatField(help_text="ε, added to the human variance.")
    per_reference = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Full-reference selection (eqs. 3-4): images per chosen reference; empty: no-reference (eq. 5).",
    )
    image_ids = models.JSONField(help_text="Chosen images, in the order chosen.")
    items = models.JSONField(help_text="[{image_id, reference_id, human, std, expert, difficulty, diversity}] in the order chosen.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({len(self.image_ids)} images)"
