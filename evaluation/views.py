"""Researcher pages about a project's scores: the scores page (plot, table, recompute) and its CSV."""
import csv

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views import View

from annotation.spreadsheet import csv_safe
from annotation.views.access import ProjectResearcherMixin
from config.parsing import parse_int
from evaluation import selectors
from evaluation.models import ScalingRun
from evaluation.plots import scores_errorbar_svg
from evaluation.services import scaling_run_request

SCORES_PER_PAGE = 50
CSV_HEADER = ["image_id", "original_name", "score", "variance", "ci_low", "ci_high", "score_0_100", "n_comparisons", "mos"]


def _status_context(project) -> dict:
    latest = selectors.scaling_run_latest(project=project)
    return {"project": project, "latest": latest, "active": bool(latest and latest.is_active)}


class ScoresView(ProjectResearcherMixin, View):
    """The current scores: run info, a plot with 95% intervals, a table a page at a time; POST recomputes.

    htmx polls the status part (`?run=<id>`) while a run is queued or running; once that run has
    finished, the answer asks htmx to reload the whole page, so the new plot and table appear.
    """

    template_name = "evaluation/scores.html"
    status_template = "evaluation/_scaling_status.html"

    def get(self, request, project_id):
        if request.htmx:
            context = _status_context(self.project)
            response = render(request, self.status_template, context)
            polled = request.GET.get("run")
            if parse_int(polled) is not None and not context["active"]:
                response["HX-Refresh"] = "true"
            return response
        current = selectors.scaling_run_current(project=self.project)
        context = {**_status_context(self.project), "current": current, "plot": None, "page": None,
                   "provenance": selectors.scores_provenance(project=self.project)}
        if current is not None:
            rows = list(selectors.item_score_rows(run=current))
            context["plot"] = mark_safe(scores_errorbar_svg(  # labels escaped inside
                [row.score for row in rows], [row.ci_low for row in rows], [row.ci_high for row in rows],
                labels=[row.image__original_name for row in rows],
            ))
            context["page"] = Paginator(selectors.item_scores(run=current), SCORES_PER_PAGE).get_page(request.GET.get("page"))
        return render(request, self.template_name, context)

    def post(self, request, project_id):
        run = scaling_run_request(project=self.project, trigger=ScalingRun.Trigger.MANUAL)
        if request.htmx:
            return render(request, self.status_template, _status_context(self.project))
        messages.success(request, f"Scaling run #{run.pk} is queued; this page follows it.")
        return redirect("evaluation:project_scores", project_id=self.project.pk)


class ScoresCsvView(ProjectResearcherMixin, View):
    """The current scores as CSV, best first (only the header while there are none)."""

    def get(self, request, project_id):
        current = selectors.scaling_run_current(project=self.project)
        suffix = f"-run{current.pk}" if current else ""
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.project.slug}-scores{suffix}.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_HEADER)
        if current is not None:
            for image_id, name, score, variance, low, high, shown, n_comparisons, mos in selectors.item_score_rows(run=current):
                writer.writerow([
                    image_id, csv_safe(name), f"{score:.6f}", f"{variance:.6f}", f"{low:.6f}", f"{high:.6f}",
                    f"{shown:.2f}", n_comparisons, "" if mos is None else f"{mos:.4f}",
                ])
        return response
