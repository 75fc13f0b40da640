"""Accelerate around the training loop: the run's Accelerator and agreement between its processes."""

from __future__ import annotations

import os

import torch

from modeling.critic.core.model import Critic

__all__ = [
    "STRATEGIES", "any_process", "decoder_layer_classes", "fsdp_plugin", "is_fsdp", "mean_over_processes", "trainable_in_fp32",
    "training_accelerator",
]

#: How the processes of a run share the model: "ddp" (a whole copy on each, gradients all-reduced) or "fsdp" (each
#: holds a shard of the weights, gathered layer by layer for its forward and backward).
STRATEGIES = ("ddp", "fsdp")
FSDP_NEEDS_CUDA = (
    "FSDP shards the model over CUDA processes only: Accelerate applies it to multi-GPU runs and would train a CPU run "
    "with DDP instead. Use distributed.strategy \"ddp\" here."
)


def decoder_layer_classes(model: torch.nn.Module) -> list[str]:
    """Class names of the language model's decoder layers (and the vision tower's), FSDP's wrapping units."""
    return sorted({type(module).__name__ for module in model.modules() if type(module).__name__.endswith(("DecoderLayer", "EncoderLayer"))})


def fsdp_plugin(model: torch.nn.Module):
    """Accelerate's FSDP (version 1) plugin for a LoRA critic: every decoder layer is its own FSDP unit, and so is every
    trainable leaf (the LoRA A/B linears, the projector), so that each flat parameter holds weights of one dtype and
    one ``requires_grad``; ``use_orig_params`` keeps the parameters' names for the optimiser and peft; the full state
    dict is gathered on process 0 for the adapter (:func:`modeling.critic.core.training.train_critic`).
    """
    import functools

    from accelerate import FullyShardedDataParallelPlugin
    from torch.distributed.fsdp.wrap import _or_policy, lambda_auto_wrap_policy, transformer_auto_wrap_policy

    names = set(decoder_layer_classes(model))
    layers = {type(module) for module in model.modules() if type(module).__name__ in names}
    if not layers:
        raise ValueError("FSDP: no decoder layers found to shard the model by (no module class ends in 'DecoderLayer')")

    def trainable_leaf(module) -> bool:
        return not list(module.children()) and getattr(module, "weight", None) is not None and module.weight.requires_grad

    policy = functools.partial(_or_policy, policies=[
        functools.partial(lambda_auto_wrap_policy, lambda_fn=trainable_leaf),
        functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=layers),
    ])
    return FullyShardedDataParallelPlugin(
        fsdp_version=1, auto_wrap_policy=policy, use_orig_params=True, state_dict_type="FULL_STATE_DICT",
        sync_module_states=False, cpu_ram_efficient_loading=False,
    )


def is_fsdp(accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def training_accelerator(
    *, device: torch.device, mixed_precision: str = "auto", find_unused_parameters: bool = False, strategy: str = "ddp", model=None,
):
    """The run's ``accelerate.Accelerator``: the processes ``torchrun``/``accelerate launch`` started, else this one alone.

    In a process that was not launched for distributed training, Accelerate's per-process state is reset first,
    so a long-lived worker can train one version after another with other settings. ``"auto"`` precision is
    bf16 on CUDA and none on the CPU. ``strategy="fsdp"`` shards ``model`` (the critic's, loaded on ``device``) with
    :func:`fsdp_plugin`; it needs CUDA (ValueError otherwise).
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState, GradientState

    if strategy not in STRATEGIES:
        raise ValueError(f"distributed.strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if strategy == "fsdp" and device.type != "cuda":
        raise ValueError(FSDP_NEEDS_CUDA)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    if mixed_precision == "auto":
        mixed_precision = "bf16" if device.type == "cuda" else "no"
    return Accelerator(
        mixed_precision=mixed_precision, cpu=device.type == "cpu",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)],
        fsdp_plugin=fsdp_plugin(model) if strategy == "fsdp" else None,
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
