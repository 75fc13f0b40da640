"""The scoring syllabus (paper 001, Sec. III-A4, eq. 1): a score as one of five text levels."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import ANSWER_PREFIX_SCORE, LEVELS, SCORING_SYSTEM_PROMPT
from modeling.conversations.common import Conversation, ConversationConfig, _image, _qa, _text, instruction
from modeling.conversations.labels import ScoredImage


def score_answer(level: str) -> str:
    """The scoring answer, paper 001 Sec. III-C1: ``"The quality of the image is <level>."``."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}")
    return f"{ANSWER_PREFIX_SCORE} {level}."


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
