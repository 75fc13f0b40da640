"""The researcher's work pages: a project's annotation settings, its judgements and progress, its gold and training items."""
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from annotation import selectors, selectors_work
from annotation.forms_work import SETTINGS_FIELDS, GoldItemForm, ProjectAnnotationSettingsForm
from annotation.services import work
from annotation.views.access import ProjectResearcherMixin
from annotation.views.projects import _form_errors_from
from annotation.vocabulary import TaskKind
from config.parsing import parse_int

JUDGEMENTS_PER_PAGE = 25


class ProjectAnnotationSettingsView(ProjectResearcherMixin, View):
    """What annotators do on the project and how work is handed out; saved through `work.project_settings_update`."""

    template_name = "annotation/work/settings.html"

    def _render(self, request, form):
        return render(request, self.template_name, {"project": self.project, "form": form})

    def get(self, request, project_id):
        return self._render(request, ProjectAnnotationSettingsForm(project=self.project))

    def post(self, request, project_id):
        form = ProjectAnnotationSettingsForm(request.POST, project=self.project)
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in ["task_kinds", *SETTINGS_FIELDS]}
            try:
                work.project_settings_update(self.project, **fields)
            except ValidationError as exc:
                _form_errors_from(form, exc)
            else:
                messages.success(request, "Saved the annotation settings.")
                return redirect("annotation:project_annotation_settings", project_id=self.project.pk)
        return self._render(request, form)


class ProjectJudgementsView(ProjectResearcherMixin, View):
    """Progress per kind and per annotator (gold accuracy, training, time, pauses), and the judgements themselves."""

    def get(self, request, project_id):
        kind = request.GET.get("kind", "")
        if kind not in TaskKind.values:
            kind = ""
        annotator_id = request.GET.get("annotator", "")
        annotator_id = parse_int(annotator_id)
        judgements = selectors_work.project_judgements(project=self.project, kind=kind, annotator_id=annotator_id)
        page = Paginator(judgements.order_by("-id"), JUDGEMENTS_PER_PAGE).get_page(request.GET.get("page"))
        rows = [
            {"judgement": judgement, "answer_rows": selectors_work.answer_display(kind=judgement.kind, answer=judgement.answer)}
            for judgement in page
        ]
        now = timezone.now()
        annotators = [
            {
                **row,
                "median_seconds": row["median_duration_ms"] / 1000 if row["median_duration_ms"] is not None else None,
                "paused_until": selectors_work.annotator_paused_until(
                    project=self.project, run_count=row["run_count"], last_submitted_at=row["last_submitted_at"], now=now
                ),
            }
            for row in selectors_work.project_annotator_stats(project=self.project)
        ]
        context = {
            "project": self.project,
            "kinds": selectors_work.project_kind_progress(project=self.project),
            "annotators": annotators,
            "page": page,
            "rows": rows,
            "kind_choices": TaskKind.choices,
            "kind": kind,
            "annotator_id": annotator_id,
        }
        return render(request, "annotation/work/judgements.html", context)


class ProjectGoldView(ProjectResearcherMixin, View):
    """The project's gold and training items, and a form to add one with its known answer."""

    template_name = "annotation/work/gold.html"

    def _render(self, request, form, status=200):
        items = [
            {"item": item, "answer_rows": selectors_work.answer_display(kind=item.kind, answer=item.gold_answer)}
            for item in selectors_work.project_gold_items(project=self.project)
        ]
        context = {
            "project": self.project,
            "items": items,
            "form": form,
            "image_count": selectors.project_images(project=self.project).count(),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, project_id):
        return self._render(request, GoldItemForm(project=self.project))

    def post(self, request, project_id):
        form = GoldItemForm(request.POST, project=self.project)
        if form.is_valid():
            data = form.cleaned_data
            try:
                item = work.gold_item_add(
                    self.project,
                    kind=data["kind"],
                    image=data["image_obj"],
                    image_b=data["image_b_obj"],
                    gold_answer=data["gold_answer"],
                    purpose=data["purpose"],
                    feedback=data["feedback"],
                )
            except ValidationError as exc:
                _form_errors_from(form, exc)
            else:
                messages.success(request, f"Added {item.get_purpose_display().lower()} item #{item.pk}.")
                return redirect("annotation:project_gold", project_id=self.project.pk)
        return self._render(request, form)
