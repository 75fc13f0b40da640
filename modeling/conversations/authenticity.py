"""Authenticity conversations (paper 000, Sec. 3.2): photograph or AI-generated, in the form each question asks."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import (
    AUTHENTICITY_ANSWERS, AUTHENTICITY_FORMS, AUTHENTICITY_HINTS, QUESTION_POOLS, TASK_IDENTIFIERS,
)
from modeling.conversations.common import Conversation, ConversationConfig, _image, _qa, _text
from modeling.conversations.labels import AuthenticityLabel


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
