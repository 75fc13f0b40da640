"""Train a critic on conversations: loss on answer tokens only, AdamW, checksummed artifacts.

The loop runs through Hugging Face Accelerate (paper 000, eq. 1: next-token cross-entropy on
the answer, the image and question tokens masked out): the same code trains on one CPU, one GPU,
or every process that ``torchrun``/``accelerate launch`` started (DDP), with gradient accumulation,
bf16 autocast over fp32 trainable weights, images decoded in DataLoader workers, checkpoints to
resume from, and ordered stages each with its own schedule (paper 000's stage-wise training).
Progress and cancellation go through callbacks, called on the main process only, so a Celery task
can write progress to the run's row and stop on request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modeling.conversations import Conversation
from modeling.critic.core.artifacts import artifact_sha256, heldout_metrics
from modeling.critic.core.batches import (
    IGNORE_INDEX,
    MicroBatches,
    answer_loss,
    conversation_batch,
    global_batches,
    micro_batch_loader,
    process_micro_batches,
)
from modeling.critic.core.checkpoint import checkpoint_load, checkpoint_save
from modeling.critic.core.distributed import any_process, is_fsdp, mean_over_processes, trainable_in_fp32, training_accelerator
from modeling.critic.core.lora import save_adapter, vision_module_names
from modeling.critic.core.model import Critic
from modeling.critic.core.scoring import as_rgb_image
from modeling.critic.core.warmup import pooled_image_features, scored_image_levels, vision_parameters, vision_warmup

__all__ = [
    "IGNORE_INDEX",
    "TrainingCancelled",
    "TrainingConfig",
    "TrainingResult",
    "TrainingStage",
    "answer_loss",
    "artifact_sha256",
    "conversation_batch",
    "heldout_metrics",
    "pooled_image_features",
    "scored_image_levels",
    "stage_label",
    "train_critic",
    "vision_warmup",
]

ProgressCallback = Callable[[int, int, float, float], None]
#: ``on_stage(index from 1, count, name, steps in the stage, global steps done before it)``.
StageCallback = Callable[[int, int, str, int, int], None]
MIXED_PRECISION = ("auto", "no", "bf16")


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
        Per process (per device) and micro-batch: the global batch of one optimiser step is
        ``batch_size * processes * gradient_accumulation_steps``.
    gradient_accumulation_steps : int
        Micro-batches whose gradients add up before each optimiser step.
    mixed_precision : str
        ``"bf16"`` (autocast; trainable weights kept in fp32), ``"no"``, or ``"auto"``: bf16 on CUDA, none on CPU.
    checkpoint_every : int
        Optimiser steps between checkpoints (0: none); only with a ``checkpoint_dir``.
    num_workers : int
        DataLoader worker processes that decode images and run the processor (0: in the loop).
    one_task_per_batch : bool
        Draw every batch from a single ``Conversation.task`` (paper 000's stage-wise training).
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
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "auto"
    checkpoint_every: int = 0
    num_workers: int = 0
    one_task_per_batch: bool = False

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
        if self.gradient_accumulation_steps <= 0:
            raise ValueError("gradient_accumulation_steps must be > 0")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}")
        if self.checkpoint_every < 0:
            raise ValueError("checkpoint_every must be >= 0")
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")


@dataclass(frozen=True)
class TrainingStage:
    """One stage of a stage-wise run: its conversations, trained in order after the stages before it.

    Attributes
    ----------
    name : str
        Shown in progress ("stage 2/3 absolute: step 40/100").
    conversations : sequence of Conversation
    config : TrainingConfig
        The stage's own schedule (steps, learning rate, warm-up, decay); a fresh optimiser per stage.
    """

    name: str
    conversations: Sequence[Conversation]
    config: TrainingConfig

    def __post_init__(self):
        if not self.name:
            raise ValueError("a stage needs a name")
        if not self.conversations:
            raise ValueError(f"stage {self.name!r} has no conversations to train on")


def stage_label(index: int, count: int, name: str, step: int, steps: int) -> str:
    """How progress names a stage: ``"stage 2/3 absolute: step 40/100"``."""
    return f"stage {index}/{count} {name}: step {step}/{steps}"


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
    processes, global_batch_size : int
        Processes that trained, and conversations per optimiser step summed over them.
    resumed_from_step : int
        Optimiser steps restored from a checkpoint (0: started from scratch).
    stages : list of dict
        ``name`` and ``steps`` of each stage, in order.
    """

    steps: int
    losses: list[float]
    artifact_dir: Path
    files: dict[str, str]
    sha256: str
    heldout: dict | None = None
    warmup_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    processes: int = 1
    global_batch_size: int = 0
    resumed_from_step: int = 0
    stages: list[dict] = field(default_factory=list)


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



