"""The Django side of the LLM core (issue 5): clients from settings, prompt versions, drafts for text revisions,
question-answer data from pathway feedback, and the call ledger (its figures are read in modeling.assist.selectors).

The core (modeling/assist/core/) knows nothing of Django; this module reads the database and settings, calls it, and
writes back: drafts through annotation.services.revisions (annotation's own writes), everything else here.
Settings are read at call time, so `override_settings` in tests points the client at a loopback server.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotation import vocabulary
from annotation.models import Judgement, Project, TextRevision
from annotation.services import revisions
from annotation.vocabulary import TaskKind
from config.egress import endpoint_access
from modeling.assist.core.client import LLMClient, LLMConfig, ModelPrice, RateLimiter
from modeling.assist.core.default_prompts import DEFAULT_TEMPLATES, default_template
from modeling.assist.core.drafting import Draft, draft_paragraph, generate_conversation, generate_vqa
from modeling.assist.core.errors import LLMError, LLMRequestRejected
from modeling.assist.core.prompts import PromptTemplate, QuestionnaireLabels
from modeling.assist.core.template_drafter import TEMPLATE_DRAFTER_MODEL
from modeling.assist.models import LLMCall, PromptVersion, VQAItem

#: The prompt each questionnaire is drafted with (annotation.services.revisions names the task).
DRAFT_PROMPTS = {revisions.TASK_DESCRIPTION: "description_paragraph", revisions.TASK_COMPARISON: "comparison_paragraph"}
#: A worker waits at most this long for the project's request budget; past it the task re-queues itself.
RATE_WAIT_MAX_S = 20.0
#: Shown to the annotator when the answers cannot be turned into a prompt at all (bad data, never retried).
UNDRAFTABLE_MESSAGE = "A draft could not be written from these answers. Your answers are saved; please write the paragraph yourself."
#: The configured server's URL is refused by the endpoint policy (config.egress): no call can be made at all.
POLICY_REFUSED_MESSAGE = (
    "The endpoint policy refuses the configured LLM server (LOUPE_LLM_BASE_URL). A researcher needs to check the LLM settings."
)
#: Output kept on a ledger row when it broke the rules (enough to review; a model can ramble).
OUTPUT_KEEP_CHARS = 20_000

_limiters: dict[float, RateLimiter] = {}
_limiters_lock = threading.Lock()


# ------------------------------------------------------------------------------------------ clients


def llm_config() -> LLMConfig | None:
    """The configured model, or None when no key is set (the offline template drafter then writes drafts)."""
    if not settings.LOUPE_LLM_API_KEY:
        return None
    price = ModelPrice(settings.LOUPE_LLM_PROMPT_PRICE_PER_MILLION, settings.LOUPE_LLM_COMPLETION_PRICE_PER_MILLION)
    return LLMConfig(
        base_url=settings.LOUPE_LLM_BASE_URL,
        model=settings.LOUPE_LLM_MODEL,
        api_key=settings.LOUPE_LLM_API_KEY,
        timeout_s=settings.LOUPE_LLM_TIMEOUT_S,
        max_retries=settings.LOUPE_LLM_MAX_RETRIES,
        requests_per_minute=settings.LOUPE_LLM_REQUESTS_PER_MINUTE or None,
        prices={settings.LOUPE_LLM_MODEL: price},
    )


def _rate_limiter(requests_per_minute: float) -> RateLimiter:
    """This process's limiter for the configured rate; its buckets are keyed by project id."""
    with _limiters_lock:
        if requests_per_minute not in _limiters:
            _limiters[requests_per_minute] = RateLimiter(requests_per_minute)
        return _limiters[requests_per_minute]


