"""Scores with uncertainty from level probabilities, pairwise preferences, and free text.

The critic answers "The quality of the image is <level>."; the scorer reads the
logits of the five level tokens at the position of ``<level>`` in one forward pass
per image (paper 001, Sec. III-A5), never sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from modeling import conversations as conv
from modeling.critic.core.model import Critic

__all__ = [
    "LevelScores",
    "as_rgb_image",
    "generate_answers",
    "level_expectation",
    "pair_preference",
    "pair_probabilities",
    "score_images",
]

N_LEVELS = len(conv.LEVELS)


@dataclass(frozen=True)
class LevelScores:
    """Expected quality and its spread under the critic's level distribution.

    Attributes
    ----------
    scores : ndarray, shape [n_images]
        Expected level mapped to 0-100 (bad = 0, excellent = 100).
    variances : ndarray, shape [n_images]
        Variance of the level distribution on the same 0-100 scale.
    probabilities : ndarray, shape [n_images, 5]
        Closed-set level probabilities, bad to excellent.
    """

    scores: np.ndarray
    variances: np.ndarray
    probabilities: np.ndarray


def level_expectation(level_logits) -> LevelScores:
    """Score and uncertainty from the logits of the five level tokens (paper 001, eqs. 4-5).

    The closed-set softmax ``p_i = exp(x_i) / sum_j exp(x_j)`` over the five level
    logits (eq. 4) weights the level values ``G(l_i) = i`` (eq. 2), giving
    ``S = sum_i p_i i`` in [1, 5] (eq. 5), reported as ``100 (S - 1) / 4``. The
    uncertainty is the variance ``sum_i p_i (i - S)^2`` of that distribution, in the
    same 0-100 units (times ``25^2``).

    Parameters
    ----------
    level_logits : array_like or torch.Tensor, shape [n_images, 5]
        Logits of bad, poor, fair, good, excellent.

    Returns
    -------
    LevelScores

    Raises
    ------
    ValueError
        Wrong shape or non-finite logits.
    """
    if isinstance(level_logits, torch.Tensor):
        level_logits = level_logits.detach().float().cpu().numpy()
    logits = np.asarray(level_logits, dtype=float)
    if logits.ndim != 2 or logits.shape[1] != N_LEVELS:
        raise ValueError(f"level_logits must have shape [n, {N_LEVELS}], got {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise ValueError("level_logits must be finite")
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)  # [n, 5], eq. 4
    values = np.arange(1, N_LEVELS + 1, dtype=float)
    expected = probabilities @ values  # [n], eq. 5
    variance = probabilities @ values**2 - expected**2
    scale = 100.0 / (N_LEVELS - 1)
    return LevelScores(
        scores=(expected - 1.0) * scale,
        variances=np.maximum(variance, 0.0) * scale**2,
        probabilities=probabilities,
    )


def pair_preference(pair_logits) -> np.ndarray:
    """P(first image better) from the logits of " first" and " second": a two-way softmax.

    Parameters
    ----------
    pair_logits : array_like or torch.Tensor, shape [n_pairs, 2]

    Returns
    -------
    ndarray, shape [n_pairs]
    """
    if isinstance(pair_logits, torch.Tensor):
        pair_logits = pair_logits.detach().float().cpu().numpy()
    logits = np.asarray(pair_logits, dtype=float)
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"pair_logits must have shape [n, 2], got {logits.shape}")
    return 1.0 / (1.0 + np.exp(logits[:, 1] - logits[:, 0]))


def as_rgb_image(image):
    """A PIL image in RGB from a PIL image, a path or an HxWx3 uint8 array."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            return opened.convert("RGB")
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    return image.convert("RGB")


def _scoring_messages(task: str, n_images: int, config: conv.ConversationConfig) -> list[dict]:
    """The user turn the scorer asks: the images, then the pool's first question."""
    content = [{"type": "image", "index": i} for i in range(n_images)]
    content.append({"type": "text", "text": conv.instruction(task, config)})
    messages = []
    if task == "scoring" and config.scoring_system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": conv.SCORING_SYSTEM_PROMPT}]})
    messages.append({"role": "user", "content": content})
    return messages


