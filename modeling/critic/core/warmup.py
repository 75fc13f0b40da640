"""The vision warm-up of a tiny random critic: its vision tower learns the scoring levels before the language model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from modeling.conversations import Conversation
from modeling.critic.core.model import Critic

__all__ = [
    "VISION_WARMUP_BATCH", "VISION_WARMUP_CACHE_BYTES", "ImageInputCache", "image_inputs", "pooled_image_features", "scored_image_levels",
    "vision_parameters", "vision_warmup",
]


VISION_WARMUP_BATCH = 16


def scored_image_levels(conversations: Sequence[Conversation]) -> list[tuple[str, int]]:
    """``(image key, level index 0-4)`` of every scoring conversation (its answer names one level)."""
    from modeling.conversations import LEVELS

    out = []
    for conversation in conversations:
        if conversation.task != "scoring" or len(conversation.images) != 1:
            continue
        words = conversation.answer.rstrip(".").split()
        if words and words[-1] in LEVELS:
            out.append((conversation.images[0], LEVELS.index(words[-1])))
    return out


IMAGE_INPUT_KEYS = ("pixel_values", "image_sizes", "image_grid_thw")
#: The warm-up keeps the processor's output of as many images as fit in this many bytes (the demo's 384 px
#: base: about 3.5 MB an image, so its 216 images take 760 MB), so each image is resized and normalised
#: once, not at every step (the processor took twice the tower's time); images beyond it go through the
#: processor at every step.
VISION_WARMUP_CACHE_BYTES = 1 << 30


def image_inputs(critic: Critic, images: Sequence) -> dict[str, torch.Tensor]:
    """The processor's image tensors for ``images`` (one image a row), as ``get_image_features`` takes them."""
    placeholder = critic.render([{"role": "user", "content": [{"type": "image", "index": 0}]}])
    batch = critic.encode([placeholder] * len(images), [[image] for image in images])
    return {key: batch[key] for key in IMAGE_INPUT_KEYS if key in batch}


def pooled_image_features(critic: Critic, images: Sequence | None = None, *, inputs: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Each image's projector output averaged over its tokens: [n_images, text hidden size].

    Through the family's own ``get_image_features`` (LLaVA-OneVision and Qwen2-VL both return one
    tensor of tokens per image), so the features are exactly what the language model receives.
    ``inputs`` (from :func:`image_inputs`) skips the processor.
    """
    from peft import PeftModel

    model = critic.model.get_base_model() if isinstance(critic.model, PeftModel) else critic.model
    output = model.model.get_image_features(**(inputs if inputs is not None else image_inputs(critic, images)))
    per_image = getattr(output, "pooler_output", output)
    return torch.stack([tokens.reshape(-1, tokens.shape[-1]).mean(dim=0) for tokens in per_image])


class ImageInputCache:
    """Each image's processor output, made once: a batch is the rows of its images joined.

    Rows join along the first dimension for both families: LLaVA-OneVision's tiles are kept as a 4-D
    [tiles, 3, h, w] row (``get_image_features`` splits them again by ``image_sizes``, so images with
    different tile counts join too), Qwen2-VL's patches and grid rows as they are. The joined tensors
    are written into buffers reused from batch to batch (a 384 px batch is about 60 MB: a fresh one at
    every step spent more time on page faults than the tower on its convolution), so a batch's tensors
    are valid until the next call. A loader whose image changes from call to call (random crops: its
    ``random_crop`` is true) is never cached.
    """

    def __init__(self, critic: Critic, image_loader: Callable, limit_bytes: int = VISION_WARMUP_CACHE_BYTES):
        self.critic, self.image_loader = critic, image_loader
        self.room = 0 if getattr(image_loader, "random_crop", False) else limit_bytes
        self.rows: dict[str, dict[str, torch.Tensor]] = {}
        self.buffers: dict[str, torch.Tensor] = {}

    def row(self, key: str) -> dict[str, torch.Tensor]:
        row = self.rows.get(key)
        if row is None:
            row = image_inputs(self.critic, [self.image_loader(key)])
            if row["pixel_values"].dim() == 5:  # LLaVA-OneVision: [1, tiles, 3, h, w] -> its tiles
                row["pixel_values"] = row["pixel_values"][0]
            size = sum(tensor.nbytes for tensor in row.values())
            if size <= self.room:
                self.rows[key], self.room = row, self.room - size
        return row

    def batch(self, keys: Sequence[str]) -> dict[str, torch.Tensor]:
        rows = [self.row(key) for key in keys]
        joined = {}
        for name in rows[0]:
            parts = [row[name] for row in rows]
            shape = (sum(part.shape[0] for part in parts), *parts[0].shape[1:])
            buffer = self.buffers.get(name)
            if buffer is None or buffer.shape != shape or buffer.dtype != parts[0].dtype:
                buffer = self.buffers[name] = torch.empty(shape, dtype=parts[0].dtype, device=parts[0].device)
            joined[name] = torch.cat(parts, out=buffer)
        return joined


def vision_parameters(critic: Critic) -> list[torch.nn.Parameter]:
    from modeling.critic.core.lora import projector_module_names, vision_module_names

    names = vision_module_names(critic.model) + projector_module_names(critic.model)
    # Qwen2-VL's merger sits inside its vision tower: each parameter once.
    unique = {id(p): p for name in names for p in critic.model.get_submodule(name).parameters() if p.requires_grad}
    return list(unique.values())


def vision_warmup(
    critic: Critic,
    conversations: Sequence[Conversation],
    *,
    config,  # TrainingConfig: vision_warmup_steps and learning_rate
    image_loader: Callable,
    rng: np.random.Generator,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Teach a tiny random critic's vision tower and projector to see quality before its language model.

    A tiny random critic cannot learn blur and noise through its random language model: the fixed answer
    words are learnt first and the image's gradient is lost (docs/benchmarks.md, "Critic on the demo").
    So, for ``config.vision_warmup_steps`` steps, the trainable vision and projector parameters learn the
    scoring conversations' levels (0-4) from :func:`pooled_image_features` through a throw-away linear
    head, by mean squared error. Only the scoring labels of this run's training images are used; the head
    is not saved. Returns the loss of each step (empty when there is nothing to warm up).
    """
    labelled = scored_image_levels(conversations)
    parameters = vision_parameters(critic)
    if not labelled or not parameters or not config.vision_warmup_steps:
        return []
    images = ImageInputCache(critic, image_loader)
    head = torch.nn.Linear(critic.model.config.text_config.hidden_size, 1).to(device=critic.device, dtype=critic.dtype)
    optimizer = torch.optim.AdamW([*parameters, *head.parameters()], lr=config.learning_rate)
    losses = []
    for step in range(1, config.vision_warmup_steps + 1):
        chosen = [labelled[i] for i in rng.integers(0, len(labelled), VISION_WARMUP_BATCH)]
        features = pooled_image_features(critic, inputs=images.batch([key for key, _ in chosen]))
        targets = torch.tensor([level for _, level in chosen], dtype=features.dtype, device=features.device)
        loss = torch.nn.functional.mse_loss(head(features).squeeze(-1), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses
