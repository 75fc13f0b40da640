"""Admin for export jobs (read mostly: jobs are made by the export service)."""
from django.contrib import admin

from exports.models import ExportJob


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "status", "formats", "include_images", "rows_written", "size_bytes", "created_at")
    list_filter = ("status", "project")
    readonly_fields = ("created_at", "started_at", "finished_at", "sha256", "size_bytes", "file_path")
    raw_id_fields = ("requested_by",)
