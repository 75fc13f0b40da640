"""Benchmark the tiny critic on CPU: training steps/s, images/s scored, held-out SRCC before/after training.

Run: ``.venv/bin/python benchmarks/bench_critic.py [--family qwen2_vl] [--steps 300] [--seeds 0 1 2]``.

Data: crops of scikit-image sample images, blurred or noised at severities 0-4
(:mod:`modeling.critic.core.synthetic`); training and held-out sets use different source
images. The tiny critic is fully fine-tuned (``CriticTrainingSettings.tiny``) on
scoring-syllabus conversations (paper 001, eq. 1) and scored with eqs. 4-5; SRCC is
against the hidden quality (100 - 25 x severity), overall and per distortion.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch
from scipy import stats

from modeling import conversations as conv
from modeling.critic.core.loading import load_critic
from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
from modeling.critic.core.scoring import score_images
from modeling.critic.core.synthetic import SOURCE_IMAGES, distorted_images
from modeling.critic.core.tiny import TinyCriticConfig, build_tiny_critic
from modeling.critic.core.training import TrainingConfig, train_critic


def _srcc_report(scores, images) -> str:
    quality = np.array([im.quality for im in images])
    parts = [f"all={stats.spearmanr(scores, quality).statistic:+.3f}"]
    for kind in ("blur", "noise", "darken"):
        mask = np.array([im.distortion in (kind, "none") for im in images])
        if any(im.distortion == kind for im in images) and mask.sum() > 2:
            parts.append(f"{kind}={stats.spearmanr(scores[mask], quality[mask]).statistic:+.3f}")
    return " ".join(parts)


def run_seed(args, seed: int, root: Path) -> dict:
    rng = np.random.default_rng(seed)
    train_sources, test_sources = SOURCE_IMAGES[:12], SOURCE_IMAGES[12:]
    common = {"size": args.image_size, "distortions": args.distortions}
    train = distorted_images(sources=train_sources, crops_per_source=args.crops, rng=rng, **common)
    test = distorted_images(sources=test_sources, crops_per_source=args.crops, rng=rng, **common)
    lookup = {im.key: im.image() for im in train}
    conversations = conv.scoring_conversations([conv.ScoredImage(im.key, im.quality) for im in train], rng=rng)

    tiny = TinyCriticConfig(
        family=args.family, seed=seed, image_size=args.image_size,
        vision_hidden_size=args.vision_hidden_size, vision_heads=args.vision_heads,
    )
    critic = load_critic(build_tiny_critic(root / f"base-{seed}", tiny))
    test_images = [im.image() for im in test]
    started = time.perf_counter()
    before = score_images(critic, test_images, batch_size=16).scores
    score_seconds = time.perf_counter() - started

    layer = args.vision_feature_layer if args.family == "llava_onevision" else None
    apply_training_settings(critic, CriticTrainingSettings.tiny(vision_feature_layer=layer))
    result = train_critic(
        critic,
        conversations,
        output_dir=root / f"artifact-{seed}",
        config=TrainingConfig.tiny(
            max_steps=args.steps, seed=seed, batch_size=args.batch_size, learning_rate=args.lr,
            scored_token_weight=args.scored_token_weight,
        ),
        image_loader=lookup.__getitem__,
    )
    after = score_images(critic, test_images, batch_size=16).scores
    print(
        f"seed={seed} train_images={len(train)} heldout_images={len(test)} "
        f"loss {np.mean(result.losses[:5]):.3f}->{np.mean(result.losses[-5:]):.3f}\n"
        f"  steps/s={result.steps / result.seconds:.2f} (batch {args.batch_size})  "
        f"images/s scored={len(test) / score_seconds:.1f}\n"
        f"  SRCC before: {_srcc_report(before, test)}\n"
        f"  SRCC after:  {_srcc_report(after, test)}",
        flush=True,
    )
    quality = [im.quality for im in test]
    return {
        "before": stats.spearmanr(before, quality).statistic,
        "after": stats.spearmanr(after, quality).statistic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="llava_onevision", choices=("llava_onevision", "qwen2_vl"))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--scored-token-weight", type=float, default=20.0)
    parser.add_argument("--vision-hidden-size", type=int, default=32)
    parser.add_argument("--vision-heads", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--crops", type=int, default=3, help="crops per source image")
    parser.add_argument("--vision-feature-layer", type=int, default=-2)
    parser.add_argument("--distortions", nargs="+", default=["blur", "noise"], choices=["blur", "noise", "darken"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, family={args.family}, steps={args.steps}, "
          f"distortions={args.distortions}, {args.image_size}px")
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_seed(args, seed, Path(tmp)) for seed in args.seeds]
    before = np.array([r["before"] for r in results])
    after = np.array([r["after"] for r in results])
    print(f"held-out SRCC over {len(results)} seeds: before {before.mean():+.3f} ± {before.std():.3f}, "
          f"after {after.mean():+.3f} ± {after.std():.3f}")


if __name__ == "__main__":
    main()
