"""The critic's CUDA path (bf16 weights on the GPU): `pytest -m gpu`, skipped where there is no CUDA device.

No other test runs it: CI has no GPU. The GPU figures come from benchmarks/bench_critic_gpu.py.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling.critic.core.loading import load_critic
from modeling.critic.core.scoring import score_images

pytestmark = pytest.mark.gpu


def test_cuda_bf16_scores_match_cpu_float32_and_do_not_depend_on_the_batch(tiny_dirs, noise_images):
    """Loaded on CUDA the critic is bf16 by default; its level probabilities agree with the CPU float32 ones to bf16
    precision, batched (left-padded) or one image at a time."""
    cpu = load_critic(tiny_dirs["qwen2_vl"], device="cpu")
    cuda = load_critic(tiny_dirs["qwen2_vl"], device="cuda")
    assert cuda.dtype == torch.bfloat16 and next(cuda.model.parameters()).device.type == "cuda"
    reference = score_images(cpu, noise_images, batch_size=3)
    batched = score_images(cuda, noise_images, batch_size=3)
    single = score_images(cuda, noise_images, batch_size=1)
    np.testing.assert_allclose(batched.probabilities, reference.probabilities, atol=0.02)
    np.testing.assert_allclose(batched.probabilities, single.probabilities, atol=0.02)
    assert np.all(np.isfinite(batched.scores)) and batched.probabilities.shape == (len(noise_images), 5)
    assert torch.cuda.max_memory_allocated() > 0
