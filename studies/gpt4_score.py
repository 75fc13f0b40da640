"""DepictQA's GPT4-score of a description (paper 002, Sec. 5.1 and appendix A4): an LLM judge against the human answer.

Django-free core. The judge is given, as the paper lists them, the "context" (everything in the human-labelled
questionnaire), the "question" the system was asked, "answer_1" (the human, ground-truth answer), "answer_2" (the
system's) and an "instruction" to rate the helpfulness, relevance, accuracy and level of detail of each answer on a
scale of 0 to 10. The relative score of answer_2 with regard to answer_1 is the GPT4-score; over many answers it is
``100 · mean(answer_2 scores) / mean(answer_1 scores)`` (the LLaVA-Bench summary that paper 002 follows, its ref. [28]).
The paper warns that the score is generous to poor answers (its Fig. A5); read it beside the human votes.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SCORE_MIN, SCORE_MAX = 0.0, 10.0
JUDGE_TEMPERATURE = 0.2
JUDGE_MAX_TOKENS = 400

JUDGE_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
JUDGE_INSTRUCTION = (
    "We would like to request your feedback on the performance of two AI assistants in response to the user question "
    "displayed above. The context is the correct knowledge about the image, labelled by human evaluators; use it to "
    "judge the answers.\n"
    "Please rate the helpfulness, relevance, accuracy, and level of detail of their responses. Each assistant receives "
    "an overall score on a scale of 0 to 10, where a higher score indicates better overall performance.\n"
    "Please first output a single line containing only two values indicating the scores for Assistant 1 and 2, "
    "respectively. The two scores are separated by a space. In the subsequent line, please provide a comprehensive "
    "explanation of your evaluation, avoiding any potential bias and ensuring that the order in which the responses "
    "were presented does not affect your judgment."
)
_SCORES = re.compile(r"^\s*\**\s*(\d+(?:\.\d+)?)\s*(?:,|\s|/10\s*)\s*(\d+(?:\.\d+)?)")


class JudgeReplyError(ValueError):
    """The judge's reply does not start with two scores between 0 and 10."""


@dataclass(frozen=True)
class JudgeScore:
    """One judgement: the human answer's score, the system answer's, and the judge's explanation."""

    reference: float
    answer: float
    explanation: str


def gpt4_score_messages(*, context: str, question: str, reference: str, answer: str) -> list[dict]:
    """The chat messages of one GPT4-score request (paper 002, appendix A4): context, question, two answers, instruction.

    Raises
    ------
    ValueError
        An empty question, reference or answer (nothing to judge).
    """
    for name, value in (("question", question), ("reference", reference), ("answer", answer)):
        if not value or not value.strip():
            raise ValueError(f"{name} must not be empty")
    content = (
        f"[Context]\n{context.strip() or '(no questionnaire)'}\n\n"
        f"[Question]\n{question.strip()}\n\n"
        f"[Assistant 1]\n{reference.strip()}\n\n[End of Assistant 1]\n\n"
        f"[Assistant 2]\n{answer.strip()}\n\n[End of Assistant 2]\n\n"
        f"[System]\n{JUDGE_INSTRUCTION}\n\n"
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": content}]


def gpt4_score_parse(text: str) -> JudgeScore:
    """The two scores on the reply's first line (Assistant 1 = the human answer) and the explanation after it.

    Raises
    ------
    JudgeReplyError
        No two numbers open the reply, or one lies outside [0, 10].
    """
    first, _, rest = (text or "").strip().partition("\n")
    match = _SCORES.match(first)
    if match is None:
        raise JudgeReplyError(f"The judge's reply does not open with two scores: {first[:120]!r}")
    reference, answer = float(match.group(1)), float(match.group(2))
    if not (SCORE_MIN <= reference <= SCORE_MAX and SCORE_MIN <= answer <= SCORE_MAX):
        raise JudgeReplyError(f"The judge's scores {reference:g} and {answer:g} are not both within 0-10.")
    return JudgeScore(reference, answer, rest.strip())


def gpt4_score_judge(client, *, context: str, question: str, reference: str, answer: str) -> JudgeScore:
    """Ask the judge through `client` (modeling.assist.core.client.LLMClient) and read its scores.

    Raises the client's LLMError subclasses when no reply came, JudgeReplyError when the reply cannot be read.
    """
    messages = gpt4_score_messages(context=context, question=question, reference=reference, answer=answer)
    reply = client.chat(messages, temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS)
    return gpt4_score_parse(reply.text)


def gpt4_score_relative(scores: Iterable[tuple[float, float]]) -> float | None:
    """GPT4-score in percent: ``100 · mean(answer) / mean(reference)`` over (reference, answer) pairs.

    None when there is no pair or the human answers' mean is 0 (no scale to relate to). Above 100 means the judge
    preferred the system's answers to the human ones (paper 002, Tab. 6, GPT-4V).
    """
    pairs = list(scores)
    if not pairs:
        return None
    reference = sum(pair[0] for pair in pairs) / len(pairs)
    answer = sum(pair[1] for pair in pairs) / len(pairs)
    return None if reference <= 0 or not math.isfinite(reference) else 100.0 * answer / reference


def questionnaire_context(answer: Mapping | None, *, labels: Mapping[str, str] | None = None) -> str:
    """A questionnaire's answers as "name: value" lines (nested choices flattened), the judge's context."""
    if not isinstance(answer, Mapping):
        return ""
    labels = labels or {}
    lines = []
    for key, value in answer.items():
        if isinstance(value, Mapping):
            lines += [f"{labels.get(key, key)} / {inner}: {labels.get(str(choice), choice)}" for inner, choice in value.items()]
        elif value not in (None, "", [], {}):
            lines.append(f"{labels.get(key, key)}: {labels.get(str(value), value)}")
    return "\n".join(lines)
