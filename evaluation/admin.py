"""Admin for scaling runs, their scores and the cached reports (read mostly: the services and the worker write them)."""
from django.contrib import admin

from evaluation.models import ItemScore, ReportCache, ScalingRun


@admin.register(ScalingRun)
class ScalingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "status", "trigger", "n_items", "n_comparisons", "n_ratings", "duration_seconds", "created_at")
    list_filter = ("status", "trigger", "project")
    readonly_fields = ("created_at", "started_at", "finished_at", "last_judgement_id")


@admin.register(ItemScore)
class ItemScoreAdmin(admin.ModelAdmin):
    list_display = ("image", "run", "score", "ci_low", "ci_high", "score_0_100", "n_comparisons", "mos")
    list_filter = ("run__project",)
    raw_id_fields = ("run", "image")


@admin.register(ReportCache)
class ReportCacheAdmin(admin.ModelAdmin):
    """Cached quality reports and study results; deleting a row makes the next page load compute it again."""

    list_display = ("kind", "object_id", "project", "computed_at", "stamp", "pending")
    list_filter = ("kind", "pending", "project")
    readonly_fields = ("computed_at", "stamp")
