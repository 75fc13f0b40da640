"""Benchmark Thurstone Case V MAP scaling: 10k items, 1M comparisons.

Run: ``.venv/bin/python benchmarks/bench_scaling.py [n_items] [n_comparisons]``.
Prints wall time and peak Python-heap memory (tracemalloc, which sees numpy
buffers) and the process peak RSS.  Pin to one core with
``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from scipy import special, stats

from evaluation.scaling import thurstone_map_pairwise


def simulate(n_items: int, n_comp: int, seed: int = 0):
    """Random pairs; outcomes drawn from Phi(s_i - s_j) with s ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n_items)
    a = rng.integers(0, n_items, n_comp)
    b = (a + rng.integers(1, n_items, n_comp)) % n_items
    a_wins = rng.random(n_comp) < special.ndtr(true[a] - true[b])
    return true, np.where(a_wins, a, b), np.where(a_wins, b, a)


def main() -> None:
    n_items = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    n_comp = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    true, winners, losers = simulate(n_items, n_comp)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = thurstone_map_pairwise(n_items, winners, losers)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rho = stats.spearmanr(true, res.scores).statistic
    print(
        f"items={n_items} comparisons={n_comp} newton_iters={res.n_iter} variances={res.variance_method}"
    )
    print(
        f"time={elapsed:.3f} s  peak_traced={peak / 2**20:.1f} MiB  peak_rss={rss:.1f} MiB  spearman={rho:.4f}"
    )


if __name__ == "__main__":
    main()