def llm_client_for(project: Project | None) -> LLMClient | None:
    """A client for the configured model, paced per project; None when no key is configured (offline).

    Its requests go through the endpoint policy's transport (config.egress), as the GPT-4 judge's do: the
    configured server is allowed, every other host (a redirect, say) only if the administrator's allow-list names
    it, checked on the address actually connected to; upstream error text is scrubbed of secrets. The key is the
    configured server's own (the policy's `llm` credential) and goes to that server only. Raises
    LLMRequestRejected, not retryable, when the policy refuses the configured URL itself.
    The caller closes it (`with llm_client_for(project) as client` when it is not None).
    """
    config = llm_config()
    if config is None:
        return None
    try:
        access = endpoint_access(config.base_url, timeout_s=config.timeout_s)
    except ValueError as error:  # EgressRefused, or policy settings that cannot be read
        raise LLMRequestRejected(POLICY_REFUSED_MESSAGE, detail=f"the endpoint policy refuses LOUPE_LLM_BASE_URL: {error}") from error
    limiter = _rate_limiter(config.requests_per_minute) if config.requests_per_minute else None
    key = project.pk if project is not None else "global"
    return LLMClient(
        config, rate_limiter=limiter, rate_key=key, max_rate_wait_s=RATE_WAIT_MAX_S,
        http_client=access.http_client, scrub=access.scrub,
    )


def llm_model_name() -> str:
    """What writes drafts now: the configured model, or the offline template drafter."""
    return settings.LOUPE_LLM_MODEL if settings.LOUPE_LLM_API_KEY else TEMPLATE_DRAFTER_MODEL


def questionnaire_labels() -> QuestionnaireLabels:
    """The display labels of annotation's vocabulary, for the prompts."""
    return QuestionnaireLabels(
        texture_categories=dict(vocabulary.TEXTURE_CATEGORIES),
        texture_conditions=dict(vocabulary.TEXTURE_CONDITIONS),
        distortions=dict(vocabulary.DISTORTIONS),
        severities=dict(vocabulary.DISTORTION_SEVERITIES),
        overall_distortion=dict(vocabulary.OVERALL_DISTORTION),
        comparison_scale=dict(vocabulary.COMPARISON_SCALE),
        overall_comparison=dict(vocabulary.OVERALL_COMPARISON),
        pair_choices={choice.value: choice.label for choice in vocabulary.PairChoice},
        levels=dict(vocabulary.LEVELS),
    )


# ------------------------------------------------------------------------------------------ prompts


def _active_row(project: Project | None, name: str) -> PromptVersion | None:
    rows = PromptVersion.objects.filter(name=name, active=True)
    if project is not None:
        row = rows.filter(project=project).first()
        if row is not None:
            return row
    return rows.filter(project__isnull=True).first()


def prompt_active(*, project: Project | None, name: str) -> PromptTemplate:
    """The project's active version of `name`, else the active global one, else the built-in default."""
    row = _active_row(project, name)
    return PromptTemplate.from_dict(row.template) if row is not None else default_template(name)


def prompt_active_version_id(*, project: Project | None, name: str) -> int | None:
    row = _active_row(project, name)
    return row.pk if row is not None else None


def prompt_versions(*, project: Project, name: str):
    """The project's versions of `name` and the global ones, newest first."""
    return PromptVersion.objects.filter(Q(project=project) | Q(project__isnull=True), name=name).order_by("-version", "-id")


