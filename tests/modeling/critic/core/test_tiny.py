"""Tests for the offline tiny critics."""

from __future__ import annotations

import json

import pytest
import torch

from modeling.critic.core.loading import load_critic
from modeling.critic.core.tiny import SINGLE_TOKEN_WORDS, TinyCriticConfig, build_tiny_tokenizer


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_tiny_checkpoint_is_small_and_complete(tiny_dirs, family):
    """A tiny critic is a few MB and has a downloaded checkpoint's files."""
    directory = tiny_dirs[family]
    names = {p.name for p in directory.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json",
            "processor_config.json", "chat_template.jinja"} <= names
    assert sum(p.stat().st_size for p in directory.iterdir()) < 5_000_000
    assert json.loads((directory / "config.json").read_text())["model_type"] == family


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_level_and_pair_words_are_single_tokens(family):
    """The five levels and first/second, with their leading space, are one token each."""
    tokenizer = build_tiny_tokenizer(family)
    for word in SINGLE_TOKEN_WORDS:
        assert len(tokenizer.encode(word, add_special_tokens=False)) == 1, word
    assert type(tokenizer).__name__ == "Qwen2Tokenizer"


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_tiny_reloads_with_identical_logits(tiny_dirs, noise_images, family):
    """Two loads of a saved tiny critic give bit-identical logits for the same input."""
    outputs = []
    for _ in range(2):
        critic = load_critic(tiny_dirs[family])
        messages = [{"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": "Rate."}]}]
        batch = critic.encode([critic.render(messages, add_generation_prompt=True)], [[noise_images[0]]])
        with torch.no_grad():
            outputs.append(critic.model(**batch).logits)
    assert torch.equal(outputs[0], outputs[1])


def test_same_seed_same_weights(tmp_path):
    """The seed fixes the random weights (and the global RNG is left alone)."""
    from modeling.critic.core.tiny import build_tiny_critic

    state = torch.random.get_rng_state()
    a = build_tiny_critic(tmp_path / "a", TinyCriticConfig(family="qwen2_vl", seed=3))
    b = build_tiny_critic(tmp_path / "b", TinyCriticConfig(family="qwen2_vl", seed=3))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


@pytest.mark.parametrize(
    "kwargs",
    [{"family": "gpt"}, {"image_size": 60}, {"vision_feature_layer": 0}, {"vision_feature_layer": -4}, {"text_heads": 3}],
)
def test_tiny_config_validation(kwargs):
    """Invalid tiny configurations are refused."""
    with pytest.raises(ValueError):
        TinyCriticConfig(**kwargs)
