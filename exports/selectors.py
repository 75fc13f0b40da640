"""Reads of export jobs."""
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from annotation.models import Project
from exports.models import ExportJob


def export_jobs(*, project: Project) -> QuerySet[ExportJob]:
    """A project's exports, newest first."""
    return ExportJob.objects.filter(project=project).select_related("requested_by", "project")


def export_job_get(*, project: Project, export_id: int) -> ExportJob:
    """One of the project's exports; 404 for an id of another project (ids leak nothing)."""
    return get_object_or_404(export_jobs(project=project), pk=export_id)
