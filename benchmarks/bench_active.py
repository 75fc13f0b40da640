"""Benchmark active pair selection: batch latency, and label efficiency against simulated annotators.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_active.py``
(``--quick``: n = 50 and 200 only, 3 seeds; ``--n=200``: one size only;
``--no-sim``: latency only).

1. Latency of one 50-pair batch at ``n = 1,000`` and ``10,000`` with the
   default :class:`modeling.selection.core.active.SelectionConfig`; target under 200 ms on
   one core at 10,000.
2. Simulated annotators: true scores ``N(0, 1.5^2)`` on the Thurstone scale
   (one unit = the standard deviation of a perceived difference, so a random
   pair is won by its better item 90 % of the time on average), outcomes drawn
   from ``Phi(s_i - s_j)`` by :func:`evaluation.simulation.thurstone_judgements`,
   the same observer and seeds for every strategy.  Batches of 50 pairs,
   refit with :func:`evaluation.scaling.thurstone_map_pairwise` after each.
   Strategies: random pairs; EIG from the default ``N(0, 1)`` prior; EIG from
   a critic prior.  The critic is ``truth + noise`` with Pearson ``r`` to the
   truth (``r`` = 0.5, 0.7, 0.9; its Spearman is printed); nothing else of the
   truth is used: before the first comparison the batch is chosen on the
   standardised critic scores, and after every batch the prior is
   recalibrated by :func:`modeling.selection.core.critic_prior.calibrate_critic_prior` on the
   items compared so far (their scores from a fit with the default prior,
   which is divided out), as the app does on a new project.  Reported per
   ``n``: Spearman and RMSE (centred scores, Thurstone units) against the
   truth after a given number of comparisons, and comparisons until the
   Spearman first reaches 0.95, medians over seeds.
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
from modeling.selection.core.active import SelectionConfig, select_pairs_batch
from modeling.selection.core.critic_prior import calibrate_critic_prior

TARGET_SRCC = 0.95
TRUE_SD = 1.5
BATCH = 50
CRITIC_PEARSON = (0.5, 0.7, 0.9)


def bench_latency(n_items: int, k: int = 50, repeats: int = 20) -> None:
    """Print median and worst wall time of one k-pair batch (default config)."""
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
        f"batch of {k} at n={n_items}: median {np.median(times_ms):.1f} ms, "
        f"max {times_ms.max():.1f} ms over {repeats} runs (target < 200 ms at 10k)"
    )


def _calibrated_prior(critic, winners, losers, n):
    """The app's recalibration: default-prior fit of the compared items, prior divided out."""
    fit = thurstone_map_pairwise(n, winners, losers, variance_method="diagonal")
    compared = np.zeros(n, dtype=bool)
    compared[winners] = True
    compared[losers] = True
    return calibrate_critic_prior(
        critic,
        np.zeros(n),
        fit.scores,
        fit.variances,
        compared,
        human_prior_mean=0.0,
        human_prior_var=1.0,
    )


def run_loop(true, config, *, seed, budget, critic=None, stop_at_target=False):
    """Comparisons until Spearman >= TARGET_SRCC (or None), and the (count, srcc, rmse) curve."""
    rng = np.random.default_rng(seed)
    n = true.size
    winners, losers, curve = [], [], []
    if critic is None:
        mean, var = np.zeros(n), np.ones(n)
    else:  # before any human data: the critic's ordering, unit prior variance
        mean, var = (critic - critic.mean()) / critic.std(), np.ones(n)
    reached = None
    while len(winners) < budget:
        pairs = select_pairs_batch(mean, var, BATCH, rng=rng, config=config)
        won, lost = thurstone_judgements(
            true, [p.i for p in pairs], [p.j for p in pairs], rng=rng
        )
        winners.extend(won.tolist())
        losers.extend(lost.tolist())
        prior_mean = prior_var = None
        if critic is not None:
            prior = _calibrated_prior(critic, winners, losers, n)
            prior_mean, prior_var = prior.prior_mean, prior.prior_var
        fit = thurstone_map_pairwise(
            n, winners, losers, prior_mean=prior_mean, prior_var=prior_var
        )
        mean, var = np.asarray(fit.scores), np.asarray(fit.variances)
        srcc = stats.spearmanr(mean, true).statistic
        rmse = np.sqrt(np.mean(((mean - mean.mean()) - (true - true.mean())) ** 2))
        curve.append((len(winners), srcc, rmse))
        if reached is None and srcc >= TARGET_SRCC:
            reached = len(winners)
            if stop_at_target:
                break
    return reached, curve