def train_critic(
    critic: Critic,
    conversations: Sequence[Conversation] | None = None,
    *,
    output_dir,
    config: TrainingConfig = TrainingConfig(),
    stages: Sequence[TrainingStage] | None = None,
    image_loader: Callable = as_rgb_image,
    progress: ProgressCallback | None = None,
    on_stage: StageCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    heldout: tuple[Sequence, Sequence[float]] | None = None,
    checkpoint_dir=None,
    accelerator=None,
) -> TrainingResult:
    """Train the critic's trainable parameters on conversations (or stages of them) and save the artifact.

    Call :func:`modeling.critic.core.lora.apply_training_settings` first to choose what
    trains. The loss is the mean cross-entropy over answer tokens (paper 000, eq. 1); each
    optimiser step averages it over ``gradient_accumulation_steps`` micro-batches on every
    process (:func:`modeling.critic.core.batches.global_batches`).

    Parameters
    ----------
    critic : Critic
    conversations : sequence of Conversation
        Each ends with the answer to learn; one stage trained with ``config``. Give either these or ``stages``.
    output_dir : path-like
        Receives the adapter (or full weights) and its settings (main process only).
    config : TrainingConfig
        The schedule without stages; with stages, its precision and vision warm-up apply to the run.
    stages : sequence of TrainingStage, optional
        Trained in order, each with a fresh optimiser and its own schedule.
    image_loader : callable
        Image key -> PIL image; default opens the key as a path. Called in DataLoader workers when
        ``num_workers > 0``.
    progress : callable, optional
        ``progress(step, total_steps, loss, eta_seconds)`` after every optimiser step (main process).
    on_stage : callable, optional
        ``on_stage(index, count, name, steps, steps_before)`` as each stage starts (main process).
    should_cancel : callable, optional
        Checked before every step; when it returns True the run stops with
        :class:`TrainingCancelled` and saves nothing.
    heldout : (images, targets), optional
        Scored after training with :func:`heldout_metrics`.
    checkpoint_dir : path-like, optional
        Checkpoints go here every ``checkpoint_every`` steps; a checkpoint found here is resumed from.
    accelerator : accelerate.Accelerator, optional
        Default :func:`training_accelerator` for the critic's device.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        No conversations, no trainable parameters, or a checkpoint from another process count.
    TrainingCancelled
    """
    if stages is None:
        if not conversations:
            raise ValueError("no conversations to train on")
        stages = [TrainingStage("train", conversations, config)]
    stages = list(stages)
    if not stages:
        raise ValueError("no stages to train")
    config = config if conversations is not None else stages[0].config
    if not any(p.requires_grad for p in critic.model.parameters()):
        raise ValueError("the critic has no trainable parameters; call apply_training_settings first")
    full = critic.training_settings is not None and getattr(critic.training_settings, "full_finetune", False)
    accelerator = accelerator or training_accelerator(device=critic.device, mixed_precision=config.mixed_precision, find_unused_parameters=full)
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    sharded = is_fsdp(accelerator)
    if sharded and checkpoint_dir is not None and any(stage.config.checkpoint_every for stage in stages):
        raise ValueError("checkpoints are not written under FSDP: set checkpoint_every to 0, or train with DDP")
    plans = [global_batches(stage.conversations, stage.config, world) for stage in stages]
    every = [c for stage in stages for c in stage.conversations]
    warmup = config.vision_warmup_steps if scored_image_levels(every) and vision_parameters(critic) else 0
    total = warmup + sum(len(plan) for plan in plans)
    global_batch = config.batch_size * world * config.gradient_accumulation_steps
    saved = checkpoint_load(checkpoint_dir) if checkpoint_dir is not None else None
    if saved is not None and saved["processes"] != world:
        raise ValueError(f"the checkpoint was written by {saved['processes']} processes, not {world}: resume with as many")
    losses: list[float] = list(saved["losses"]) if saved else []
    warmup_losses: list[float] = list(saved["warmup_losses"]) if saved else []
    frozen: list[torch.nn.Parameter] = []
    started, resumed_from = time.perf_counter(), (saved["global_step"] if saved else 0)

    def cancel_now() -> bool:
        return any_process(accelerator, main and should_cancel is not None and should_cancel())

    def report(step: int, loss: float, *, check: bool = True) -> None:
        if check and cancel_now():
            raise TrainingCancelled(f"cancelled at step {step} of {total}")
        if progress is not None and main:
            done = max(1, step - resumed_from)
            progress(step, total, loss, (time.perf_counter() - started) / done * (total - step))

    # Dropout draws from torch's global generator: fork it so the seed stays local.
    with torch.random.fork_rng(devices=[critic.device] if critic.device.type == "cuda" else []):
        torch.manual_seed(config.seed)
        critic.model.train()
        trainable = [name for name, p in critic.model.named_parameters() if p.requires_grad]
        model = None
        upcast = trainable_in_fp32(critic) if accelerator.mixed_precision == "bf16" else {}
        try:
            if saved is None and warmup:
                warmup_losses = vision_warmup(critic, every, config=config, image_loader=image_loader, rng=np.random.default_rng(config.seed), on_step=report)
            if saved is not None:
                parameters = dict(critic.model.named_parameters())
                with torch.no_grad():
                    for name, value in saved["weights"].items():
                        parameters[name].copy_(value.to(parameters[name].device))
                torch.set_rng_state(saved["torch_rng"])
            if warmup:
                # What the vision tower learnt stays: the conversations train the projector and language model.
                frozen = [p for name in vision_module_names(critic.model) for p in critic.model.get_submodule(name).parameters() if p.requires_grad]
                for parameter in frozen:
                    parameter.requires_grad_(False)
            model = accelerator.prepare_model(critic.model)
            # After prepare: under FSDP the parameters are views into its flat shards (use_orig_params); under DDP the same.
            parameters = [p for p in model.parameters() if p.requires_grad]
            before = warmup
            for index, (stage, plan) in enumerate(zip(stages, plans)):
                if saved is not None and index < saved["stage_index"]:
                    before += len(plan)
                    continue
                start = saved["stage_step"] if saved is not None and index == saved["stage_index"] else 0
                _train_stage(
                    critic, model, accelerator, stage, plan, parameters, trainable, start=start, before=before,
                    saved=saved if start else None, image_loader=image_loader, report=report, losses=losses,
                    warmup_losses=warmup_losses, checkpoint_dir=checkpoint_dir, on_stage=on_stage if main else None,
                    index=index, count=len(stages), cancel_now=cancel_now,
                )
                before += len(plan)
            # FSDP: the whole state, gathered from every process's shard onto process 0 (all take part).
            gathered = accelerator.get_state_dict(model) if sharded else None
            if gathered is not None:  # saved in the dtype the weights had before training, as the DDP path does
                gathered = {name: value.to(upcast[name]) if name in upcast else value for name, value in gathered.items()}
        finally:
            if model is not None:
                accelerator.unwrap_model(model, keep_fp32_wrapper=False)  # the forward is the model's own again
            for parameter in frozen:
                parameter.requires_grad_(True)
            if not sharded:  # an FSDP process ends with its run; its parameters are shards, not the model's
                parameters = dict(critic.model.named_parameters())
                for name, dtype in upcast.items():
                    parameters[name].data = parameters[name].data.to(dtype)
            critic.model.eval()
    seconds = time.perf_counter() - started
    if main:
        save_adapter(critic, output_dir, state_dict=gathered)
    accelerator.wait_for_everyone()
    digest, files = artifact_sha256(output_dir)
    metrics = heldout_metrics(critic, heldout[0], heldout[1]) if heldout is not None and main else None
    return TrainingResult(
        steps=total - warmup, losses=losses, artifact_dir=Path(output_dir), files=files, sha256=digest, heldout=metrics,
        warmup_losses=warmup_losses, seconds=seconds, processes=world, global_batch_size=global_batch,
        resumed_from_step=resumed_from, stages=[{"name": s.name, "steps": len(p)} for s, p in zip(stages, plans)],
    )


