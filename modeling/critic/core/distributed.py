"""Accelerate around the training loop: the run's Accelerator, agreement between processes, and the launch command."""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from modeling.critic.core.model import Critic

__all__ = [
    "TrainingJob", "any_process", "job_run", "launch_command", "mean_over_processes", "trainable_in_fp32", "training_accelerator",
]


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


# ------------------------------------------------------------------------------ a job for several processes


@dataclass
class TrainingJob:
    """Everything one training process needs, pickled for the processes ``torchrun`` starts (see :func:`job_run`).

    ``image_loader`` must pickle (a module-level callable or an object with ``__call__``), as must the
    conversations. ``result_path``: where the main process writes the result's figures as JSON.
    """

    base_dir: str
    adapter: object  # CriticTrainingSettings
    stages: list  # of TrainingStage
    config: object  # TrainingConfig: precision and vision warm-up for the run
    output_dir: str
    image_loader: Callable
    checkpoint_dir: str | None = None
    gradient_checkpointing: bool = False
    quantization: str | None = None
    result_path: str | None = None


def job_run(job: TrainingJob, *, progress=None, on_stage=None, should_cancel=None):
    """Load the base on this process's device, apply the adapter settings, train the stages; returns the TrainingResult.

    The callbacks run on the main process only (:func:`modeling.critic.core.training.train_critic`).
    """
    from dataclasses import replace

    from modeling.critic.core.loading import load_critic
    from modeling.critic.core.lora import apply_training_settings
    from modeling.critic.core.training import train_critic

    first = job.config
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if torch.cuda.is_available() else torch.device("cpu")
    full = bool(getattr(job.adapter, "full_finetune", False))
    accelerator = training_accelerator(device=device, mixed_precision=first.mixed_precision, find_unused_parameters=full)
    critic = load_critic(job.base_dir, device=accelerator.device, gradient_checkpointing=job.gradient_checkpointing, quantization=job.quantization)
    adapter = job.adapter
    if adapter.vision_feature_layer is not None and not hasattr(critic.model.config, "vision_feature_layer"):
        adapter = replace(adapter, vision_feature_layer=None)  # families without one (Qwen2-VL)
    apply_training_settings(critic, adapter)
    result = train_critic(
        critic, output_dir=job.output_dir, config=first, stages=job.stages, image_loader=job.image_loader, progress=progress,
        on_stage=on_stage, should_cancel=should_cancel, checkpoint_dir=job.checkpoint_dir, accelerator=accelerator,
    )
    if accelerator.is_main_process and job.result_path:
        figures = {key: value for key, value in vars(result).items() if key not in ("artifact_dir", "heldout")}
        Path(job.result_path).write_text(json.dumps(figures))
    accelerator.wait_for_everyone()
    return result


def launch_command(job_path, *, processes: int, module: str = "modeling.critic.core.distributed", args=()) -> list[str]:
    """``torchrun`` (``python -m torch.distributed.run``) for ``processes`` processes on this host, running ``module``.

    Every process reads ``job_path``; Accelerate takes rank, world size and the rendezvous from torchrun's
    environment (gloo on CPU, NCCL on GPUs).
    """
    if processes < 1:
        raise ValueError("processes must be >= 1")
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        "-m", module, *map(str, args), str(job_path),
    ]


def main(argv: list[str]) -> None:
    """Entry point of one launched process: ``python -m modeling.critic.core.distributed JOB.pkl``."""
    with open(argv[-1], "rb") as handle:
        job = pickle.load(handle)
    job_run(job)


if __name__ == "__main__":
    main(sys.argv[1:])
