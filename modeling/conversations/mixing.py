"""Mixing conversations of several tasks in set proportions, and the training curriculum's stages (paper 000, Sec. 3.3)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluation.arrays import check_rng
from modeling.conversation_prompts import TASKS
from modeling.conversations.common import Conversation


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