def _train_stage(
    critic, model, accelerator, stage, plan, parameters, trainable, *, start, before, saved, image_loader, report, losses,
    warmup_losses, checkpoint_dir, on_stage, index, count, cancel_now,
) -> None:
    """One stage's optimiser steps ``start`` .. ``len(plan)``, with its own AdamW and schedule."""
    from contextlib import nullcontext

    config = stage.config
    accumulation = config.gradient_accumulation_steps
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, len(plan)))
    optimizer = accelerator.prepare_optimizer(optimizer)
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
    if on_stage is not None:
        on_stage(index + 1, count, stage.name, len(plan), before)
    micro = process_micro_batches(
        plan, batch_size=config.batch_size, accumulation=accumulation, world_size=accelerator.num_processes, rank=accelerator.process_index,
    )
    loader = iter(micro_batch_loader(MicroBatches(critic, stage.conversations, micro, image_loader), start=start * accumulation, num_workers=config.num_workers))
    for step in range(start, len(plan)):
        if cancel_now():
            raise TrainingCancelled(f"cancelled before step {before + step + 1}")
        step_loss = 0.0
        for a in range(accumulation):
            batch = next(loader).to(accelerator.device)
            for key in ("pixel_values", "pixel_values_videos"):
                if key in batch:
                    batch[key] = batch[key].to(critic.dtype)
            with accelerator.no_sync(model) if a < accumulation - 1 else nullcontext(), accelerator.autocast():
                loss = answer_loss(critic, batch, config.scored_token_weight, model=model)
                accelerator.backward(loss / accumulation)
            step_loss += float(loss.detach()) / accumulation
        if config.max_grad_norm is not None:
            accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(mean_over_processes(accelerator, step_loss))
        done = step + 1
        if checkpoint_dir is not None and config.checkpoint_every and done % config.checkpoint_every == 0 and done < len(plan):
            if accelerator.is_main_process:
                checkpoint_save(
                    checkpoint_dir, model=critic.model, trainable_names=trainable, optimizer=optimizer, scheduler=scheduler,
                    position={"stage_index": index, "stage_step": done, "global_step": before + done, "losses": losses,
                              "warmup_losses": warmup_losses, "processes": accelerator.num_processes},
                )
            accelerator.wait_for_everyone()
        report(before + done, losses[-1], check=False)
