"""The training conversations beyond paper 000's five tasks, and Q-SiT's data mixing (papers 000, 001, 002).

Django-free, like :mod:`modeling.conversations`, whose :class:`~modeling.conversations.Conversation` they return:

- perception (paper 001, §III-B4/5): reviewed yes/no and multiple-choice items and extended conversations
  generated from pathway feedback;
- general (paper 001, D3): records of a LLaVA-style instruction file (``{"image": ..., "conversations":
  [{"from": "human"|"gpt", "value": ...}]}``, ``<image>`` marking where each image goes);
- numeric (paper 000, Sec. 3.2): the MOS and the five attribute scores as numbers, VisualCritic's output;
- brief comparison answers (paper 002, Task 2): the short-answer prompt and a sentence from a pool;
- :func:`mix_groups`: Algorithm 1's mixture of assessment (D1), perception (D2) and general (D3) data.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import (
    ATTRIBUTES, BRIEF_ANSWERS, BRIEF_PROMPT, BRIEF_QUESTIONS, NUMERIC_HINT, NUMERIC_QUESTIONS, TAG_A, TAG_B, TAG_REFERENCE, TASK_IDENTIFIERS, TASK_QUANTITATIVE,
)
from modeling.conversations import ComparisonReasoning, Conversation, mix_conversations

#: Paper 001, Sec. IV-B: D1 (scoring, fixed-format) : D2 (interpreting) : D3 (general) = 1.00 : 2.50 : 1.04.
QSIT_GROUP_RATIOS = {"assessment": 1.0, "perception": 2.5, "general": 1.04}
#: Which tasks make each group. Assessment is the fixed-format data the system prefix sets apart (paper 001, III-C2).
GROUP_TASKS = {
    "assessment": ("scoring", "relativity", "numeric", "authenticity"),
    "perception": ("description", "comparison_reasoning", "perception"),
    "general": ("general",),
}


def _text(text: str) -> dict:
    return {"type": "text", "text": text}


def _image(index: int) -> dict:
    return {"type": "image", "index": index}


# ------------------------------------------------------------------------------------------ perception


@dataclass(frozen=True)
class VQAExample:
    """One reviewed item from pathway feedback: a question with its answer (and options), or a conversation.

    ``turns``: for a conversation, ``(("user", text), ("assistant", text), ...)``; empty for a question.
    """

    image: str
    question: str = ""
    answer: str = ""
    options: tuple[str, ...] = ()
    turns: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if self.turns:
            roles = [role for role, _ in self.turns]
            if roles[0] != "user" or roles[-1] != "assistant" or any(a == b for a, b in zip(roles, roles[1:])):
                raise ValueError("a conversation alternates user and assistant turns, from user to assistant")
            if any(not text.strip() for _, text in self.turns):
                raise ValueError("conversation turns must not be empty")
        elif not self.question.strip() or not self.answer.strip():
            raise ValueError("a question item needs a question and an answer")


def perception_conversations(items: Iterable[VQAExample], *, rng: np.random.Generator) -> list[Conversation]:
    """Perception conversations from reviewed VQA items (paper 001, §III-B4/5).

    A multiple-choice item lists its options in a shuffled order, as A-OKVQA does, and is answered with
    the option's text; a yes/no item is asked as it is; a conversation keeps its turns, the image in the
    first user turn.
    """
    rng = check_rng(rng)
    out = []
    for item in items:
        if item.turns:
            messages = []
            for k, (role, text) in enumerate(item.turns):
                content = ([_image(0)] if k == 0 else []) + [_text(text.strip())]
                messages.append({"role": role, "content": content})
            out.append(Conversation("perception", (item.image,), tuple(messages)))
            continue
        question = item.question.strip()
        if item.options:
            options = [item.options[i] for i in rng.permutation(len(item.options))]
            letters = "ABCDEFGH"
            question += "\n" + "\n".join(f"{letters[k]}. {option}" for k, option in enumerate(options[: len(letters)]))
            question += "\nAnswer with the option's text."
        messages = (
            {"role": "user", "content": [_image(0), _text(question)]},
            {"role": "assistant", "content": [_text(item.answer.strip())]},
        )
        out.append(Conversation("perception", (item.image,), messages))
    return out


# ------------------------------------------------------------------------------------------ general (D3)


class GeneralDataError(ValueError):
    """A general-purpose instruction file that cannot be read (the message names the record)."""


def general_conversations(records: Sequence[Mapping], *, image_key) -> list[Conversation]:
    """Conversations from LLaVA-style instruction records (paper 001, D3: general understanding data).

    Parameters
    ----------
    records : sequence of mapping
        ``{"image": str | list of str (optional), "conversations": [{"from": "human"|"gpt", "value": str}]}``.
    image_key : callable
        Record's image path (as written in the file) -> the key the training set loads it by.

    Raises
    ------
    GeneralDataError
        A record without alternating human/gpt turns, or whose ``<image>`` tokens do not match its images.
    """
    out = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise GeneralDataError(f"record {number}: not an object")
        images = record.get("image") or []
        images = [images] if isinstance(images, str) else images
        turns = record.get("conversations")
        if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
            raise GeneralDataError(f"record {number}: \"image\" must be a path or a list of paths")
        if not isinstance(turns, list) or len(turns) < 2 or len(turns) % 2:
            raise GeneralDataError(f"record {number}: \"conversations\" must hold human/gpt turns in pairs")
        messages, n_tokens = [], 0
        for k, turn in enumerate(turns):
            expected = "human" if k % 2 == 0 else "gpt"
            if not isinstance(turn, Mapping) or turn.get("from") != expected or not isinstance(turn.get("value"), str) or not turn["value"].strip():
                raise GeneralDataError(f"record {number}, turn {k + 1}: expected a non-empty \"{expected}\" turn")
            content: list[dict] = []
            for j, piece in enumerate(turn["value"].split("<image>")):
                if j:
                    if expected != "human":
                        raise GeneralDataError(f"record {number}: <image> may only appear in human turns")
                    content.append(_image(n_tokens))
                    n_tokens += 1
                if piece.strip():
                    content.append(_text(piece.strip()))
            messages.append({"role": "user" if expected == "human" else "assistant", "content": content})
        if n_tokens != len(images):
            raise GeneralDataError(f"record {number}: {n_tokens} <image> tokens for {len(images)} images")
        try:
            keys = tuple(image_key(i) for i in images)
        except GeneralDataError as error:
            raise GeneralDataError(f"record {number}: {error}") from error
        out.append(Conversation("general", keys, tuple(messages)))
    return out


# ------------------------------------------------------------------------------------------ numeric


@dataclass(frozen=True)
class NumericScores:
    """An image's MOS (0-100) and whichever of the five attributes (0-100) it has."""

    image: str
    mos: float
    attributes: tuple[tuple[str, float], ...] = ()

    def __post_init__(self):
        values = [self.mos] + [v for _, v in self.attributes]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("scores must be finite")
        unknown = {name for name, _ in self.attributes} - set(ATTRIBUTES)
        if unknown:
            raise ValueError(f"unknown attributes {sorted(unknown)}; expected some of {ATTRIBUTES}")


