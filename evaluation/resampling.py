"""The bootstrap shared by the cores: argument checks, resampled indices, cluster weights and percentile intervals.

Django-free. Every function takes an explicit ``numpy.random.Generator``; the draws are made in one fixed order
(one ``rng.integers`` call per resample), so the same seed gives the same numbers wherever the bootstrap is used.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from evaluation.arrays import check_rng

__all__ = ["bootstrap_indices", "check_bootstrap", "cluster_weights", "percentile_interval"]


def check_bootstrap(n_resamples: int, confidence: float, rng) -> None:
    """Raise ValueError unless ``n_resamples >= 2`` and ``0 < confidence < 1``; TypeError unless ``rng`` is a Generator."""
    check_rng(rng)
    if n_resamples < 2:
        raise ValueError("n_resamples must be >= 2")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def bootstrap_indices(n: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield ``n_resamples`` resamples of ``range(n)``: each ``n`` indices drawn uniformly with replacement.

    Returns
    -------
    iterator of ndarray of int, each shape [n]
        Empty arrays (and no draws from ``rng``) when ``n == 0``.
    """
    for _ in range(n_resamples):
        yield rng.integers(0, n, size=n) if n else np.zeros(0, dtype=np.int64)


def cluster_weights(cluster, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield per-row weights of a cluster bootstrap: clusters drawn with replacement, each row weighted by how
    often its cluster was drawn (the same likelihood and shares as concatenating the drawn copies).

    Parameters
    ----------
    cluster : array_like of hashable, shape [n_rows]
        The cluster (e.g. the image) of each row; rows of one cluster are resampled together.

    Returns
    -------
    iterator of ndarray of float64, each shape [n_rows]
    """
    units, inverse = np.unique(np.asarray(cluster), return_inverse=True)
    for indices in bootstrap_indices(units.size, n_resamples, rng):
        yield np.bincount(indices, minlength=units.size)[inverse].astype(np.float64)


def percentile_interval(samples, confidence: float) -> tuple[float, float]:
    """The ``(1 − confidence)/2`` and ``(1 + confidence)/2`` quantiles of the finite ``samples`` (the percentile
    bootstrap interval, Efron & Tibshirani 1993, ch. 13); ``(nan, nan)`` when no sample is finite."""
    samples = np.asarray(samples, dtype=np.float64)
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
    return (float(low), float(high))
