"""The researcher's quality dashboard of a project (plots, agreement, screening, audit log) and the exclude/restore action."""
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.views import View

from annotation.models import Membership
from annotation.services.exclusion import ExclusionError, annotator_exclude, annotator_restore
from annotation.views.access import ProjectResearcherMixin
from evaluation.plots_quality import bars_svg, histogram_svg, lines_svg
from evaluation.report_cache import QUALITY, report_cached, report_refresh_run
from evaluation.views_report import report_freshness_response


def _low(values) -> float:
    """The bottom of a 0-1 axis that still shows negative values (alpha and correlations can be below 0)."""
    return min([0.0] + [value for value in values if value is not None])


def quality_plots(report: dict) -> dict:
    """The dashboard's SVG plots from a report (labels are escaped inside the plot functions)."""
    progress = report["progress"]
    annotators = report["annotators"]
    agreement = [row for row in report["agreement"] if row["n_units"]]
    critic = report["critic"]
    gold = [row for row in annotators if row["gold"]["answered"]]
    critic_values = [value for row in critic for value in row["metrics"].values()]
    plots = {
        "progress": lines_svg(progress["days"], progress["series"], title="Judgements over time, per kind (cumulative)", y_label="Judgements"),
        "gold": bars_svg(
            [row["username"] for row in gold], [row["gold"]["accuracy"] for row in gold],
            title="Gold accuracy per annotator", y_label="Share right", y_range=(0.0, 1.0), reference=0.5,
        ),
        "agreement": bars_svg(
            [f"{row['kind']} {row['field']} ({row['level']})" for row in agreement], [row["alpha"] for row in agreement],
            title="Krippendorff's alpha per kind and field", y_label="alpha", y_range=(_low([r["alpha"] for r in agreement]), 1.0),
            reference=0.667,
        ),
        "scores": histogram_svg(report["scores"]["scores"], title="Distribution of the current scores", x_label="Score (Thurstone units)"),
        "critic": lines_svg(
            [f"v{row['version']}" for row in critic],
            {label: [row["metrics"][label] for row in critic] for label in (critic[0]["metrics"] if critic else {})},
            title="Critic's held-out metrics over versions", y_label="Metric", y_range=(_low(critic_values), 1.0),
        ),
    }
    return {name: mark_safe(svg) for name, svg in plots.items()}  # noqa: S308 - every label is escaped in plots_quality


def exclusion_message(*, username: str, event) -> str:
    """What the researcher reads after an exclude or restore; counts judgements as the screening table does."""
    count = event.judgements_screened
    counted = f"{count} judgement{'s' if count != 1 else ''}"
    if event.action == "exclude":
        return (
            f"{username} is excluded from scores, exports and training ({counted}). Scores are recomputed in the "
            "background; the critic leaves these judgements out of its next training run."
        )
    return (
        f"{username} is restored to scores, exports and training ({counted}). Scores are recomputed in the "
        "background; the critic trains on these judgements again from its next training run."
    )


class QualityView(ProjectResearcherMixin, View):
    """GET /projects/<id>/quality/: progress, gold accuracy, agreement, screening with exclude/restore, scores, the critic, the audit log."""

    def get(self, request, project_id):
        cache = report_cached(kind=QUALITY, object_id=self.project.pk, project_id=self.project.pk)
        if (poll := report_freshness_response(request, cache)) is not None:
            return poll
        report = cache.data
        context = {
            "project": self.project, "tab": "quality", "report": report, "plots": quality_plots(report), "report_cache": cache,
            # The report is JSON (ISO times); the log shows them in the app's date format, in the site's time zone.
            "exclusions": [{**event, "at": parse_datetime(event["at"])} for event in report["exclusions"]],
        }
        return render(request, "evaluation/quality.html", context)


class AnnotatorExclusionView(ProjectResearcherMixin, View):
    """POST /projects/<id>/quality/members/<membership_id>/exclusion/ with `action` (exclude|restore) and `reason`."""

    def post(self, request, project_id, membership_id):
        membership = get_object_or_404(Membership, pk=membership_id, project=self.project)
        action = request.POST.get("action")
        reason = request.POST.get("reason", "")
        try:
            if action == "exclude":
                event = annotator_exclude(project=self.project, annotator=membership.user, by=request.user, reason=reason)
            elif action == "restore":
                event = annotator_restore(project=self.project, annotator=membership.user, by=request.user, reason=reason)
            else:
                raise ExclusionError('The action must be "exclude" or "restore".')
        except ExclusionError as error:
            messages.error(request, str(error))
            return redirect("evaluation:project_quality", project_id=self.project.pk)
        # The researcher looks at the result next: recompute the cached dashboard now, not on the worker.
        report_refresh_run(kind=QUALITY, object_id=self.project.pk)
        messages.success(request, exclusion_message(username=membership.user.username, event=event))
        return redirect("evaluation:project_quality", project_id=self.project.pk)
