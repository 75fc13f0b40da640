"""Accelerate around the training loop: the run's Accelerator and agreement between its processes."""

from __future__ import annotations

import os

import torch

from modeling.critic.core.model import Critic

__all__ = ["any_process", "mean_over_processes", "trainable_in_fp32", "training_accelerator"]


def training_accelerator(*, device: torch.device, mixed_precision: str = "auto", find_unused_parameters: bool = False):
    """The run's ``accelerate.Accelerator``: the processes ``torchrun``/``accelerate launch`` started, else this one alone.

    In a process that was not launched for distributed training, Accelerate's per-process state is reset first,
    so a long-lived worker can train one version after another with other settings. ``"auto"`` precision is
    bf16 on CUDA and none on the CPU.
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, GradientState

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    if mixed_precision == "auto":
        mixed_precision = "bf16" if device.type == "cuda" else "no"
    return Accelerator(
        mixed_precision=mixed_precision, cpu=device.type == "cpu",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
    )


def any_process(accelerator, flag: bool) -> bool:
    """True on every process when it is True on any (the main process reads cancel; all must stop together)."""
    if accelerator.num_processes == 1:
        return flag
    return bool(accelerator.reduce(torch.tensor([float(flag)], device=accelerator.device), "sum").item() > 0)


def mean_over_processes(accelerator, value: float) -> float:
    if accelerator.num_processes == 1:
        return value
    return float(accelerator.reduce(torch.tensor([value], device=accelerator.device), "mean").item())


def trainable_in_fp32(critic: Critic) -> dict:
    """Trainable parameters upcast to fp32 under bf16 autocast; returns name -> dtype to put back afterwards."""
    restore = {}
    for name, parameter in critic.model.named_parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            restore[name] = parameter.dtype
            parameter.data = parameter.data.float()
    return restore
