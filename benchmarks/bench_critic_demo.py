"""Benchmark the critic on the demo (issue 8): SRCC against the hidden severity before and after one retrain round.

Run: ``.venv/bin/python benchmarks/bench_critic_demo.py [--small] [--steps 300] [--seeds 0 1 2] [--input resize|crop|crop2]``.

Sets up Django on a fresh temporary var dir (SQLite, media), migrates, seeds the demo (``demo_seed``: 6 sources x
7 ImageNet-C style distortions x severities 1-5 plus each pristine photograph, 384 px long side; ``--small``: 2
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
on the same held-out images (``metrics["base"]``: the run scores the base, with the run's settings and input
crop, before training).

``--crop SIDE`` sets ``training_settings["input"]`` (random crops of SIDE stored pixels in training, centre crops
when scoring; ``--fixed-crop``: centre crops in training too; ``--crop 0``: whole images); ``--lr`` and
``--scored-weight`` set the optimisation's learning rate and scored-token weight.

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
    """Wrap critic_runs.image_loader so the tiny model gets a centre crop (measurement only)."""
    if mode == "resize":
        return
    from modeling.critic import runs as critic_runs

    original = critic_runs.image_loader
    side = input_side * (2 if mode == "crop2" else 1)

    def loader(names, **options):
        load = original(names, **options)
        return lambda key: _centre_crop(load(key), side)

    critic_runs.image_loader = loader


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


def _training_srcc(version) -> float:
    """The trained version's SRCC against -severity on its own training images (how well it fits them)."""
    import numpy as np

    from annotation.models import Image
    from evaluation.metrics import srcc
    from modeling.critic import runs as critic_runs

    held = set(int(i) for i in version.heldout_image_ids)
    rows = [(i, t) for i, t in Image.objects.filter(project=version.project).values_list("id", "hidden_ground_truth") if i not in held]
    critic = critic_runs.load_trained(version)
    scores = {}
    for chunk, result in critic_runs._score_chunks(critic, [i for i, _ in rows], batch_size=16, crop=critic_runs.input_crop(version)):
        scores.update(zip(chunk, result.scores.tolist()))
    return float(srcc(np.asarray([scores[i] for i, _ in rows]), np.asarray([-float(t["severity"]) for _, t in rows])))


