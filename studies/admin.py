"""Admin for studies, their systems, answers, trials, leases and votes (read mostly: the study pages make them)."""
from django.contrib import admin

from studies.models import Answer, Study, StudyItem, System, Trial, TrialLease, Vote


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "project", "votes_per_trial", "ask_criteria", "created_at")
    list_filter = ("project",)
    filter_horizontal = ("annotators",)


@admin.register(StudyItem)
class StudyItemAdmin(admin.ModelAdmin):
    list_display = ("id", "study", "image")
    raw_id_fields = ("study", "image")


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "study", "status", "answered_count", "failed_count", "updated_at")
    list_filter = ("kind", "status")
    raw_id_fields = ("study", "critic_version")


@admin.register(Answer)
class AnswerAdmin(admin.ModelAdmin):
    list_display = ("id", "system", "item", "created_at")
    raw_id_fields = ("system", "item")


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ("id", "study", "item", "system_a", "system_b", "vote_count")
    raw_id_fields = ("study", "item", "system_a", "system_b")


@admin.register(TrialLease)
class TrialLeaseAdmin(admin.ModelAdmin):
    list_display = ("id", "trial", "annotator", "left_is_a", "status", "issued_at", "expires_at")
    list_filter = ("status",)
    raw_id_fields = ("trial", "annotator")


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("id", "trial", "annotator", "outcome", "left_is_a", "submitted_at")
    raw_id_fields = ("lease", "trial", "annotator")
