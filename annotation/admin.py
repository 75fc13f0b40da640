"""Admin for projects, members, images, imports, and the annotators' work items, leases and judgements."""
from django.contrib import admin

from annotation.models import (
    ExclusionEvent, Image, ImportBatch, Invitation, Judgement, Lease, Membership, Project, TextRevision, WorkItem,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["excluded"]  # changed only through quality control's audited action


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_by", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role", "added_at", "excluded")
    list_filter = ("role", "excluded", "project")
    readonly_fields = ("excluded",)  # changed only through quality control's audited action (annotation/services/exclusion.py)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "original_name", "project", "format", "width", "height", "source_dataset", "mos_normalised")
    list_filter = ("project", "format", "authenticity", "source_dataset")
    search_fields = ("original_name", "content_hash")
    raw_id_fields = ("reference", "import_batch")


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "source", "status", "imported_count", "duplicate_count", "error_count", "created_at")
    list_filter = ("status", "source", "project")


@admin.register(WorkItem)
class WorkItemAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "purpose", "image", "image_b", "judgement_count", "strategy", "retired")
    list_filter = ("kind", "purpose", "retired", "project")
    raw_id_fields = ("image", "image_b")


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = ("id", "item", "annotator", "status", "is_repeat", "issued_at", "expires_at")
    list_filter = ("status", "is_repeat")
    raw_id_fields = ("item", "annotator")


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "purpose", "annotator", "level", "choice", "gold_correct", "submitted_at")
    list_filter = ("kind", "purpose", "excluded", "project")
    raw_id_fields = ("item", "lease", "annotator")


@admin.register(TextRevision)
class TextRevisionAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "annotator", "status", "model", "prompt_name", "prompt_version", "edit_distance", "accepted_unchanged")
    list_filter = ("status", "accepted_unchanged", "project")
    raw_id_fields = ("judgement", "annotator")


@admin.register(ExclusionEvent)
class ExclusionEventAdmin(admin.ModelAdmin):
    """The audit log of quality control: read it here, act through the project's Quality page (it keeps the judgements in step)."""

    list_display = ("created_at", "project", "annotator", "action", "judgements_changed", "created_by")
    list_filter = ("action", "project")
    raw_id_fields = ("annotator", "created_by")
    readonly_fields = ("created_at",)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("project", "role", "created_by", "created_at", "expires_at", "used_at", "used_by")
    list_filter = ("role", "project")
    readonly_fields = ("token_hash",)
