"""Export jobs: ask for one (validated, queued on commit) and run one (idempotent, with progress on its row)."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import Project
from config.runs import run_claim, run_fail, run_heartbeat, run_keepalive
from exports.filters import ExportFilters, ExportInputError, export_filters_parse
from exports.formats import FORMATS, ExportDataError
from exports.models import ExportJob
from exports.writing import export_write, formats_check, rows_expected

EXPORTS_DIR = "exports"
EXPORT_TASK = "exports.export_job_run"  # exports/tasks.py


def export_job_create(
    *, project: Project, requested_by, formats: Sequence[str], filters: Mapping | None = None, include_images: bool = False,
) -> ExportJob:
    """Validate the request, save the job and queue it on the `default` queue once the transaction commits.

    Raises ExportInputError (unknown format, bad date, an annotator who is not the project's) before anything is saved.
    """
    if isinstance(formats, str):
        formats = [part.strip() for part in formats.split(",") if part.strip()]
    formats = formats_check(list(formats))
    parsed = export_filters_parse(project=project, data=filters or {})
    job = ExportJob.objects.create(
        project=project, requested_by=requested_by, formats=formats, filters=parsed.to_dict(), include_images=bool(include_images),
    )
    # By name (routed to the default queue by config.tasks.task_route): exports.tasks imports this module.
    transaction.on_commit(lambda: current_app.send_task(EXPORT_TASK, args=(job.pk,)))
    return job


def export_file_name(job: ExportJob) -> str:
    """The name the file downloads under: `<slug>-export<id>-<format>.<ext>` or `<slug>-export<id>.zip`."""
    if job.is_bundle:
        return f"{job.project.slug}-export{job.pk}.zip"
    return f"{job.project.slug}-export{job.pk}-{FORMATS[job.formats[0]].file_name}"


def export_path(job: ExportJob) -> Path:
    """Where the job's file lives: under MEDIA_ROOT/exports/<project id>/ (never served as is)."""
    return Path(settings.MEDIA_ROOT) / EXPORTS_DIR / str(job.project_id) / export_file_name(job)


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write a job's file. Safe to run twice: a finished or failed job is left as it is, and so is one a live worker
    is writing; a job whose worker died mid-way (config.runs.run_is_stale) is written again from the start (into a temporary file that replaces nothing until it is complete).

    Failures are kept on the row (`status=failed`, `error`); bad data and bad input are not raised again, anything
    unexpected is (after it is recorded), so the worker log has the traceback.
    """
    job = run_claim(ExportJob, job_id, queryset=ExportJob.objects.select_related("project"), fields={"rows_written": 0})
    if job is None:
        return ExportJob.objects.filter(pk=job_id).first()
    final = export_path(job)
    keepalive = run_keepalive(ExportJob, job.pk)
    partial = final.with_name(final.name + ".part")
    try:
        filters = ExportFilters.from_dict(job.filters)
        expected = rows_expected(project=job.project, formats=job.formats, filters=filters)
        ExportJob.objects.filter(pk=job.pk).update(rows_expected=expected)

        def progress(rows: int) -> None:
            run_heartbeat(ExportJob, job.pk, rows_written=rows)

        result = export_write(
            project=job.project, formats=job.formats, filters=filters, include_images=job.include_images,
            path=partial, on_progress=progress,
        )
        os.replace(partial, final)
    except (ExportInputError, ExportDataError) as error:
        _fail(job, partial, str(error))
        return job
    except Exception as error:
        _fail(job, partial, f"The export failed unexpectedly ({type(error).__name__}: {error}).")
        raise
    finally:
        keepalive.stop()
    job.status, job.finished_at = ExportJob.Status.DONE, timezone.now()
    job.rows_written = sum(result.row_counts.values())
    job.row_counts, job.sha256, job.size_bytes = result.row_counts, result.sha256, result.size_bytes
    job.file_path = str(final.relative_to(Path(settings.MEDIA_ROOT)))
    job.file_name = final.name
    job.notes = result.notes
    job.save(update_fields=["status", "finished_at", "rows_written", "row_counts", "sha256", "size_bytes", "file_path", "file_name", "notes"])
    return job


def _fail(job: ExportJob, partial: Path, message: str) -> None:
    partial.unlink(missing_ok=True)
    run_fail(ExportJob, job.pk, message)
    job.status, job.error = ExportJob.Status.FAILED, message


def export_file_absolute(job: ExportJob) -> Path | None:
    """The finished file of a job, if it is there."""
    if job.status != ExportJob.Status.DONE or not job.file_path:
        return None
    path = Path(settings.MEDIA_ROOT) / job.file_path
    return path if path.is_file() else None
