"""The training conversation, how its instructions are phrased, and the message pieces every kind builds with."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from modeling.conversation_prompts import QUESTION_POOLS, SHORT_ANSWER_HINTS, TASK_IDENTIFIERS, TASKS


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
