"""The crowd app's pages: the public entry link (no account needed), the completion code, and the researcher's
link settings and participant table (with a CSV for the platform's approve/reject step)."""
from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from accounts.security import client_ip
from annotation.models import Membership
from annotation.services.training import training_blocks
from annotation.spreadsheet import csv_safe
from annotation.views.access import ProjectResearcherMixin
from crowd.forms import CrowdDecisionForm, CrowdLinkForm
from crowd.models import CrowdLink, CrowdParticipant, Platform
from crowd.selectors import crowd_counts, crowd_entry_url, crowd_link_by_token, crowd_participant_rows
from crowd.services import (
    MTURK_PREVIEW,
    PLATFORM_PARAMETERS,
    CrowdEntryError,
    crowd_completion_record,
    crowd_link_get_or_create,
    crowd_link_rotate,
    crowd_link_update,
    crowd_participant_decide,
    crowd_participant_enter,
    entry_ids_parse,
)

ENTRY_TEMPLATE = "crowd/entry.html"


def _rate_limited(request) -> bool:
    """True once this address has come in LOUPE_CROWD_ENTRY_LIMIT times within the window (counted in the cache:
    per process with the default local memory, across processes with CACHE_URL)."""
    key = f"crowd-entry:{client_ip(request)}"
    window = settings.LOUPE_CROWD_ENTRY_WINDOW_SECONDS
    if cache.add(key, 1, timeout=window):
        return False
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window)
        return False
    return count > settings.LOUPE_CROWD_ENTRY_LIMIT


def _open_link(token: str) -> CrowdLink:
    link = crowd_link_by_token(token=token)
    if link is None or not link.enabled:
        raise Http404("This study link is not open.")
    return link


class CrowdEntryView(View):
    """The public entry link. GET: who you are and what comes (a start button); POST: sign in as the participant
    (made the first time) and go to training or work. The platform's ids come from the URL's parameters."""

    def _error(self, request, link, message: str, status: int):
        return render(request, ENTRY_TEMPLATE, {"link": link, "project": link.project, "error": message}, status=status)

    def get(self, request, token):
        link = _open_link(token)
        if link.platform == Platform.MTURK and request.GET.get("assignmentId") == MTURK_PREVIEW:
            return render(request, ENTRY_TEMPLATE, {"link": link, "project": link.project, "preview": True})
        try:
            ids = entry_ids_parse(platform=link.platform, params=request.GET)
        except CrowdEntryError as error:
            return self._error(request, link, str(error), 400)
        names = PLATFORM_PARAMETERS[Platform(link.platform)]
        hidden = [(names[ours], value) for ours, value in {"worker_id": ids.worker_id, **ids.others}.items()]
        context = {"link": link, "project": link.project, "ids": ids, "hidden": hidden, "signed_in_as": request.user}
        return render(request, ENTRY_TEMPLATE, context)

    def post(self, request, token):
        link = _open_link(token)
        if _rate_limited(request):
            return self._error(request, link, "Too many entries from your address; try again in a few minutes.", 429)
        try:
            ids = entry_ids_parse(platform=link.platform, params=request.POST)
            participant, _created = crowd_participant_enter(link=link, ids=ids)
        except CrowdEntryError as error:
            return self._error(request, link, str(error), 400)
        if not participant.user.is_active:
            return self._error(request, link, "This participant's account was closed by the researcher.", 403)
        login(request, participant.user, backend="django.contrib.auth.backends.ModelBackend")
        membership = Membership.objects.select_related("project").get(project=link.project, user=participant.user)
        if training_blocks(link.project, membership):
            return redirect("annotation:training", project_id=link.project.pk)
        return redirect("annotation:annotate", project_id=link.project.pk)


def completion_url_for(link: CrowdLink) -> str:
    """The researcher's completion URL, with `{code}` replaced by the completion code."""
    return link.completion_url.replace("{code}", link.completion_code) if link.completion_url else ""


