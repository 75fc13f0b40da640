"""Drafts and question-answer data from a template, a payload and a client (or the offline drafter).

Django-free core; the Celery tasks of issue 5 call these. Two kinds of failure stay apart:

* the call failed (timeout, 429, 5xx, bad key, unreadable reply): an :class:`LLMError` subclass
  is raised, and the caller keeps the questionnaire answers and shows the message;
* the call worked but the text breaks the template's rules: nothing is raised; the result
  carries ``problems`` (sentences) so the app can store the rejected output and show why.

With ``client=None`` (no model configured) the deterministic
:mod:`modeling.assist.core.template_drafter` writes the text, labelled ``model="loupe-template-drafter"``,
and it is validated against the same rules. Tasks without an offline version raise
:class:`LLMNotConfigured`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modeling.assist.core.client import LLMClient, LLMError, Usage
from modeling.assist.core.prompts import PromptTemplate, QuestionnaireLabels, RenderedPrompt, pair_choice_conflict, render_task
from modeling.assist.core.template_drafter import (
    TEMPLATE_DRAFTER_MODEL,
    draft_authenticity_sentence,
    draft_comparison_paragraph,
    draft_description_paragraph,
    draft_mos_comparison,
    draft_quantitative_answer,
    draft_scores_description,
    draft_yes_no_questions,
)
from modeling.assist.core.validation import parse_json_output, validate

__all__ = [
    "ConversationResult",
    "ConversationTurn",
    "Draft",
    "LLMNotConfigured",
    "VQAItem",
    "VQAResult",
    "construct_text",
    "draft_paragraph",
    "generate_conversation",
    "generate_vqa",
]


class LLMNotConfigured(LLMError):
    """The task needs a language model and none is configured (there is no offline version)."""

    default_message = "This needs a language model, and none is configured. A researcher can set one up."


@dataclass(frozen=True)
class Draft:
    """A text and where it came from. ``problems`` empty: it follows the template's rules."""

    text: str
    model: str
    template_name: str
    prompt_version: int
    problems: list[str]
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    latency_s: float = 0.0
    items: tuple = ()  # the parsed JSON list, for templates whose output is JSON

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def is_template_output(self) -> bool:
        """True when the offline template drafter wrote it, not a language model."""
        return self.model == TEMPLATE_DRAFTER_MODEL


@dataclass(frozen=True)
class VQAItem:
    """One question-answer pair from feedback (paper 001, §III-B4); ``options`` for multiple choice."""

    question: str
    answer: str
    options: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "multiple_choice" if self.options else "yes_no" if self.answer.lower() in ("yes", "no") else "open"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"question": self.question, "answer": self.answer}
        if self.options:
            data["options"] = list(self.options)
        return data


@dataclass(frozen=True)
class VQAResult:
    """The well-formed items of a generation, the raw text, and every rule it breaks."""

    items: list[VQAItem]
    draft: Draft

    @property
    def problems(self) -> list[str]:
        return self.draft.problems


@dataclass(frozen=True)
class ConversationTurn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class ConversationResult:
    """An extended conversation (paper 001, §III-B5) and the rules it breaks."""

    turns: list[ConversationTurn]
    draft: Draft

    @property
    def problems(self) -> list[str]:
        return self.draft.problems


def _offline(template: PromptTemplate, rendered: RenderedPrompt, text: str, problems: Sequence[str] = ()) -> Draft:
    found = list(problems) + validate(text, rendered.rules)
    return Draft(text, TEMPLATE_DRAFTER_MODEL, template.name, template.version, found)


def _ask(
    client: LLMClient, template: PromptTemplate, rendered: RenderedPrompt, images: Sequence[bytes] | None
) -> Draft:
    reply = client.chat(
        rendered.messages, temperature=template.temperature, max_tokens=template.max_tokens, images=images
    )
    text = reply.text.strip()
    problems = validate(text, rendered.rules)
    if reply.finish_reason == "length":
        problems.append("the model stopped at its token limit, so the text may be cut off")
    items: tuple = ()
    if rendered.rules.json_shape is not None:
        try:
            parsed = parse_json_output(text)
            items = tuple(parsed) if isinstance(parsed, list) else ()
        except ValueError:
            items = ()
    return Draft(
        text=text, model=reply.model, template_name=template.name, prompt_version=template.version,
        problems=problems, usage=reply.usage, attempts=reply.attempts, latency_s=reply.latency_s, items=items,
    )


def _require_task(template: PromptTemplate, *tasks: str) -> None:
    if template.task not in tasks:
        raise ValueError(f"template {template.label} is for {template.task!r}, not {' or '.join(tasks)}")


