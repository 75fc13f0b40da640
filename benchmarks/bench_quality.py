"""Benchmark the quality-control cores the dashboard runs on every page load (evaluation/screening.py, agreement.py).

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_quality.py``

Simulated data, one seed: Thurstone observers on ``N(0, 1)`` true scores (evaluation/simulation.py) with one
reversed observer, and 1-5 ratings with a 30% fill. Prints the seconds of the pair likelihood test
(leave-one-out as pwcmp, and one shared fit), BT.500 screening and Krippendorff's alpha, and whether the
reversed observer was flagged.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np

from evaluation.agreement import krippendorff_alpha
from evaluation.screening import bt500_screen_ratings, pair_outlier_screen
from evaluation.simulation import thurstone_judgements


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    rng = np.random.default_rng(0)
    print("pairs: items  observers x judgements  leave-one-out s  shared s  reversed observer flagged (LOO/shared)")
    for n_items, n_observers, per in ((100, 10, 200), (1000, 20, 1000), (10000, 20, 5000)):
        true = rng.normal(size=n_items)
        observer = np.repeat(np.arange(n_observers), per)
        first = rng.integers(0, n_items, observer.size)
        second = (first + rng.integers(1, n_items, observer.size)) % n_items
        winners, _ = thurstone_judgements(true, first, second, rng=rng)
        outcome = (winners == first).astype(float)
        outcome[observer == 0] = 1.0 - outcome[observer == 0]
        loo, loo_s = timed(pair_outlier_screen, n_items, observer, first, second, outcome)
        shared, shared_s = timed(pair_outlier_screen, n_items, observer, first, second, outcome, leave_one_out=False)
        print(f"       {n_items:>6}  {n_observers:>3} x {per:<6}           {loo_s:>8.2f}  {shared_s:>8.2f}  {loo[0].flagged}/{shared[0].flagged}")
    print("ratings: observers x items  BT.500 s  alpha (ordinal) s")
    for n_observers, n_items in ((20, 1000), (50, 10000)):
        ratings = np.where(rng.random((n_observers, n_items)) < 0.3, rng.integers(1, 6, (n_observers, n_items)).astype(float), np.nan)
        _, bt_s = timed(bt500_screen_ratings, ratings)
        _, alpha_s = timed(krippendorff_alpha, ratings, level="ordinal")
        print(f"         {n_observers:>3} x {n_items:<6}           {bt_s:>7.2f}  {alpha_s:>7.2f}")


if __name__ == "__main__":
    main()
