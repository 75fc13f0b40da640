"""Admin for scaling runs and their scores (read mostly: runs are made by the scaling service)."""
from django.contrib import admin

from evaluation.models import ItemScore, ScalingRun


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
