"""Study pages: the researcher's list, create, detail (systems) and results (with CSV/JSON); the annotator's voting page."""
import csv
import uuid

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views import View

from annotation.permissions import require_project_member
from annotation.spreadsheet import csv_safe
from annotation.views.access import ProjectResearcherMixin, ResearcherRequiredMixin, RuleRequiredMixin, SignedInMixin
from config.parsing import parse_int
from config.uploads import FORM_MARGIN_BYTES
from evaluation.views_report import report_freshness_response
from studies import selectors
from studies.forms import CriticSystemForm, EndpointSystemForm, ImportedSystemForm, StudyAnnotatorsForm, StudyCreateForm
from studies.image_links import trial_image_url
from studies.models import CRITERIA, Study, System
from studies.permissions import can_manage_study, can_vote_in_study
from studies.plots import strengths_svg, win_tie_loss_svg
from studies.services import StudyError
from studies.services.setup import (
    JSONL_MAX_BYTES,
    study_annotators_set,
    study_create,
    system_add_critic,
    system_add_endpoint,
    system_import,
    system_retry,
)
from studies.services.trials import study_trials_generate
from studies.services.voting import ClientIdReused, NoTrial, lease_skip, trial_next, vote_submit


class StudyListView(ProjectResearcherMixin, View):
    """The project's studies, newest first."""

    def get(self, request, project_id):
        context = {"project": self.project, "studies": selectors.studies_for_project(project=self.project), "tab": "studies"}
        return render(request, "studies/study_list.html", context)


class StudyCreateView(ProjectResearcherMixin, View):
    """Create a study: name, instruction, how many images, votes per trial, annotators."""

    def get(self, request, project_id):
        return render(request, "studies/study_create.html", {"project": self.project, "form": StudyCreateForm(project=self.project), "tab": "studies"})

    def post(self, request, project_id):
        form = StudyCreateForm(request.POST, project=self.project)
        if form.is_valid():
            data = form.cleaned_data
            try:
                study = study_create(
                    project=self.project, name=data["name"], created_by=request.user, annotators=data["annotators"],
                    instruction=data["instruction"], image_count=data["image_count"], votes_per_trial=data["votes_per_trial"],
                    show_reference=data["show_reference"], ask_criteria=data["ask_criteria"],
                )
            except StudyError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, f"Study “{study.name}” created with {study.items.count()} images. Now add the systems to compare.")
                return redirect("studies:study_detail", study_id=study.pk)
        return render(request, "studies/study_create.html", {"project": self.project, "form": form, "tab": "studies"}, status=400)


class StudyResearcherMixin(ResearcherRequiredMixin):
    """Researchers who manage the project of the study in the URL (`study_id`, or `system_id`'s study)."""

    study: Study

    def get_study(self) -> Study:
        if "system_id" in self.kwargs:
            return get_object_or_404(System.objects.select_related("study__project"), pk=self.kwargs["system_id"]).study
        return get_object_or_404(Study.objects.select_related("project"), pk=self.kwargs["study_id"])

    def has_access(self) -> bool:
        self.study = self.get_study()
        require_project_member(self.request.user, self.study.project)
        return super().has_access() and can_manage_study(self.request.user, self.study)


def _detail_context(study: Study, **forms) -> dict:
    versions = selectors.critic_versions_usable(project=study.project)
    systems = list(study.systems.all())
    context = {
        "project": study.project,
        "study": study,
        "systems": systems,
        "busy": any(s.status in (System.Status.QUEUED, System.Status.RUNNING) for s in systems),
        "progress": selectors.study_progress(study=study),
        "imported_form": forms.get("imported_form") or ImportedSystemForm(),
        "critic_form": forms.get("critic_form") or CriticSystemForm(versions=versions),
        "endpoint_form": forms.get("endpoint_form") or EndpointSystemForm(),
        "has_versions": versions.exists(),
        "import_errors": forms.get("import_errors", []),
        "annotators_form": forms.get("annotators_form")
        or StudyAnnotatorsForm(project=study.project, initial={"annotators": list(study.annotators.all())}),
        "tab": "studies",
    }
    return context


class StudyDetailView(StudyResearcherMixin, View):
    """A study's systems (with generation progress, polled by htmx while any is running), trials and annotators.

    POST replaces the study's annotators.
    """

    @classmethod
    def max_body_bytes(cls) -> int:  # config/uploads.py: its largest form is the imported answers' JSONL
        return JSONL_MAX_BYTES + FORM_MARGIN_BYTES

    def get(self, request, study_id):
        context = _detail_context(self.study)
        if request.htmx:
            return render(request, "studies/_systems.html", context)
        return render(request, "studies/study_detail.html", context)

    def post(self, request, study_id):
        form = StudyAnnotatorsForm(request.POST, project=self.study.project)
        if form.is_valid():
            try:
                study_annotators_set(study=self.study, annotators=form.cleaned_data["annotators"])
            except StudyError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, "Annotators saved.")
                return redirect("studies:study_detail", study_id=self.study.pk)
        return render(request, "studies/study_detail.html", _detail_context(self.study, annotators_form=form), status=400)


