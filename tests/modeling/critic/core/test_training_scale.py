"""Tests for training at scale: gradient accumulation, 2 processes (gloo) against 1, checkpoints and resume, stages,
DataLoader workers, and 4-bit loading where bitsandbytes is missing."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling import conversations as conv
from modeling.critic.core.batches import MicroBatches, global_batches, micro_batch_loader
from modeling.critic.core.checkpoint import checkpoint_exists
from modeling.critic.core.launch import TrainingJob, job_run, launch_command
from modeling.critic.core.loading import QuantizationUnavailable, load_critic
from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
from modeling.critic.core.synthetic import distorted_images
from modeling.critic.core.training import TrainingCancelled, TrainingConfig, TrainingStage, stage_label, train_critic

REPO_ROOT = Path(__file__).resolve().parents[4]
#: Two processes (gradients all-reduced by DDP) against one that accumulates the same two micro-batches: the same
#: maths, summed in another order, so the losses agree to float32 rounding, not bit for bit.
PROCESSES_LOSS_TOLERANCE = 1e-4
LAUNCH_TIMEOUT_S = 240
LORA = CriticTrainingSettings(r=4, alpha=8, dropout=0.0)


@pytest.fixture(scope="module")
def scoring_data():
    """Scoring conversations on blurred/noised crops of two sample images, and their lookup."""
    rng = np.random.default_rng(0)
    images = distorted_images(sources=("coffee", "camera"), crops_per_source=1, rng=rng)
    lookup = {im.key: im.image() for im in images}
    conversations = conv.scoring_conversations([conv.ScoredImage(im.key, im.quality) for im in images], rng=rng)
    return conversations, lookup


def _lora_critic(directory):
    return apply_training_settings(load_critic(directory), LORA)


def _trainable(critic) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in critic.model.named_parameters() if p.requires_grad}


def test_gradient_accumulation_matches_one_bigger_batch(tiny_dirs, scoring_data, tmp_path):
    """Batch 2 accumulated twice trains like batch 4 at once: same losses and weights (float tolerance)."""
    conversations, lookup = scoring_data
    runs = []
    for batch_size, accumulation in ((4, 1), (2, 2)):
        critic = _lora_critic(tiny_dirs["qwen2_vl"])
        config = TrainingConfig(max_steps=3, batch_size=batch_size, gradient_accumulation_steps=accumulation, learning_rate=1e-2, seed=3)
        result = train_critic(critic, conversations, output_dir=tmp_path / f"a{accumulation}", config=config, image_loader=lookup.__getitem__)
        assert result.global_batch_size == 4 and result.steps == 3
        runs.append((result.losses, _trainable(critic)))
    np.testing.assert_allclose(runs[0][0], runs[1][0], atol=1e-5)
    for name, value in runs[0][1].items():
        torch.testing.assert_close(value, runs[1][1][name], atol=1e-4, rtol=1e-3)  # Adam magnifies rounding on tiny gradients


def test_two_processes_match_one_with_the_same_global_batch(tiny_dirs, scoring_data, tmp_path):
    """torchrun with 2 CPU processes (gloo, batch 2 each) follows 1 process accumulating 2 × 2, and saves the same format."""
    conversations, lookup = scoring_data
    config = TrainingConfig(max_steps=3, batch_size=2, learning_rate=1e-2, seed=5, mixed_precision="no")
    single = job_run(TrainingJob(
        base_dir=str(tiny_dirs["qwen2_vl"]), adapter=LORA, stages=[TrainingStage("train", conversations, replace(config, gradient_accumulation_steps=2))],
        config=replace(config, gradient_accumulation_steps=2), output_dir=str(tmp_path / "one"), image_loader=lookup.__getitem__,
    ))
    job = TrainingJob(
        base_dir=str(tiny_dirs["qwen2_vl"]), adapter=LORA, stages=[TrainingStage("train", conversations, config)], config=config,
        output_dir=str(tmp_path / "two"), image_loader=lookup.__getitem__, result_path=str(tmp_path / "two.json"),
    )
    (tmp_path / "job.pkl").write_bytes(pickle.dumps(job))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    finished = subprocess.run(
        launch_command(tmp_path / "job.pkl", processes=2), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=LAUNCH_TIMEOUT_S,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["processes"] == 2 and two["global_batch_size"] == single.global_batch_size == 4
    np.testing.assert_allclose(two["losses"], single.losses, atol=PROCESSES_LOSS_TOLERANCE)
    files = lambda folder: sorted(p.name for p in folder.iterdir())  # noqa: E731
    assert files(tmp_path / "two") == files(tmp_path / "one") and "adapter_config.json" in files(tmp_path / "one")
    assert (tmp_path / "two" / "adapter_config.json").read_text() == (tmp_path / "one" / "adapter_config.json").read_text()


def test_a_cancelled_run_resumes_from_its_checkpoint_and_matches_an_uninterrupted_one(tiny_dirs, scoring_data, tmp_path):
    """Stopped after step 4 with checkpoints every 3 steps: a fresh process resumes at step 3 and ends where an
    uninterrupted run ends (same number of steps, same losses)."""
    conversations, lookup = scoring_data
    config = TrainingConfig(max_steps=6, batch_size=2, learning_rate=1e-2, seed=2, checkpoint_every=3)
    plain = train_critic(_lora_critic(tiny_dirs["qwen2_vl"]), conversations, output_dir=tmp_path / "plain", config=config,
                         image_loader=lookup.__getitem__)
    steps = []

    def cancel_after_four() -> bool:
        return len(steps) >= 4

    with pytest.raises(TrainingCancelled):
        train_critic(_lora_critic(tiny_dirs["qwen2_vl"]), conversations, output_dir=tmp_path / "cut", config=config,
                     image_loader=lookup.__getitem__, checkpoint_dir=tmp_path / "checkpoint",
                     progress=lambda step, total, loss, eta: steps.append(step), should_cancel=cancel_after_four)
    assert checkpoint_exists(tmp_path / "checkpoint") and not (tmp_path / "cut").exists()
    resumed = train_critic(_lora_critic(tiny_dirs["qwen2_vl"]), conversations, output_dir=tmp_path / "resumed", config=config,
                           image_loader=lookup.__getitem__, checkpoint_dir=tmp_path / "checkpoint")
    assert resumed.resumed_from_step == 3 and resumed.steps == plain.steps == 6 and len(resumed.losses) == 6
    np.testing.assert_allclose(resumed.losses, plain.losses, atol=1e-5)


def test_stages_run_in_order_with_their_own_schedules(tiny_dirs, scoring_data, tmp_path):
    """Two stages train in order, each for its own steps; progress counts on across them and names the stage;
    a stage with a learning rate near zero leaves the weights where the stage before left them."""
    conversations, lookup = scoring_data
    first = TrainingConfig(max_steps=2, batch_size=2, learning_rate=1e-2, seed=1, max_grad_norm=None)
    alone = _lora_critic(tiny_dirs["qwen2_vl"])
    train_critic(alone, stages=[TrainingStage("absolute", conversations[:4], first)], output_dir=tmp_path / "alone",
                 image_loader=lookup.__getitem__)
    critic = _lora_critic(tiny_dirs["qwen2_vl"])
    stages_seen, steps = [], []
    result = train_critic(
        critic, output_dir=tmp_path / "staged", image_loader=lookup.__getitem__,
        stages=[TrainingStage("absolute", conversations[:4], first),
                TrainingStage("relative", conversations[4:], replace(first, max_steps=3, learning_rate=1e-12, warmup_fraction=0.0))],
        on_stage=lambda *args: stages_seen.append(args), progress=lambda step, total, loss, eta: steps.append((step, total)),
    )
    assert stages_seen == [(1, 2, "absolute", 2, 0), (2, 2, "relative", 3, 2)]
    assert steps == [(s, 5) for s in range(1, 6)] and result.stages == [{"name": "absolute", "steps": 2}, {"name": "relative", "steps": 3}]
    assert stage_label(2, 3, "absolute", 40, 100) == "stage 2/3 absolute: step 40/100"
    after = _trainable(critic)
    for name, value in _trainable(alone).items():
        torch.testing.assert_close(after[name], value, atol=1e-6, rtol=1e-5)


def test_one_task_per_batch_draws_each_batch_from_a_single_task(scoring_data):
    """With one_task_per_batch every global batch holds one task; without it, tasks mix."""
    conversations, _ = scoring_data
    mixed = [replace(c, task="relativity") if i % 2 else c for i, c in enumerate(conversations)]
    config = TrainingConfig(max_steps=20, batch_size=3, seed=0, one_task_per_batch=True)
    plan = global_batches(mixed, config, world_size=2)
    assert len(plan) == 20 and all(len(batch) == 6 for batch in plan)
    assert all(len({mixed[i].task for i in batch}) == 1 for batch in plan)
    assert {mixed[plan[k][0]].task for k in range(20)} == {"scoring", "relativity"}
    assert any(len({mixed[i].task for i in batch}) == 2 for batch in global_batches(mixed, replace(config, one_task_per_batch=False)))


def test_dataloader_workers_give_the_same_batches(tiny_dirs, scoring_data):
    """Images decoded in a worker process give the same model inputs as decoding them in the loop."""
    conversations, lookup = scoring_data
    critic = load_critic(tiny_dirs["qwen2_vl"])
    dataset = MicroBatches(critic, conversations, [[0, 1], [2, 3], [4]], lookup.__getitem__)
    inline = list(micro_batch_loader(dataset, start=1, num_workers=0))
    workers = list(micro_batch_loader(dataset, start=1, num_workers=1))
    assert len(inline) == len(workers) == 2
    for a, b in zip(inline, workers):
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
        assert torch.equal(a["pixel_values"], b["pixel_values"])


def test_four_bit_loading_without_bitsandbytes_is_refused_clearly(tiny_dirs):
    """Asking for 4-bit loading where bitsandbytes is not installed names what is missing and what to do."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("bitsandbytes is installed here")
    with pytest.raises(QuantizationUnavailable, match="bitsandbytes.*not installed"):
        load_critic(tiny_dirs["qwen2_vl"], quantization="4bit")
    with pytest.raises(ValueError, match="quantization must be one of"):
        load_critic(tiny_dirs["qwen2_vl"], quantization="3bit")


