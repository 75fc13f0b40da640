"""Single-stimulus ratings to mean opinion scores, and onto the pairwise (Thurstone) scale.

Django-free core (DESIGN.md). Split from :mod:`evaluation.scaling`, whose MAP fit takes
:func:`mos_prior_mean` as its prior mean when a project has both ratings and pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evaluation.arrays import as_index_array, check_n_items

__all__ = ["MOSResult", "mos_from_ratings", "mos_prior_mean"]


@dataclass(frozen=True)
class MOSResult:
    """Mean opinion score per item.

    Attributes
    ----------
    mean, std : ndarray, shape [n_items]
        Mean and sample standard deviation (ddof=1) of the ratings; NaN for
        items with no rating (std NaN with fewer than two).
    n : ndarray of int64, shape [n_items]
        Number of ratings.
    ci_low, ci_high : ndarray, shape [n_items]
        95% Student-t interval for the mean; NaN with fewer than two ratings.
    """

    mean: np.ndarray
    std: np.ndarray
    n: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def mos_from_ratings(item_index, ratings, n_items, *, levels: int = 5) -> MOSResult:
    """Mean opinion score, spread and 95% t-interval per item from ratings.

    Putting ratings and pairs on one scale: MOS is on the rating scale
    (1..levels) and Thurstone scores are in units of the standard deviation
    of a perceptual difference, so they are not directly comparable.  The
    choice made here is to use ratings as the *prior* of the pairwise fit:
    :func:`mos_prior_mean` z-scores the MOS over rated items (mean 0, unit
    standard deviation, the same location and scale as the ``N(0, 1)`` prior of
    paper 004, eq. 2), leaving unrated items at 0; pass it as ``prior_mean``
    to :func:`thurstone_map_pairwise`.  Pairs then refine the ordering where
    they exist, and items with ratings only keep their z-scored MOS.

    Parameters
    ----------
    item_index : array_like of int, shape [n_ratings]
    ratings : array_like of float, shape [n_ratings]
        Ratings in ``[1, levels]``.
    n_items : int
    levels : int
        Number of rating levels (default 5, an ACR scale).

    Returns
    -------
    MOSResult

    Raises
    ------
    ValueError
        On mismatched lengths, out-of-range indices, NaN, or ratings outside
        ``[1, levels]``.
    """
    n_items = check_n_items(n_items)
    if (
        isinstance(levels, bool)
        or not isinstance(levels, (int, np.integer))
        or levels < 2
    ):
        raise ValueError("levels must be an integer >= 2")
    idx = as_index_array("item_index", item_index, n_items)
    r = np.asarray(ratings, dtype=np.float64)
    if r.shape != idx.shape:
        raise ValueError(
            f"item_index and ratings have different lengths ({idx.size} != {r.size})"
        )
    if np.isnan(r).any():
        raise ValueError("ratings contains NaN")
    if np.any((r < 1) | (r > levels)):
        raise ValueError(f"ratings must lie in [1, {levels}]")
    n = np.bincount(idx, minlength=n_items)
    total = np.bincount(idx, weights=r, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / n, np.nan)
        dev2 = np.bincount(idx, weights=(r - mean[idx]) ** 2, minlength=n_items)
        std = np.where(n > 1, np.sqrt(dev2 / (n - 1)), np.nan)
        tcrit = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        half = tcrit * std / np.sqrt(n)
    return MOSResult(mean=mean, std=std, n=n, ci_low=mean - half, ci_high=mean + half)


def mos_prior_mean(mos: MOSResult) -> np.ndarray:
    """Z-scored MOS for use as ``prior_mean`` of :func:`thurstone_map_pairwise`.

    Parameters
    ----------
    mos : MOSResult

    Returns
    -------
    ndarray, shape [n_items]
        ``(mean - mean over rated items) / std over rated items``; 0 for
        unrated items, and 0 for all items if the rated MOS has no spread.
    """
    rated = mos.n > 0
    out = np.zeros(mos.mean.shape, dtype=np.float64)
    if rated.sum() < 2:
        return out
    vals = mos.mean[rated]
    sd = vals.std()
    if sd > 0:
        out[rated] = (vals - vals.mean()) / sd
    return out
