"""Turn human labels into the critic's training conversations (papers 000, 001, 002).

Django-free core (DESIGN.md, "Cores without Django"): the Django side reads its rows,
builds the plain label dataclasses below, and calls these builders. Every builder
returns :class:`Conversation` objects in the chat format that Hugging Face chat
templates read: a list of messages, each ``{"role": ..., "content": [segments]}``
where a segment is ``{"type": "image", "index": i}`` (``i`` indexes
``Conversation.images``) or ``{"type": "text", "text": ...}``.

Formats
-------
- Relativity (paper 000, Sec. 3.2): two images from the same source, "which image has
  better quality?", answered ``"The first image has better quality."`` or ``"second"``;
  from human pair judgements or from MOS.
- Scoring syllabus (paper 001, Sec. III-A4, eq. 1): a score is mapped to one of five
  levels by equal intervals between the source's lowest and highest score, answered
  ``"The quality of the image is <level>."``.
- Descriptions (paper 001, Sec. III-B2): pathway feedback or a revised questionnaire
  paragraph as the answer to "describe the quality".
- Comparison reasoning (paper 002, Sec. 4): images wrapped in the unique tags
  ``<Img-Reference>``, ``<Img-A>``, ``<Img-B>`` (closing tags with a slash).
- Authenticity (paper 000, Sec. 3.2): photograph or AI-generated.

Every instruction starts with the paper 000 task identifier (``<IQA_QUANT>``,
``<IQA_DES>``, ``<AUTHENTICITY>``) unless disabled, and is drawn from a pool of
paraphrases with a caller's ``np.random.Generator``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import (  # noqa: F401 -- re-exported as part of this module's API
    TASK_QUANTITATIVE,
    TASK_DESCRIPTION,
    TASK_AUTHENTICITY,
    LEVELS,
    ANSWER_PREFIX_SCORE,
    ANSWER_PREFIX_PAIR,
    SCORING_SYSTEM_PROMPT,
    TAG_REFERENCE,
    TAG_A,
    TAG_B,
    TASKS,
    QUESTION_POOLS,
    SHORT_ANSWER_HINTS,
    TASK_IDENTIFIERS,
    AUTHENTICITY_ANSWERS,
    AUTHENTICITY_FORMS,
    AUTHENTICITY_HINTS,
    REFERENCE_DESCRIPTION_QUESTIONS,
)

__all__ = [
    "ANSWER_PREFIX_PAIR",
    "ANSWER_PREFIX_SCORE",
    "AuthenticityLabel",
    "ComparisonReasoning",
    "Conversation",
    "ConversationConfig",
    "CurriculumStage",
    "DEFAULT_CURRICULUM",
    "ImageDescription",
    "LEVELS",
    "SCORING_SYSTEM_PROMPT",
    "PairJudgement",
    "QUESTION_POOLS",
    "ScoredImage",
    "SentencePair",
    "TASK_AUTHENTICITY",
    "TASK_DESCRIPTION",
    "TASK_QUANTITATIVE",
    "TASKS",
    "authenticity_answer",
    "authenticity_conversations",
    "comparison_reasoning_conversations",
    "curriculum_conversations",
    "description_conversations",
    "instruction",
    "level_from_score",
    "levels_from_scores",
    "mix_conversations",
    "pair_answer",
    "relativity_from_judgements",
    "relativity_from_scores",
    "relativity_from_sentences",
    "score_answer",
    "scoring_conversations",
]


# ------------------------------------------------------------------ labels in


@dataclass(frozen=True)
class PairJudgement:
    """One human judgement of two images of the same source; ``winner`` is ``"a"`` or ``"b"``."""

    image_a: str
    image_b: str
    winner: str

    def __post_init__(self):
        if self.winner not in ("a", "b"):
            raise ValueError("winner must be 'a' or 'b'")
        if self.image_a == self.image_b:
            raise ValueError("a pair needs two different images")


@dataclass(frozen=True)
class ScoredImage:
    """An image with a human score (MOS or a rating) from one source dataset or project."""

    image: str
    score: float
    source: str = "default"

    def __post_init__(self):
        if not math.isfinite(self.score):
            raise ValueError("score must be finite")


@dataclass(frozen=True)
class ImageDescription:
    """Human text about one image: pathway feedback or a revised questionnaire paragraph.

    ``reference``: the pristine reference of a full-reference image; the conversation then shows it with
    paper 002's ``<Img-Reference>`` tag before the image (tagged ``<Img-A>``).
    """

    image: str
    text: str
    reference: str | None = None

    def __post_init__(self):
        if not self.text.strip():
            raise ValueError("text must not be empty")


@dataclass(frozen=True)
class ComparisonReasoning:
    """A reasoned comparison of images A and B, optionally against a reference image.

    ``winner``: "a" or "b" when the annotator chose one (brief answers need it), else None.
    """

    image_a: str
    image_b: str
    text: str
    reference: str | None = None
    winner: str | None = None

    def __post_init__(self):
        if not self.text.strip():
            raise ValueError("text must not be empty")


@dataclass(frozen=True)
class AuthenticityLabel:
    """Whether an image is a photograph (``True``) or AI-generated (``False``).

    ``sentence``: an LLM-written answer (paper 000, Fig. 3 authenticity prompt) used instead of the fixed one.
    """

    image: str
    is_photograph: bool
    sentence: str | None = None


@dataclass(frozen=True)
class SentencePair:
    """Two images in shown order, which is better by MOS, and an LLM-written comparison sentence (paper 000, Fig. 3)."""

    first: str
    second: str
    first_is_better: bool
    sentence: str

    def __post_init__(self):
        if self.first == self.second:
            raise ValueError("a pair needs two different images")
        if not self.sentence.strip():
            raise ValueError("sentence must not be empty")


# ------------------------------------------------------------------ conversations out


@dataclass(frozen=True)
class Conversation:
    """One training conversation.

    Attributes
    ----------
    task : str
        One of :data:`TASKS`.
    images : tuple of str
        Image keys (paths or ids) that the image segments index, in order.
    messages : tuple of dict
        Chat messages, ``{"role": "system"|"user"|"assistant", "content": [segments]}``.
    """

    task: str
    images: tuple[str, ...]
    messages: tuple[dict, ...]

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}")
        n_segments = sum(
            1 for m in self.messages for seg in m["content"] if seg["type"] == "image"
        )
        if n_segments != len(self.images):
            raise ValueError("every image needs exactly one image segment")

    @property
    def answer(self) -> str:
        """The text of the last assistant message."""
        last = self.messages[-1]
        if last["role"] != "assistant":
            raise ValueError("the conversation does not end with an answer")
        return "".join(seg["text"] for seg in last["content"] if seg["type"] == "text")

    def to_dict(self) -> dict:
        """A JSON-ready dict (golden files, exports)."""
        return {"task": self.task, "images": list(self.images), "messages": list(self.messages)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Conversation:
        return cls(task=data["task"], images=tuple(data["images"]), messages=tuple(data["messages"]))


@dataclass(frozen=True)
class ConversationConfig:
    """How instructions are phrased.

    Attributes
    ----------
    task_identifiers : bool
        Prefix each instruction with the paper 000 task identifier.
    short_answer : bool
        Append a hint on the expected answer form ("Answer with ...").
    scoring_system_prompt : bool
        Add paper 001's system prefix to scoring conversations.
    paraphrase : bool
        Draw the question from the task's pool; if False always use the first one.
    extra_questions : tuple of (task, tuple of str)
        More paraphrases per task, appended to its pool (e.g. written by an LLM from paper 000's
        paraphrase prompt); the first question, which the scorer asks, stays the pool's own.
    """

    task_identifiers: bool = True
    short_answer: bool = False
    scoring_system_prompt: bool = False
    paraphrase: bool = True
    extra_questions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self):
        for task, questions in self.extra_questions:
            if task not in QUESTION_POOLS:
                raise ValueError(f"extra_questions: task must be one of {TASKS}")
            if any(not isinstance(q, str) or not q.strip() for q in questions):
                raise ValueError("extra_questions must be non-empty strings")


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def _image(index: int) -> dict:
    return {"type": "image", "index": index}


def instruction(
    task: str,
    config: ConversationConfig = ConversationConfig(),
    rng: np.random.Generator | None = None,
) -> str:
    """A question for ``task``: task identifier, a paraphrase from the pool, optional hint.

    Without ``rng`` (or with ``config.paraphrase`` off) the first question of the pool
    is used: the fixed prompt the scorer asks at inference.
    """
    if task not in QUESTION_POOLS:
        raise ValueError(f"task must be one of {TASKS}")
    pool = tuple(QUESTION_POOLS[task]) + tuple(q for t, extra in config.extra_questions if t == task for q in extra)
    paraphrase = config.paraphrase and rng is not None
    question = pool[int(rng.integers(len(pool)))] if paraphrase else pool[0]
    parts = [TASK_IDENTIFIERS[task]] if config.task_identifiers else []
    parts.append(question)
    if config.short_answer:
        parts.append(SHORT_ANSWER_HINTS[task])
    return " ".join(parts)


def _qa(user_content: list[dict], answer: str, system: str | None = None) -> tuple[dict, ...]:
    messages = [{"role": "system", "content": [_text(system)]}] if system else []
    messages.append({"role": "user", "content": user_content})
    messages.append({"role": "assistant", "content": [_text(answer)]})
    return tuple(messages)


def pair_answer(first_is_better: bool) -> str:
    """The relativity answer; the word after :data:`ANSWER_PREFIX_PAIR` is " first" or " second"."""
    return f"{ANSWER_PREFIX_PAIR} {'first' if first_is_better else 'second'} image has better quality."


def score_answer(level: str) -> str:
    """The scoring answer, paper 001 Sec. III-C1: ``"The quality of the image is <level>."``."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    return f"{ANSWER_PREFIX_SCORE} {level}."


