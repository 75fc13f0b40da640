"""Benchmark the critic on the demo (issue 8): SRCC against the hidden severity before and after one retrain round.

Run: ``.venv/bin/python benchmarks/bench_critic_demo.py [--small] [--steps 300] [--seeds 0 1 2] [--input resize|crop|crop2]``.

Sets up Django on a fresh temporary var dir (SQLite, media), migrates, seeds the demo (``demo_seed``: 6 sources x
7 imagecorruptions distortions x severities 1-5 plus each pristine photograph, 384 px long side; ``--small``: 2
sources x 3 distortions), then simulates annotators from the hidden severity (pristine = 0):

- ratings: each image rated by ``--raters`` annotators, level = round(5 - 0.8 severity + N(0, ``--rating-noise``)),
  clipped to 1..5;
- comparisons: ``--pairs`` random pairs, each judged once by a Thurstone observer on -severity with N(0, 1) noise
  per image (ties when the rounded difference is 0 are not produced: the observer always picks).

They are written as Judgement rows (tests/evaluation/judgement_builders.py, the same rows the queue writes). A
CriticVersion with the tiny base's default settings (``training_settings_default(tiny=True)``; ``--steps``
sets ``optimisation.max_steps``; the seed sets the data, optimisation and adapter seeds) is then trained and
evaluated in-process by ``critic_runs.critic_version_train``, the body of the ``modeling.critic_retrain`` task.
Printed: the version's ``demo_hidden_severity`` SRCC on the held-out split, and the untrained base model's SRCC
on the same held-out images (scored with ``score_images`` through the same image loader).

``--input`` only changes what this script feeds the tiny model (a monkeypatch of the run's image loader, for
measuring): ``resize`` the whole photograph (what the app does, the processor shrinks it to 64 px), ``crop`` a
centre crop at the model's input side, ``crop2`` a centre crop at twice that side (then shrunk by the processor).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _setup(var_dir: str) -> None:
    os.environ["LOUPE_VAR_DIR"] = var_dir
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MEDIA_ROOT", None)
    os.environ.pop("LOUPE_CRITIC_BASE_DIR", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    warnings.filterwarnings("ignore", category=UserWarning)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _centre_crop(image, side: int):
    width, height = image.size
    side = min(side, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def _patch_loader(mode: str, input_side: int) -> None:
    """Wrap critic_runs._image_loader so the tiny model gets a centre crop (measurement only)."""
    if mode == "resize":
        return
    from modeling import critic_runs

    original = critic_runs._image_loader
    side = input_side * (2 if mode == "crop2" else 1)

    def loader(names):
        load = original(names)
        return lambda key: _centre_crop(load(key), side)

    critic_runs._image_loader = loader


def _labels_write(project, *, seed: int, raters: int, rating_noise: float, n_pairs: int) -> tuple[int, int]:
    import numpy as np

    from annotation.models import Image
    from annotation.vocabulary import TaskKind
    from tests.evaluation.judgement_builders import annotators_make, judgements_add

    rng = np.random.default_rng(seed)
    images = list(Image.objects.filter(project=project).order_by("id"))
    severity = {image.pk: float((image.hidden_ground_truth or {}).get("severity", 0)) for image in images}
    annotators = annotators_make(project, max(raters, 3))
    ratings = []
    for image in images:
        for _ in range(raters):
            level = int(np.clip(np.round(5 - 0.8 * severity[image.pk] + rng.normal(0, rating_noise)), 1, 5))
            ratings.append((image, level))
    if ratings:
        judgements_add(project, ratings, annotators, kind=TaskKind.RATING)
    pairs, seen = [], set()
    while len(pairs) < n_pairs and len(seen) < len(images) * (len(images) - 1) // 2:
        i, j = sorted(rng.choice(len(images), size=2, replace=False).tolist())
        if (i, j) in seen:
            continue
        seen.add((i, j))
        a, b = images[i], images[j]
        utility_a = -severity[a.pk] + rng.normal()
        utility_b = -severity[b.pk] + rng.normal()
        pairs.append((a, b, "a" if utility_a > utility_b else "b"))
    if pairs:
        judgements_add(project, pairs, annotators, kind=TaskKind.PAIR)
    return len(ratings), len(pairs)


def _base_srcc(version, heldout_ids) -> tuple[float | None, int]:
    """The untrained base model's SRCC against -severity on the version's held-out images."""
    import numpy as np

    from annotation.models import Image
    from evaluation.metrics import srcc
    from modeling import critic_runs
    from modeling.critic.loading import load_critic
    from modeling.critic.scoring import score_images

    ids = sorted(int(i) for i in heldout_ids)
    critic = load_critic(critic_runs.critic_base_dir_for(version))
    load = critic_runs._image_loader(critic_runs._image_names(ids))
    scores = score_images(critic, [load(str(i)) for i in ids], batch_size=16).scores
    truth = dict(Image.objects.filter(id__in=ids).values_list("id", "hidden_ground_truth"))
    target = np.asarray([-float(truth[i]["severity"]) for i in ids])
    return float(srcc(np.asarray(scores, dtype=float), target)), len(ids)


def run_seed(args, seed: int) -> dict:
    from django.utils import timezone

    from annotation.models import Image
    from annotation.services.demo import demo_seed
    from modeling import critic_runs
    from modeling.critic_data import judgement_last_id
    from modeling.critic_models import CriticVersion
    from modeling.critic_services import _merged, critic_base_dir, critic_tiny_base_ensure, training_settings_default

    started = time.perf_counter()
    summary = demo_seed(small=args.small)
    project = summary.project
    n_ratings, n_pairs = _labels_write(project, seed=seed, raters=args.raters, rating_noise=args.rating_noise, n_pairs=args.pairs)
    seed_seconds = time.perf_counter() - started

    base_dir = critic_base_dir()
    critic_tiny_base_ensure(base_dir)
    settings = _merged(training_settings_default(tiny=True), {
        "optimisation": {"max_steps": args.steps, "seed": seed}, "data": {"seed": seed, "heldout_fraction": args.heldout_fraction}, "adapter": {"seed": seed},
    })
    version = CriticVersion.objects.create(
        project=project, number=1, trigger=CriticVersion.Trigger.MANUAL, base_model_dir=str(base_dir), is_tiny=True,
        training_settings=settings, last_judgement_id=judgement_last_id(project=project),
    )
    version.artifact_dir = f"{project.pk}/{version.pk}"
    version.save(update_fields=["artifact_dir"])

    started = time.perf_counter()
    version = critic_runs.critic_version_train(version.pk)
    run_seconds = time.perf_counter() - started
    if version.status != CriticVersion.Status.READY:
        raise SystemExit(f"seed {seed}: version ended {version.status}: {version.error}")
    metrics = version.metrics
    before, n_heldout = _base_srcc(version, version.heldout_image_ids)
    after = metrics["demo_hidden_severity"]["srcc"]
    print(
        f"seed={seed} images={Image.objects.filter(project=project).count()} ratings={n_ratings} pairs={n_pairs} "
        f"training_images={version.n_training_images} heldout={n_heldout} conversations={version.n_conversations} {version.conversation_counts}\n"
        f"  seed+labels {seed_seconds:.1f}s, train+evaluate {run_seconds:.1f}s ({metrics['train_seconds']:.1f}s training, "
        f"{args.steps / max(metrics['train_seconds'], 1e-9):.2f} steps/s), loss {metrics['first_loss']:.3f} -> {metrics['final_loss']:.3f}\n"
        f"  held-out demo_hidden_severity SRCC: base {before:+.3f} -> retrained {after:+.3f} "
        f"(PLCC {metrics['demo_hidden_severity']['plcc'] if metrics['demo_hidden_severity']['plcc'] is None else round(metrics['demo_hidden_severity']['plcc'], 3)}, "
        f"pairwise acc {metrics['pairwise']['accuracy']}, n_pairs {metrics['pairwise']['n']}) at {timezone.now():%Y-%m-%d}",
        flush=True,
    )
    return {"seed": seed, "before": before, "after": after, "n_heldout": n_heldout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="seed the small demo (2 sources x 3 distortions)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--raters", type=int, default=3, help="ratings per image")
    parser.add_argument("--rating-noise", type=float, default=0.5, help="observer noise (levels) of the ratings")
    parser.add_argument("--pairs", type=int, default=300, help="Thurstone comparisons over random pairs")
    parser.add_argument("--heldout-fraction", type=float, default=0.2,
                        help="data.heldout_fraction (the small demo's 32 images need about 0.3 for 3 held out)")
    parser.add_argument("--input", choices=("resize", "crop", "crop2"), default="resize")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="loupe-bench-critic-demo-") as tmp:
        for seed in args.seeds:
            # A fresh var dir (database, media, tiny base) per seed, so nothing carries over between seeds.
            var_dir = os.path.join(tmp, f"seed-{seed}")
            os.makedirs(var_dir)
            if not results:
                _setup(var_dir)
                from modeling.critic.tiny import TinyCriticConfig

                _patch_loader(args.input, TinyCriticConfig().image_size)
            else:
                _reset(var_dir)
            results.append(run_seed(args, seed))
    import numpy as np

    before = np.array([r["before"] for r in results])
    after = np.array([r["after"] for r in results], dtype=float)
    print(
        f"input={args.input} steps={args.steps} small={args.small} seeds={args.seeds}: held-out SRCC "
        f"base {before.mean():+.3f} ± {before.std():.3f} -> retrained {np.nanmean(after):+.3f} ± {np.nanstd(after):.3f}"
    )


def _reset(var_dir: str) -> None:
    """Empty the database and media for the next seed (settings are read once, so the var dir stays the first;
    the tiny base, built with a fixed seed, is kept)."""
    from django.core.management import call_command

    call_command("flush", verbosity=0, interactive=False)
    from django.conf import settings
    import shutil

    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


if __name__ == "__main__":
    main()