def numeric_answer(item: NumericScores) -> str:
    """VisualCritic's quantitative answer: "The MOS of the image is 72.35; its brightness is 55.10, ..."."""
    answer = f"The MOS of the image is {item.mos:.2f}"
    if item.attributes:
        answer += "; its " + ", ".join(f"{name} is {value:.2f}" for name, value in item.attributes)
    return answer + "."


def numeric_conversations(
    items: Iterable[NumericScores], *, rng: np.random.Generator, task_identifiers: bool = True, short_answer: bool = False,
    answers: Mapping[str, str] | None = None,
) -> list[Conversation]:
    """Numeric-score conversations (paper 000, Sec. 3.2): the answer holds the MOS and attribute scores as numbers.

    `answers`: image -> an answer the LLM wrote with Fig. 3's quantitative prompt (its numbers checked by the
    caller); other images get :func:`numeric_answer`.
    """
    answers = answers or {}
    rng = check_rng(rng)
    out = []
    for item in items:
        parts = [TASK_QUANTITATIVE] if task_identifiers else []
        parts.append(NUMERIC_QUESTIONS[int(rng.integers(len(NUMERIC_QUESTIONS)))])
        if short_answer:
            parts.append(NUMERIC_HINT)
        messages = (
            {"role": "user", "content": [_image(0), _text(" ".join(parts))]},
            {"role": "assistant", "content": [_text(answers.get(item.image) or numeric_answer(item))]},
        )
        out.append(Conversation("numeric", (item.image,), messages))
    return out


