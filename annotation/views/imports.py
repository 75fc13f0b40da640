"""Import pages: upload images (and zips, and a manifest) into a project, and follow the import's report."""
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from annotation import selectors
from annotation.forms import ImportForm
from annotation.models import ImportBatch
from annotation.services.imports import ImportRequestError, import_batch_create
from annotation.views.access import ProjectResearcherMixin

# The page polls while the worker has not finished; it stops once the batch is done or failed.
ACTIVE_STATUSES = (ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING)
# Rows of the per-file table shown on the page (problems sort first); the API has the whole report.
REPORT_ROWS_SHOWN = 1000


class ImportCreateView(ProjectResearcherMixin, View):
    """Upload files into the project; the worker imports them and the report page follows it."""

    template_name = "annotation/import_create.html"

    def get(self, request, project_id):
        return render(request, self.template_name, {"project": self.project, "form": ImportForm()})

    def post(self, request, project_id):
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                batch = import_batch_create(
                    project=self.project,
                    user=request.user,
                    source=ImportBatch.Source.UPLOAD,
                    files=form.cleaned_data["files"],
                    manifest=form.cleaned_data["manifest"],
                    options=form.options(),
                )
            except ImportRequestError as exc:
                form.add_error(None, str(exc))
            else:
                return redirect("annotation:import_detail", batch_id=batch.pk)
        return render(request, self.template_name, {"project": self.project, "form": form})


class ImportDetailView(ProjectResearcherMixin, View):
    """An import's counts and per-file report; htmx asks for the status part again every second while it runs."""

    def get_project(self):
        self.batch = get_object_or_404(ImportBatch.objects.select_related("project", "created_by"), pk=self.kwargs["batch_id"])
        return self.batch.project

    def get(self, request, batch_id):
        entries = selectors.import_report_sorted(batch=self.batch)
        context = {
            "project": self.project,
            "batch": self.batch,
            "active": self.batch.status in ACTIVE_STATUSES,
            "entries": entries[:REPORT_ROWS_SHOWN],
            "entries_total": len(entries),
            "entries_hidden": max(0, len(entries) - REPORT_ROWS_SHOWN),
        }
        template = "annotation/_import_status.html" if request.htmx else "annotation/import_detail.html"
        return render(request, template, context)
