"""Benchmark the demo loop on the path a user takes (issue 15): seed, simulated observers, one Retrain.

Run: ``OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/bench_demo_loop.py [--seeds 0 1 2] [--threads 2]``.

Per seed, on a fresh temporary var dir (SQLite, media, filesystem broker), exactly what ``make demo`` and the
Retrain button do, in-process:

1. ``manage.py migrate``, ``manage.py seed_demo``, ``manage.py refill_pairs demo --seed SEED`` (scripts/demo.sh's steps;
   the seed makes the first batch the same on every run, yet two runs of one seed still differ by a few labels:
   some other draw in the simulation is not seeded yet, not traced);
2. ``manage.py simulate_annotators demo --seed SEED`` with the demo's own numbers (the command's defaults,
   ``evaluation.demo_observers.DEMO_SIMULATION``, which scripts/demo.sh uses too): simulated observers answer
   through the real queue (leases, overlap, gold, fatigue pauses, the selector's pair refills);
3. ``manage.py critic_init --project demo`` (the tiny base), then the Retrain button's service
   ``critic_version_request`` with the demo's default settings (``training_settings_default(tiny=True)``; the
   enqueued message lands in this run's own filesystem broker and is never consumed), whose training task body
   ``critic_runs.critic_version_train`` runs here.

``--smoke`` trains 4 warm-up + 4 steps (checks the script end to end; its SRCC means nothing). ``--train-seeds`` also sets the run's data/optimisation/adapter seeds to SEED (otherwise 0, as in the app).
Printed per seed: labels collected, training images with a scoring label, the version's held-out SRCC against
the hidden severity (``metrics["demo_hidden_severity"]``, and the untrained base's) with its n, and the times
of set-up (seed + simulation) and of the training run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _setup(var_dir: str) -> None:
    os.environ["LOUPE_VAR_DIR"] = var_dir
    for name in ("DATABASE_URL", "MEDIA_ROOT", "LOUPE_CRITIC_BASE_DIR"):
        os.environ.pop(name, None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    warnings.filterwarnings("ignore", category=UserWarning)
    import django

    django.setup()


def _reset() -> None:
    """Empty the database and media for the next seed (settings are read once, so the var dir stays the first)."""
    from django.conf import settings
    from django.core.management import call_command

    call_command("flush", verbosity=0, interactive=False)
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


def run_seed(seed: int, *, train_seeds: bool, train: bool = True, smoke: bool = False) -> dict:
    import io
    from collections import Counter

    from django.core.management import call_command

    from annotation.models import Judgement, Project
    from modeling.critic import runs as critic_runs
    from modeling.critic.data import CriticDataSettings, heldout_split, training_set_build
    from modeling.critic.models import CriticVersion
    from modeling.critic.services import critic_version_request

    quiet = io.StringIO()
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", stdout=quiet)
    call_command("refill_pairs", "demo", "--seed", str(seed), stdout=quiet)
    seeded = time.perf_counter()
    call_command("simulate_annotators", "demo", "--seed", str(seed), stdout=quiet)
    simulated = time.perf_counter()
    call_command("critic_init", "--project", "demo", stdout=quiet)

    project = Project.objects.get(slug="demo")
    overrides = {"optimisation": {"seed": seed}, "data": {"seed": seed}, "adapter": {"seed": seed}} if train_seeds else {}
    if smoke:  # a check of this script end to end, never a figure
        overrides.setdefault("optimisation", {}).update({"max_steps": 4, "vision_warmup_steps": 4})
    version = critic_version_request(project=project, overrides=overrides or None)
    data = CriticDataSettings(**version.training_settings["data"])
    training_set = training_set_build(project=project, last_judgement_id=version.last_judgement_id, data=data)
    kinds = dict(Counter(Judgement.objects.filter(project=project, training_attempt__isnull=True).values_list("kind", flat=True)))
    n_train, n_held = (len(ids) for ids in heldout_split(project=project, fraction=data.heldout_fraction))
    print(
        f"seed={seed}: judgements {sum(kinds.values())} {kinds}; training images {n_train}, held out {n_held}; "
        f"conversations {training_set.counts}; set-up {simulated - started:.0f} s (seed_demo+refill "
        f"{seeded - started:.0f} s, simulate_annotators {simulated - seeded:.0f} s)",
        flush=True,
    )
    if not train:
        return {"seed": seed, "setup_s": simulated - started}
    train_started = time.perf_counter()
    version = critic_runs.critic_version_train(version.pk)
    train_seconds = time.perf_counter() - train_started
    if version.status != CriticVersion.Status.READY:
        raise SystemExit(f"seed {seed}: version ended {version.status}: {version.error}")
    metrics = version.metrics
    severity = metrics["demo_hidden_severity"]
    base = metrics.get("base", {}).get("demo_hidden_severity", {})
    print(
        f"  Retrain run {train_seconds:.0f} s (training {metrics['train_seconds']:.0f} s); held-out SRCC vs hidden severity: "
        f"base {_fmt(base.get('srcc'))} -> retrained {_fmt(severity['srcc'])} (n={severity['n']}); "
        f"vs scaling scores {_fmt(metrics['scaling']['srcc'])} (n={metrics['scaling']['n']})",
        flush=True,
    )
    return {"seed": seed, "srcc": float(severity["srcc"]), "n": severity["n"], "train_s": train_seconds,
            "setup_s": simulated - started}


def _fmt(value) -> str:
    return "—" if value is None else f"{value:+.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the demo's gpu worker uses all cores)")
    parser.add_argument("--train-seeds", action="store_true", help="also seed the training run with SEED (default: 0, as the app)")
    parser.add_argument("--no-train", action="store_true", help="stop after the data (counts and set-up time only)")
    parser.add_argument("--smoke", action="store_true", help="train 4 + 4 steps only: checks the script, gives no figure")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="loupe-bench-demo-loop-") as tmp:
        _setup(tmp)
        for seed in args.seeds:
            if results:
                _reset()
            results.append(run_seed(seed, train_seeds=args.train_seeds, train=not args.no_train, smoke=args.smoke))
        if args.no_train:
            return
    import numpy as np

    srcc = np.array([r["srcc"] for r in results])
    print(
        f"seeds {args.seeds}: held-out SRCC {srcc.mean():+.3f} ± {srcc.std(ddof=1) if srcc.size > 1 else 0:.3f} "
        f"(min {srcc.min():+.3f}); Retrain run {max(r['train_s'] for r in results):.0f} s at most; "
        f"set-up {max(r['setup_s'] for r in results):.0f} s at most"
    )


if __name__ == "__main__":
    main()
