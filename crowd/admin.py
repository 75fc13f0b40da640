"""Admin for crowd entry links, participants and the platform ids kept with their judgements."""
from django.contrib import admin

from crowd.models import CrowdJudgement, CrowdLink, CrowdParticipant


@admin.register(CrowdLink)
class CrowdLinkAdmin(admin.ModelAdmin):
    list_display = ("project", "enabled", "platform", "items_required", "completion_code", "updated_at")
    list_filter = ("enabled", "platform")
    raw_id_fields = ("project",)


@admin.register(CrowdParticipant)
class CrowdParticipantAdmin(admin.ModelAdmin):
    list_display = ("worker_id", "platform", "project", "started_at", "completed_at", "decision")
    list_filter = ("platform", "decision", "project")
    search_fields = ("worker_id",)
    raw_id_fields = ("project", "user", "decided_by")
    # Decisions go through the Crowd tab, so that a rejection also excludes the participant's judgements.
    readonly_fields = ("decision", "decision_reason", "decided_at", "decided_by")


@admin.register(CrowdJudgement)
class CrowdJudgementAdmin(admin.ModelAdmin):
    list_display = ("judgement", "participant")
    raw_id_fields = ("judgement", "participant")
