"""FSDP as a training strategy (distributed.strategy "fsdp", modeling.critic.core.distributed).

Accelerate applies its FSDP plugin to CUDA processes only (a CPU run with the plugin trains with DDP), so FSDP itself
cannot run on this machine: here, the setting is validated with its reasons, the wrap plan is checked on the tiny
critic (decoder layers and trainable leaves are FSDP units, frozen linears are not), and the adapter written from a
gathered state dict is the one written from the model. The run itself is the `gpu` test at the end.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling import conversations as conv
from modeling.critic.core.distributed import FSDP_NEEDS_CUDA, decoder_layer_classes, fsdp_plugin, training_accelerator
from modeling.critic.core.launch import TrainingJob, launch_command
from modeling.critic.core.loading import load_critic
from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings, save_adapter
from modeling.critic.core.synthetic import distorted_images
from modeling.critic.core.training import TrainingConfig, TrainingStage
from modeling.critic.data import CriticDataError
from modeling.critic.training_job import training_strategy

REPO_ROOT = Path(__file__).resolve().parents[4]
LORA = CriticTrainingSettings(r=4, alpha=8, dropout=0.0)
STAGES = [TrainingStage("train", conv.scoring_conversations([conv.ScoredImage("a", 1.0), conv.ScoredImage("b", 5.0)], rng=np.random.default_rng(0)), TrainingConfig())]


def test_the_strategy_defaults_to_ddp_and_an_unknown_one_is_refused():
    assert training_strategy({}, 1, STAGES) == "ddp"
    assert training_strategy({"distributed": {"strategy": "DDP"}}, 4, STAGES) == "ddp"
    with pytest.raises(CriticDataError, match="must be one of ddp, fsdp, not 'zero3'"):
        training_strategy({"distributed": {"strategy": "zero3"}}, 2, STAGES)


def test_fsdp_is_refused_with_its_reason_where_it_cannot_run():
    with pytest.raises(CriticDataError, match="2 or more GPU processes"):
        training_strategy({"distributed": {"strategy": "fsdp"}}, 1, STAGES)
    if torch.cuda.device_count() < 2:
        with pytest.raises(CriticDataError, match=f"CUDA processes only.*This worker sees {torch.cuda.device_count()} GPUs for 2 processes"):
            training_strategy({"distributed": {"strategy": "fsdp"}}, 2, STAGES)
    with pytest.raises(ValueError, match="FSDP shards the model over CUDA processes only") as error:
        training_accelerator(device=torch.device("cpu"), strategy="fsdp")
    assert str(error.value) == FSDP_NEEDS_CUDA


@pytest.mark.parametrize("family", ["qwen2_vl", "llava_onevision"])
def test_the_wrap_plan_shards_by_decoder_layer_and_keeps_trainable_leaves_apart(tiny_dirs, family):
    critic = apply_training_settings(load_critic(tiny_dirs[family]), LORA)
    layers = decoder_layer_classes(critic.model)
    assert any(name.endswith("DecoderLayer") for name in layers), layers
    plugin = fsdp_plugin(critic.model)
    assert plugin.use_orig_params and plugin.fsdp_version == 1
    wrapped = [name for name, module in critic.model.named_modules() if plugin.auto_wrap_policy(module=module, recurse=False, nonwrapped_numel=0)]
    decoder = [name for name, module in critic.model.named_modules() if type(module).__name__.endswith("DecoderLayer")]
    trainable = [name for name, module in critic.model.named_modules()
                 if not list(module.children()) and getattr(module, "weight", None) is not None and module.weight.requires_grad]
    assert decoder and set(decoder) <= set(wrapped) and trainable and set(trainable) <= set(wrapped)
    frozen = [name for name, module in critic.model.named_modules()
              if isinstance(module, torch.nn.Linear) and not module.weight.requires_grad and name.endswith("base_layer")]
    assert frozen and not set(frozen) & set(wrapped)  # a frozen weight shares its layer's flat parameter


def test_an_adapter_saved_from_a_gathered_state_dict_is_the_one_saved_from_the_model(tiny_dirs, tmp_path):
    critic = apply_training_settings(load_critic(tiny_dirs["qwen2_vl"]), LORA)
    with torch.no_grad():
        for name, parameter in critic.model.named_parameters():
            if parameter.requires_grad:
                parameter.add_(0.01)
    direct = save_adapter(critic, tmp_path / "direct")
    gathered = save_adapter(critic, tmp_path / "gathered", state_dict={k: v.clone() for k, v in critic.model.state_dict().items()})
    assert [p.name for p in direct] == [p.name for p in gathered]
    assert [p.read_bytes() for p in direct] == [p.read_bytes() for p in gathered]


@pytest.mark.gpu
def test_fsdp_follows_ddp_on_the_gpus(tiny_dirs, tmp_path):
    """torchrun on min(2, GPUs) CUDA processes: FSDP's losses follow DDP's (bf16 tolerance) and it saves the same format."""
    rng = np.random.default_rng(0)
    images = distorted_images(sources=("coffee", "camera"), crops_per_source=1, rng=rng)
    loader = {im.key: im.image() for im in images}
    conversations = conv.scoring_conversations([conv.ScoredImage(im.key, im.quality) for im in images], rng=rng)
    processes = min(2, torch.cuda.device_count())
    config = TrainingConfig(max_steps=3, batch_size=2, learning_rate=1e-2, seed=5, mixed_precision="auto")  # bf16 on CUDA
    results = {}
    for strategy in ("ddp", "fsdp"):
        job = TrainingJob(
            base_dir=str(tiny_dirs["qwen2_vl"]), adapter=LORA, stages=[TrainingStage("train", conversations, config)], config=config,
            output_dir=str(tmp_path / strategy), image_loader=loader.__getitem__, result_path=str(tmp_path / f"{strategy}.json"),
            strategy=strategy,
        )
        (tmp_path / f"{strategy}.pkl").write_bytes(pickle.dumps(job))
        finished = subprocess.run(launch_command(tmp_path / f"{strategy}.pkl", processes=processes), cwd=REPO_ROOT,
                                  env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
        results[strategy] = json.loads((tmp_path / f"{strategy}.json").read_text())
    np.testing.assert_allclose(results["fsdp"]["losses"], results["ddp"]["losses"], atol=2e-2)  # bf16 weights on CUDA
    files = lambda folder: sorted(p.name for p in folder.iterdir())  # noqa: E731
    assert files(tmp_path / "fsdp") == files(tmp_path / "ddp")
    assert (tmp_path / "fsdp" / "adapter_config.json").read_text() == (tmp_path / "ddp" / "adapter_config.json").read_text()
    from safetensors.torch import load_file

    dtypes = {strategy: {name: t.dtype for name, t in load_file(tmp_path / strategy / "adapter_model.safetensors").items()} for strategy in ("ddp", "fsdp")}
    assert dtypes["fsdp"] == dtypes["ddp"]  # the gathered state is cast back as the DDP path casts its weights