def completion_response(request, *, participant: CrowdParticipant, link: CrowdLink, no_work: bool) -> HttpResponse:
    """The completion code in the work page's place; with a completion URL, htmx goes there (HX-Redirect)."""
    participant = crowd_completion_record(participant=participant, link=link)
    url = completion_url_for(link)
    context = {"participant": participant, "link": link, "project": link.project, "no_work": no_work, "completion_url": url}
    response = render(request, "crowd/_complete.html", context)
    if url:
        response["HX-Redirect"] = url
    return response


class CrowdProjectView(ProjectResearcherMixin, View):
    """The project's entry link (settings, the URL to paste into the platform) and its participants."""

    def _render(self, request, form, status: int = 200):
        link = crowd_link_get_or_create(project=self.project)
        context = {
            "project": self.project,
            "link": link,
            "form": form,
            "entry_url": crowd_entry_url(link=link, base_url=request.build_absolute_uri("/")),
            "rows": crowd_participant_rows(project=self.project),
            "counts": crowd_counts(project=self.project),
            "platform_parameters": {Platform(key).label: value for key, value in PLATFORM_PARAMETERS.items()},
        }
        return render(request, "crowd/project.html", context, status=status)

    def get(self, request, project_id):
        return self._render(request, CrowdLinkForm(instance=crowd_link_get_or_create(project=self.project)))

    def post(self, request, project_id):
        if request.POST.get("action") == "rotate":
            crowd_link_rotate(project=self.project)
            messages.success(request, "Made a new link: the old one no longer lets anyone in.")
            return redirect("crowd:project", project_id=self.project.pk)
        form = CrowdLinkForm(request.POST, instance=crowd_link_get_or_create(project=self.project))
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            crowd_link_update(project=self.project, **{name: form.cleaned_data[name] for name in CrowdLinkForm.Meta.fields})
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self._render(request, form, status=400)
        messages.success(request, "Saved the crowd link." + (" It is open." if form.cleaned_data["enabled"] else " It is closed."))
        return redirect("crowd:project", project_id=self.project.pk)


class CrowdDecisionView(ProjectResearcherMixin, View):
    """Approve or reject a participant (POST); rejecting excludes their judgements."""

    http_method_names = ["post"]

    def post(self, request, project_id, participant_id):
        participant = get_object_or_404(CrowdParticipant, pk=participant_id, project=self.project)
        form = CrowdDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose approve or reject (and keep the reason under 2,000 characters).")
            return redirect("crowd:project", project_id=self.project.pk)
        participant = crowd_participant_decide(participant=participant, by=request.user, **form.cleaned_data)
        extra = " Their judgements are excluded from scores, exports and training." if participant.decision == "rejected" else ""
        messages.success(request, f"{participant.worker_id}: {participant.get_decision_display().lower()}.{extra}")
        return redirect("crowd:project", project_id=self.project.pk)


CSV_COLUMNS = [
    "platform", "worker_id", "platform_ids", "started_at", "judgements", "training_passed", "gold_correct", "gold_answered",
    "qc_verdict", "completed_at", "completion_code", "decision", "decision_reason", "excluded",
]


class CrowdParticipantsCsvView(ProjectResearcherMixin, View):
    """The participant table as CSV: one row per participant, for the platform's approve/reject step."""

    def get(self, request, project_id):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="crowd-participants-{self.project.pk}.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for row in crowd_participant_rows(project=self.project):
            participant = row["participant"]
            writer.writerow([csv_safe(value) for value in [
                participant.platform, participant.worker_id,
                ";".join(f"{key}={value}" for key, value in sorted(participant.platform_ids.items())),
                participant.started_at.isoformat(), row["judgements"], row["training_passed"],
                row["gold"]["correct"], row["gold"]["answered"], row["verdict"],
                participant.completed_at.isoformat() if participant.completed_at else "", participant.completion_code,
                participant.decision, participant.decision_reason, row["excluded"],
            ]])
        return response