class SystemAddView(StudyResearcherMixin, View):
    """POST: add a system of the kind in `kind` (imported JSONL, critic version or endpoint)."""

    def post(self, request, study_id):
        kind = request.POST.get("kind")
        forms = {}
        try:
            if kind == System.Kind.IMPORTED:
                form = forms["imported_form"] = ImportedSystemForm(request.POST, request.FILES)
                if form.is_valid():
                    system = system_import(study=self.study, name=form.cleaned_data["name"], data=form.cleaned_data["answers"].read())
                    messages.success(request, f"Imported {system.answered_count} answers as “{system.name}”.")
                    return redirect("studies:study_detail", study_id=self.study.pk)
            elif kind == System.Kind.CRITIC:
                form = forms["critic_form"] = CriticSystemForm(request.POST, versions=selectors.critic_versions_usable(project=self.study.project))
                if form.is_valid():
                    system = system_add_critic(study=self.study, name=form.cleaned_data["name"], critic_version=form.cleaned_data["critic_version"])
                    messages.success(request, f"“{system.name}” is queued on the gpu worker.")
                    return redirect("studies:study_detail", study_id=self.study.pk)
            elif kind == System.Kind.ENDPOINT:
                form = forms["endpoint_form"] = EndpointSystemForm(request.POST)
                if form.is_valid():
                    data = form.cleaned_data
                    system = system_add_endpoint(study=self.study, name=data["name"], base_url=data["base_url"], model=data["model"], key_env=data["key_env"])
                    messages.success(request, f"“{system.name}” is queued: the worker asks the endpoint about every image.")
                    return redirect("studies:study_detail", study_id=self.study.pk)
            else:
                messages.error(request, "Unknown kind of system.")
                return redirect("studies:study_detail", study_id=self.study.pk)
        except StudyError as error:
            form.add_error(None, error.message)
            forms["import_errors"] = error.errors
        return render(request, "studies/study_detail.html", _detail_context(self.study, **forms), status=400)


class SystemRetryView(StudyResearcherMixin, View):
    """POST: queue a failed generated system again (finished answers are kept)."""

    def post(self, request, system_id):
        system = get_object_or_404(System, pk=system_id)
        try:
            system_retry(system=system)
            messages.success(request, f"“{system.name}” is queued again; finished answers are kept.")
        except StudyError as error:
            messages.error(request, error.message)
        return redirect("studies:study_detail", study_id=self.study.pk)


class TrialsGenerateView(StudyResearcherMixin, View):
    """POST: make any missing trials (every item and pair of systems that both answered it)."""

    def post(self, request, study_id):
        added = study_trials_generate(study=self.study)
        messages.success(request, f"Added {added} trial{'s' if added != 1 else ''}.")
        return redirect("studies:study_detail", study_id=self.study.pk)


class StudyJudgeView(StudyResearcherMixin, View):
    """POST: queue the GPT4-score judge (the configured LLM server) over the answers without a score."""

    def post(self, request, study_id):
        from config.egress import EgressRefused
        from studies.services.judge import judge_endpoint_default
        from studies.services.setup import study_judge_request

        try:
            study_judge_request(study=self.study, endpoint=judge_endpoint_default())
        except EgressRefused as error:
            messages.error(request, f"The judge cannot be asked: {error}")
        else:
            messages.success(request, "The judge is scoring the answers without a score; reload this page to see them.")
        return redirect("studies:study_results", study_id=self.study.pk)


class StudyResultsView(StudyResearcherMixin, View):
    """G+S/S+B and win/tie/loss per pair, the BT ranking (plain and length-controlled), position bias, α, reasonable rate."""

    def get(self, request, study_id):
        results, cache = selectors.study_results_cached(study=self.study)
        if (poll := report_freshness_response(request, cache)) is not None:
            return poll
        systems = [s for s in results["systems"] if s["bt"] is not None]
        context = {
            "project": self.study.project, "study": self.study, "results": results, "tab": "studies", "report_cache": cache,
            "strengths_plot": mark_safe(strengths_svg(  # labels escaped inside
                [s["name"] for s in systems], [s["bt"] for s in systems], [s["bt_ci"][0] for s in systems], [s["bt_ci"][1] for s in systems],
            )),
            "pairs_plot": mark_safe(win_tie_loss_svg(results["pairs"])),
        }
        return render(request, "studies/study_results.html", context)


