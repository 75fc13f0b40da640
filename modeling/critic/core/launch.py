"""A training job for several processes: pickled, started by torchrun on this host, trained by each process.

``python -m modeling.critic.core.launch JOB.pkl`` is what :func:`launch_command` runs in every process.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from modeling.critic.core.distributed import training_accelerator
from modeling.critic.core.loading import load_critic
from modeling.critic.core.lora import apply_training_settings
from modeling.critic.core.training import train_critic

__all__ = ["TrainingJob", "job_run", "launch_command"]

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
    strategy: str = "ddp"  # or "fsdp" (modeling.critic.core.distributed.STRATEGIES)


def job_run(job: TrainingJob, *, progress=None, on_stage=None, should_cancel=None):
    """Load the base on this process's device, apply the adapter settings, train the stages; returns the TrainingResult.

    The callbacks run on the main process only (:func:`modeling.critic.core.training.train_critic`).
    """
    from dataclasses import replace

    first = job.config
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if torch.cuda.is_available() else torch.device("cpu")
    full = bool(getattr(job.adapter, "full_finetune", False))
    if job.strategy == "fsdp":  # the plugin wraps the decoder layers of the model, loaded first
        critic = load_critic(job.base_dir, device=device, gradient_checkpointing=job.gradient_checkpointing, quantization=job.quantization)
    else:
        accelerator = training_accelerator(device=device, mixed_precision=first.mixed_precision, find_unused_parameters=full)
        critic = load_critic(job.base_dir, device=accelerator.device, gradient_checkpointing=job.gradient_checkpointing, quantization=job.quantization)
    adapter = job.adapter
    if adapter.vision_feature_layer is not None and not hasattr(critic.model.config, "vision_feature_layer"):
        adapter = replace(adapter, vision_feature_layer=None)  # families without one (Qwen2-VL)
    apply_training_settings(critic, adapter)
    if job.strategy == "fsdp":
        accelerator = training_accelerator(
            device=device, mixed_precision=first.mixed_precision, find_unused_parameters=full, strategy="fsdp", model=critic.model,
        )
    result = train_critic(
        critic, output_dir=job.output_dir, config=first, stages=job.stages, image_loader=job.image_loader, progress=progress,
        on_stage=on_stage, should_cancel=should_cancel, checkpoint_dir=job.checkpoint_dir, accelerator=accelerator,
    )
    if accelerator.is_main_process and job.result_path:
        figures = {key: value for key, value in vars(result).items() if key not in ("artifact_dir", "heldout")}
        Path(job.result_path).write_text(json.dumps(figures))
    accelerator.wait_for_everyone()
    return result


def launch_command(job_path, *, processes: int, module: str = "modeling.critic.core.launch", args=()) -> list[str]:
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
    """Entry point of one launched process: ``python -m modeling.critic.core.launch JOB.pkl``."""
    with open(argv[-1], "rb") as handle:
        job = pickle.load(handle)
    job_run(job)


if __name__ == "__main__":
    main(sys.argv[1:])
