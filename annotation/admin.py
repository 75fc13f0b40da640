"""Admin for projects, members, images, imports, and the annotators' work items, leases and judgements."""
from django.contrib import admin

from annotation.models import Image, ImportBatch, Judgement, Lease, Membership, Project, TextRevision, WorkItem


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_by", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role", "added_at")
    list_filter = ("role", "project")


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
