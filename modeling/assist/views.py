"""The researcher's LLM pages of a project: text revisions and their statistics, prompt versions, VQA from feedback, usage."""
from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from annotation.models import Judgement, TextRevision
from annotation.views.access import ProjectResearcherMixin
from annotation.vocabulary import TaskKind
from config.parsing import parse_int
from modeling.assist import selectors as llm_selectors
from modeling.assist import services as llm_services
from modeling.assist.tasks import vqa_generate_request
from modeling.assist.core.default_prompts import DEFAULT_TEMPLATES
from modeling.assist.models import LLMCall, VQAItem

REVISIONS_PER_PAGE = 25
VQA_ITEMS_PER_PAGE = 50
#: Pathway judgements offered for generation on one page (newest first).
FEEDBACK_CHOICES_MAX = 200


def _messages_of(exc: ValidationError) -> list[str]:
    return [message for messages_ in exc.message_dict.values() for message in messages_] if hasattr(exc, "error_dict") else exc.messages


# ------------------------------------------------------------------------------------------ revisions


class RevisionsView(ProjectResearcherMixin, View):
    """Per-annotator revision statistics (with the accept-unchanged flag) and the revisions, draft beside final text."""

    def get(self, request, project_id):
        revisions = (
            TextRevision.objects.filter(project=self.project)
            .select_related("annotator", "judgement")
            .order_by("-id")
        )
        status = request.GET.get("status", "")
        if status in TextRevision.Status.values:
            revisions = revisions.filter(status=status)
        context = {
            "project": self.project,
            "stats": llm_selectors.revision_stats(project=self.project),
            "page": Paginator(revisions, REVISIONS_PER_PAGE).get_page(request.GET.get("page")),
            "statuses": TextRevision.Status.choices,
            "status": status,
            "rule": {"min": llm_selectors.FLAG_MIN_REVISIONS, "share": llm_selectors.FLAG_MIN_SHARE, "mads": llm_selectors.FLAG_MADS},
            "drafter": llm_services.llm_model_name(),
            "subtab": "revisions",
        }
        return render(request, "modeling/llm/revisions.html", context)


# ------------------------------------------------------------------------------------------ prompts


class PromptsView(ProjectResearcherMixin, View):
    """Each prompt with its versions (project and global) and which one is active; POST activates one."""

    def get(self, request, project_id):
        prompts = []
        for name, default in DEFAULT_TEMPLATES.items():
            active_id = llm_services.prompt_active_version_id(project=self.project, name=name)
            prompts.append({
                "name": name,
                "task": default.task,
                "active": llm_services.prompt_active(project=self.project, name=name),
                "active_id": active_id,
                "versions": list(llm_services.prompt_versions(project=self.project, name=name)),
            })
        return render(request, "modeling/llm/prompts.html", {"project": self.project, "prompts": prompts, "subtab": "prompts"})

    def post(self, request, project_id):
        name = request.POST.get("name", "")
        if name not in DEFAULT_TEMPLATES:
            raise Http404("No such prompt.")
        raw = request.POST.get("version_id", "")
        try:
            row = llm_services.prompt_version_activate(
                project=self.project, name=name, version_id=parse_int(raw),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(_messages_of(exc)))
        else:
            label = f"version {row.version}" if row is not None else "the global or built-in version"
            messages.success(request, f"{name} now uses {label}.")
        return redirect("modeling:llm_prompts", project_id=self.project.pk)


class PromptVersionForm(forms.Form):
    system = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), required=False, help_text="The system message.")
    instruction = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Sent before each input.")
    examples = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}), required=False,
        help_text='In-context examples as JSON: [["example input", "example output"], ...] (paper 002, appendix A2).',
    )
    rules = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Output rules as JSON (forbid_digits, min_words, max_words, required_mentions, json_shape, ...).",
    )
    temperature = forms.FloatField(min_value=0, max_value=2)
    max_tokens = forms.IntegerField(min_value=1, max_value=32_000)
    note = forms.CharField(max_length=300, required=False, help_text="What changed, in a few words.")
    activate = forms.BooleanField(required=False, initial=True, help_text="Use this version from now on.")

    def _json(self, field: str, kind: type):
        try:
            value = json.loads(self.cleaned_data[field] or ("[]" if kind is list else "{}"))
        except ValueError as error:  # JSONDecodeError, and numbers past Python's digit limit
            raise ValidationError(f"Not valid JSON: {error}") from None
        if not isinstance(value, kind):
            raise ValidationError(f"Expected a JSON {'list' if kind is list else 'object'}.")
        return value

    def clean_examples(self):
        examples = self._json("examples", list)
        for example in examples:
            if not (isinstance(example, list) and len(example) == 2 and all(isinstance(part, str) for part in example)):
                raise ValidationError('Each example is a pair of texts: ["input", "output"].')
        return examples

    def clean_rules(self):
        return self._json("rules", dict)


