"""Tiny critics built once per test session (offline, a few seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.critic.core.tiny import TinyCriticConfig, build_tiny_critic


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    """Tiny models run fastest on few threads, and the test machine is shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """family -> directory of a saved tiny critic."""
    root = tmp_path_factory.mktemp("tiny-critics")
    return {
        family: build_tiny_critic(root / family, TinyCriticConfig(family=family))
        for family in ("llava_onevision", "qwen2_vl")
    }


@pytest.fixture(scope="session")
def noise_images():
    """Six 64-px RGB test images with random content."""
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)) for _ in range(6)]
