"""Tests for the LoRA wrapper: what trains, what stays frozen, saving and loading."""

from __future__ import annotations

import re

import numpy as np
import pytest

from modeling.critic.core.loading import load_critic
from modeling.critic.core.lora import (
    CriticTrainingSettings,
    apply_training_settings,
    language_attention_pattern,
    load_adapter,
    save_adapter,
)


def test_pattern_matches_language_attention_only():
    """The target regex takes the LM's q/k/v/o and never SigLIP's or Qwen2-VL's vision attention."""
    pattern = re.compile(language_attention_pattern())
    assert pattern.fullmatch("model.language_model.layers.0.self_attn.q_proj")
    assert pattern.fullmatch("base_model.model.model.language_model.layers.11.self_attn.o_proj")
    assert not pattern.fullmatch("model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj")
    assert not pattern.fullmatch("model.vision_tower.encoder.layers.0.self_attn.k_proj")
    assert not pattern.fullmatch("model.visual.blocks.0.attn.qkv")
    assert not pattern.fullmatch("model.language_model.layers.0.mlp.up_proj")


@pytest.mark.parametrize("family, projector", [("llava_onevision", "multi_modal_projector"), ("qwen2_vl", "merger")])
def test_lora_defaults(tiny_dirs, family, projector):
    """Default settings (paper 000 Table 8): LoRA on LM attention, projector trainable, vision frozen."""
    critic = apply_training_settings(load_critic(tiny_dirs[family]))
    trainable = [name for name, p in critic.model.named_parameters() if p.requires_grad]
    lora = [n for n in trainable if "lora_" in n]
    assert lora and all("language_model" in n and "self_attn" in n for n in lora)
    assert any(projector in n for n in trainable)
    assert not any(("vision_tower" in n or ".visual.blocks" in n) for n in trainable)
    config = critic.model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.1)


def test_full_finetune_trains_everything(tiny_dirs):
    """The tiny settings train every parameter, vision tower included, with an early vision layer."""
    critic = apply_training_settings(load_critic(tiny_dirs["llava_onevision"]), CriticTrainingSettings.tiny())
    assert all(p.requires_grad for p in critic.model.parameters())
    assert critic.model.config.vision_feature_layer == -2


def test_vision_trainable_with_lora(tiny_dirs):
    """train_vision puts the vision tower into the adapter's trainable modules."""
    settings = CriticTrainingSettings(train_vision=True)
    critic = apply_training_settings(load_critic(tiny_dirs["llava_onevision"]), settings)
    assert any("vision_tower" in n and p.requires_grad for n, p in critic.model.named_parameters())


@pytest.mark.parametrize(
    "kwargs", [{"r": 0}, {"alpha": 0}, {"dropout": 1.0}, {"vision_feature_layer": 0}, {"projections": ()}]
)
def test_settings_validation(kwargs):
    """Invalid settings are refused; vision_feature_layer 0 in particular."""
    with pytest.raises(ValueError):
        CriticTrainingSettings(**kwargs)


def test_vision_feature_layer_out_of_range(tiny_dirs):
    """A layer index deeper than the tower is refused."""
    with pytest.raises(ValueError):
        apply_training_settings(load_critic(tiny_dirs["llava_onevision"]), CriticTrainingSettings(vision_feature_layer=-9))


def test_adapter_round_trip(tiny_dirs, noise_images, tmp_path):
    """An adapter with changed weights saves and loads back to the same scores."""
    import torch

    from modeling.critic.core.scoring import score_images

    critic = apply_training_settings(load_critic(tiny_dirs["qwen2_vl"]))
    with torch.no_grad():
        for name, parameter in critic.model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    expected = score_images(critic, noise_images).scores
    files = save_adapter(critic, tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "critic_settings.json"} <= {f.name for f in files}
    reloaded = load_adapter(load_critic(tiny_dirs["qwen2_vl"]), tmp_path / "adapter")
    np.testing.assert_allclose(score_images(reloaded, noise_images).scores, expected, rtol=0, atol=1e-9)
    assert reloaded.training_settings == critic.training_settings


def test_load_adapter_needs_an_artifact(tiny_dirs, tmp_path):
    """An empty directory is not an adapter."""
    with pytest.raises(FileNotFoundError):
        load_adapter(load_critic(tiny_dirs["qwen2_vl"]), tmp_path)
