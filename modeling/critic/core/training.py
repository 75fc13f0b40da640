"""Train a critic on conversations: loss on answer tokens only, AdamW, checksummed artifacts.

Plain torch loop (paper 000, eq. 1: next-token cross-entropy on the answer, the
image and question tokens masked out). Progress and cancellation go through two
callbacks so a Celery task can write progress to the run's row and stop on request.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modeling.conversations import Conversation
from modeling.critic.core.model import Critic
from modeling.critic.core.lora import save_adapter
from modeling.critic.core.scoring import as_rgb_image, score_images

__all__ = [
    "IGNORE_INDEX",
    "TrainingCancelled",
    "TrainingConfig",
    "TrainingResult",
    "answer_loss",
    "artifact_sha256",
    "conversation_batch",
    "heldout_metrics",
    "train_critic",
]

IGNORE_INDEX = -100

ProgressCallback = Callable[[int, int, float, float], None]


class TrainingCancelled(RuntimeError):
    """``should_cancel`` returned True; nothing was saved."""


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings (paper 000, Table 8: AdamW, linear warm-up, cosine decay).

    Attributes
    ----------
    epochs : int
        Passes over the conversations (ignored when ``max_steps`` is set).
    max_steps : int or None
        Stop after this many optimiser steps, cycling through the data.
    batch_size : int
    learning_rate, weight_decay : float
    warmup_fraction : float
        Share of the steps with a linear warm-up from 0.
    schedule : str
        ``"cosine"`` (decay to ``min_lr_ratio * learning_rate``) or ``"constant"``.
    min_lr_ratio : float
    max_grad_norm : float or None
        Gradient-norm clip; None disables.
    shuffle : bool
        Shuffle within each epoch; turn off to keep a curriculum's order.
    seed : int
        Seeds shuffling, dropout and any random init, without touching global state.
    vision_warmup_steps : int
        Steps of a vision warm-up before the conversations (0: none; see
        :func:`vision_warmup`). For tiny random critics only: a real checkpoint's
        vision tower already sees blur and noise.
    scored_token_weight : float
        Loss weight of the answer tokens the scorer reads (the level words and
        " first"/" second"); every other answer token weighs 1. The default 1.0 is
        the papers' plain mean cross-entropy. A tiny random critic needs more
        (:meth:`tiny`): the fixed answer words are learnt from the text alone in a
        few steps, after which the one level token, a tenth of the answer, is all
        that depends on the image and its gradient is drowned by the rest.
    """

    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 4
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    warmup_fraction: float = 0.05
    schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    max_grad_norm: float | None = 1.0
    shuffle: bool = True
    seed: int = 0
    scored_token_weight: float = 1.0
    vision_warmup_steps: int = 0

    @classmethod
    def tiny(cls, *, max_steps: int = 600, seed: int = 0, **overrides) -> TrainingConfig:
        """Optimisation with which a tiny random critic learns quality from pixels on CPU.

        A full fine-tune (:meth:`CriticTrainingSettings.tiny`) at a higher learning
        rate than LoRA, with the level token weighted up (``scored_token_weight``)
        once the answer format is learnt; see ``docs/benchmarks.md`` ("Critic").
        """
        values = {
            "max_steps": max_steps,
            "batch_size": 8,
            "learning_rate": 1e-3,
            "warmup_fraction": 0.05,
            "scored_token_weight": 20.0,
            "seed": seed,
        }
        values.update(overrides)
        return cls(**values)

    def __post_init__(self):
        if self.epochs <= 0:
            raise ValueError("epochs must be > 0")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError("max_steps must be > 0")
        if self.batch_size <= 0:
            raise ValueError("batch_size must be > 0")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be > 0")
        if self.weight_decay < 0:
            raise ValueError("weight_decay must be >= 0")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError("warmup_fraction must be in [0, 1)")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError("schedule must be 'cosine' or 'constant'")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("min_lr_ratio must be in [0, 1]")
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise ValueError("max_grad_norm must be > 0 or None")
        if not self.scored_token_weight > 0:
            raise ValueError("scored_token_weight must be > 0")
        if self.vision_warmup_steps < 0:
            raise ValueError("vision_warmup_steps must be >= 0")