# ------------------------------------------------------------------------------------------ brief answers


def brief_comparison_conversations(items: Iterable[ComparisonReasoning], *, rng: np.random.Generator) -> list[Conversation]:
    """DepictQA's brief answers (paper 002, Task 2): the short-answer prompt and a sentence from the pool.

    One per comparison with a chosen winner, beside its detailed reasoning, so about half the comparison
    questions of the set carry the short-answer prompt.
    """
    rng = check_rng(rng)
    out = []
    for item in items:
        if item.winner not in BRIEF_ANSWERS:
            continue
        images: list[str] = []
        content: list[dict] = []
        for tag, image in ((TAG_REFERENCE, item.reference), (TAG_A, item.image_a), (TAG_B, item.image_b)):
            if image is not None:
                content += [_text(f"<{tag}>"), _image(len(images)), _text(f"</{tag}>")]
                images.append(image)
        question = BRIEF_QUESTIONS[int(rng.integers(len(BRIEF_QUESTIONS)))]
        content.append(_text(f"{TASK_IDENTIFIERS['comparison_reasoning']} {question} {BRIEF_PROMPT}"))
        pool = BRIEF_ANSWERS[item.winner]
        messages = (
            {"role": "user", "content": content},
            {"role": "assistant", "content": [_text(pool[int(rng.integers(len(pool)))])]},
        )
        out.append(Conversation("comparison_reasoning", tuple(images), messages))
    return out


# ------------------------------------------------------------------------------------------ mixing


def mix_groups(
    pools: Mapping[str, Sequence[Conversation]],
    *,
    ratios: Mapping[str, float],
    n_conversations: int | None,
    rng: np.random.Generator,
) -> tuple[list[Conversation], dict]:
    """Paper 001's data mixing (Algorithm 1, with its coarse ratio D1:D2:D3): groups of tasks in set proportions.

    Conversations of each group (``GROUP_TASKS``) are pooled; :func:`modeling.conversations.mix_conversations`
    draws the groups in ``ratios`` (groups with no data are left out and the others keep their proportions).
    Without ``n_conversations`` the set is as large as all pools together.

    Returns
    -------
    (conversations, composition): composition holds "configured" and "actual" shares per group, "counts"
    per group, and "missing" (groups with a ratio > 0 but no data).

    Raises
    ------
    ValueError
        Unknown groups, negative ratios, or no group with data.
    """
    unknown = set(ratios) - set(GROUP_TASKS)
    if unknown:
        raise ValueError(f"unknown groups {sorted(unknown)}; expected some of {sorted(GROUP_TASKS)}")
    if any(not (w >= 0 and math.isfinite(w)) for w in ratios.values()) or sum(ratios.values()) <= 0:
        raise ValueError("group ratios must be finite, >= 0 and not all 0")
    grouped = {group: [c for task in GROUP_TASKS[group] for c in pools.get(task, ())] for group in ratios}
    conversations = mix_conversations(grouped, mix=ratios, n_conversations=n_conversations, rng=rng)
    group_of = {task: group for group, tasks in GROUP_TASKS.items() for task in tasks}
    counts = {group: 0 for group in ratios}
    for c in conversations:
        counts[group_of[c.task]] += 1
    total = sum(ratios.values())
    composition = {
        "configured": {g: round(w / total, 4) for g, w in ratios.items()},
        "actual": {g: round(n / max(len(conversations), 1), 4) for g, n in counts.items()},
        "counts": counts,
        "missing": sorted(g for g, w in ratios.items() if w > 0 and not grouped[g]),
    }
    return conversations, composition