CSV_HEADER = ["section", "system_1", "system_2", "n", "good", "same", "bad", "gsb_ratio", "win", "win_low", "win_high",
              "tie", "tie_low", "tie_high", "loss", "loss_low", "loss_high", "bt", "bt_low", "bt_high",
              "bt_length_controlled", "bt_lc_low", "bt_lc_high", "rank", "reasonable_rate", "reasonable_marked"]


class StudyResultsCsvView(StudyResearcherMixin, View):
    """The results as CSV: one `pair` row per pair of systems, one `system` row per system."""

    def get(self, request, study_id):
        results, _ = selectors.study_results_cached(study=self.study)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="study-{self.study.pk}-results.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_HEADER)
        blank = lambda v: "" if v is None else v  # noqa: E731
        for p in results["pairs"]:
            writer.writerow(["pair", csv_safe(p["system_1"]), csv_safe(p["system_2"]), p["n"], p["good"], p["same"], p["bad"],
                             "inf" if p["gsb_ratio"] is None else p["gsb_ratio"], p["win"], *map(blank, p["win_ci"]), p["tie"], *map(blank, p["tie_ci"]),
                             p["loss"], *map(blank, p["loss_ci"])] + [""] * 9)
        for s in results["systems"]:
            writer.writerow(["system", csv_safe(s["name"])] + [""] * 15 + [
                blank(s["bt"]), *map(blank, s["bt_ci"]), blank(s["bt_length_controlled"]), *map(blank, s["bt_length_controlled_ci"]),
                blank(s["rank"]), blank(s["reasonable_rate"]), s["reasonable_marked"],
            ])
        return response


class StudyResultsJsonView(StudyResearcherMixin, View):
    """The results as a JSON download (the same object as the API's)."""

    def get(self, request, study_id):
        response = JsonResponse(selectors.study_results_cached(study=self.study)[0], json_dumps_params={"indent": 2})
        response["Content-Disposition"] = f'attachment; filename="study-{self.study.pk}-results.json"'
        return response


class MyStudiesView(SignedInMixin, View):
    """The studies the signed-in annotator votes in."""

    def get(self, request):
        return render(request, "studies/my_studies.html", {"studies": selectors.studies_for_annotator(annotator=request.user)})


class StudyAnnotatorMixin(RuleRequiredMixin):
    """Annotators assigned to the study in the URL (and still annotators of its project); other members of its
    project 403, everyone else 404."""

    study: Study

    def has_access(self) -> bool:
        self.study = get_object_or_404(Study.objects.select_related("project"), pk=self.kwargs["study_id"])
        require_project_member(self.request.user, self.study.project)
        return can_vote_in_study(self.request.user, self.study)


def _criteria_from_post(post, side: str):
    return [post.get(f"{side}_{key}") == "on" for key, _ in CRITERIA]


class VoteView(StudyAnnotatorMixin, View):
    """The next blinded trial: image (+ reference), instruction and two answers as left/right; vote with 1/2/3 or ←/↓/→.

    POST records the vote (or the skip) for the trial token in the form, then shows the next trial.
    """

    def get(self, request, study_id):
        try:
            trial = trial_next(study=self.study, annotator=request.user)
        except NoTrial:
            trial = None
        except StudyError as error:
            raise PermissionDenied(error.message) from None
        context = {"study": self.study, "trial": trial, "client_id": uuid.uuid4(), "criteria": CRITERIA}
        if trial is not None:  # opaque per-lease URLs: a page never names the image
            context["image_url"] = trial_image_url(trial_lease_id=trial.lease_id, side="left")
            context["reference_url"] = trial_image_url(trial_lease_id=trial.lease_id, side="reference") if trial.reference_id else None
        return render(request, "studies/vote.html", context)

    def post(self, request, study_id):
        token = request.POST.get("token", "")
        try:
            if request.POST.get("action") == "skip":
                lease_skip(token=token, annotator=request.user)
            else:
                ask = self.study.ask_criteria
                duration = request.POST.get("duration_ms", "")
                vote_submit(
                    token=token, annotator=request.user, choice=request.POST.get("choice", ""), client_id=request.POST.get("client_id", ""),
                    criteria_left=_criteria_from_post(request.POST, "left") if ask else None,
                    criteria_right=_criteria_from_post(request.POST, "right") if ask else None,
                    duration_ms=parse_int(duration), study=self.study,
                )
        except ClientIdReused:
            messages.error(request, "This trial was already voted on with a different choice; your first vote is kept.")
        except StudyError as error:
            messages.error(request, error.message)
        return redirect("studies:vote", study_id=self.study.pk)
