"""The researcher's Critic pages: versions with live progress, retrain, cancel, promote, roll back, score."""
import json

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from annotation.views.access import ProjectResearcherMixin
from modeling import critic_selectors as selectors
from modeling import critic_services as services
from modeling.critic_models import CriticVersion


def _context(project) -> dict:
    services.critic_versions_stale_fail(project=project)
    return {
        "project": project,
        "tab": "critic",
        "versions": list(selectors.critic_versions(project=project)[:100]),
        "active": selectors.critic_version_active(project=project),
        "pending": selectors.critic_version_pending(project=project),
        "busy": selectors.critic_busy(project=project),
    }


class CriticView(ProjectResearcherMixin, View):
    """The versions table; htmx polls its live part (`_versions.html`) every second while anything runs."""

    template_name = "modeling/critic/index.html"
    partial_template = "modeling/critic/_versions.html"

    def get(self, request, project_id):
        context = _context(self.project)
        return render(request, self.partial_template if request.htmx else self.template_name, context)


class _CriticActionView(ProjectResearcherMixin, View):
    """A POST that calls one service; its CriticStateError becomes a message. Answers htmx with the live part."""

    def act(self, request):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def post(self, request, project_id, **kwargs):
        try:
            text = self.act(request)
            messages.success(request, text)
        except services.CriticStateError as error:
            messages.error(request, str(error))
        if request.htmx:
            return render(request, CriticView.partial_template, _context(self.project))
        return redirect("critic:index", project_id=self.project.pk)


class CriticRetrainView(_CriticActionView):
    def act(self, request):
        version = services.critic_version_request(project=self.project, user=request.user, trigger=CriticVersion.Trigger.MANUAL)
        return f"Critic v{version.number} is {version.get_status_display().lower()}; this page follows it."


class CriticRollbackView(_CriticActionView):
    def act(self, request):
        version = services.critic_version_rollback(project=self.project)
        return f"Rolled back: v{version.number} is active again."


class _VersionMixin:
    version: CriticVersion

    def version_get(self):
        version = selectors.critic_version_get(project=self.project, version_id=self.kwargs["version_id"])
        if version is None:
            raise Http404("No such critic version in this project.")
        self.version = version
        return version


class CriticVersionView(_VersionMixin, ProjectResearcherMixin, View):
    """One version: status, held-out metrics, settings, data snapshot, and its best-scored images."""

    def get(self, request, project_id, version_id):
        version = self.version_get()
        context = {
            "project": self.project, "tab": "critic", "version": version,
            "top_scores": selectors.critic_scores_top(version=version),
            "settings_json": json.dumps(version.training_settings, indent=2, sort_keys=True),
            "busy": version.is_pending or version.score_status in (CriticVersion.ScoreStatus.QUEUED, CriticVersion.ScoreStatus.RUNNING),
        }
        return render(request, "modeling/critic/version.html", context)


class CriticCancelView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_version_cancel(version=self.version_get())
        return f"v{version.number}: cancel requested." if version.is_pending else f"v{version.number} is cancelled."


class CriticPromoteView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_version_promote(version=self.version_get())
        return f"v{version.number} is active; the next pairs use its scores as prior once the pool is scored."


class CriticScoreView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_pool_score_request(version=self.version_get())
        return f"v{version.number} is scoring the pool."


class CriticRetryView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_version_retry(version=self.version_get(), user=request.user)
        return f"v{version.number} is {version.get_status_display().lower()}: a fresh run with the same settings."
