"""Print the training-set table of each recipe on the demo (issue 16): conversations per task and source, mix, images.

Run: ``.venv/bin/python benchmarks/bench_training_table.py [--small] [--seed 0]``.

Seeds the demo on a fresh temporary var dir with the simulated ratings and comparisons of
``bench_critic_demo.py``, then prints ``manage.py critic_training_table`` for the deployment's default and each
paper's recipe (building the set only, no training), with the seconds each build took.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loupe-bench-table-") as tmp:
        import bench_critic_demo as demo

        demo._setup(tmp)
        from django.core.management import call_command

        from annotation.services.demo import demo_seed

        project = demo_seed(small=args.small).project
        n_ratings, n_pairs = demo._labels_write(project, seed=args.seed, raters=3, rating_noise=0.5, n_pairs=300)
        print(f"demo (small={args.small}): {project.images.count()} images, {n_ratings} ratings, {n_pairs} comparisons\n", flush=True)
        for recipe in ("default", "qsit", "visualcritic", "depictqa"):
            started = time.perf_counter()
            call_command("critic_training_table", str(project.pk), "--recipe", recipe, "--seed", str(args.seed))
            print(f"(built in {time.perf_counter() - started:.2f} s)\n", flush=True)


if __name__ == "__main__":
    main()
