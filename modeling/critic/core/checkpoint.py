"""A training run's checkpoint: trainable weights, optimiser, scheduler, RNG and data position, written atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

__all__ = ["STATE_FILE", "WEIGHTS_FILE", "checkpoint_exists", "checkpoint_load", "checkpoint_save"]

STATE_FILE = "training_state.pt"
WEIGHTS_FILE = "trainable.safetensors"


def checkpoint_exists(directory) -> bool:
    """True when ``directory`` holds a complete checkpoint (both files; a half-written one never does)."""
    directory = Path(directory)
    return (directory / STATE_FILE).is_file() and (directory / WEIGHTS_FILE).is_file()


def checkpoint_save(directory, *, model: torch.nn.Module, trainable_names, optimizer, scheduler, position: dict) -> None:
    """Write the trainable parameters and the loop's state, replacing the previous checkpoint in one rename.

    ``position`` holds the data position and bookkeeping (stage index, steps done in the stage, global step,
    losses so far, world size, global batch size); the RNG state of torch (CPU and CUDA) is added here.
    The new checkpoint is written beside the old one and renamed into place, so a kill mid-write leaves the
    old one whole.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    staging = directory.with_name(directory.name + ".partial")
    retired = directory.with_name(directory.name + ".old")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    parameters = dict(model.named_parameters())
    save_file({name: parameters[name].detach().cpu().contiguous() for name in trainable_names}, str(staging / WEIGHTS_FILE))
    state = {
        **position,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    torch.save(state, staging / STATE_FILE)
    shutil.rmtree(retired, ignore_errors=True)
    if directory.exists():
        directory.rename(retired)
    staging.rename(directory)
    shutil.rmtree(retired, ignore_errors=True)


def checkpoint_load(directory, *, device="cpu") -> dict | None:
    """The saved state (with ``weights``: name -> tensor), or None when there is no complete checkpoint."""
    from safetensors.torch import load_file

    directory = Path(directory)
    if not checkpoint_exists(directory):
        retired = directory.with_name(directory.name + ".old")  # killed between the two renames
        if not checkpoint_exists(retired):
            return None
        directory = retired
    state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=False)
    state["weights"] = load_file(str(directory / WEIGHTS_FILE), device=str(device))
    return state
