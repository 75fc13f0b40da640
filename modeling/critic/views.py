"""The researcher's Critic pages: versions with live progress, retrain, cancel, promote, roll back, score."""
import json
import time

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from annotation.views.access import ProjectResearcherMixin
from config.uploads import FORM_MARGIN_BYTES
from modeling.assist import construction
from modeling.assist.tasks import constructed_texts_request
from modeling.critic import general_uploads, selectors, services
from modeling.critic.data import ANSWER_TEXTS
from modeling.critic.forms import GeneralUploadForm, RetrainForm
from modeling.critic.recipes import RECIPES
from modeling.critic.models import CriticVersion, GeneralDataUpload
from modeling.assist.core.template_drafter import TEMPLATE_DRAFTER_MODEL
from modeling.assist.services import llm_model_name


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
        if request.htmx:
            return render(request, self.partial_template, _context(self.project))
        return render(request, self.template_name, _page_context(self.project))


def _page_context(project, **extra) -> dict:
    """The whole Critic page: versions, retrain options, LLM-written answers, general-data uploads."""
    context = _context(project)
    context["constructed"] = construction.constructed_texts_summary(project=project)
    context["llm_model"] = llm_model_name()
    context["offline_drafter"] = context["llm_model"] == TEMPLATE_DRAFTER_MODEL
    context["retrain_form"] = RetrainForm(project=project)
    context["general_uploads"] = list(project.general_data_uploads.select_related("uploaded_by"))
    context["general_upload_form"] = extra.pop("general_upload_form", None) or GeneralUploadForm()
    context["general_upload_max_mb"] = general_uploads.max_bytes() // 2**20
    context.update(extra)
    return context


class _CriticActionView(ProjectResearcherMixin, View):
    """A POST that calls one service; its CriticStateError becomes a message. Answers htmx with the live part."""

    def act(self, request):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def post(self, request, project_id, **kwargs):
        try:
            text = self.act(request)
            messages.success(request, text)
        except services.PromoteNeedsConfirmation:
            raise  # CriticPromoteView shows a confirm step instead of a message
        except services.CriticStateError as error:
            messages.error(request, str(error))
        if request.htmx:
            return render(request, CriticView.partial_template, _context(self.project))
        return redirect("critic:index", project_id=self.project.pk)


class CriticRetrainView(_CriticActionView):
    """Retrain with a paper's recipe or a composed one (forms.RetrainForm); "answer_text" trains with the LLM-written answers."""

    def act(self, request):
        form = RetrainForm(request.POST or {"recipe": "default"}, project=self.project)
        if not form.is_valid():
            problems = "; ".join(f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors) for name, errors in form.errors.items())
            raise services.CriticStateError(f"The retrain options are not valid: {problems}")
        answer_text = form.cleaned_data.get("answer_text") or "template"
        if answer_text not in ANSWER_TEXTS:
            raise services.CriticStateError(f"Unknown answer text {answer_text!r}: choose one of {', '.join(ANSWER_TEXTS)}.")
        version = services.critic_version_request_recipe(
            project=self.project, user=request.user, recipe=form.cleaned_data["recipe"], options=form.options(), answer_text=answer_text,
        )
        return f"Critic v{version.number} is {version.get_status_display().lower()}; this page follows it."


class CriticConstructView(ProjectResearcherMixin, View):
    """Queue the LLM-written training answers (paper 000's data-construction prompts) on the default queue."""

    def post(self, request, project_id):
        constructed_texts_request(project=self.project, numeric=request.POST.get("numeric") == "on")
        writer = "the offline template drafter (no model configured)" if llm_model_name() == TEMPLATE_DRAFTER_MODEL else llm_model_name()
        messages.success(request, f"Writing training answers with {writer}; reload to see them counted below.")
        return redirect("critic:index", project_id=self.project.pk)


class CriticGeneralUploadView(ProjectResearcherMixin, View):
    """Upload general-purpose data (paper 001's D3) as a zip; every problem is listed on the page and nothing is stored."""

    @classmethod
    def max_body_bytes(cls) -> int:  # config/uploads.py
        return general_uploads.max_bytes() + FORM_MARGIN_BYTES

    def post(self, request, project_id):
        form = GeneralUploadForm(request.POST, request.FILES)
        problems = []
        if form.is_valid():
            try:
                upload = general_uploads.general_upload_store(project=self.project, upload=form.cleaned_data["archive"], user=request.user)
            except general_uploads.GeneralUploadInvalid as error:
                problems = error.problems
            else:
                messages.success(request, f"Stored {upload.name}: {upload.n_records} records, {upload.n_images} images; "
                                          "pick it as general-purpose data in the Retrain options.")
                return redirect("critic:index", project_id=self.project.pk)
        context = _page_context(self.project, general_upload_form=form, general_upload_problems=problems)
        return render(request, CriticView.template_name, context, status=400)


