"""App config for system benchmarks (paper 004's prompting systems run over a labelled pool)."""
from django.apps import AppConfig


class SystemBenchmarksConfig(AppConfig):
    name = "system_benchmarks"
    verbose_name = "System benchmarks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from config.runs import run_resume_register
        from system_benchmarks.models import BenchmarkRun
        from system_benchmarks.services.execution import critic_run_requeue

        # A critic run's chunks are re-sent by the sweep, not failed, when their worker is lost (config.chunks).
        run_resume_register(BenchmarkRun, resumes=lambda row: row.RUN_RESUMES, requeue=critic_run_requeue)
