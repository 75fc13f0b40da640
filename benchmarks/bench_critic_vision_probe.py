"""How far can the tiny critic's vision tower alone get on the demo? (issue 8, the 0.5 aim)

Run: ``.venv/bin/python benchmarks/bench_critic_vision_probe.py [--mode crop] [--steps 1000] [--seeds 0 1 2]``.

The end-to-end critic reads the image only through its vision tower, so the tower sets a ceiling on the
critic's held-out SRCC. This script measures that ceiling without the language model: the tiny critic's
SigLIP tower (same shape as ``TinyCriticConfig``: 64 px, patch 8, width 32, 2 layers, features from layer
-2), mean-pooled, with a linear head, trained directly on the demo's simulated levels by mean squared error
(every parameter trained, AdamW, batch 32). No Django database is needed: the demo's pixels come from the same
functions ``demo_seed`` uses (216 images: 6 sources x 7 ImageNet-C style distortions x severities 1-5, plus
the pristine photographs, 384 px long side). Levels are simulated as in ``bench_critic_demo.py``:
round(5 - 0.8 severity + N(0, 0.5)) clipped to 1..5; 36 images are held out at random per seed.

``--mode``: ``resize`` (the whole photograph shrunk to 64 px, what the app does), ``crop`` (random 64 px crops
of the stored pixels in training; the centre crop, and the mean over five crops, centre and corners, when
scoring) or ``tiles`` (LLaVA-OneVision's "anyres": the whole image at 64 px plus a ``--grid`` x ``--grid``
grid of 64 px tiles of the image shrunk to 64 x grid, features averaged over all of them).

Printed per seed: training loss, SRCC against -severity on the training images (fit) and on the held-out
images.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

FIVE_CROPS = ("centre", "top-left", "top-right", "bottom-left", "bottom-right")


def demo_images() -> tuple[list, np.ndarray]:
    """The full demo's images (PIL) and hidden severities, in import order."""
    os.environ.setdefault("LOUPE_VAR_DIR", tempfile.mkdtemp(prefix="loupe-probe-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    warnings.filterwarnings("ignore", category=UserWarning)
    import django

    django.setup()
    from PIL import Image

    from annotation.services.demo import PRISTINE, demo_distorted_pixels, demo_plan, demo_source_pixels

    sources, images, severities = {}, [], []
    for spec in demo_plan():
        if spec.source not in sources:
            sources[spec.source] = demo_source_pixels(source=spec.source)
        pixels = sources[spec.source]
        if spec.distortion != PRISTINE:
            pixels = demo_distorted_pixels(source=spec.source, distortion=spec.distortion, severity=spec.severity, pixels=pixels)
        images.append(Image.fromarray(pixels))
        severities.append(spec.severity)
    return images, np.asarray(severities, dtype=float)


def _crop(image, side: int, where: str, rng: np.random.Generator | None = None):
    width, height = image.size
    if where == "random":
        left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
    else:
        left = {"centre": (width - side) // 2}.get(where, 0 if "left" in where else width - side)
        top = {"centre": (height - side) // 2}.get(where, 0 if "top" in where else height - side)
    return image.crop((left, top, left + side, top + side))


def _views(image, args, *, where: str, rng) -> list:
    """The 64 px views of one image the tower sees (one, or 1 + grid^2 for tiles)."""
    from PIL import Image

    side = args.size
    if args.mode == "resize":
        return [image.resize((side, side), Image.Resampling.BICUBIC)]
    if args.mode == "crop":
        return [_crop(image, side, where, rng)]
    big = image.resize((side * args.grid, side * args.grid), Image.Resampling.BICUBIC)
    tiles = [big.crop((x * side, y * side, (x + 1) * side, (y + 1) * side)) for y in range(args.grid) for x in range(args.grid)]
    return [image.resize((side, side), Image.Resampling.BICUBIC), *tiles]


def run_seed(args, images, severity, seed: int) -> dict:
    import torch
    from transformers import SiglipVisionConfig, SiglipVisionModel

    from evaluation.metrics import srcc

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    held, train = order[:36], order[36:]
    levels = np.clip(np.round(5 - 0.8 * severity + rng.normal(0, 0.5, severity.size)), 1, 5)
    torch.manual_seed(seed)
    config = SiglipVisionConfig(hidden_size=args.width, intermediate_size=2 * args.width, num_hidden_layers=args.layers,
                                num_attention_heads=4, image_size=args.size, patch_size=args.patch)
    tower, head = SiglipVisionModel(config), torch.nn.Linear(args.width, 1)
    n_views = 1 if args.mode != "tiles" else 1 + args.grid ** 2

    def predict(indices, where):
        views = [v for i in indices for v in _views(images[i], args, where=where, rng=rng)]
        pixels = torch.tensor(np.stack([np.asarray(v, np.float32) / 127.5 - 1 for v in views])).permute(0, 3, 1, 2)
        features = tower(pixel_values=pixels, output_hidden_states=True).hidden_states[args.feature_layer]
        pooled = features.reshape(len(indices), n_views * features.shape[1], -1).mean(1)
        return head(pooled).squeeze(1)

    optimiser = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=args.lr)
    started = time.perf_counter()
    losses = []
    for _ in range(args.steps):
        batch = rng.choice(train, args.batch_size)
        loss = ((predict(batch, "random") - torch.tensor(levels[batch], dtype=torch.float32)) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss))
    seconds = time.perf_counter() - started

    @torch.no_grad()
    def scores(indices, crops):
        return np.mean([np.concatenate([predict(indices[k : k + 64], where).numpy() for k in range(0, len(indices), 64)])
                        for where in crops], axis=0)

    out = {"seed": seed, "loss": float(np.mean(losses[-20:])), "seconds": seconds}
    for name, crops in (("centre", FIVE_CROPS[:1]), ("five", FIVE_CROPS)):
        if name == "five" and args.mode != "crop":
            continue
        out[f"train_{name}"] = srcc(scores(train, crops), -severity[train])
        out[f"held_{name}"] = srcc(scores(held, crops), -severity[held])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("resize", "crop", "tiles"), default="crop")
    parser.add_argument("--grid", type=int, default=2, help="tiles per side in --mode tiles")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--patch", type=int, default=8)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--feature-layer", type=int, default=-2)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    images, severity = demo_images()
    print(f"{len(images)} demo images; mode {args.mode}, width {args.width}, layers {args.layers}, {args.steps} steps")
    rows = []
    for seed in args.seeds:
        row = run_seed(args, images, severity, seed)
        rows.append(row)
        figures = "  ".join(f"{key} {value:+.3f}" for key, value in row.items() if key.startswith(("train_", "held_")))
        print(f"seed {seed}: loss {row['loss']:.3f}  {figures}  ({row['seconds']:.0f} s)", flush=True)
    for key in rows[0]:
        if key.startswith(("train_", "held_")):
            values = np.asarray([row[key] for row in rows])
            print(f"{key}: {values.mean():+.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}")


if __name__ == "__main__":
    main()