class CriticGeneralDeleteView(ProjectResearcherMixin, View):
    """Remove an uploaded general-data zip (refused while a queued or training version uses it)."""

    def post(self, request, project_id, upload_id):
        upload = get_object_or_404(GeneralDataUpload, pk=upload_id, project=self.project)
        try:
            general_uploads.general_upload_delete(upload)
        except general_uploads.GeneralUploadInvalid as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Removed {upload.name}.")
        return redirect("critic:index", project_id=self.project.pk)


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
            **_texts_context(self.project, version),
            "project": self.project, "tab": "critic", "version": version,
            "top_scores": selectors.critic_scores_top(version=version),
            "settings_json": json.dumps(version.training_settings, indent=2, sort_keys=True),
            "recipe_label": RECIPES.get((version.training_settings or {}).get("recipe") or "default", "—"),
            "busy": version.is_pending or version.score_status in (CriticVersion.ScoreStatus.QUEUED, CriticVersion.ScoreStatus.RUNNING),
        }
        return render(request, "modeling/critic/version.html", context)


class CriticCancelView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_version_cancel(version=self.version_get())
        return f"v{version.number}: cancel requested." if version.is_pending else f"v{version.number} is cancelled."


class CriticPromoteView(_VersionMixin, _CriticActionView):
    """Promote; a version worse than the active one on held-out data comes back as a confirm step on the page
    ("Promote anyway" posts `confirm=1`)."""

    def post(self, request, project_id, **kwargs):
        try:
            return super().post(request, project_id, **kwargs)
        except services.PromoteNeedsConfirmation as pending:
            context = {**_context(self.project), "confirm_promote": pending}
            if request.htmx:  # 200: htmx swaps only successful answers in
                return render(request, CriticView.partial_template, context)
            context["constructed"] = construction.constructed_texts_summary(project=self.project)
            context["llm_model"] = llm_model_name()
            context["offline_drafter"] = context["llm_model"] == TEMPLATE_DRAFTER_MODEL
            return render(request, CriticView.template_name, context, status=409)

    def act(self, request):
        confirm = request.POST.get("confirm") == "1"
        version = services.critic_version_promote(version=self.version_get(), confirm=confirm)
        return f"v{version.number} is active; the next pairs use its scores as prior once the pool is scored."


class CriticScoreView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_pool_score_request(version=self.version_get())
        return f"v{version.number} is scoring the pool."


class CriticRetryView(_VersionMixin, _CriticActionView):
    def act(self, request):
        version = services.critic_version_retry(version=self.version_get(), user=request.user)
        return f"v{version.number} is {version.get_status_display().lower()}: a fresh run with the same settings."


#: The texts part stops polling this long after a request even when some images never got a text (a failed run).
TEXTS_POLL_FOR_S = 600


def _texts_context(project, version, *, expect: int = 0, since: float = 0.0, error: str = "") -> dict:
    texts = list(selectors.critic_texts(version=version))
    polling = expect > len(texts) and 0 <= time.time() - since < TEXTS_POLL_FOR_S
    return {"project": project, "version": version, "texts": texts, "expect": expect, "since": since,
            "polling": polling, "error": error, "max_texts": services.MAX_TEXTS_PER_REQUEST}


class CriticTextsView(_VersionMixin, ProjectResearcherMixin, View):
    """The version's descriptions; htmx polls this part while asked-for texts are still coming."""

    def get(self, request, project_id, version_id):
        version = self.version_get()
        try:
            expect, since = int(request.GET.get("expect", 0)), float(request.GET.get("since", 0))
        except ValueError:
            expect, since = 0, 0.0
        return render(request, "modeling/critic/_texts.html", _texts_context(self.project, version, expect=expect, since=since))


class CriticGenerateView(_VersionMixin, ProjectResearcherMixin, View):
    """Ask the version (critic_generate on the `gpu` queue) to describe N images; answers with the live texts part."""

    def post(self, request, project_id, version_id):
        version = self.version_get()
        error, expect = "", 0
        try:
            asked = services.critic_texts_ask(version=version, n=request.POST.get("n", ""))
            expect = selectors.critic_texts(version=version).count() + len(asked)
        except services.CriticStateError as exc:
            error = str(exc)
        if request.htmx:
            context = _texts_context(self.project, version, expect=expect, since=time.time(), error=error)
            return render(request, "modeling/critic/_texts.html", context)  # 200 with the error in it: htmx swaps it in
        (messages.error if error else messages.success)(request, error or "Descriptions asked for; they appear below as they arrive.")
        return redirect("critic:version", project_id=self.project.pk, version_id=version.pk)
