"""App config for system benchmarks (paper 004's prompting systems run over a labelled pool)."""
from django.apps import AppConfig


class SystemBenchmarksConfig(AppConfig):
    name = "system_benchmarks"
    verbose_name = "System benchmarks"
    default_auto_field = "django.db.models.BigAutoField"