# ------------------------------------------------------------------ relativity


def _pair_conversation(first: str, second: str, first_is_better: bool, config, rng) -> Conversation:
    content = [_image(0), _image(1), _text(instruction("relativity", config, rng))]
    return Conversation("relativity", (first, second), _qa(content, pair_answer(first_is_better)))


def relativity_from_judgements(
    judgements: Iterable[PairJudgement],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
    shuffle_order: bool = True,
) -> list[Conversation]:
    """Relativity conversations from human pair judgements (paper 000, Sec. 3.2).

    Parameters
    ----------
    judgements : iterable of PairJudgement
    rng : numpy.random.Generator
        Draws the paraphrase and, with ``shuffle_order``, which image is shown first,
        so the model cannot learn a position bias.
    config : ConversationConfig
    shuffle_order : bool
        If False, image A is always first.

    Returns
    -------
    list of Conversation, one per judgement.
    """
    rng = check_rng(rng)
    out = []
    for j in judgements:
        a_first = bool(rng.random() < 0.5) if shuffle_order else True
        first, second = (j.image_a, j.image_b) if a_first else (j.image_b, j.image_a)
        first_is_better = (j.winner == "a") == a_first
        out.append(_pair_conversation(first, second, first_is_better, config, rng))
    return out


def relativity_from_sentences(
    pairs: Iterable[SentencePair],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Relativity conversations whose answer is the fixed one followed by an LLM-written sentence.

    The pair scorer reads P(first better) right after :data:`ANSWER_PREFIX_PAIR`, so the answer keeps
    :func:`pair_answer` first; the LLM sentence adds only what is not the verdict again
    (:func:`sentence_without_verdict`): "The second image has better quality. The latter image has
    superior quality." said the same thing twice. A sentence whose verdict contradicts the MOS order is
    dropped. The shown order is the pair's own (the sentence says "first" or "latter"), so nothing is
    shuffled here.
    """
    rng = check_rng(rng)
    out = []
    for pair in pairs:
        content = [_image(0), _image(1), _text(instruction("relativity", config, rng))]
        rest = sentence_without_verdict(pair.sentence, first_is_better=pair.first_is_better)
        answer = pair_answer(pair.first_is_better) + (f" {rest}" if rest else "")
        out.append(Conversation("relativity", (pair.first, pair.second), _qa(content, answer)))
    return out


_FIRST_WORDS = ("first", "former")
_SECOND_WORDS = ("second", "latter")
_BETTER_WORDS = ("better", "superior", "higher", "sharper", "clearer", "preferable")
_WORSE_WORDS = ("worse", "inferior", "lower", "poorer")


def _sentence_verdict(sentence: str) -> bool | None:
    """True if the sentence says the first image is better, False if the second, None if it gives no verdict."""
    words = [w.strip(".,;:!?()\"'").lower() for w in sentence.split()]
    better = any(w in _BETTER_WORDS for w in words)
    worse = any(w in _WORSE_WORDS for w in words)
    first = [i for i, w in enumerate(words) if w in _FIRST_WORDS]
    second = [i for i, w in enumerate(words) if w in _SECOND_WORDS]
    if better == worse or bool(first) == bool(second) and not (first and second):
        return None
    if first and second:  # "the first image is better than the second": the earlier-named image is the subject
        subject_first = first[0] < second[0]
    else:
        subject_first = bool(first)
    return subject_first if better else not subject_first


def sentence_without_verdict(text: str, *, first_is_better: bool) -> str:
    """The sentences of an LLM relativity answer that add something to the fixed verdict.

    Sentences that only state which image is better are dropped (the fixed answer says it already);
    if one of them contradicts ``first_is_better``, nothing of the text is kept (it would teach both).
    """
    kept = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        if not sentence:
            continue
        verdict = _sentence_verdict(sentence)
        if verdict is None:
            kept.append(sentence)
        elif verdict != first_is_better:
            return ""
    return " ".join(kept)


def relativity_from_scores(
    scored: Sequence[ScoredImage],
    *,
    n_pairs: int,
    rng: np.random.Generator,
    min_gap: float = 0.0,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Relativity conversations from MOS: random pairs within one source (paper 000, Sec. 3.2).

    The label is ``[1, 0]`` if the first image's score is higher, else ``[0, 1]``;
    pairs whose scores differ by ``min_gap`` or less are skipped (ties carry no order).

    Parameters
    ----------
    scored : sequence of ScoredImage
    n_pairs : int
        Pairs to draw (with replacement over all same-source pairs).
    rng : numpy.random.Generator
    min_gap : float
        Smallest score difference that counts as an order (``>= 0``).
    config : ConversationConfig

    Returns
    -------
    list of Conversation, at most ``n_pairs`` (fewer if draws fall under ``min_gap``).

    Raises
    ------
    ValueError
        ``n_pairs < 0``, ``min_gap < 0`` or no source with two images.
    """
    rng = check_rng(rng)
    if n_pairs < 0:
        raise ValueError("n_pairs must be >= 0")
    if min_gap < 0:
        raise ValueError("min_gap must be >= 0")
    by_source: dict[str, list[ScoredImage]] = {}
    for item in scored:
        by_source.setdefault(item.source, []).append(item)
    sources = sorted(s for s, items in by_source.items() if len(items) >= 2)
    if not sources:
        raise ValueError("need a source with at least two scored images")
    weights = np.array([len(by_source[s]) for s in sources], dtype=float)
    weights /= weights.sum()
    out = []
    for _ in range(n_pairs):
        items = by_source[sources[int(rng.choice(len(sources), p=weights))]]
        i, j = rng.choice(len(items), size=2, replace=False)
        first, second = items[int(i)], items[int(j)]
        if abs(first.score - second.score) <= min_gap:
            continue
        out.append(
            _pair_conversation(first.image, second.image, first.score > second.score, config, rng)
        )
    return out


# ------------------------------------------------------------------ scoring syllabus


def level_from_score(score: float, *, low: float, high: float) -> str:
    """Map a score to a text level by five equal intervals (paper 001, eq. 1).

    ``L(s) = l_i  if  m + (i-1)/5 (M-m) < s <= m + i/5 (M-m)``, with ``m = low``,
    ``M = high`` and ``l = (bad, poor, fair, good, excellent)``. The lowest score
    itself (which eq. 1 leaves open) is ``bad``; scores outside ``[low, high]``
    are clamped to the end levels.

    Raises
    ------
    ValueError
        ``high <= low`` or a non-finite value.
    """
    if not (math.isfinite(score) and math.isfinite(low) and math.isfinite(high)):
        raise ValueError("score, low and high must be finite")
    if high <= low:
        raise ValueError("high must be > low")
    position = (score - low) / (high - low) * len(LEVELS)
    index = math.ceil(position) - 1
    return LEVELS[min(max(index, 0), len(LEVELS) - 1)]


def levels_from_scores(scores, *, low: float | None = None, high: float | None = None) -> list[str]:
    """Eq. 1 of paper 001 for many scores; ``low``/``high`` default to their min and max."""
    values = np.asarray(scores, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("scores must be a non-empty 1-D array")
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    return [level_from_score(float(s), low=low, high=high) for s in values]


def scoring_conversations(
    scored: Sequence[ScoredImage],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[Conversation]:
    """Scoring-syllabus conversations: each image's score as a text level (paper 001, III-A4).

    The levels use equal intervals between the lowest and highest score of each
    source (scores of different datasets are not on one scale), or the given range.

    Parameters
    ----------
    scored : sequence of ScoredImage
    rng : numpy.random.Generator
    config : ConversationConfig
    ranges : mapping source -> (low, high), optional
        Fixed ends of the scale, e.g. ``(1, 5)`` for ratings or ``(0, 100)`` for MOS.

    Returns
    -------
    list of Conversation, one per image, answers ``"The quality of the image is <level>."``.

    Raises
    ------
    ValueError
        A source without a range whose scores are all equal.
    """
    rng = check_rng(rng)
    ranges = dict(ranges or {})
    observed: dict[str, list[float]] = {}
    for item in scored:
        observed.setdefault(item.source, []).append(item.score)
    for source, values in observed.items():
        ranges.setdefault(source, (min(values), max(values)))
    system = SCORING_SYSTEM_PROMPT if config.scoring_system_prompt else None
    out = []
    for item in scored:
        low, high = ranges[item.source]
        level = level_from_score(item.score, low=low, high=high)
        content = [_image(0), _text(instruction("scoring", config, rng))]
        out.append(Conversation("scoring", (item.image,), _qa(content, score_answer(level), system)))
    return out


# ------------------------------------------------------------------ text answers


def description_conversations(
    descriptions: Iterable[ImageDescription],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Describe-the-quality conversations whose answer is the human text (paper 001, III-B2).

    A full-reference image (``reference`` set) is shown after its reference, each in its paper 002 tag:
    ``<Img-Reference>[ref]</Img-Reference><Img-A>[image]</Img-A>`` (paper 002, Sec. 4, Task 1).
    """
    rng = check_rng(rng)
    out = []
    for d in descriptions:
        if d.reference is not None:
            question = REFERENCE_DESCRIPTION_QUESTIONS[int(rng.integers(len(REFERENCE_DESCRIPTION_QUESTIONS)))] if config.paraphrase \
                else REFERENCE_DESCRIPTION_QUESTIONS[0]
            identifier = f"{TASK_IDENTIFIERS['description']} " if config.task_identifiers else ""
            content = _tagged(TAG_REFERENCE, 0) + _tagged(TAG_A, 1) + [_text(identifier + question)]
            out.append(Conversation("description", (d.reference, d.image), _qa(content, d.text.strip())))
            continue
        content = [_image(0), _text(instruction("description", config, rng))]
        out.append(Conversation("description", (d.image,), _qa(content, d.text.strip())))
    return out


def _tagged(tag: str, index: int) -> list[dict]:
    return [_text(f"<{tag}>"), _image(index), _text(f"</{tag}>")]


def comparison_reasoning_conversations(
    items: Iterable[ComparisonReasoning],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Comparison-reasoning conversations with one unique tag per image (paper 002, Sec. 4).

    The user turn is ``<Img-Reference>[ref]</Img-Reference>`` (if a reference is
    given), ``<Img-A>[A]</Img-A>``, ``<Img-B>[B]</Img-B>``, then the instruction.
    """
    rng = check_rng(rng)
    out = []
    for item in items:
        images: list[str] = []
        content: list[dict] = []
        for tag, image in ((TAG_REFERENCE, item.reference), (TAG_A, item.image_a), (TAG_B, item.image_b)):
            if image is not None:
                content += _tagged(tag, len(images))
                images.append(image)
        content.append(_text(instruction("comparison_reasoning", config, rng)))
        out.append(Conversation("comparison_reasoning", tuple(images), _qa(content, item.text.strip())))
    return out


def authenticity_answer(is_photograph: bool, form: str = "ai") -> str:
    """The authenticity answer in the form its question asks (``AUTHENTICITY_FORMS``); "ai" is paper 000's own."""
    if form not in AUTHENTICITY_ANSWERS:
        raise ValueError(f"form must be one of {sorted(AUTHENTICITY_ANSWERS)}")
    photograph, generated = AUTHENTICITY_ANSWERS[form]
    return photograph if is_photograph else generated


def authenticity_conversations(
    labels: Iterable[AuthenticityLabel],
    *,
    rng: np.random.Generator,
    config: ConversationConfig = ConversationConfig(),
) -> list[Conversation]:
    """Authenticity conversations: photograph or AI-generated (paper 000, Sec. 3.2).

    Each question of the pool has its answer form (``AUTHENTICITY_FORMS``): "Is this picture a photograph
    taken with a camera?" is answered "Yes" for a photograph, either/or questions name the option. An
    LLM-written sentence (a statement) is only given to the either/or and statement questions.
    """
    rng = check_rng(rng)
    pool = tuple(QUESTION_POOLS["authenticity"])
    forms = AUTHENTICITY_FORMS + tuple("statement" for t, extra in config.extra_questions if t == "authenticity" for _ in extra)
    pool += tuple(q for t, extra in config.extra_questions if t == "authenticity" for q in extra)
    out = []
    for label in labels:
        sentence = label.sentence.strip() if label.sentence and label.sentence.strip() else ""
        choices = [i for i, form in enumerate(forms) if form in ("either", "statement")] if sentence else list(range(len(pool)))
        index = int(choices[int(rng.integers(len(choices)))]) if config.paraphrase else choices[0]
        form = forms[index]
        parts = [TASK_IDENTIFIERS["authenticity"]] if config.task_identifiers else []
        parts.append(pool[index])
        if config.short_answer:
            parts.append(AUTHENTICITY_HINTS[form])
        content = [_image(0), _text(" ".join(parts))]
        answer = sentence or authenticity_answer(label.is_photograph, form)
        out.append(Conversation("authenticity", (label.image,), _qa(content, answer)))
    return out


# ------------------------------------------------------------------ mixing and curricula


@dataclass(frozen=True)
class CurriculumStage:
    """One training stage: how many conversations and in which task proportions.

    Attributes
    ----------
    name : str
    mix : mapping task -> weight
        Relative share of each task (normalised; tasks absent from the pools are dropped).
    n_conversations : int or None
        Conversations in the stage; None uses every conversation of the mixed tasks once.
    """

    name: str
    mix: Mapping[str, float] = field(default_factory=dict)
    n_conversations: int | None = None

    def __post_init__(self):
        if not self.mix:
            raise ValueError("mix must name at least one task")
        for task, weight in self.mix.items():
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
            if not (weight >= 0 and math.isfinite(weight)):
                raise ValueError("mix weights must be finite and >= 0")
        if sum(self.mix.values()) <= 0:
            raise ValueError("mix weights must not all be 0")
        if self.n_conversations is not None and self.n_conversations < 0:
            raise ValueError("n_conversations must be >= 0")


# Paper 000, Sec. 3.3: stage 1 relativity, stage 2 multi-task (scoring, authenticity,
# relativity kept), stage 3 descriptions with a share of the earlier data. Numeric scores join the
# scoring stage, VQA items (perception) and general data the descriptions; a task without data drops out.
DEFAULT_CURRICULUM = (
    CurriculumStage("relativity", {"relativity": 1.0}),
    CurriculumStage("scoring", {"scoring": 0.6, "relativity": 0.2, "authenticity": 0.2, "numeric": 0.2}),
    CurriculumStage(
        "descriptions",
        {"description": 0.5, "comparison_reasoning": 0.2, "scoring": 0.2, "relativity": 0.1, "perception": 0.2, "general": 0.1},
    ),
)


def mix_conversations(
    pools: Mapping[str, Sequence[Conversation]],
    *,
    mix: Mapping[str, float],
    n_conversations: int | None,
    rng: np.random.Generator,
) -> list[Conversation]:
    """Draw a shuffled mixture of conversations in the given task proportions.

    Each task gets ``round(n * weight / total)`` conversations (largest remainders
    fill the rest), drawn without replacement while its pool lasts and with
    replacement beyond. With ``n_conversations=None`` the size is the sum of the
    pools of the mixed tasks.

    Raises
    ------
    ValueError
        No task of ``mix`` with a positive weight has a non-empty pool.
    """
    rng = check_rng(rng)
    weights = {t: w for t, w in mix.items() if w > 0 and len(pools.get(t, ())) > 0}
    if not weights:
        raise ValueError("no task of the mix has conversations")
    tasks = sorted(weights)
    n = sum(len(pools[t]) for t in tasks) if n_conversations is None else n_conversations
    share = np.array([weights[t] for t in tasks], dtype=float)
    exact = share / share.sum() * n
    counts = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    out: list[Conversation] = []
    for task, count in zip(tasks, counts):
        pool = pools[task]
        order = list(rng.permutation(len(pool)))
        while len(order) < count:
            order += list(rng.permutation(len(pool)))
        out += [pool[i] for i in order[:count]]
    return [out[i] for i in rng.permutation(len(out))]


def curriculum_conversations(
    pools: Mapping[str, Sequence[Conversation]],
    *,
    stages: Sequence[CurriculumStage] = DEFAULT_CURRICULUM,
    rng: np.random.Generator,
) -> list[tuple[str, list[Conversation]]]:
    """The conversations of each stage, in order: ``[(stage name, conversations), ...]``.

    Stages whose tasks all have empty pools are skipped.
    """
    rng = check_rng(rng)
    out = []
    for stage in stages:
        if not any(w > 0 and len(pools.get(t, ())) > 0 for t, w in stage.mix.items()):
            continue
        out.append(
            (stage.name, mix_conversations(pools, mix=stage.mix, n_conversations=stage.n_conversations, rng=rng))
        )
    return out
