"""Time the tiny critic's training loop on CPU (the demo's Retrain path): optimiser steps per second.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_critic_training.py [--steps 40] [--repeats 3]``.

The same call as the demo's run in one process (``train_critic`` with ``TrainingConfig.tiny``, full fine-tune,
no vision warm-up, batch 8, images in the loop), so it runs on a tree from before the Accelerate loop too and
the two figures compare. Prints the median steps/s over the repeats and each repeat's figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch

from modeling import conversations as conv
from modeling.critic.core.loading import load_critic
from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
from modeling.critic.core.synthetic import distorted_images
from modeling.critic.core.tiny import TinyCriticConfig, build_tiny_critic
from modeling.critic.core.training import TrainingConfig, train_critic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = distorted_images(sources=("coffee", "camera", "astronaut"), crops_per_source=2, rng=rng)
    lookup = {im.key: im.image() for im in images}
    conversations = conv.scoring_conversations([conv.ScoredImage(im.key, im.quality) for im in images], rng=rng)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_critic(Path(tmp) / "tiny", TinyCriticConfig())
        rates = []
        for repeat in range(args.repeats):
            critic = apply_training_settings(load_critic(base), CriticTrainingSettings.tiny())
            config = TrainingConfig.tiny(max_steps=args.steps, seed=repeat)
            started = time.perf_counter()
            train_critic(critic, conversations, output_dir=Path(tmp) / f"out{repeat}", config=config, image_loader=lookup.__getitem__)
            rates.append(args.steps / (time.perf_counter() - started))
    print(f"tiny critic training: {statistics.median(rates):.2f} steps/s median (batch 8, {args.steps} steps, "
          f"{args.threads} thread{'s' if args.threads != 1 else ''}); repeats: {', '.join(f'{r:.2f}' for r in rates)}")


if __name__ == "__main__":
    main()
