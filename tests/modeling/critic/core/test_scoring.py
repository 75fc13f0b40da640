"""Tests for level-probability scoring, pairwise preference and generation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling.critic.core.loading import load_critic
from modeling.critic.core.scoring import (
    generate_answers,
    level_expectation,
    pair_preference,
    pair_probabilities,
    score_images,
)


def test_level_expectation_matches_hand_computation():
    """Eqs. 4-5 of paper 001 on known logits, computed by hand."""
    logits = [[0.0, math.log(2.0), math.log(3.0), math.log(4.0), 0.0]]  # weights 1, 2, 3, 4, 1 of 11
    result = level_expectation(logits)
    p = np.array([1, 2, 3, 4, 1]) / 11
    expected_level = (1 * 1 + 2 * 2 + 3 * 3 + 4 * 4 + 5 * 1) / 11  # = 35/11
    variance = ((np.arange(1, 6) - expected_level) ** 2 * p).sum()
    np.testing.assert_allclose(result.probabilities[0], p, atol=1e-12)
    assert result.scores[0] == pytest.approx((35 / 11 - 1) * 25, abs=1e-9)  # 54.545...
    assert result.variances[0] == pytest.approx(variance * 625, abs=1e-9)


def test_level_expectation_extremes_and_shift_invariance():
    """A certain 'excellent' scores 100 with no spread; adding a constant to all logits changes nothing."""
    result = level_expectation([[-50, -50, -50, -50, 50], [3, 1, 1, 1, 1]])
    assert result.scores[0] == pytest.approx(100.0)
    assert result.variances[0] == pytest.approx(0.0, abs=1e-9)
    shifted = level_expectation([[103, 101, 101, 101, 101]])
    assert shifted.scores[0] == pytest.approx(result.scores[1])


def test_level_expectation_rejects_bad_shapes():
    """Only [n, 5] finite logits are accepted."""
    with pytest.raises(ValueError):
        level_expectation([[0.0, 1.0]])
    with pytest.raises(ValueError):
        level_expectation([[0, 0, 0, 0, float("nan")]])


def test_pair_preference_is_two_way_softmax():
    """P(first) = e^a / (e^a + e^b)."""
    np.testing.assert_allclose(pair_preference([[0.0, 0.0], [math.log(3), 0.0]]), [0.5, 0.75])


@pytest.mark.parametrize("family", ["llava_onevision", "qwen2_vl"])
def test_score_images_batched_equals_single(tiny_dirs, noise_images, family):
    """Scores do not depend on the batch size, lie in [0, 100] and come with a variance."""
    critic = load_critic(tiny_dirs[family])
    batched = score_images(critic, noise_images, batch_size=4)
    single = score_images(critic, noise_images, batch_size=1)
    np.testing.assert_allclose(batched.scores, single.scores, atol=1e-4)
    assert batched.scores.shape == (6,) and batched.probabilities.shape == (6, 5)
    assert np.all((batched.scores >= 0) & (batched.scores <= 100)) and np.all(batched.variances > 0)


def test_pair_probabilities_and_generation(tiny_dirs, noise_images):
    """Pair probabilities are in (0, 1); generation returns one string per row."""
    critic = load_critic(tiny_dirs["qwen2_vl"])
    p = pair_probabilities(critic, [(noise_images[0], noise_images[1]), (noise_images[2], noise_images[3])])
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))
    texts = generate_answers(critic, [[noise_images[0]], [noise_images[1]]], max_new_tokens=4)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_left_padded_batches_of_different_lengths_score_as_one_image_at_a_time(tiny_dirs):
    """Images of different sizes give rows of different lengths (Qwen2-VL keeps the aspect ratio): left padding
    and the thread that prepares the next batch leave every score as scoring each image alone gives it."""
    from PIL import Image

    critic = load_critic(tiny_dirs["qwen2_vl"])
    critic.processor.image_processor.size = {"shortest_edge": 32 * 32, "longest_edge": 96 * 96}
    rng = np.random.default_rng(1)
    sides = [(32, 32), (96, 64), (64, 96), (96, 96), (40, 80), (48, 48), (80, 32)]
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sides]
    prompt_lengths = {critic.encode([critic.image_placeholder], [[im]])["input_ids"].shape[1] for im in images}
    assert len(prompt_lengths) >= 4, "the rows must differ in length for padding to matter"
    batched = score_images(critic, images, batch_size=3)  # three batches, the last one short
    single = score_images(critic, images, batch_size=1)
    np.testing.assert_allclose(batched.probabilities, single.probabilities, atol=1e-5)
    np.testing.assert_allclose(batched.probabilities.sum(axis=1), 1.0, atol=1e-9)