def draft_paragraph(
    client: LLMClient | None,
    template: PromptTemplate,
    answer: Mapping,
    labels: QuestionnaireLabels,
    *,
    images: Sequence[bytes] | None = None,
) -> Draft:
    """A draft paragraph for a description or comparison-reasoning questionnaire (paper 002, §3.2).

    ``answer`` is the stored questionnaire answer (a pair answer may carry ``"choice"``).
    ``images`` go to the model when given (the distorted image, or A and B); the offline
    drafter ignores them. A forced choice that contradicts the overall comparison is reported
    as a problem, since the paragraph cannot agree with both. Raises ValueError for an answer
    with missing or unknown keys, an :class:`LLMError` subclass when the call fails.
    """
    _require_task(template, "description", "comparison")
    rendered = render_task(template, answer, labels)
    conflict = pair_choice_conflict(answer) if template.task == "comparison" else None
    extra = [conflict] if conflict else []
    if client is None:
        if template.task == "description":
            text = draft_description_paragraph(answer, labels)
        else:
            text = draft_comparison_paragraph(answer, labels)
        return _offline(template, rendered, text, extra)
    draft = _ask(client, template, rendered, images)
    if extra:
        draft = dataclasses.replace(draft, problems=extra + draft.problems)
    return draft


def construct_text(client: LLMClient | None, template: PromptTemplate, payload: Any) -> Draft:
    """VisualCritic data construction (paper 000, Fig. 3-4): scores, quantitative answer, authenticity, MOS pair or paraphrases.

    ``payload`` by task: ``{metric: score}`` (scores, quantitative), an authenticity score,
    ``(mos_first, mos_second)``, or a metric name. Offline, the template drafter writes the score
    description, the quantitative sentence, the MOS comparison and the authenticity sentence;
    paraphrases raise :class:`LLMNotConfigured`.
    """
    _require_task(template, "scores", "quantitative", "authenticity", "mos_pair", "instruction_paraphrases")
    rendered = render_task(template, payload)
    if client is not None:
        return _ask(client, template, rendered, None)
    if template.task == "mos_pair":
        return _offline(template, rendered, draft_mos_comparison(*payload))
    if template.task == "authenticity":
        return _offline(template, rendered, draft_authenticity_sentence(payload))
    if template.task == "scores":
        return _offline(template, rendered, draft_scores_description(payload))
    if template.task == "quantitative":
        return _offline(template, rendered, draft_quantitative_answer(payload))
    raise LLMNotConfigured(detail=f"{template.task} has no offline version")


def _vqa_items(raw: Sequence) -> list[VQAItem]:
    items = []
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        question, answer, options = entry.get("question"), entry.get("answer"), entry.get("options") or ()
        if isinstance(question, str) and question.strip() and isinstance(answer, str) and answer.strip():
            if isinstance(options, list) and all(isinstance(o, str) for o in options):
                items.append(VQAItem(question.strip(), answer.strip(), tuple(o.strip() for o in options)))
            else:
                items.append(VQAItem(question.strip(), answer.strip()))
    return items


def generate_vqa(
    client: LLMClient | None,
    template: PromptTemplate,
    feedback: Mapping,
    labels: QuestionnaireLabels | None = None,
    *,
    images: Sequence[bytes] | None = None,
    contrasts: Mapping[str, str] | None = None,
) -> VQAResult:
    """Yes/no (balanced 1:1) or what/how multiple-choice questions from pathway feedback (paper 001, §III-B4).

    ``feedback`` is ``{"description", "conclusion", "level"?}``; ``labels.levels`` names the
    level. The result holds every well-formed item even when the set breaks a rule (an
    imbalance, say), so a researcher can review, edit or reject it. Offline, yes/no questions
    come from attribute words (``contrasts``, see the template drafter); multiple choice raises
    :class:`LLMNotConfigured`.
    """
    _require_task(template, "feedback_yes_no", "feedback_multiple_choice")
    rendered = render_task(template, feedback, labels)
    if client is None:
        if template.task != "feedback_yes_no":
            raise LLMNotConfigured(detail=f"{template.task} has no offline version")
        raw = draft_yes_no_questions(feedback, contrasts=contrasts)
        draft = dataclasses.replace(_offline(template, rendered, json.dumps(raw)), items=tuple(raw))
    else:
        draft = _ask(client, template, rendered, images)
    return VQAResult(_vqa_items(draft.items), draft)


def generate_conversation(
    client: LLMClient,
    template: PromptTemplate,
    feedback: Mapping,
    labels: QuestionnaireLabels | None = None,
    *,
    images: Sequence[bytes] | None = None,
) -> ConversationResult:
    """An extended conversation grounded in pathway feedback (paper 001, §III-B5). Needs a model."""
    _require_task(template, "feedback_conversation")
    if client is None:
        raise LLMNotConfigured(detail="extended conversations have no offline version")
    draft = _ask(client, template, render_task(template, feedback, labels), images)
    turns = [
        ConversationTurn(turn["role"], turn["content"].strip())
        for turn in draft.items
        if isinstance(turn, dict) and turn.get("role") in ("user", "assistant")
        and isinstance(turn.get("content"), str) and turn["content"].strip()
    ]
    return ConversationResult(turns, draft)