def prompt_version_create(
    *, project: Project, name: str, changes: dict, created_by, activate: bool = True, note: str = "",
) -> PromptVersion:
    """A new numbered version of `name` for the project, from the active one with `changes` applied.

    `changes` may set system, instruction, examples ([input, output] pairs), rules (OutputRules.to_dict()),
    temperature and max_tokens; the name and task stay. ValidationError names what is wrong.
    """
    if name not in DEFAULT_TEMPLATES:
        raise ValidationError({"name": f"Unknown prompt {name!r}."})
    allowed = {"system", "instruction", "examples", "rules", "temperature", "max_tokens"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({"__all__": f"These cannot be changed: {', '.join(sorted(unknown))}."})
    base = prompt_active(project=project, name=name)
    with transaction.atomic():
        # The project row is the lock: two researchers saving at once get consecutive numbers.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        highest = PromptVersion.objects.filter(Q(project=project) | Q(project__isnull=True), name=name).aggregate(v=Max("version"))["v"]
        number = max(highest or 0, DEFAULT_TEMPLATES[name].version, base.version) + 1
        data = {**base.to_dict(), **changes, "name": name, "version": number, "task": base.task}
        try:
            template = PromptTemplate.from_dict(data)
        except (TypeError, ValueError) as error:
            raise ValidationError({"__all__": f"This template is not valid: {error}"}) from None
        if activate:
            PromptVersion.objects.filter(project=project, name=name, active=True).update(active=False)
        return PromptVersion.objects.create(
            project=project, name=name, version=number, template=template.to_dict(), active=activate,
            created_by=created_by, note=note[:300],
        )


def prompt_version_activate(*, project: Project, name: str, version_id: int | None) -> PromptVersion | None:
    """Make one of the project's versions of `name` active; None goes back to the global or built-in one."""
    with transaction.atomic():
        row = None
        if version_id is not None:
            row = PromptVersion.objects.select_for_update().filter(pk=version_id, project=project, name=name).first()
            if row is None:
                raise ValidationError({"version": "No such version of this prompt in this project."})
        PromptVersion.objects.filter(project=project, name=name, active=True).update(active=False)
        if row is not None:
            row.active = True
            row.save(update_fields=["active"])
    return row


# ------------------------------------------------------------------------------------------ the ledger


def _call_record(*, project: Project | None, purpose: str, template: PromptTemplate, draft: Draft | None = None,
                 error: LLMError | None = None) -> LLMCall:
    if draft is not None:
        return LLMCall.objects.create(
            project=project, purpose=purpose, model=draft.model[:200], prompt_name=template.name, prompt_version=template.version,
            prompt_tokens=draft.usage.prompt_tokens, completion_tokens=draft.usage.completion_tokens, cost=draft.usage.cost,
            latency_ms=int(round(draft.latency_s * 1000)), attempts=draft.attempts, ok=True, problems=list(draft.problems),
            output=draft.text[:OUTPUT_KEEP_CHARS] if draft.problems else "",
        )
    return LLMCall.objects.create(
        project=project, purpose=purpose, model=llm_model_name()[:200], prompt_name=template.name,
        prompt_version=template.version, attempts=getattr(error, "attempts", 0), ok=False, error=str(error),
        error_detail=getattr(error, "detail", "")[:5000],
    )


# ------------------------------------------------------------------------------------------ drafts


def draft_for_revision(revision_id: int) -> None:
    """Draft the paragraph of a text revision and store it (with the rules it breaks) on the revision.

    Does nothing unless the revision is still "drafting" (a redelivered task finds it done). Raises the
    core's LLMError when the call fails, for the task to retry or give up (`draft_give_up`); answers that
    cannot be rendered at all (bad data) mark the revision failed at once.
    """
    revision = TextRevision.objects.select_related("judgement", "project").filter(pk=revision_id).first()
    if revision is None or revision.status != TextRevision.Status.DRAFTING:
        return
    project = revision.project
    task, answer = revisions.revision_questionnaire(revision=revision)
    template = prompt_active(project=project, name=DRAFT_PROMPTS[task])
    try:
        client = llm_client_for(project)
    except LLMRequestRejected as error:
        _call_record(project=project, purpose=LLMCall.Purpose.DRAFT, template=template, error=error)
        raise
    try:
        draft = draft_paragraph(client, template, answer, questionnaire_labels())
    except LLMError as error:
        _call_record(project=project, purpose=LLMCall.Purpose.DRAFT, template=template, error=error)
        raise
    except ValueError as error:
        _call_record(project=project, purpose=LLMCall.Purpose.DRAFT, template=template, error=LLMError(detail=str(error)))
        revisions.revision_draft_failed(
            revision_id=revision_id, message=UNDRAFTABLE_MESSAGE, prompt_name=template.name, prompt_version=template.version,
        )
        return
    finally:
        if client is not None:
            client.close()
    _call_record(project=project, purpose=LLMCall.Purpose.DRAFT, template=template, draft=draft)
    revisions.revision_draft_store(
        revision_id=revision_id, text=draft.text, model=draft.model, prompt_name=draft.template_name,
        prompt_version=draft.prompt_version, problems=draft.problems,
    )


def draft_give_up(revision_id: int, error: LLMError) -> None:
    """No draft will come: show the annotator the error's message (their answers are saved already)."""
    revision = TextRevision.objects.select_related("project").filter(pk=revision_id).first()
    if revision is None:
        return
    task, _ = revisions.revision_questionnaire(revision=revision)
    template = prompt_active(project=revision.project, name=DRAFT_PROMPTS[task])
    message = f"{error} Your questionnaire answers are saved; you can write the paragraph yourself."
    revisions.revision_draft_failed(
        revision_id=revision_id, message=message, model=llm_model_name(), prompt_name=template.name,
        prompt_version=template.version,
    )


def draft_retry_countdown(error: LLMError, retries: int) -> float:
    """Seconds before the task tries again: the server's (or our limiter's) Retry-After, else 10 s doubling."""
    retry_after = getattr(error, "retry_after_s", None)
    if retry_after is not None:
        return max(1.0, min(float(retry_after), 600.0))
    return min(300.0, 10.0 * 2**retries)


# ------------------------------------------------------------------------------------------ VQA


def _feedback(judgement: Judgement) -> dict:
    answer = judgement.answer or {}
    return {"description": answer.get("description", ""), "conclusion": answer.get("conclusion", ""), "level": answer.get("level")}


def _vqa_store(*, project, judgement, kind: str, template: PromptTemplate, draft: Draft, rows: list[dict]) -> list[VQAItem]:
    common = {
        "project": project, "source_judgement": judgement, "kind": kind, "problems": list(draft.problems),
        "prompt_name": template.name, "prompt_version": template.version, "model": draft.model[:200],
    }
    return [VQAItem.objects.create(**common, **row) for row in rows]


def vqa_generate(*, project: Project, judgement_ids: list[int]) -> list[VQAItem]:
    """Question-answer items from the project's pathway feedback (paper 001, §III-B4-B5), proposed for review.

    Offline (no key): the template drafter's balanced yes/no questions only. With a model: yes/no, what/how
    multiple choice with distractors, and an extended conversation. A (judgement, kind) that has items
    already is skipped, so running twice adds nothing. Every call is on the ledger; failed calls and outputs
    that broke the rules with nothing usable in them are visible there; items keep the set's problems. When the
    endpoint policy refuses the configured server, one failed ledger row says so and nothing is generated.
    """
    judgements = Judgement.objects.filter(
        project=project, kind=TaskKind.PATHWAY, pk__in=judgement_ids, training_attempt__isnull=True, excluded=False,
    ).order_by("id")
    try:
        client = llm_client_for(project)
    except LLMRequestRejected as error:  # no call can be made this run: one ledger row says why, on the VQA page
        template = prompt_active(project=project, name="qsit_yes_no")
        _call_record(project=project, purpose=LLMCall.Purpose.VQA_YES_NO, template=template, error=error)
        return []
    labels = questionnaire_labels()
    kinds = [(VQAItem.Kind.YES_NO, "qsit_yes_no", LLMCall.Purpose.VQA_YES_NO)]
    if client is not None:
        kinds += [
            (VQAItem.Kind.MULTIPLE_CHOICE, "qsit_multiple_choice", LLMCall.Purpose.VQA_MULTIPLE_CHOICE),
            (VQAItem.Kind.CONVERSATION, "qsit_conversation", LLMCall.Purpose.VQA_CONVERSATION),
        ]
    created: list[VQAItem] = []
    try:
        for judgement in judgements:
            done = set(VQAItem.objects.filter(source_judgement=judgement).values_list("kind", flat=True))
            for kind, name, purpose in kinds:
                if kind in done:
                    continue
                template = prompt_active(project=project, name=name)
                try:
                    if kind == VQAItem.Kind.CONVERSATION:
                        result = generate_conversation(client, template, _feedback(judgement), labels)
                        rows = [{"conversation": [{"role": t.role, "content": t.content} for t in result.turns]}] if result.turns else []
                    else:
                        result = generate_vqa(client, template, _feedback(judgement), labels)
                        rows = [{"question": i.question, "answer": i.answer, "options": list(i.options)} for i in result.items]
                except LLMError as error:
                    _call_record(project=project, purpose=purpose, template=template, error=error)
                    continue
                except ValueError as error:  # feedback the prompt cannot take (bad data): visible, not retried
                    _call_record(project=project, purpose=purpose, template=template, error=LLMError(detail=str(error)))
                    continue
                _call_record(project=project, purpose=purpose, template=template, draft=result.draft)
                created += _vqa_store(project=project, judgement=judgement, kind=kind, template=template, draft=result.draft, rows=rows)
    finally:
        if client is not None:
            client.close()
    return created


def _options_clean(options) -> list[str]:
    if isinstance(options, str):
        options = options.splitlines()
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValidationError({"options": "Give the options as a list of texts (one per line)."})
    return [o.strip() for o in options if o.strip()]


def vqa_review(*, project: Project, item_id: int, reviewer, action: str, question: str | None = None,
               answer: str | None = None, options=None, conversation=None) -> VQAItem:
    """Accept, reject or edit (which accepts) one proposed item. ValidationError for an edit that breaks its kind."""
    item = VQAItem.objects.filter(project=project, pk=item_id).first()
    if item is None:
        raise VQAItem.DoesNotExist("No such item in this project.")
    if action not in ("accept", "reject", "edit"):
        raise ValidationError({"action": "Choose accept, reject or edit."})
    fields = ["status", "reviewed_by", "reviewed_at"]
    if action == "edit":
        if item.kind == VQAItem.Kind.CONVERSATION:
            try:
                turns = json.loads(conversation) if isinstance(conversation, str) else conversation
            except ValueError:
                turns = None
            if not isinstance(turns, list) or not turns or not all(
                isinstance(t, dict) and t.get("role") in ("user", "assistant") and str(t.get("content", "")).strip() for t in turns
            ):
                raise ValidationError({"conversation": 'Give the turns as [{"role": "user"|"assistant", "content": "..."}].'})
            item.conversation = [{"role": t["role"], "content": str(t["content"]).strip()} for t in turns]
            fields.append("conversation")
        else:
            question, answer = (question or "").strip(), (answer or "").strip()
            if not question or not answer:
                raise ValidationError({"question": "A question and an answer are both needed."})
            if item.kind == VQAItem.Kind.YES_NO and answer.lower().strip(".!") not in ("yes", "no"):
                raise ValidationError({"answer": "A yes/no question is answered yes or no."})
            clean_options = _options_clean(options if options is not None else item.options)
            if item.kind == VQAItem.Kind.MULTIPLE_CHOICE and answer.lower() not in [o.lower() for o in clean_options]:
                raise ValidationError({"options": "The answer must be one of the options."})
            item.question, item.answer, item.options = question, answer, clean_options
            fields += ["question", "answer", "options"]
    item.status = {"accept": VQAItem.Status.ACCEPTED, "reject": VQAItem.Status.REJECTED, "edit": VQAItem.Status.EDITED}[action]
    item.reviewed_by, item.reviewed_at = reviewer, timezone.now()
    item.save(update_fields=fields)
    return item


def vqa_export_lines(*, project: Project) -> Iterator[str]:
    """The accepted (and edited) items, one JSON object per line, for training data."""
    items = (
        VQAItem.objects.filter(project=project, status__in=[VQAItem.Status.ACCEPTED, VQAItem.Status.EDITED])
        .select_related("source_judgement__item__image")
        .order_by("id")
    )
    for item in items.iterator():
        image = item.source_judgement.item.image
        row = {
            "id": item.pk, "image_id": image.pk, "image": image.original_name, "source_judgement_id": item.source_judgement_id,
            "kind": item.kind,
        }
        if item.kind == VQAItem.Kind.CONVERSATION:
            row["conversation"] = item.conversation
        else:
            row.update(question=item.question, answer=item.answer)
            if item.options:
                row["options"] = item.options
        row.update(status=item.status, model=item.model, prompt=f"{item.prompt_name}@{item.prompt_version}")
        yield json.dumps(row, ensure_ascii=False) + "\n"