def run_seed(args, seed: int) -> dict:
    from django.utils import timezone

    from annotation.models import Image
    from annotation.services.demo import demo_seed
    from modeling.critic import runs as critic_runs
    from modeling.critic.data import judgement_last_id
    from modeling.critic.models import CriticVersion
    from modeling.critic.services import _merged, training_settings_default
    from modeling.critic.storage import critic_base_dir, critic_tiny_base_ensure

    started = time.perf_counter()
    summary = demo_seed(small=args.small)
    project = summary.project
    n_ratings, n_pairs = _labels_write(project, seed=seed, raters=args.raters, rating_noise=args.rating_noise, n_pairs=args.pairs)
    seed_seconds = time.perf_counter() - started

    base_dir = critic_base_dir()
    critic_tiny_base_ensure(base_dir)
    if args.family != "llava_onevision" or args.vision_width != 32:
        from pathlib import Path

        from modeling.critic.core.tiny import TinyCriticConfig, build_tiny_critic

        base_dir = Path(base_dir).parent / f"tiny-{args.family}-{args.vision_width}"
        if not (base_dir / "config.json").is_file():
            build_tiny_critic(base_dir, TinyCriticConfig(family=args.family, vision_hidden_size=args.vision_width))
    overrides = {
        "optimisation": {"max_steps": args.steps, "seed": seed}, "data": {"seed": seed, "heldout_fraction": args.heldout_fraction}, "adapter": {"seed": seed},
    }
    if args.crop is not None:  # 0: whole images
        overrides["input"] = {"crop": args.crop or None, "random_crop": bool(args.crop) and not args.fixed_crop}
    if args.scoring_only:
        overrides["data"]["mix"] = {"scoring": 1.0}
    if args.lr is not None:
        overrides["optimisation"]["learning_rate"] = args.lr
    if args.scored_weight is not None:
        overrides["optimisation"]["scored_token_weight"] = args.scored_weight
    if args.warmup is not None:
        overrides["optimisation"]["vision_warmup_steps"] = args.warmup
    if args.recipe:  # a paper's recipe (modeling/critic/recipes.py) on top of the tiny defaults; the flags above still apply
        from modeling.critic.recipes import recipe_overrides

        defaults = training_settings_default(tiny=True)
        recipe = recipe_overrides(args.recipe, defaults=defaults)
        overrides = {**recipe, **overrides, "data": {**recipe.get("data", {}), **overrides["data"]}}
    if args.data:  # raw data-settings overrides, e.g. '{"level_bounds": "scale", "scoring_system_prompt": false}'
        import json

        overrides["data"].update(json.loads(args.data))
    settings = _merged(training_settings_default(tiny=True), overrides)
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
    before, n_heldout = metrics["base"]["demo_hidden_severity"]["srcc"], metrics["n_heldout_images"]
    train_srcc = _training_srcc(version) if args.train_srcc else None
    after = metrics["demo_hidden_severity"]["srcc"]
    print(
        f"recipe={settings.get('recipe', 'default')} seed={seed} images={Image.objects.filter(project=project).count()} ratings={n_ratings} pairs={n_pairs} "
        f"training_images={version.n_training_images} heldout={n_heldout} conversations={version.n_conversations} {version.conversation_counts}\n"
        f"  seed+labels {seed_seconds:.1f}s, train+evaluate {run_seconds:.1f}s ({metrics['train_seconds']:.1f}s training, "
        f"{args.steps / max(metrics['train_seconds'], 1e-9):.2f} steps/s), loss {metrics['first_loss']:.3f} -> {metrics['final_loss']:.3f}\n"
        f"  held-out demo_hidden_severity SRCC: base {before:+.3f} -> retrained {after:+.3f} "
        f"(PLCC {metrics['demo_hidden_severity']['plcc'] if metrics['demo_hidden_severity']['plcc'] is None else round(metrics['demo_hidden_severity']['plcc'], 3)}, "
        f"pairwise acc {metrics['pairwise']['accuracy']}, n_pairs {metrics['pairwise']['n']}) at {timezone.now():%Y-%m-%d}"
        + (f"\n  training images' SRCC (fit): {train_srcc:+.3f}" if train_srcc is not None else ""),
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
    parser.add_argument("--crop", type=int, default=None,
                        help="training_settings input.crop (stored pixels; 0: whole images); default: the tiny default")
    parser.add_argument("--fixed-crop", action="store_true", help="centre crops in training too (default: random crops)")
    parser.add_argument("--train-srcc", action="store_true", help="also score the training images (fit)")
    parser.add_argument("--scoring-only", action="store_true", help="data.mix = scoring conversations only")
    parser.add_argument("--family", default="llava_onevision", choices=("llava_onevision", "qwen2_vl"),
                        help="tiny base family (other than the default: built beside the default base)")
    parser.add_argument("--vision-width", type=int, default=32, help="tiny base vision_hidden_size")
    parser.add_argument("--lr", type=float, default=None, help="optimisation.learning_rate")
    parser.add_argument("--scored-weight", type=float, default=None, help="optimisation.scored_token_weight")
    parser.add_argument("--warmup", type=int, default=None, help="optimisation.vision_warmup_steps")
    parser.add_argument("--recipe", default=None, help="a training recipe: qsit, visualcritic, depictqa (modeling/critic/recipes.py)")
    parser.add_argument("--data", default=None, help="JSON of data-settings overrides (CriticDataSettings fields)")
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
                from modeling.critic.core.tiny import TinyCriticConfig

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