@dataclass
class TrainingResult:
    """What a training run produced.

    Attributes
    ----------
    steps : int
    losses : list of float
        Mean answer-token loss of each step.
    artifact_dir : Path
    files : dict
        Relative path -> SHA-256 of each artifact file.
    sha256 : str
        One checksum over all files (:func:`artifact_sha256`).
    heldout : dict or None
        :func:`heldout_metrics` after training, when a held-out set was given.
    warmup_losses : list of float
        Mean squared error of each vision warm-up step (empty without one).
    seconds : float
        Wall time of the optimisation loop.
    """

    steps: int
    losses: list[float]
    artifact_dir: Path
    files: dict[str, str]
    sha256: str
    heldout: dict | None = None
    warmup_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _render_pair(critic: Critic, conversation: Conversation) -> tuple[str, str, str]:
    """(full text, prompt text, answer text) of a conversation whose last turn is the answer."""
    messages = list(conversation.messages)
    if messages[-1]["role"] != "assistant":
        raise ValueError("a training conversation must end with the assistant's answer")
    full = critic.render(messages)
    prompt = critic.render(messages[:-1], add_generation_prompt=True)
    if not full.startswith(prompt):
        raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
    return full, prompt, full[len(prompt) :]


def conversation_batch(critic: Critic, conversations: Sequence[Conversation], image_loader: Callable):
    """Model inputs with ``labels`` that keep only the answer tokens (the last assistant turn).

    Rows are left-padded, so each answer sits at the end of its row: its tokens
    are found by tokenising the answer text alone, and, if the tokenizer merges
    across the prompt/answer boundary, from the length of the prompt encoded alone.

    Returns
    -------
    transformers.BatchFeature
        Processor outputs plus ``labels`` (``IGNORE_INDEX`` outside answers).
    """
    rendered = [_render_pair(critic, c) for c in conversations]
    rows = [[image_loader(key) for key in c.images] for c in conversations]
    batch = critic.encode([full for full, _, _ in rendered], rows)
    input_ids = batch["input_ids"]
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    answer_lengths = []
    for i, (_, _, answer) in enumerate(rendered):
        ids = critic.tokenizer.encode(answer, add_special_tokens=False)
        n = len(ids)
        answer_lengths.append(n if 0 < n < lengths[i] and input_ids[i, -n:].tolist() == ids else None)
    if any(n is None for n in answer_lengths):
        prompts = critic.encode([prompt for _, prompt, _ in rendered], rows)
        prompt_lengths = prompts["attention_mask"].sum(dim=1).tolist()
        answer_lengths = [full - prompt for full, prompt in zip(lengths, prompt_lengths)]
    for i, n in enumerate(answer_lengths):
        if n <= 0:
            raise ValueError("a conversation has an empty answer")
        labels[i, -n:] = input_ids[i, -n:]
    batch["labels"] = labels
    return batch


def answer_loss(critic: Critic, batch, scored_token_weight: float = 1.0) -> torch.Tensor:
    """Mean next-token cross-entropy over the answer tokens, scored tokens weighted.

    With ``scored_token_weight == 1`` this is the model's own loss (paper 000, eq. 1).
    Otherwise each answer token whose label is a level word or a pair word
    (``critic.level_token_ids``, ``critic.pair_token_ids``) weighs
    ``scored_token_weight`` and the others 1, normalised by the total weight.
    """
    if scored_token_weight == 1.0:
        return critic.model(**batch).loss
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = critic.model(**inputs).logits[:, :-1, :].float()
    targets = batch["labels"][:, 1:].to(logits.device)
    mask = targets != IGNORE_INDEX
    scored = torch.tensor(critic.level_token_ids + critic.pair_token_ids, device=targets.device)
    weights = torch.where(torch.isin(targets, scored), scored_token_weight, 1.0) * mask
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.clamp(min=0).reshape(-1), reduction="none"
    ).view_as(weights)
    return (losses * weights).sum() / weights.sum()


