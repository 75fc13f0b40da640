"""Researcher pages for exports: the list with a request form, one job's live status (htmx), the download."""
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views import View

from annotation.views.access import ProjectResearcherMixin
from config.parsing import parse_int
from exports import selectors
from exports.filters import ExportInputError
from exports.formats import FORMATS
from exports.forms import ExportForm
from exports.services import export_file_absolute, export_job_create

EXPORTS_SHOWN = 50
#: While exports are pending the table body polls after FIRST s, then twice as long each time, at most CEILING s.
POLL_FIRST_SECONDS, POLL_CEILING_SECONDS = 1, 30


def poll_delay_next(previous: int | None) -> int:
    """The wait before the next poll: the first after a page load, then doubled up to the ceiling."""
    if previous is None:
        return POLL_FIRST_SECONDS
    return min(max(previous, POLL_FIRST_SECONDS) * 2, POLL_CEILING_SECONDS)


class ExportListView(ProjectResearcherMixin, View):
    """The project's exports, newest first, and a form to ask for another; running ones update themselves."""

    template_name = "exports/export_list.html"

    def _render(self, request, form, status=200, previous_delay=None):
        jobs = list(selectors.export_jobs(project=self.project)[:EXPORTS_SHOWN])
        context = {
            "project": self.project, "form": form, "formats": FORMATS, "jobs": jobs,
            "poll_delay": poll_delay_next(previous_delay) if any(job.is_active for job in jobs) else None,
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, project_id):
        if request.htmx and "poll" in request.GET:
            # The table body's own poll: the rows again, and the next, longer wait.
            previous = parse_int(request.GET["poll"], minimum=1, maximum=POLL_CEILING_SECONDS) or POLL_FIRST_SECONDS
            self.template_name = "exports/_export_rows.html"
            return self._render(request, None, previous_delay=previous)
        return self._render(request, ExportForm())

    def post(self, request, project_id):
        form = ExportForm(request.POST)
        if form.is_valid():
            try:
                export_job_create(
                    project=self.project, requested_by=request.user, formats=form.cleaned_data["formats"],
                    filters=form.filters(), include_images=form.cleaned_data["include_images"],
                )
            except ExportInputError as error:
                form.add_error(None, str(error))
            else:
                return redirect("exports:export_list", project_id=self.project.pk)
        return self._render(request, form, status=400)


class ExportStatusView(ProjectResearcherMixin, View):
    """One export's table row (htmx polls it every second while the job is queued or running)."""

    def get(self, request, project_id, export_id):
        job = selectors.export_job_get(project=self.project, export_id=export_id)
        return render(request, "exports/_export_row.html", {"project": self.project, "job": job})


class ExportDownloadView(ProjectResearcherMixin, View):
    """The finished file, streamed to a researcher of the project (404 until it is there)."""

    def get(self, request, project_id, export_id):
        job = selectors.export_job_get(project=self.project, export_id=export_id)
        path = export_file_absolute(job)
        if path is None:
            raise Http404("This export has no file (yet).")
        return export_file_response(job, path)


def export_file_response(job, path) -> FileResponse:
    """A private, non-sniffable attachment response for an export's file (pages and API share it)."""
    content_type = "application/zip" if job.is_bundle else FORMATS[job.formats[0]].content_type
    response = FileResponse(path.open("rb"), as_attachment=True, filename=job.file_name, content_type=content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
