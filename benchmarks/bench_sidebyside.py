"""Benchmark the side-by-side aggregation core (evaluation/sidebyside.py) on simulated studies.

Run: ``.venv/bin/python benchmarks/bench_sidebyside.py [n_systems] [n_items] [votes_per_pair_item]``.
Simulates a study where every pair of systems is voted on every item; outcomes follow a Bradley–Terry
model with ties (a tie when |latent difference| is small), plus a length preference on some systems. Prints the
time of each step the results page runs (1,000 win/tie/loss resamples, 500 BT and 200 length-controlled BT resamples) and how well
BT recovers the true strengths (Spearman), with and without the length covariate.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from scipy import stats

from evaluation import sidebyside


def simulate(n_systems: int, n_items: int, per: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    true = np.linspace(-1.0, 1.0, n_systems)
    length = rng.uniform(50, 400, n_systems)  # mean answer length per system
    pairs = [(i, j) for i in range(n_systems) for j in range(i + 1, n_systems)]
    rows = [(i, j, item) for item in range(n_items) for i, j in pairs for _ in range(per)]
    a, b, item = (np.array(col) for col in zip(*rows))
    len_a = length[a] * rng.uniform(0.7, 1.3, a.size)
    len_b = length[b] * rng.uniform(0.7, 1.3, a.size)
    z = (len_a - len_b) / (len_a + len_b)
    latent = true[a] - true[b] + 1.0 * z + rng.logistic(size=a.size)
    y = np.where(latent > 0.4, 1, np.where(latent < -0.4, -1, 0))
    return a, b, y, item, z, rng.random(a.size) < 0.5, true


def main() -> None:
    n_systems = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    n_items = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    a, b, y, item, z, left, true = simulate(n_systems, n_items, per)
    print(f"systems={n_systems} items={n_items} votes={a.size} (ties {np.mean(y == 0):.0%})")
    rng = np.random.default_rng(1)
    steps = {}
    started = time.perf_counter()
    pairs = sidebyside.win_tie_loss_bootstrap(a, b, y, item, n_systems=n_systems, n_resamples=1000, rng=rng)
    steps["G+S/S+B + win/tie/loss, 1000 resamples"] = time.perf_counter() - started
    started = time.perf_counter()
    fit, _ = sidebyside.bradley_terry_bootstrap(a, b, y, item, n_systems=n_systems, l2=0.01, n_resamples=500, rng=rng)
    steps["BT, 500 resamples"] = time.perf_counter() - started
    started = time.perf_counter()
    controlled, _ = sidebyside.bradley_terry_bootstrap(a, b, y, item, n_systems=n_systems, covariate=z, l2=0.01, n_resamples=200, rng=rng)
    steps["BT length-controlled, 200 resamples"] = time.perf_counter() - started
    started = time.perf_counter()
    annotator = np.arange(a.size) % 7
    unit = item * 1000 + a * 31 + b
    sidebyside.krippendorff_alpha_ordinal(unit, annotator, y)
    sidebyside.position_bias_binomial(y, left)
    steps["Krippendorff alpha + position bias"] = time.perf_counter() - started
    for name, seconds in steps.items():
        print(f"{name:<42} {seconds:7.3f} s")
    print(f"{'total':<42} {sum(steps.values()):7.3f} s")
    print(f"Spearman(true, BT)                 = {stats.spearmanr(true, fit.scores).statistic:.3f}")
    print(f"Spearman(true, BT length-controlled) = {stats.spearmanr(true, controlled.scores).statistic:.3f}; length coef {controlled.length_coef:.2f} (true 1.00)")
    print(f"first pair G+S/S+B = {pairs[0].gsb_ratio:.2f}")


if __name__ == "__main__":
    main()
