"""Benchmark active pair selection: batch latency at 10k items, comparisons to SRCC 0.95.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_active.py``
(``--no-sim`` skips the simulation).

1. Latency of one 50-pair EIG batch at ``n = 10,000`` (candidate pruning,
   BALD on every candidate, greedy picks with variance updates); target
   under 200 ms on one core.
2. Simulated annotators at ``n = 200``, true scores ``N(0, 1.5^2)``, outcomes
   drawn from ``Phi(s_i - s_j)``; batches of 50, refit with
   :func:`evaluation.scaling.thurstone_map_pairwise` after each; comparisons
   until the Spearman correlation with the truth first reaches 0.95, for
   random pairs, EIG from the default ``N(0, 1)`` prior, and EIG from a critic
   prior (critic Spearman about 0.7 with the truth) calibrated by
   :func:`modeling.active.calibrate_critic_prior` on 20 items with earlier
   human scores.  Median over seeds.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from scipy import stats

from evaluation.scaling import thurstone_map_pairwise
from evaluation.simulation import thurstone_judgements
from modeling.active import SelectionConfig, select_pairs_batch
from modeling.critic_prior import calibrate_critic_prior

TARGET_SRCC = 0.95
MAX_COMPARISONS = 20_000


def bench_latency(n_items: int = 10_000, k: int = 50, repeats: int = 20) -> None:
    """Print median and worst wall time of one k-pair EIG batch."""
    rng = np.random.default_rng(0)
    mean, var = rng.normal(size=n_items), rng.uniform(0.05, 1.0, n_items)
    select_pairs_batch(mean, var, k, rng=rng)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        batch = select_pairs_batch(mean, var, k, rng=rng)
        times.append(time.perf_counter() - t0)
    assert len(batch) == k
    times_ms = 1e3 * np.array(times)
    print(
        f"EIG batch of {k} at n={n_items}: median {np.median(times_ms):.1f} ms, "
        f"max {times_ms.max():.1f} ms over {repeats} runs (target < 200 ms)"
    )


def comparisons_to_target(true, strategy, prior_mean, prior_var, seed, batch=50) -> int:
    """Comparisons until SRCC(fit, truth) >= TARGET_SRCC (MAX_COMPARISONS if never)."""
    rng = np.random.default_rng(seed)
    n = true.size
    winners, losers = [], []
    mean, var = prior_mean.copy(), prior_var.copy()
    config = SelectionConfig(strategy=strategy)
    while len(winners) < MAX_COMPARISONS:
        pairs = select_pairs_batch(mean, var, batch, rng=rng, config=config)
        won, lost = thurstone_judgements(true, [p.i for p in pairs], [p.j for p in pairs], rng=rng)
        winners.extend(won.tolist())
        losers.extend(lost.tolist())
        fit = thurstone_map_pairwise(
            n, winners, losers, prior_mean=prior_mean, prior_var=prior_var
        )
        mean, var = fit.scores, fit.variances
        if stats.spearmanr(mean, true).statistic >= TARGET_SRCC:
            return len(winners)
    return MAX_COMPARISONS


def critic_prior(true, rng, srcc=0.7, n_calibration=20):
    """A noisy critic with Pearson ``srcc`` to the truth, calibrated on a few human-scored items."""
    sd = true.std()
    critic = true + rng.normal(0, sd * np.sqrt(1 / srcc**2 - 1), true.size)
    has_human = np.zeros(true.size, dtype=bool)
    has_human[rng.choice(true.size, n_calibration, replace=False)] = True
    human_var = np.full(true.size, 0.05)
    human = np.where(has_human, true + rng.normal(0, np.sqrt(human_var)), np.nan)
    prior = calibrate_critic_prior(
        critic, np.zeros(true.size), human, human_var, has_human
    )
    return prior, stats.spearmanr(critic, true).statistic


def bench_simulation(n_items: int = 200, seeds: int = 5) -> None:
    """Print comparisons needed to reach SRCC 0.95 for each strategy."""
    results = {"random": [], "eig": [], "eig + critic prior": []}
    critic_srcc = []
    t0 = time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        true = rng.normal(0, 1.5, n_items)
        flat_mean, flat_var = np.zeros(n_items), np.ones(n_items)
        prior, rho = critic_prior(true, rng)
        critic_srcc.append(rho)
        results["random"].append(
            comparisons_to_target(true, "random", flat_mean, flat_var, seed)
        )
        results["eig"].append(
            comparisons_to_target(true, "eig", flat_mean, flat_var, seed)
        )
        results["eig + critic prior"].append(
            comparisons_to_target(true, "eig", prior.prior_mean, prior.prior_var, seed)
        )
    print(
        f"comparisons to SRCC {TARGET_SRCC} at n={n_items} (batches of 50, {seeds} seeds, "
        f"critic SRCC {np.mean(critic_srcc):.2f}, {time.perf_counter() - t0:.0f} s):"
    )
    for name, counts in results.items():
        print(f"  {name:<20} median {int(np.median(counts)):>6}   per seed {counts}")


def main() -> None:
    bench_latency()
    if "--no-sim" not in sys.argv:
        bench_simulation()


if __name__ == "__main__":
    main()