def _critic(true, r, rng):
    return true + rng.normal(0, true.std() * np.sqrt(1 / r**2 - 1), true.size)


def bench_simulation(n_items: int, seeds: int, budget: int, report_at) -> None:
    """Print the Spearman/RMSE curves and comparisons to TARGET_SRCC per strategy."""
    eig, rnd = SelectionConfig(), SelectionConfig(strategy="random")
    names = ["random", "eig"] + [f"eig + prior r={r}" for r in CRITIC_PEARSON]
    reached = {name: [] for name in names}
    curves = {name: [] for name in names}
    critic_srcc = {r: [] for r in CRITIC_PEARSON}
    t0 = time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng(1000 + seed)
        true = rng.normal(0, TRUE_SD, n_items)
        runs = {"random": (rnd, None), "eig": (eig, None)}
        for r in CRITIC_PEARSON:
            critic = _critic(true, r, rng)
            critic_srcc[r].append(stats.spearmanr(critic, true).statistic)
            runs[f"eig + prior r={r}"] = (eig, critic)
        for name, (config, critic) in runs.items():
            hit, curve = run_loop(true, config, seed=seed, budget=budget, critic=critic)
            reached[name].append(hit if hit is not None else np.inf)
            curves[name].append(curve)
    print(
        f"\nn={n_items}: {seeds} seeds, batches of {BATCH}, true sd {TRUE_SD}, "
        f"critic Spearman "
        + ", ".join(f"{np.mean(v):.2f}" for v in critic_srcc.values())
        + f" ({time.perf_counter() - t0:.0f} s)"
    )
    print("  Spearman / RMSE (median over seeds) after C comparisons:")
    print("  " + f"{'C':>24}" + "".join(f"{c:>14}" for c in report_at))
    for name in names:
        cells = []
        for c in report_at:
            # last refit with at most c comparisons (a capped batch can be short)
            at = [[p for p in cv if p[0] <= c][-1] for cv in curves[name]]
            s = np.median([p[1] for p in at])
            e = np.median([p[2] for p in at])
            cells.append(f"{s:.3f}/{e:.2f}")
        print(f"  {name:>24}" + "".join(f"{x:>14}" for x in cells))
    base = np.median(reached["eig"])
    rand = np.median(reached["random"])
    print(f"  comparisons to Spearman {TARGET_SRCC} (median; inf = not within {budget}):")
    for name in names:
        med = np.median(reached[name])
        print(
            f"  {name:>24} {med:>7.0f}   {med / rand:.2f}x random  {med / base:.2f}x eig"
            f"   per seed {[int(x) if np.isfinite(x) else 'inf' for x in reached[name]]}"
        )


def main() -> None:
    quick = "--quick" in sys.argv
    bench_latency(1_000)
    bench_latency(10_000)
    if "--no-sim" in sys.argv:
        return
    sizes = [int(a.split("=")[1]) for a in sys.argv if a.startswith("--n=")]
    runs = {
        50: (3 if quick else 5, 1000, (100, 200, 400, 600, 1000)),
        200: (3 if quick else 5, 2500, (250, 500, 1000, 1500, 2000, 2500)),
        1000: (2, 10000, (1000, 2500, 5000, 7500, 10000)),
    }
    for n_items in sizes or ([50, 200] if quick else [50, 200, 1000]):
        bench_simulation(n_items, *runs[n_items])


if __name__ == "__main__":
    main()