def _lr_lambda(config: TrainingConfig, total_steps: int):
    warmup = int(config.warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine

    return factor


def _batches(n_items: int, config: TrainingConfig, rng: np.random.Generator):
    """Index batches: epochs of (optionally shuffled) order, cut to ``max_steps`` if set."""
    steps_per_epoch = math.ceil(n_items / config.batch_size)
    total = config.max_steps if config.max_steps is not None else config.epochs * steps_per_epoch
    out: list[np.ndarray] = []
    while len(out) < total:
        order = rng.permutation(n_items) if config.shuffle else np.arange(n_items)
        out += [order[k : k + config.batch_size] for k in range(0, n_items, config.batch_size)]
    return out[:total]


VISION_WARMUP_BATCH = 16


def scored_image_levels(conversations: Sequence[Conversation]) -> list[tuple[str, int]]:
    """``(image key, level index 0-4)`` of every scoring conversation (its answer names one level)."""
    from modeling.conversations import LEVELS

    out = []
    for conversation in conversations:
        if conversation.task != "scoring" or len(conversation.images) != 1:
            continue
        words = conversation.answer.rstrip(".").split()
        if words and words[-1] in LEVELS:
            out.append((conversation.images[0], LEVELS.index(words[-1])))
    return out


def pooled_image_features(critic: Critic, images: Sequence) -> torch.Tensor:
    """Each image's projector output averaged over its tokens: [n_images, text hidden size].

    Through the family's own ``get_image_features`` (LLaVA-OneVision and Qwen2-VL both return one
    tensor of tokens per image), so the features are exactly what the language model receives.
    """
    from peft import PeftModel

    model = critic.model.get_base_model() if isinstance(critic.model, PeftModel) else critic.model
    placeholder = critic.render([{"role": "user", "content": [{"type": "image", "index": 0}]}])
    batch = critic.encode([placeholder] * len(images), [[image] for image in images])
    inputs = {key: batch[key] for key in ("pixel_values", "image_sizes", "image_grid_thw") if key in batch}
    output = model.model.get_image_features(**inputs)
    per_image = getattr(output, "pooler_output", output)
    return torch.stack([tokens.reshape(-1, tokens.shape[-1]).mean(dim=0) for tokens in per_image])


def _vision_parameters(critic: Critic) -> list[torch.nn.Parameter]:
    from modeling.critic.core.lora import projector_module_names, vision_module_names

    names = vision_module_names(critic.model) + projector_module_names(critic.model)
    # Qwen2-VL's merger sits inside its vision tower: each parameter once.
    unique = {id(p): p for name in names for p in critic.model.get_submodule(name).parameters() if p.requires_grad}
    return list(unique.values())


def vision_warmup(
    critic: Critic,
    conversations: Sequence[Conversation],
    *,
    config: TrainingConfig,
    image_loader: Callable,
    rng: np.random.Generator,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Teach a tiny random critic's vision tower and projector to see quality before its language model.

    A tiny random critic cannot learn blur and noise through its random language model: the fixed answer
    words are learnt first and the image's gradient is lost (docs/benchmarks.md, "Critic on the demo").
    So, for ``config.vision_warmup_steps`` steps, the trainable vision and projector parameters learn the
    scoring conversations' levels (0-4) from :func:`pooled_image_features` through a throw-away linear
    head, by mean squared error. Only the scoring labels of this run's training images are used; the head
    is not saved. Returns the loss of each step (empty when there is nothing to warm up).
    """
    labelled = scored_image_levels(conversations)
    parameters = _vision_parameters(critic)
    if not labelled or not parameters or not config.vision_warmup_steps:
        return []
    hidden = pooled_image_features(critic, [image_loader(labelled[0][0])]).shape[-1]
    head = torch.nn.Linear(hidden, 1).to(device=critic.device, dtype=critic.dtype)
    optimizer = torch.optim.AdamW([*parameters, *head.parameters()], lr=config.learning_rate)
    losses = []
    for step in range(1, config.vision_warmup_steps + 1):
        chosen = [labelled[i] for i in rng.integers(0, len(labelled), VISION_WARMUP_BATCH)]
        features = pooled_image_features(critic, [image_loader(key) for key, _ in chosen])
        targets = torch.tensor([level for _, level in chosen], dtype=features.dtype, device=features.device)
        loss = torch.nn.functional.mse_loss(head(features).squeeze(-1), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses


def artifact_sha256(directory) -> tuple[str, dict[str, str]]:
    """SHA-256 of every file under ``directory`` and one digest over (path, digest) pairs in order.

    Returns
    -------
    (str, dict)
        The overall hex digest, and relative path -> hex digest per file.
    """
    directory = Path(directory)
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        files[path.relative_to(directory).as_posix()] = digest.hexdigest()
    overall = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in files.items()).encode())
    return overall.hexdigest(), files


def heldout_metrics(critic: Critic, images: Sequence, targets, *, batch_size: int = 8) -> dict:
    """Agreement of the critic's level scores with held-out human scores.

    Returns
    -------
    dict
        ``srcc`` (Spearman, :func:`evaluation.metrics.srcc`; NaN when the critic's
        scores are all equal, where rank correlation is undefined), ``n``, and the
        mean predicted ``variance``.
    """
    from evaluation.metrics import srcc

    predicted = score_images(critic, images, batch_size=batch_size)
    targets = np.asarray(targets, dtype=float)
    try:
        rho = srcc(predicted.scores, targets)
    except ValueError:
        # Constant predictions (an untrained model can give them): no ranking at all.
        rho = float("nan")
    return {"srcc": rho, "n": int(targets.size), "mean_variance": float(predicted.variances.mean())}


def train_critic(
    critic: Critic,
    conversations: Sequence[Conversation],
    *,
    output_dir,
    config: TrainingConfig = TrainingConfig(),
    image_loader: Callable = as_rgb_image,
    progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    heldout: tuple[Sequence, Sequence[float]] | None = None,
) -> TrainingResult:
    """Train the critic's trainable parameters on conversations and save the artifact.

    Call :func:`modeling.critic.core.lora.apply_training_settings` first to choose what
    trains. The loss is the mean cross-entropy over answer tokens (paper 000, eq. 1).

    Parameters
    ----------
    critic : Critic
    conversations : sequence of Conversation
        Each ends with the answer to learn.
    output_dir : path-like
        Receives the adapter (or full weights) and its settings.
    config : TrainingConfig
    image_loader : callable
        Image key -> PIL image; default opens the key as a path.
    progress : callable, optional
        ``progress(step, total_steps, loss, eta_seconds)`` after every step.
    should_cancel : callable, optional
        Checked before every step; when it returns True the run stops with
        :class:`TrainingCancelled` and saves nothing.
    heldout : (images, targets), optional
        Scored after training with :func:`heldout_metrics`.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        No conversations, or no trainable parameters.
    TrainingCancelled
    """
    if not conversations:
        raise ValueError("no conversations to train on")
    if not any(p.requires_grad for p in critic.model.parameters()):
        raise ValueError("the critic has no trainable parameters; call apply_training_settings first")
    rng = np.random.default_rng(config.seed)
    batches = _batches(len(conversations), config, rng)
    warmup = config.vision_warmup_steps if scored_image_levels(conversations) and _vision_parameters(critic) else 0
    total = warmup + len(batches)
    losses: list[float] = []
    warmup_losses: list[float] = []
    frozen: list[torch.nn.Parameter] = []
    started = time.perf_counter()

    def report(step: int, loss: float) -> None:
        if should_cancel is not None and should_cancel():
            raise TrainingCancelled(f"cancelled at step {step} of {total}")
        if progress is not None:
            elapsed = time.perf_counter() - started
            progress(step, total, loss, elapsed / step * (total - step))

    # Dropout draws from torch's global generator: fork it so the seed stays local.
    with torch.random.fork_rng(devices=[critic.device] if critic.device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        critic.model.train()
        try:
            if warmup:
                warmup_losses = vision_warmup(critic, conversations, config=config, image_loader=image_loader, rng=rng, on_step=report)
                # What the vision tower learnt stays: the conversations train the projector and language model.
                from modeling.critic.core.lora import vision_module_names

                frozen = [p for name in vision_module_names(critic.model) for p in critic.model.get_submodule(name).parameters() if p.requires_grad]
                for parameter in frozen:
                    parameter.requires_grad_(False)
            parameters = [p for p in critic.model.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, len(batches)))
            for step, indices in enumerate(batches, start=warmup + 1):
                if should_cancel is not None and should_cancel():
                    raise TrainingCancelled(f"cancelled before step {step} of {total}")
                batch = conversation_batch(critic, [conversations[i] for i in indices], image_loader)
                loss = answer_loss(critic, batch, config.scored_token_weight)
                loss.backward()
                if config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(float(loss.detach()))
                if progress is not None:
                    elapsed = time.perf_counter() - started
                    progress(step, total, losses[-1], elapsed / step * (total - step))
        finally:
            for parameter in frozen:
                parameter.requires_grad_(True)
            critic.model.eval()
    seconds = time.perf_counter() - started
    save_adapter(critic, output_dir)
    digest, files = artifact_sha256(output_dir)
    metrics = heldout_metrics(critic, heldout[0], heldout[1]) if heldout is not None else None
    return TrainingResult(
        steps=len(batches),
        losses=losses,
        artifact_dir=Path(output_dir),
        files=files,
        sha256=digest,
        heldout=metrics,
        warmup_losses=warmup_losses,
        seconds=seconds,
    )
