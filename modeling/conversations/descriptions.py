"""Text answers: quality descriptions (paper 001, III-B2) and comparison reasoning with image tags (paper 002, Sec. 4)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import REFERENCE_DESCRIPTION_QUESTIONS, TAG_A, TAG_B, TAG_REFERENCE, TASK_IDENTIFIERS
from modeling.conversations.common import Conversation, ConversationConfig, _image, _qa, _text, instruction
from modeling.conversations.labels import ComparisonReasoning, ImageDescription


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
