"""The vision warm-up of a tiny random critic: its vision tower learns the scoring levels before the language model."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from modeling.conversations import Conversation
from modeling.critic.core.model import Critic

__all__ = ["VISION_WARMUP_BATCH", "pooled_image_features", "scored_image_levels", "vision_parameters", "vision_warmup"]


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


def pooled_image_features(critic: Critic, images: Sequence) -> torch.Tensor:
    """Each image's projector output averaged over its tokens: [n_images, text hidden size].

    Through the family's own ``get_image_features`` (LLaVA-OneVision and Qwen2-VL both return one
    tensor of tokens per image), so the features are exactly what the language model receives.
    """
    from peft import PeftModel

    model = critic.model.get_base_model() if isinstance(critic.model, PeftModel) else critic.model
    placeholder = critic.render([{"role": "user", "content": [{"type": "image", "index": 0}]}])
    batch = critic.encode([placeholder] * len(images), [[image] for image in images])
    inputs = {key: batch[key] for key in ("pixel_values", "image_sizes", "image_grid_thw") if key in batch}
    output = model.model.get_image_features(**inputs)
    per_image = getattr(output, "pooler_output", output)
    return torch.stack([tokens.reshape(-1, tokens.shape[-1]).mean(dim=0) for tokens in per_image])


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
    hidden = pooled_image_features(critic, [image_loader(labelled[0][0])]).shape[-1]
    head = torch.nn.Linear(hidden, 1).to(device=critic.device, dtype=critic.dtype)
    optimizer = torch.optim.AdamW([*parameters, *head.parameters()], lr=config.learning_rate)
    losses = []
    for step in range(1, config.vision_warmup_steps + 1):
        chosen = [labelled[i] for i in rng.integers(0, len(labelled), VISION_WARMUP_BATCH)]
        features = pooled_image_features(critic, [image_loader(key) for key, _ in chosen])
        targets = torch.tensor([level for _, level in chosen], dtype=features.dtype, device=features.device)
        loss = torch.nn.functional.mse_loss(head(features).squeeze(-1), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    return losses
