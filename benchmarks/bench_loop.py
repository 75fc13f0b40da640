"""Benchmark the selection loop through the app's own entry point, propose_pairs: comparisons to SRCC 0.9 / 0.95.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_loop.py``
(``--n=20,50,200,1000``: sizes; ``--seeds=5``; ``--batch=20``: pairs per batch, the app's default
``pair_batch_size`` (half of n below 40), or ``--batch=n-1``: batches of n - 1 pairs; ``--jobs=2``: worker
processes; ``--strategies``: a comma-separated subset; ``--latency-only``, ``--no-latency``).

Every batch is chosen by :func:`modeling.selection.core.propose.propose_pairs` (or, for the two
baselines, from the same posterior), exactly as the app's refill does: the posterior is refitted from
all comparisons so far, the critic (when given) is calibrated inside. Outcomes are drawn from
``Phi(s_i - s_j)`` (:func:`evaluation.simulation.thurstone_judgements`), the same seeds for every
strategy. A pair may be asked again (nothing is excluded). SRCC is measured on the human-only scores
(the Thurstone MAP with the default ``N(0, 1)`` prior, what the Scores page, the scaling run and the
exports show); with a critic, also on the human + critic posterior (the same comparisons, with the
calibrated critic as every image's prior), for comparison.

Strategies: ``random`` (uniformly random distinct pairs), ``closest`` (each batch: ``k`` random pairs
of neighbours in the current human-only ranking), ``default`` (``propose_pairs`` without a critic)
and ``critic 0.3 / 0.5 / 0.7 / 0.9`` (``propose_pairs`` with ``critic_scores = truth + noise`` of
Pearson ``r = 2 sin(pi rho / 6)`` to the truth, i.e. Spearman ``rho`` for Gaussian scores).
Not run unless named in ``--strategies``: selectors under test (``thompson``, ``thompson m4``, ``thompson bald``,
``thompson discordant``, ``thompson discordant gap``: ``SelectionConfig(strategy="thompson", ...)``; ``thompson
full cov`` (``discordant``): the same with samples from the full Laplace covariance, here only; ``hybrid``:
half the batch by the default, the rest Thompson neighbours) and bounds that know the true scores (``oracle
closest``, ``oracle default``, ``oracle discordant``, ``oracle discordant adjacent``, ``oracle discordant by
gap``; see ``EXTRA_CONFIGS`` and ``_oracle_discordant``), never selectors.

Spreads: ``normal``: true scores ``N(0, 1.5^2)``; ``wide``: uniform over 20 JND, one JND being the
difference won 75 % of the time (0.674 Thurstone units), so over 13.5 units.

Printed: per (spread, n, strategy), the median over seeds of the comparisons until the SRCC first
reaches 0.9 and 0.95 (``>B`` when a seed has not within the budget of ``budget_per_item * n``), and
the latency of one batch at n = 10,000.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from scipy import stats

from evaluation.simulation import thurstone_judgements
from modeling.selection.core.active import SelectionConfig
from evaluation.scaling import thurstone_map_pairwise
from modeling.selection.core.propose import propose_from_posterior, propose_pairs, selection_posterior

JND = 0.674  # Phi(0.674) = 0.75
SPREADS = ("normal", "wide")
CRITIC_SPEARMAN = (0.3, 0.5, 0.7, 0.9)
STRATEGIES = ("random", "closest", "default") + tuple(f"critic {rho}" for rho in CRITIC_SPEARMAN)
TARGETS = (0.9, 0.95)


def true_scores(spread: str, n: int, rng) -> np.ndarray:
    if spread == "normal":
        return rng.normal(0.0, 1.5, n)
    return rng.uniform(0.0, 20 * JND, n)


def critic_scores(true: np.ndarray, spearman: float, rng) -> np.ndarray:
    r = 2.0 * np.sin(np.pi * spearman / 6.0)
    noise_sd = true.std() * np.sqrt(1.0 / r**2 - 1.0)
    return 50.0 + 10.0 * (true + rng.normal(0.0, noise_sd, true.size))  # any raw scale: calibration maps it


#: Strategies that need no entry in STRATEGIES to run (--strategies): selectors under test and oracles.
#: ``oracle ...`` know the true scores (bounds, never a selector): ``oracle closest``: k random pairs adjacent in
#: the TRUE ranking; ``oracle default``: the default selector on the true means with the posterior's variances;
#: ``oracle discordant`` (``adjacent``; ``by gap``): k random pairs that the current ranking orders wrongly
#: (adjacent in it; drawn in proportion to their true gap).
EXTRA_CONFIGS = {
    "thompson": SelectionConfig(strategy="thompson"),
    "thompson m4": SelectionConfig(strategy="thompson", thompson_pairs_per_sample=4),
    "thompson m20": SelectionConfig(strategy="thompson", thompson_pairs_per_sample=20),
    "thompson bald": SelectionConfig(strategy="thompson", thompson_weight="bald"),
    "thompson discordant": SelectionConfig(strategy="thompson", thompson_pairs="discordant"),
    "thompson discordant gap": SelectionConfig(strategy="thompson", thompson_pairs="discordant", thompson_weight="gap"),
    "eig": SelectionConfig(strategy="eig"),
}


def _oracle_discordant(true, mean, k, rng, adjacent, by_gap=False) -> np.ndarray:
    """``k`` random pairs the current ranking orders WRONGLY (knowing the truth; a bound, not a selector).

    ``adjacent``: only pairs next to each other in the current ranking; else any misordered pair. When fewer
    are misordered than ``k``, the rest are random neighbours in the current ranking. ``by_gap``: drawn in
    proportion to the true gap (the worst errors first, and the most decisive outcomes).
    """
    order = np.argsort(mean + 1e-9 * rng.random(mean.size))
    if adjacent:
        a, b = order[:-1], order[1:]
    else:
        a, b = np.triu_indices(mean.size, 1)
    wrong = np.flatnonzero(np.sign(mean[a] - mean[b]) != np.sign(true[a] - true[b]))
    weight = np.abs(true[a[wrong]] - true[b[wrong]]) if by_gap else None
    if weight is not None and wrong.size:
        weight = weight / weight.sum() if weight.sum() > 0 else None
        if weight is not None and np.count_nonzero(weight) < k:
            weight = None
    chosen = rng.choice(wrong, size=min(k, wrong.size), replace=False, p=weight)
    pairs = np.column_stack([a[chosen], b[chosen]])
    if len(pairs) < k:
        pairs = np.concatenate([pairs, _closest(mean, k - len(pairs), rng)])
    return pairs


def _thompson_full_cov(n, winners, losers, k, rng, discordant, cap=2) -> np.ndarray:
    """Thompson neighbours (or swaps) with samples from the FULL Laplace posterior (correlated scores).

    The Hessian of the human-only MAP (prior N(0, 1), probit likelihood: weight ``lambda (lambda + d)``
    per comparison, ``lambda = phi(d) / Phi(d)``, ``d`` the MAP difference winner - loser), Cholesky; one
    correlated sample per pair, over the items below ``cap`` uses in this batch.
    """
    from scipy import linalg, special
    from modeling.selection.core.active import _pair_keys, _sampled_discordant_pair
    mean = selection_posterior(n, winners, losers).mean
    d = mean[winners] - mean[losers]
    lam = np.exp(-0.5 * d**2 - 0.5 * np.log(2 * np.pi) - special.log_ndtr(d))
    w = lam * (lam + d)
    hess = np.eye(n)
    np.add.at(hess, (winners, winners), w)
    np.add.at(hess, (losers, losers), w)
    np.add.at(hess, (winners, losers), -w)
    np.add.at(hess, (losers, winners), -w)
    upper = linalg.cholesky(hess)  # hess = U^T U, so U^{-1} eps ~ N(0, hess^{-1})
    uses = np.zeros(n, dtype=np.int64)
    taken = np.empty(0, dtype=np.int64)
    out = []
    for _ in range(20 * k):
        if len(out) == k:
            break
        sample = mean + linalg.solve_triangular(upper, rng.standard_normal(n))
        allowed = np.flatnonzero(uses < cap)
        pair = None
        if discordant:
            pair = _sampled_discordant_pair(mean[allowed], sample[allowed], allowed, taken, n, rng)
        if pair is None:
            order = allowed[np.argsort(sample[allowed])]
            keys = _pair_keys(order[:-1], order[1:], n)
            ok = np.flatnonzero(~np.isin(keys, taken))
            if ok.size == 0:
                continue
            p = ok[rng.integers(ok.size)]
            pair = (min(order[p], order[p + 1]), max(order[p], order[p + 1]))
        out.append(pair)
        uses[list(pair)] += 1
        taken = np.append(taken, np.int64(pair[0] * n + pair[1]))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def _closest(mean, k, rng) -> np.ndarray:
    order = np.argsort(mean + 1e-9 * rng.random(mean.size))  # random among equal means
    starts = rng.choice(mean.size - 1, size=min(k, mean.size - 1), replace=False)
    return np.column_stack([order[starts], order[starts + 1]])


def run_one(args) -> tuple:
    """Comparisons until each target SRCC (None if not within the budget) for one (spread, n, strategy, seed)."""
    spread, n, strategy, seed, batch, budget = args
    world = np.random.default_rng([seed, n, SPREADS.index(spread)])
    true = true_scores(spread, n, world)
    critic = None
    if strategy.startswith("critic"):
        critic = critic_scores(true, float(strategy.split()[1]), world)
    rng = np.random.default_rng([seed, 1])
    winners, losers = np.empty(0, np.int64), np.empty(0, np.int64)
    human = np.zeros(n)
    reached = {t: None for t in TARGETS}
    joint = None  # with a critic: comparisons until the human + critic posterior reaches the last target
    while winners.size < budget and (reached[TARGETS[-1]] is None or (critic is not None and joint is None)):
        if strategy == "random":
            pairs, _ = propose_pairs(n, winners, losers, batch, rng=rng, config=SelectionConfig(strategy="random"))
        elif strategy == "closest":
            pairs = _closest(human, batch, rng)
        elif strategy == "oracle closest":
            pairs = _closest(true, batch, rng)
        elif strategy in ("oracle discordant", "oracle discordant adjacent", "oracle discordant by gap"):
            pairs = _oracle_discordant(
                true, human, batch, rng, adjacent=strategy.endswith("adjacent"), by_gap=strategy.endswith("gap")
            )
        elif strategy == "oracle default":
            post = selection_posterior(n, winners, losers)
            pairs, _ = propose_from_posterior(true, post.var, batch, rng=rng)
        elif strategy.startswith("hybrid"):  # half the batch by the default, the rest by Thompson neighbours
            post = selection_posterior(n, winners, losers)
            first, _ = propose_from_posterior(post.mean, post.var, batch - batch // 2, rng=rng)
            rest, _ = propose_from_posterior(
                post.mean, post.var, batch // 2, rng=rng, exclude=first, config=SelectionConfig(strategy="thompson")
            )
            pairs = np.concatenate([first, rest])
        elif strategy in ("thompson full cov", "thompson full cov discordant"):
            pairs = _thompson_full_cov(n, winners, losers, batch, rng, discordant=strategy.endswith("discordant"))
        elif strategy == "eig on a sample":  # the default's selector on one posterior sample of the means
            post = selection_posterior(n, winners, losers)
            sample = post.mean + np.sqrt(post.var) * rng.standard_normal(n)
            pairs, _ = propose_from_posterior(sample, post.var, batch, rng=rng)
        elif strategy == "eig on thompson candidates":  # the default's gain, candidates adjacent in 10 samples
            post = selection_posterior(n, winners, losers)
            cands = []
            for _ in range(10):
                order = np.argsort(post.mean + np.sqrt(post.var) * rng.standard_normal(n))
                cands.append(np.column_stack([order[:-1], order[1:]]))
            pairs, _ = propose_from_posterior(post.mean, post.var, batch, rng=rng, candidates=np.concatenate(cands))
        elif strategy in EXTRA_CONFIGS:
            pairs, _ = propose_pairs(n, winners, losers, batch, rng=rng, config=EXTRA_CONFIGS[strategy])
        else:
            pairs, _ = propose_pairs(n, winners, losers, batch, critic_scores=critic, rng=rng)
        if len(pairs) == 0:
            break  # a selector that proposes nothing would loop for ever
        won, lost = thurstone_judgements(true, pairs[:, 0], pairs[:, 1], rng=rng)
        winners, losers = np.concatenate([winners, won]), np.concatenate([losers, lost])
        human = selection_posterior(n, winners, losers).mean
        srcc = stats.spearmanr(human, true).statistic
        for t in TARGETS:
            if reached[t] is None and srcc >= t:
                reached[t] = int(winners.size)
        if critic is not None and joint is None:
            prior = selection_posterior(n, winners, losers, critic_scores=critic)
            both = thurstone_map_pairwise(n, winners, losers, prior_mean=prior.prior_mean, prior_var=prior.prior_var).scores
            if stats.spearmanr(both, true).statistic >= TARGETS[-1]:
                joint = int(winners.size)
    return spread, n, strategy, seed, reached[0.9], reached[0.95], joint


def _median(values, budget) -> str:
    filled = [budget + 1 if v is None else v for v in values]
    med = float(np.median(filled))
    return f">{budget}" if med > budget else f"{med:.0f}"


def latency(n=10_000, k=20, repeats=10) -> None:
    """Wall and CPU time of one batch at n = 10,000 (CPU time is what a loaded, shared machine distorts least)."""
    rng = np.random.default_rng(0)
    true = rng.normal(0, 1.5, n)
    a = rng.integers(0, n, 5 * n)
    b = (a + rng.integers(1, n, a.size)) % n
    winners, losers = thurstone_judgements(true, a, b, rng=rng)
    critic = true + rng.normal(0, 1.5, n)
    t0, c0 = time.perf_counter(), time.process_time()
    posterior = selection_posterior(n, winners, losers, critic_scores=critic)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        propose_from_posterior(posterior.mean, posterior.var, k, rng=rng)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    full, full_cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        propose_pairs(n, winners, losers, k, critic_scores=critic, rng=rng)
        full.append(time.perf_counter() - t0)
        full_cpu.append(time.process_time() - c0)
    print(
        f"n={n}, {winners.size} comparisons, batch of {k}: selection median {1e3 * np.median(times):.1f} ms "
        f"(CPU {1e3 * np.median(cpu):.1f}); posterior with critic {1e3 * fit_s:.0f} ms (CPU {1e3 * fit_cpu:.0f}); "
        f"propose_pairs end to end median of 3 {1e3 * np.median(full):.0f} ms (CPU {1e3 * np.median(full_cpu):.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", default="20,50,200")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", default="20", help="pairs per batch, or n-1")
    parser.add_argument("--budget-per-item", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    args = parser.parse_args()
    if args.latency_only or not args.no_latency:
        latency()
    if args.latency_only:
        return
    sizes = [int(x) for x in args.n.split(",")]
    jobs = [
        (spread, n, strategy, seed, n - 1 if args.batch == "n-1" else min(int(args.batch), n // 2), args.budget_per_item * n)
        for n in sizes for spread in SPREADS for strategy in args.strategies.split(",") for seed in range(args.seeds)
    ]
    results: dict = {}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for spread, n, strategy, seed, r90, r95, joint in pool.map(run_one, jobs, chunksize=1):
            results.setdefault((spread, n, strategy), []).append((r90, r95, joint))
            print(f"run {spread} n={n} {strategy} seed {seed}: {r90} {r95} {joint}", flush=True)
    print(f"{len(jobs)} runs in {time.perf_counter() - t0:.0f} s; batch {args.batch}, {args.seeds} seeds")
    for spread in SPREADS:
        for n in sizes:
            budget = args.budget_per_item * n
            rows = {s: results[(spread, n, s)] for s in args.strategies.split(",")}
            print(f"\n{spread}, n = {n} (budget {budget}): strategy | to 0.9 | to 0.95 | human + critic to 0.95 | per seed (0.95)")
            for s, vals in rows.items():
                r90, r95, joint = zip(*vals)
                both = _median(joint, budget) if s.startswith("critic") else "="
                print(f"| {s} | {_median(r90, budget)} | {_median(r95, budget)} | {both} | {list(r95)} |")


if __name__ == "__main__":
    main()
