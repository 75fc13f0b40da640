"""The LLM-written training answers as training reads them: each input's hash and the accepted texts (paper 000).

modeling/assist/construction.py writes the rows; the critic's training set (modeling/critic/data.py) reads
them here, so that training never needs the writing side.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from annotation.models import Project
from modeling import conversation_kinds as kinds
from modeling import conversations as conv
from modeling.assist.core.default_prompts import default_template
from modeling.assist.core.prompts import quantitative_rules, render_task
from modeling.assist.core.validation import OutputRules, parse_json_output, validate
from modeling.assist.models import ConstructedText

#: The prompt of each purpose (modeling/assist/core/default_prompts.py; a project may have its own versions).
PROMPTS = {
    ConstructedText.Purpose.SCORES: "visualcritic_scores_description",
    ConstructedText.Purpose.QUANTITATIVE: "visualcritic_quantitative",
    ConstructedText.Purpose.AUTHENTICITY: "visualcritic_authenticity",
    ConstructedText.Purpose.MOS_PAIR: "visualcritic_mos_comparison",
    ConstructedText.Purpose.PARAPHRASES: "visualcritic_instruction_paraphrases",
}
#: The metric whose paraphrased questions join the scoring task's question pool.
PARAPHRASE_METRIC = "MOS"


@dataclass
class LLMAnswers:
    """What training took from the cache: conversations by task, and per purpose how many used / fell back."""

    questions: tuple = ()  # extra scoring questions (LLM paraphrases)
    descriptions: list = field(default_factory=list)
    authenticity: list = field(default_factory=list)
    pairs: list = field(default_factory=list)
    numeric: dict = field(default_factory=dict)  # image key -> the LLM's quantitative answer (numbers checked)
    used: Counter = field(default_factory=Counter)
    fell_back: Counter = field(default_factory=Counter)

    def report(self) -> dict:
        return {"used": dict(self.used), "fell_back": dict(self.fell_back),
                "n_used": sum(self.used.values()), "n_fell_back": sum(self.fell_back.values())}


def scores_payload(score: float, *, source: str) -> dict[str, float]:
    """The scores prompt's input for a scored image: its MOS (0-100), or its mean rating (1-5) put on 0-100."""
    value = (score - 1.0) / 4.0 * 100.0 if source == "ratings" else score
    return {"MOS": round(min(max(float(value), 0.0), 100.0), 2)}


def quantitative_payload(item: kinds.NumericScores) -> dict[str, float]:
    """The quantitative prompt's input (paper 000, Fig. 3): the MOS and the image's attributes, 0-100, two decimals."""
    payload = {"MOS": round(float(item.mos), 2)}
    payload.update((name.capitalize(), round(float(value), 2)) for name, value in item.attributes)
    return payload


def quantitative_problems(text: str, payload: dict[str, float]) -> list[str]:
    """How `text` misstates the numbers of `payload` (changed, dropped, swapped or added); empty when it states them all."""
    return validate(text, quantitative_rules(payload, OutputRules()))


def authenticity_payload(is_photograph: bool) -> float:
    """Paper 000's authenticity score: 100 for a photograph, below 100 (here 0) for an AI-generated image."""
    return 100.0 if is_photograph else 0.0


def input_text(purpose: str, payload) -> str:
    return render_task(default_template(PROMPTS[purpose]), payload).input_text


def input_hash(purpose: str, payload) -> str:
    return hashlib.sha256(f"{purpose}\n{input_text(purpose, payload)}".encode()).hexdigest()


def _accepted(project: Project) -> dict[tuple[str, str, str], str]:
    """(purpose, input key, input hash) -> the newest accepted text."""
    out: dict[tuple[str, str, str], str] = {}
    for purpose, key, digest, text in ConstructedText.objects.filter(
        project=project, status=ConstructedText.Status.ACCEPTED,
    ).order_by("id").values_list("purpose", "input_key", "input_hash", "text"):
        out[(purpose, key, digest)] = text
    return out


def llm_answers(
    *, project: Project, scored: list[conv.ScoredImage], labels: list[conv.AuthenticityLabel], training: set[int],
    mos: dict[int, float], numeric: list[kinds.NumericScores] = (),
) -> LLMAnswers:
    """The cached LLM answers for one training set; `labels` come back with their sentences where there is one.

    `scored`: the scoring syllabus's images (MOS or ratings; comparison-only scores get no description);
    `mos`: training image id -> MOS, to check that a cached pair's numbers are still the images' own;
    `numeric`: the images of numeric answers (answer format "numbers" or "both"), whose LLM answers are
    checked again against the labels: one that changed, dropped or added a number falls back to the template.
    """
    cache = _accepted(project)
    found = LLMAnswers()
    purpose = ConstructedText.Purpose.SCORES
    for item in scored:
        if item.source == "comparisons":
            continue
        payload = scores_payload(item.score, source="ratings" if item.source == "ratings" else "mos")
        text = cache.get((purpose, f"image:{item.image}", input_hash(purpose, payload)))
        if text:
            found.descriptions.append(conv.ImageDescription(item.image, text))
            found.used[purpose] += 1
        else:
            found.fell_back[purpose] += 1
    purpose = ConstructedText.Purpose.QUANTITATIVE
    for item in numeric:
        payload = quantitative_payload(item)
        text = cache.get((purpose, f"image:{item.image}", input_hash(purpose, payload)))
        if text and not quantitative_problems(text, payload):
            found.numeric[item.image] = text
            found.used[purpose] += 1
        else:
            found.fell_back[purpose] += 1
    purpose = ConstructedText.Purpose.AUTHENTICITY
    for label in labels:
        text = cache.get((purpose, f"image:{label.image}", input_hash(purpose, authenticity_payload(label.is_photograph))))
        found.authenticity.append(conv.AuthenticityLabel(label.image, label.is_photograph, sentence=text or None))
        (found.used if text else found.fell_back)[purpose] += 1
    purpose = ConstructedText.Purpose.PARAPHRASES
    if any(item.source != "comparisons" for item in scored):
        text = cache.get((purpose, f"metric:{PARAPHRASE_METRIC}", input_hash(purpose, PARAPHRASE_METRIC)))
        questions = _questions(text) if text else ()
        found.questions = questions
        (found.used if questions else found.fell_back)[purpose] += 1
    purpose = ConstructedText.Purpose.MOS_PAIR
    for (kind, key, digest), text in cache.items():
        if kind != purpose:
            continue
        a, b = (int(part) for part in key.split(":")[1:])
        if a not in training or b not in training or a not in mos or b not in mos:
            continue
        payload = (round(mos[a], 2), round(mos[b], 2))
        if payload[0] != payload[1] and input_hash(purpose, payload) == digest:
            found.pairs.append(conv.SentencePair(str(a), str(b), payload[0] > payload[1], text))
            found.used[purpose] += 1
    return found


def _questions(text: str) -> tuple[str, ...]:
    """The paraphrased questions of an accepted paraphrase output (a JSON list of strings)."""
    try:
        parsed = parse_json_output(text)
    except ValueError:
        return ()
    return tuple(q.strip() for q in parsed if isinstance(q, str) and q.strip()) if isinstance(parsed, list) else ()