def _encoded_batches(critic: Critic, prompt: str, image_rows, batch_size: int):
    """Processor outputs batch by batch; the next batch is prepared in a thread while the model runs this one.

    Image decoding and the processor run on the CPU, the forward on the accelerator: overlapping them keeps
    the GPU from waiting on PIL between batches.
    """
    from concurrent.futures import ThreadPoolExecutor

    def encode(start: int):
        rows = [[as_rgb_image(im) for im in row] for row in image_rows[start : start + batch_size]]
        return critic.encode([prompt] * len(rows), rows)

    starts = list(range(0, len(image_rows), batch_size))
    if len(starts) < 2:
        yield from (encode(start) for start in starts)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="critic-encode") as pool:
        pending = pool.submit(encode, starts[0])
        for following in [*starts[1:], None]:
            batch = pending.result()
            if following is not None:
                pending = pool.submit(encode, following)
            yield batch


@torch.no_grad()
def _next_token_logits(critic: Critic, prompt: str, image_rows, token_ids, batch_size: int) -> np.ndarray:
    """Logits of ``token_ids`` at the next position after ``prompt``, one forward per row, batched."""
    if batch_size <= 0:
        raise ValueError("batch_size must be > 0")
    critic.model.eval()
    out = []
    index = torch.tensor(token_ids, device=critic.device)
    for batch in _encoded_batches(critic, prompt, image_rows, batch_size):
        # Left padding puts every row's answer position last; keep only its logits.
        logits = critic.model(**batch, logits_to_keep=1).logits[:, -1, :]
        out.append(logits.index_select(-1, index).float().cpu().numpy())
    return np.concatenate(out, axis=0) if out else np.zeros((0, len(token_ids)))


def score_images(
    critic: Critic,
    images: Sequence,
    *,
    batch_size: int = 8,
    config: conv.ConversationConfig = conv.ConversationConfig(),
) -> LevelScores:
    """Score images 0-100 with uncertainty (paper 001, eqs. 4-5), one forward pass per image.

    The prompt is the scoring conversation's question (the first of its pool, with
    the task identifier as ``config`` says) followed by the answer prefix
    ``"The quality of the image is"``; the next-token logits of the five level
    tokens go to :func:`level_expectation`.

    Parameters
    ----------
    critic : Critic
    images : sequence of PIL.Image.Image, path or uint8 array
    batch_size : int
    config : ConversationConfig
        Must match how the critic was trained.

    Returns
    -------
    LevelScores
    """
    prompt = critic.render(_scoring_messages("scoring", 1, config), add_generation_prompt=True)
    prompt += conv.ANSWER_PREFIX_SCORE
    logits = _next_token_logits(critic, prompt, [[im] for im in images], critic.level_token_ids, batch_size)
    return level_expectation(logits.reshape(-1, N_LEVELS))


def pair_probabilities(
    critic: Critic,
    pairs: Sequence[tuple],
    *,
    batch_size: int = 8,
    config: conv.ConversationConfig = conv.ConversationConfig(),
) -> np.ndarray:
    """P(first image has better quality) for each ``(first, second)`` pair.

    Asks the relativity question (paper 000) with the answer prefix ``"The"`` and
    compares the next-token logits of " first" and " second" (:func:`pair_preference`).

    Returns
    -------
    ndarray, shape [n_pairs]
    """
    prompt = critic.render(_scoring_messages("relativity", 2, config), add_generation_prompt=True)
    prompt += conv.ANSWER_PREFIX_PAIR
    rows = [[first, second] for first, second in pairs]
    logits = _next_token_logits(critic, prompt, rows, critic.pair_token_ids, batch_size)
    return pair_preference(logits.reshape(-1, 2))


@torch.no_grad()
def generate_answers(
    critic: Critic,
    image_rows: Sequence[Sequence],
    messages: Sequence[dict] | None = None,
    *,
    task: str = "description",
    max_new_tokens: int = 128,
    batch_size: int = 4,
    config: conv.ConversationConfig = conv.ConversationConfig(),
) -> list[str]:
    """Free-text answers by greedy decoding, e.g. quality descriptions.

    Parameters
    ----------
    critic : Critic
    image_rows : sequence of sequences of images
        The images of each prompt, in the order of the image segments.
    messages : list of dict, optional
        The conversation so far, in :mod:`modeling.conversations` format (same for
        every row). Default: the images followed by ``task``'s first question.
    task : str
        Used when ``messages`` is None.
    max_new_tokens, batch_size : int

    Returns
    -------
    list of str, one per row, special tokens removed.
    """
    critic.model.eval()
    answers = []
    for start in range(0, len(image_rows), batch_size):
        rows = [[as_rgb_image(im) for im in row] for row in image_rows[start : start + batch_size]]
        row_messages = messages if messages is not None else _scoring_messages(task, len(rows[0]), config)
        prompt = critic.render(row_messages, add_generation_prompt=True)
        batch = critic.encode([prompt] * len(rows), rows)
        tokenizer = critic.tokenizer
        output = critic.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        answers += [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    return answers
