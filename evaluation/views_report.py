"""The freshness line of pages that show a cached report (evaluation/report_cache.py)."""
from django.http import HttpResponse
from django.shortcuts import render

from evaluation.models import ReportCache


def report_freshness_response(request, row: ReportCache) -> HttpResponse | None:
    """Answer the freshness poll (`?freshness=1`): the line again while pending, else a reload (htmx `HX-Refresh`).

    None when the request is not the poll (the caller renders its page).
    """
    if "freshness" not in request.GET:
        return None
    response = render(request, "evaluation/_report_freshness.html", {"report_cache": row})
    if not row.pending:
        response["HX-Refresh"] = "true"  # new numbers: reload the page (the line alone shows them without htmx)
    return response