def test_training_config_refuses_bad_scale_settings():
    """Accumulation, precision, checkpoint interval and worker count are validated with a message."""
    for kwargs, message in (
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"), ({"mixed_precision": "fp8"}, "mixed_precision"),
        ({"checkpoint_every": -1}, "checkpoint_every"), ({"num_workers": -1}, "num_workers"),
    ):
        with pytest.raises(ValueError, match=message):
            TrainingConfig(**kwargs)
    with pytest.raises(ValueError, match="no conversations"):
        TrainingStage("empty", [], TrainingConfig())


@pytest.mark.gpu
def test_bf16_training_on_cuda_keeps_trainable_weights_in_fp32_and_gives_them_back(tiny_dirs, scoring_data, tmp_path):
    """On CUDA, bf16 autocast trains fp32 LoRA weights; afterwards the model scores in its own dtype."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    from modeling.critic.core.scoring import score_images

    conversations, lookup = scoring_data
    critic = apply_training_settings(load_critic(tiny_dirs["qwen2_vl"], device="cuda"), LORA)
    result = train_critic(critic, conversations, output_dir=tmp_path / "gpu", config=TrainingConfig(max_steps=3, batch_size=2),
                          image_loader=lookup.__getitem__)
    assert np.isfinite(result.losses).all()
    assert all(p.dtype == torch.float32 for name, p in critic.model.named_parameters() if "lora_" in name)
    assert np.isfinite(score_images(critic, [lookup[c.images[0]] for c in conversations[:2]]).scores).all()
