"""The loaded critic: its model, processor and the answer tokens it reads (paper 001, eq. 1)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

# Paper 001, eq. 1 levels and the relativity answers, each with the leading space it
# has in the answer sentence (the first sub-token is read, as Q-Align does).
LEVEL_WORDS = (" bad", " poor", " fair", " good", " excellent")
PAIR_WORDS = (" first", " second")

# How one image appears in the text, for families whose placeholder is not the bare image token.
_IMAGE_PLACEHOLDERS = {
    "qwen2_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "qwen2_5_vl": "<|vision_start|><|image_pad|><|vision_end|>",
    "qwen3_vl": "<|vision_start|><|image_pad|><|vision_end|>",
}


@dataclass
class Critic:
    """A loaded vision-language model, its processor and the token ids the scorer reads.

    Attributes
    ----------
    model : torch.nn.Module
        An ``AutoModelForImageTextToText`` model, or a peft model wrapping one.
    processor : transformers.ProcessorMixin
        Image-only processor of the checkpoint's family, left padding.
    model_type : str
    device : torch.device
    dtype : torch.dtype
    level_token_ids : tuple of int, length 5
        First sub-tokens of :data:`LEVEL_WORDS`, bad to excellent.
    pair_token_ids : tuple of int, length 2
        First sub-tokens of :data:`PAIR_WORDS`.
    directory : Path
        Where the base model was loaded from.
    training_settings : CriticTrainingSettings or None
        Set by :func:`modeling.critic.core.lora.apply_training_settings` or ``load_adapter``.
    """

    model: torch.nn.Module
    processor: object
    model_type: str
    device: torch.device
    dtype: torch.dtype
    level_token_ids: tuple[int, ...]
    pair_token_ids: tuple[int, int]
    directory: Path
    training_settings: object | None = None

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @property
    def image_placeholder(self) -> str:
        """The text that stands for one image before the processor expands it."""
        return _IMAGE_PLACEHOLDERS.get(self.model_type, self.processor.image_token)

    def render(self, messages, *, add_generation_prompt: bool = False) -> str:
        """Chat-template text for messages in :mod:`modeling.conversations` format.

        Image segments become the family's placeholder in place, so text around them
        (the paper 002 unique tags) keeps its position whatever the template does
        with image segments.
        """
        flat = []
        for message in messages:
            content = message["content"]
            if isinstance(content, str):
                text = content
            else:
                text = "".join(
                    self.image_placeholder if seg["type"] == "image" else seg["text"] for seg in content
                )
            flat.append({"role": message["role"], "content": [{"type": "text", "text": text}]})
        return self.processor.apply_chat_template(
            flat, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def encode(self, texts, images):
        """Processor outputs on the model's device for a batch.

        Parameters
        ----------
        texts : list of str
            Rendered prompts, one per row.
        images : list of list of PIL.Image.Image
            The images of each row, in the order of their placeholders.
        """
        flat = [image for row in images for image in row]
        batch = self.processor(
            text=list(texts),
            images=[list(row) for row in images] if flat else None,
            return_tensors="pt",
            padding=True,
        )
        batch = batch.to(self.device)
        for key in ("pixel_values", "pixel_values_videos"):
            if key in batch:
                batch[key] = batch[key].to(self.dtype)
        return batch
