"""Tiny, randomly initialised image-text-to-text checkpoints built offline (tests, demo, benchmarks).

A tiny critic has the architecture of a real family (LLaVA-OneVision with a SigLIP
vision tower, or Qwen2-VL) at a few MB, a byte-level BPE tokenizer trained in code on
the critic's own phrases, the family's PIL image processor and a ChatML chat template.
:func:`build_tiny_critic` writes it to a directory in the same layout as a
downloaded checkpoint, so :func:`modeling.critic.core.loading.load_critic` opens both
through one code path. Nothing is downloaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["DEMO_TINY_CRITIC", "TINY_FAMILIES", "TinyCriticConfig", "build_tiny_critic", "build_tiny_tokenizer"]

TINY_FAMILIES = ("llava_onevision", "qwen2_vl")

# Words the scorer reads as single tokens (with their leading space, as in the answers).
SINGLE_TOKEN_WORDS = (" bad", " poor", " fair", " good", " excellent", " first", " second")

_CHATML_SPECIALS = ("<|im_start|>", "<|im_end|>")
_FAMILY_SPECIALS = {
    "llava_onevision": ("<image>", "<video>"),
    "qwen2_vl": ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"),
}
_IMAGE_PLACEHOLDER = {
    "llava_onevision": "<image>",
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
}

# A ChatML template like the families' own; image segments become the family's placeholder.
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}PLACEHOLDER"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A little general English so that free text tokenises into sensible pieces.
_GENERAL_TEXT = (
    "The image is sharp and well exposed, with vivid colors and fine detail. "
    "The photo looks blurry and noisy; the edges are soft and the texture is lost. "
    "Brightness is low, the shadows are dark and the contrast is weak. "
    "Image A is clearer than Image B, which shows heavy noise and compression artifacts. "
    "Overall, the quality of this picture is acceptable but not outstanding. "
    "Yes, this image is AI-generated. No, this image is a real photograph. "
    "Answer with one word. The reference image is clean."
)


@dataclass(frozen=True)
class TinyCriticConfig:
    """Size and layout of a tiny critic.

    Attributes
    ----------
    family : str
        ``"llava_onevision"`` or ``"qwen2_vl"``.
    image_size : int
        Side of the square input the image processor produces (pixels); blur and
        noise stay visible at 64-96.
    patch_size : int
        Vision patch side; ``image_size`` must be a multiple (of ``2 * patch_size``
        for Qwen2-VL, whose merger joins 2x2 patches).
    vision_hidden_size, vision_layers, vision_heads : int
        The vision tower.
    text_hidden_size, text_layers, text_heads, text_kv_heads, text_intermediate_size : int
        The language model.
    vocab_size : int
        BPE vocabulary before special tokens.
    vision_feature_layer : int
        LLaVA-OneVision only: the (negative) vision hidden-state index fed to the
        projector; ``-1`` is the last layer, ``-(vision_layers + 1)`` the patch embeddings.
    seed : int
        Seed of the random weights.
    """

    family: str = "llava_onevision"
    image_size: int = 64
    patch_size: int = 8
    vision_hidden_size: int = 32
    vision_layers: int = 2
    vision_heads: int = 2
    text_hidden_size: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate_size: int = 128
    vocab_size: int = 700
    vision_feature_layer: int = -1
    seed: int = 0

    def __post_init__(self):
        if self.family not in TINY_FAMILIES:
            raise ValueError(f"family must be one of {TINY_FAMILIES}")
        for name in (
            "image_size", "patch_size", "vision_hidden_size", "vision_layers", "vision_heads",
            "text_hidden_size", "text_layers", "text_heads", "text_kv_heads",
            "text_intermediate_size", "vocab_size",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        step = self.patch_size * (2 if self.family == "qwen2_vl" else 1)
        if self.image_size % step:
            raise ValueError(f"image_size must be a multiple of {step}")
        if self.vision_hidden_size % self.vision_heads or self.text_hidden_size % self.text_heads:
            raise ValueError("hidden sizes must be multiples of their head counts")
        if self.text_heads % self.text_kv_heads:
            raise ValueError("text_heads must be a multiple of text_kv_heads")
        if self.family == "qwen2_vl" and (self.text_hidden_size // self.text_heads) % 4:
            raise ValueError("qwen2_vl needs a text head size that is a multiple of 4 (M-RoPE)")
        if not -(self.vision_layers + 1) <= self.vision_feature_layer <= -1:
            raise ValueError("vision_feature_layer must be a negative index into the vision hidden states")


#: The tiny base a Retrain trains from when no checkpoint is configured (``critic_init``, the demo): the
#: demo's photographs at their own 384 px through 48 px patches, the same 64 tokens a tile as the 64 px
#: defaults (the language model's cost is unchanged). A 64 px input averages away the mild blur, noise and
#: JPEG that most demo images carry; at 384 px the vision tower sees them. docs/benchmarks.md, "The demo's
#: critic at the photographs' own size".
DEMO_TINY_CRITIC = TinyCriticConfig(image_size=384, patch_size=48)


def _tokenizer_corpus() -> list[str]:
    """Sentences the tiny tokenizer is trained on: every question and answer form, and the level words."""
    from modeling import conversations as conv

    lines = [_GENERAL_TEXT]
    for pool in conv.QUESTION_POOLS.values():
        lines += list(pool)
    lines += list(conv.SHORT_ANSWER_HINTS.values())
    lines += [conv.TASK_QUANTITATIVE, conv.TASK_DESCRIPTION, conv.TASK_AUTHENTICITY, conv.SCORING_SYSTEM_PROMPT]
    lines += [f"<{tag}></{tag}>" for tag in (conv.TAG_REFERENCE, conv.TAG_A, conv.TAG_B)]
    lines += [conv.score_answer(level) for level in conv.LEVELS]
    lines += [conv.pair_answer(True), conv.pair_answer(False)]
    # Repeat the scored words so that BPE merges each into one token.
    return lines * 3 + ["".join(SINGLE_TOKEN_WORDS)] * 200


def build_tiny_tokenizer(family: str = "llava_onevision", vocab_size: int = 700):
    """A byte-level BPE trained on the critic's phrases, wrapped in ``Qwen2Tokenizer``.

    Both tiny families use the Qwen2 tokenizer class, as their real checkpoints do.
    The ChatML and the family's image/video tokens are added as special tokens.

    Raises
    ------
    RuntimeError
        A word of :data:`SINGLE_TOKEN_WORDS` did not become a single token
        (``vocab_size`` too small).
    """
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    if family not in TINY_FAMILIES:
        raise ValueError(f"family must be one of {TINY_FAMILIES}")
    bpe = Tokenizer(BPE(unk_token=None, continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_tokenizer_corpus(), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=merges)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": list(_CHATML_SPECIALS + _FAMILY_SPECIALS[family])}
    )
    tokenizer.chat_template = _CHAT_TEMPLATE.replace("PLACEHOLDER", _IMAGE_PLACEHOLDER[family])
    for word in SINGLE_TOKEN_WORDS:
        if len(tokenizer.encode(word, add_special_tokens=False)) != 1:
            raise RuntimeError(f"{word!r} is not a single token; raise vocab_size")
    return tokenizer


def _llava_onevision(config: TinyCriticConfig, tokenizer):
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessorPil,
        Qwen2Config,
        SiglipVisionConfig,
    )

    vision = SiglipVisionConfig(
        hidden_size=config.vision_hidden_size,
        intermediate_size=2 * config.vision_hidden_size,
        num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads,
        image_size=config.image_size,
        patch_size=config.patch_size,
    )
    text = Qwen2Config(**_text_kwargs(config, tokenizer))
    side = config.image_size
    model_config = LlavaOnevisionConfig(
        vision_config=vision.to_dict(),
        text_config=text.to_dict(),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_layer=config.vision_feature_layer,
        vision_feature_select_strategy="full",
        image_grid_pinpoints=[[side, side]],
        tie_word_embeddings=False,
    )
    model = LlavaOnevisionForConditionalGeneration(model_config)
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": side, "width": side},
        image_grid_pinpoints=[[side, side]],
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor_config = {
        "processor_class": "LlavaOnevisionProcessor",
        "image_token": "<image>",
        "video_token": "<video>",
        "num_image_tokens": (side // config.patch_size) ** 2,
        "vision_feature_select_strategy": "full",
        "vision_aspect_ratio": "anyres_max_9",
    }
    return model, image_processor, processor_config


def _qwen2_vl(config: TinyCriticConfig, tokenizer):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

    head_dim = config.text_hidden_size // config.text_heads
    quarter = head_dim // 4
    text = _text_kwargs(config, tokenizer)
    # M-RoPE splits the rotary half-dimension between time, height and width.
    text["rope_parameters"] = {
        "rope_type": "default",
        "rope_theta": 10000.0,
        "mrope_section": [head_dim // 2 - 2 * quarter, quarter, quarter],
    }
    vision = {
        "depth": config.vision_layers,
        "embed_dim": config.vision_hidden_size,
        "hidden_size": config.text_hidden_size,
        "num_heads": config.vision_heads,
        "mlp_ratio": 2,
        "patch_size": config.patch_size,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    ids = tokenizer.convert_tokens_to_ids
    model_config = Qwen2VLConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    model = Qwen2VLForConditionalGeneration(model_config)
    pixels = config.image_size * config.image_size
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=pixels,
        max_pixels=pixels,
        patch_size=config.patch_size,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return model, image_processor, {"processor_class": "Qwen2VLProcessor"}


def _text_kwargs(config: TinyCriticConfig, tokenizer) -> dict:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": config.text_hidden_size,
        "intermediate_size": config.text_intermediate_size,
        "num_hidden_layers": config.text_layers,
        "num_attention_heads": config.text_heads,
        "num_key_value_heads": config.text_kv_heads,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "bos_token_id": None,
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.pad_token_id,
    }


def build_tiny_critic(directory, config: TinyCriticConfig = TinyCriticConfig()) -> Path:
    """Build a tiny random critic and save it like a downloaded checkpoint.

    Writes ``config.json``, ``model.safetensors``, ``generation_config.json``, the
    tokenizer files, ``preprocessor_config.json`` (the PIL image processor),
    ``processor_config.json``, ``chat_template.jinja`` and ``tiny_critic.json`` (the
    :class:`TinyCriticConfig` used).

    Parameters
    ----------
    directory : path-like
        Created if missing; existing files of the same names are overwritten.
    config : TinyCriticConfig

    Returns
    -------
    Path
        The directory.
    """
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(config.family, config.vocab_size)
    # Random weights from a private generator: the global RNG is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        builder = _llava_onevision if config.family == "llava_onevision" else _qwen2_vl
        model, image_processor, processor_config = builder(config, tokenizer)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    image_processor.save_pretrained(directory)
    (directory / "processor_config.json").write_text(json.dumps(processor_config, indent=2) + "\n")
    (directory / "chat_template.jinja").write_text(tokenizer.chat_template)
    (directory / "tiny_critic.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    return directory
