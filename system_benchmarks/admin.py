"""Admin for benchmark runs, their calls and challenge sets (read mostly: the services make them)."""
from django.contrib import admin

from system_benchmarks.models import BenchmarkCall, BenchmarkRun, ChallengeSet


@admin.register(BenchmarkRun)
class BenchmarkRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "system_kind", "endpoint_model", "critic_version", "status", "n_calls", "n_answered", "n_unparseable", "n_failed", "created_at")
    list_filter = ("status", "system_kind", "project")
    raw_id_fields = ("project", "critic_version", "created_by")
    readonly_fields = ("created_at", "updated_at", "started_at", "heartbeat_at", "finished_at")


@admin.register(BenchmarkCall)
class BenchmarkCallAdmin(admin.ModelAdmin):
    list_display = ("run", "key", "protocol", "prompting", "status", "latency_s")
    list_filter = ("status", "protocol", "prompting")
    raw_id_fields = ("run",)


@admin.register(ChallengeSet)
class ChallengeSetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "project", "source_run", "source_cell", "created_at")
    list_filter = ("project",)
    raw_id_fields = ("project", "source_run", "created_by")
