"""Peak memory of one training step's loss: logits at the label positions only against logits over every position.

LLaVA-OneVision-0.5B's published config cut to 2 layers of width 64 (text and vision), vocabulary (152k) and image
processing as published, random weights, on the CPU: one scoring conversation on a 64-px image (about 1,500
tokens a row, almost all of them image tokens), forward and backward of `answer_loss`. Each variant runs in its own
process, which reports its peak RSS above what it held before the step (`ru_maxrss`).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_loss_memory.py [--batch 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def _spec() -> dict:
    spec = json.loads((REPO_ROOT / "benchmarks" / "configs" / "llava_onevision_0.5b.json").read_text())
    spec["model"]["text_config"].update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    spec["model"]["vision_config"].update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    spec["model"]["vision_feature_layer"] = -1
    return spec


def _one(full: bool, batch_size: int) -> dict:
    import numpy as np
    import torch

    from benchmarks.bench_critic_gpu import build_critic
    from modeling import conversations as conv
    from modeling.critic.core.lora import CriticTrainingSettings, apply_training_settings
    from modeling.critic.core.synthetic import distorted_images
    from modeling.critic.core.training import answer_loss, conversation_batch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as workdir:
        critic = build_critic(_spec(), Path(workdir), torch.device("cpu"), torch.float32)
        apply_training_settings(critic, CriticTrainingSettings(r=16, alpha=32, dropout=0.0))
        images = distorted_images(sources=("coffee", "camera"), crops_per_source=1, rng=np.random.default_rng(0), size=64)
        lookup = {im.key: im.image() for im in images}
        conversations = conv.scoring_conversations([conv.ScoredImage(im.key, im.quality) for im in images], rng=np.random.default_rng(0))
        batch = conversation_batch(critic, conversations[:batch_size], lookup.__getitem__)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        loss = answer_loss(critic, batch, 1.0, full_logits=full)
        loss.backward()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"full_logits": full, "tokens": int(batch["input_ids"].shape[1]), "batch": batch_size, "loss": float(loss),
            "step_peak_mib": round((after - before) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--variant", choices=["full", "positions"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(_one(args.variant == "full", args.batch)))
        return
    for variant in ("full", "positions"):
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--batch", str(args.batch)], capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True)
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