class PromptVersionCreateView(ProjectResearcherMixin, View):
    """A new version of one prompt, starting from the active one: system, instruction, examples and rules."""

    def _render(self, request, name, form, status=200):
        context = {"project": self.project, "name": name, "base": llm_services.prompt_active(project=self.project, name=name),
                   "form": form, "subtab": "prompts"}
        return render(request, "modeling/llm/prompt_new.html", context, status=status)

    def get(self, request, project_id, name):
        if name not in DEFAULT_TEMPLATES:
            raise Http404("No such prompt.")
        base = llm_services.prompt_active(project=self.project, name=name).to_dict()
        initial = {
            "system": base["system"], "instruction": base["instruction"],
            "examples": json.dumps(base["examples"], indent=2, ensure_ascii=False),
            "rules": json.dumps(base["rules"], indent=2, ensure_ascii=False),
            "temperature": base["temperature"], "max_tokens": base["max_tokens"], "activate": True,
        }
        return self._render(request, name, PromptVersionForm(initial=initial))

    def post(self, request, project_id, name):
        if name not in DEFAULT_TEMPLATES:
            raise Http404("No such prompt.")
        form = PromptVersionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            changes = {key: data[key] for key in ("system", "instruction", "examples", "rules", "temperature", "max_tokens")}
            try:
                row = llm_services.prompt_version_create(
                    project=self.project, name=name, changes=changes, created_by=request.user,
                    activate=data["activate"], note=data["note"],
                )
            except ValidationError as exc:
                for message in _messages_of(exc):
                    form.add_error(None, message)
            else:
                messages.success(request, f"Saved {name} version {row.version}{' and made it active' if row.active else ''}.")
                return redirect("modeling:llm_prompts", project_id=self.project.pk)
        return self._render(request, name, form, status=400)


# ------------------------------------------------------------------------------------------ usage


class UsageView(ProjectResearcherMixin, View):
    """Calls, tokens, cost and latency per model and purpose; the latest failed calls and rule-breaking outputs."""

    def get(self, request, project_id):
        context = {
            "project": self.project,
            "summary": llm_selectors.usage_summary(project=self.project),
            "problem_calls": LLMCall.objects.filter(project=self.project).exclude(ok=True, problems=[]).order_by("-created_at", "-id")[:50],
            "drafter": llm_services.llm_model_name(),
            "subtab": "usage",
        }
        return render(request, "modeling/llm/usage.html", context)


# ------------------------------------------------------------------------------------------ VQA


class VQAView(ProjectResearcherMixin, View):
    """Pick pathway feedback and generate question-answer items (enqueued); review the items; export the accepted ones."""

    def get(self, request, project_id):
        status = request.GET.get("status", VQAItem.Status.PROPOSED)
        items = VQAItem.objects.filter(project=self.project).select_related("source_judgement__item__image").order_by("id")
        if status in VQAItem.Status.values:
            items = items.filter(status=status)
        feedback = (
            Judgement.objects.filter(project=self.project, kind=TaskKind.PATHWAY, training_attempt__isnull=True, excluded=False)
            .select_related("annotator", "item__image")
            .order_by("-id")[:FEEDBACK_CHOICES_MAX]
        )
        counts = dict(VQAItem.objects.filter(project=self.project).values_list("status").annotate(n=Count("id")))
        page = Paginator(items, VQA_ITEMS_PER_PAGE).get_page(request.GET.get("page"))
        for item in page:  # what the edit forms show
            item.conversation_json = json.dumps(item.conversation, indent=1, ensure_ascii=False)
            item.options_text = "\n".join(item.options)
        context = {
            "project": self.project,
            "feedback": feedback,
            "page": page,
            "status": status,
            "status_tabs": [(value, label, counts.get(value, 0)) for value, label in VQAItem.Status.choices],
            "failed_calls": LLMCall.objects.filter(project=self.project, purpose__startswith="vqa").exclude(ok=True, problems=[])
            .order_by("-created_at", "-id")[:20],
            "offline": llm_services.llm_config() is None,
            "subtab": "vqa",
        }
        return render(request, "modeling/llm/vqa.html", context)

    def post(self, request, project_id):
        ids = [number for number in map(parse_int, request.POST.getlist("judgement_ids")) if number is not None]
        try:
            vqa_generate_request(project=self.project, judgement_ids=ids)
        except ValidationError as exc:
            messages.error(request, " ".join(_messages_of(exc)))
        else:
            messages.success(request, f"Generating questions from {len(set(ids))} feedback answer{'s' if len(set(ids)) != 1 else ''} on the worker; reload in a moment.")
        return redirect("modeling:llm_vqa", project_id=self.project.pk)


class VQAReviewView(ProjectResearcherMixin, View):
    """Accept, reject or edit one item (POST), then back to the list."""

    http_method_names = ["post"]

    def post(self, request, project_id, vqa_item_id):
        try:
            llm_services.vqa_review(
                project=self.project, item_id=vqa_item_id, reviewer=request.user, action=request.POST.get("action", ""),
                question=request.POST.get("question"), answer=request.POST.get("answer"),
                options=request.POST.get("options"), conversation=request.POST.get("conversation"),
            )
        except VQAItem.DoesNotExist:
            raise Http404("No such item in this project.") from None
        except (ValidationError, json.JSONDecodeError) as exc:
            text = " ".join(_messages_of(exc)) if isinstance(exc, ValidationError) else f"Not valid JSON: {exc}"
            messages.error(request, f"Item #{vqa_item_id} was not changed: {text}")
        back = reverse("modeling:llm_vqa", kwargs={"project_id": self.project.pk})
        status = request.POST.get("status", "")
        return redirect(f"{back}?status={status}" if status in VQAItem.Status.values else back)


class VQAExportView(ProjectResearcherMixin, View):
    """The accepted (and edited) items as JSON Lines, downloaded."""

    def get(self, request, project_id):
        response = StreamingHttpResponse(llm_services.vqa_export_lines(project=self.project), content_type="application/jsonl")
        response["Content-Disposition"] = f'attachment; filename="{self.project.slug}-vqa.jsonl"'
        return response
