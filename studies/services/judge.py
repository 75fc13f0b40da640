"""The GPT4-score judge (paper 002) over a study's answers: each system's answer against the image's human description.

The judge is an OpenAI-compatible chat model reached through the LLM client (modeling/assist/core/client.py) under
the administrator's endpoint policy (config/egress.py); by default the configured LLM server (LOUPE_LLM_BASE_URL,
LOUPE_LLM_MODEL, its key registered as the credential `llm`). The human answer is the image's latest saved
description paragraph (its questionnaire is the judge's context), else its latest pathway feedback.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from annotation.models import Judgement, TextRevision
from annotation.vocabulary import LEVEL_LABELS, TaskKind
from config.egress import EgressRefused, endpoint_access, validate_endpoint
from modeling.assist.core.errors import LLMBadResponse, LLMError
from studies.gpt4_score import JudgeReplyError, gpt4_score_judge, questionnaire_context
from studies.models import Answer, AnswerScore, Study

NO_REFERENCE = "No human description of this image (a saved description paragraph or pathway feedback) to judge against."


class JudgeUnavailable(Exception):
    """The judge cannot be reached or refuses every request (policy, key, model, server down): judging stops."""


@dataclass(frozen=True)
class JudgeEndpoint:
    """Where the judge lives: an OpenAI-compatible base URL, a model, and the name of a registered credential."""

    base_url: str
    model: str
    key_env: str = ""

    def __post_init__(self):
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http(s) URL")
        if not self.model.strip():
            raise ValueError("model must not be empty")


def judge_endpoint_default() -> JudgeEndpoint:
    """The configured LLM server (settings read at call time), with its key when one is set."""
    return JudgeEndpoint(settings.LOUPE_LLM_BASE_URL, settings.LOUPE_LLM_MODEL, "llm" if settings.LOUPE_LLM_API_KEY else "")


def judge_endpoint_check(endpoint: JudgeEndpoint) -> None:
    """Raise EgressRefused when the policy refuses the URL or the credential (before anything is queued)."""
    validate_endpoint(endpoint.base_url, endpoint.key_env)


def judge_client(endpoint: JudgeEndpoint):
    """An LLMClient for the judge under the endpoint policy; raises JudgeUnavailable when the policy refuses it."""
    from modeling.assist.core.client import LLMClient, LLMConfig

    try:
        access = endpoint_access(endpoint.base_url, endpoint.key_env, timeout_s=settings.LOUPE_LLM_TIMEOUT_S)
    except EgressRefused as error:
        raise JudgeUnavailable(str(error)) from error
    config = LLMConfig(
        base_url=endpoint.base_url, model=endpoint.model, api_key=access.api_key,
        timeout_s=settings.LOUPE_LLM_TIMEOUT_S, max_retries=settings.LOUPE_LLM_MAX_RETRIES,
    )
    return LLMClient(config, rate_key="gpt4-score", http_client=access.http_client, scrub=access.scrub)


def human_references(*, project, image_ids) -> dict[int, tuple[str, str]]:
    """image id -> (human answer, questionnaire context) for the images that have a human description."""
    found: dict[int, tuple[str, str]] = {}
    pathway = Judgement.objects.filter(
        project=project, kind=TaskKind.PATHWAY, excluded=False, is_repeat=False, item__image_id__in=list(image_ids),
    ).order_by("id").values_list("item__image_id", "answer", "level")
    for image_id, answer, level in pathway:
        answer = answer if isinstance(answer, dict) else {}
        text = " ".join(str(answer.get(key) or "").strip() for key in ("description", "conclusion")).strip()
        if text:
            found[image_id] = (text, f"overall quality level: {LEVEL_LABELS.get(level, level)}" if level else "")
    revisions = TextRevision.objects.filter(
        project=project, status=TextRevision.Status.SAVED, judgement__kind=TaskKind.DESCRIPTION,
        judgement__excluded=False, judgement__item__image_id__in=list(image_ids),
    ).exclude(final_text="").order_by("id").values_list("judgement__item__image_id", "final_text", "judgement__answer")
    for image_id, text, answer in revisions:  # a revised description paragraph wins over pathway feedback
        found[image_id] = (text, questionnaire_context(answer))
    return found


def study_answers_judge(*, study_id: int, endpoint: JudgeEndpoint, client=None) -> dict:
    """Score every answer of the study that has no score yet; returns {"scored", "failed", "stopped"}.

    An unreadable reply or a missing human description fails that answer only (its row says why); an endpoint
    that refuses or stays down stops the run (the current answer's row says why), and judging again goes on.
    """
    study = Study.objects.select_related("project").get(pk=study_id)
    pending = list(
        Answer.objects.filter(system__study=study).exclude(judge_score__answer_score__isnull=False)
        .select_related("item").order_by("id")
    )
    references = human_references(project=study.project, image_ids={answer.item.image_id for answer in pending})
    scored = failed = 0
    own_client = client is None
    try:
        client = client or judge_client(endpoint)
    except JudgeUnavailable as error:
        if pending:
            _save(pending[0], endpoint, "", error=str(error))
        return {"scored": 0, "failed": 0, "stopped": str(error)}
    try:
        for answer in pending:
            reference = references.get(answer.item.image_id)
            if reference is None or not answer.text.strip():
                _save(answer, endpoint, "", error=NO_REFERENCE if reference is None else "The system's answer is empty.")
                failed += 1
                continue
            text, context = reference
            try:
                score = gpt4_score_judge(client, context=context, question=study.instruction, reference=text, answer=answer.text)
            except (JudgeReplyError, LLMBadResponse) as error:
                _save(answer, endpoint, text, error=str(error))
                failed += 1
                continue
            except LLMError as error:
                message = f"The judge stopped: {error} {getattr(error, 'detail', '') or ''}".strip()
                _save(answer, endpoint, text, error=message)
                return {"scored": scored, "failed": failed, "stopped": message}
            _save(answer, endpoint, text, score=score)
            scored += 1
    finally:
        if own_client:
            client.close()
    return {"scored": scored, "failed": failed, "stopped": ""}


def _save(answer: Answer, endpoint: JudgeEndpoint, reference: str, *, score=None, error: str = "") -> None:
    AnswerScore.objects.update_or_create(answer=answer, defaults={
        "judge_model": endpoint.model, "reference_text": reference, "error": error[:5000],
        "reference_score": score.reference if score else None, "answer_score": score.answer if score else None,
        "explanation": score.explanation if score else "",
    })
