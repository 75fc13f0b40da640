"""Tests for loading critics from local directories through one code path."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from modeling.critic.core.loading import (
    LEVEL_WORDS,
    default_device_and_dtype,
    load_critic,
    load_processor,
    single_token_ids,
)


def _legacy_layout(source, target, family):
    """Rewrite a tiny checkpoint the way hub checkpoints of the family are laid out."""
    shutil.copytree(source, target)
    template = (target / "chat_template.jinja").read_text()
    (target / "chat_template.jinja").unlink()
    (target / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    processor_class = "LlavaOnevisionProcessor" if family == "llava_onevision" else "Qwen2VLProcessor"
    pre = json.loads((target / "preprocessor_config.json").read_text())
    pre["processor_class"] = processor_class
    (target / "preprocessor_config.json").write_text(json.dumps(pre))
    video_class = "LlavaOnevisionVideoProcessor" if family == "llava_onevision" else "Qwen2VLVideoProcessor"
    (target / "video_preprocessor_config.json").write_text(
        json.dumps({"video_processor_type": video_class, "processor_class": processor_class})
    )
    if family == "qwen2_vl":
        (target / "processor_config.json").unlink()
    return target


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_hub_layout_loads_without_video_processor(tiny_dirs, tmp_path, family):
    """A checkpoint laid out like the hub's (legacy chat_template.json, video config) loads image-only."""
    directory = _legacy_layout(tiny_dirs[family], tmp_path / family, family)
    processor = load_processor(directory)
    assert not hasattr(processor, "video_processor") or processor.video_processor is None
    assert processor.chat_template
    critic = load_critic(directory)
    assert critic.model_type == family
    assert len(set(critic.level_token_ids)) == 5


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_batched_left_padded_scoring_matches_single(tiny_dirs, noise_images, family):
    """Left padding keeps each row's last position its own: batched logits equal single-row logits."""
    critic = load_critic(tiny_dirs[family])
    assert critic.tokenizer.padding_side == "left"
    short = [{"role": "user", "content": [{"type": "image", "index": 0}, {"type": "text", "text": "Rate."}]}]
    long = [{"role": "user", "content": [{"type": "image", "index": 0},
                                         {"type": "text", "text": "Please describe the quality of this image in detail."}]}]
    texts = [critic.render(short, add_generation_prompt=True), critic.render(long, add_generation_prompt=True)]
    with torch.no_grad():
        both = critic.model(**critic.encode(texts, [[noise_images[0]], [noise_images[1]]])).logits[:, -1]
        alone = critic.model(**critic.encode(texts[:1], [[noise_images[0]]])).logits[:, -1]
    torch.testing.assert_close(both[0], alone[0], rtol=1e-4, atol=1e-5)


def test_render_keeps_tags_around_images(tiny_dirs):
    """Image segments become the family placeholder in place, between the unique tags."""
    critic = load_critic(tiny_dirs["qwen2_vl"])
    messages = [{"role": "user", "content": [{"type": "text", "text": "<Img-A>"}, {"type": "image", "index": 0},
                                             {"type": "text", "text": "</Img-A>"}]}]
    text = critic.render(messages)
    assert "<Img-A><|vision_start|><|image_pad|><|vision_end|></Img-A>" in text


def test_cpu_defaults_to_float32():
    """CPU loads in float32; CUDA in bfloat16."""
    assert default_device_and_dtype("cpu") == (torch.device("cpu"), torch.float32)
    assert default_device_and_dtype("cuda")[1] == torch.bfloat16


def test_level_tokens_must_be_distinct(tiny_dirs):
    """Words whose first sub-tokens coincide are refused at load time."""
    critic = load_critic(tiny_dirs["qwen2_vl"])
    assert single_token_ids(critic.tokenizer, LEVEL_WORDS) == critic.level_token_ids
    with pytest.raises(ValueError):
        single_token_ids(critic.tokenizer, (" good", " good"))


def test_missing_directory_is_an_error(tmp_path):
    """A directory without config.json is refused before anything is loaded."""
    with pytest.raises(FileNotFoundError):
        load_critic(tmp_path)


def test_gradient_checkpointing_option(tiny_dirs):
    """gradient_checkpointing=True switches checkpointing on and the cache off."""
    critic = load_critic(tiny_dirs["qwen2_vl"], gradient_checkpointing=True)
    assert critic.model.is_activation_checkpointing
    assert critic.model.config.use_cache is False
