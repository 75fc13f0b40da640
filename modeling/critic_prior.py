"""Critic-informed choices for active learning: the critic's scores as a prior, and the samples it gets most wrong.

Django-free core (DESIGN.md, "Cores without Django"): plain numpy. Split from :mod:`modeling.active`,
which uses these priors to choose pairs; the scale is the one of :mod:`evaluation.scaling`.

References
----------
.. [2] Paper 004 (``/work/shared/papers/004_*``), Sec. 3.3, eqs. 3-5:
   difficult-sample selection by variance-normalised error plus diversity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeling.active import _check_rng, _float_vector, _require_finite

__all__ = ["CalibratedPrior", "calibrate_critic_prior", "critic_disagreement_scores"]

# ------------------------------------------------------ priors from the critic


@dataclass(frozen=True)
class CalibratedPrior:
    """Critic scores mapped onto the human (Thurstone) scale.

    Attributes
    ----------
    prior_mean, prior_var : ndarray, shape [n_items]
        Pass to ``thurstone_map_pairwise(prior_mean=..., prior_var=...)``.
    slope, intercept : float
        ``human ~= intercept + slope * critic``.
    residual_var : float
        Spread of true human scores around the line, beyond critic and human
        measurement noise.
    n_calibration : int
        Items with human data used for the fit.
    """

    prior_mean: np.ndarray
    prior_var: np.ndarray
    slope: float
    intercept: float
    residual_var: float
    n_calibration: int


def calibrate_critic_prior(
    critic_scores,
    critic_var,
    human_scores,
    human_var,
    has_human,
    *,
    min_residual_var: float = 1e-3,
) -> CalibratedPrior:
    """Gaussian prior on every item's human score from a linear map of the critic.

    Fits ``human_k = a + b critic_k + e_k`` by weighted least squares with
    weights ``1 / human_var_k`` on the items with human data, then estimates
    the residual variance by moments, removing the part explained by
    measurement noise::

        tau^2 = max(sum_k (r_k^2 - human_var_k - b^2 critic_var_k) / (n - 2),
                    min_residual_var)

    and returns ``prior_mean = a + b critic`` and ``prior_var = b^2 critic_var
    + tau^2`` for all items (items with human data too: their comparisons
    enter through the likelihood).

    Parameters
    ----------
    critic_scores, critic_var : array_like, shape [n_items]
        Critic score and its variance (``>= 0``) for every item.
    human_scores, human_var : array_like, shape [n_items]
        Thurstone scores and Laplace variances (``> 0``); read only where
        ``has_human`` (elsewhere they may be NaN).
    has_human : array_like of bool, shape [n_items]
    min_residual_var : float
        Floor on ``tau^2`` (``> 0``), so a perfect fit never yields a
        zero-variance (immovable) prior.

    Returns
    -------
    CalibratedPrior

    Raises
    ------
    ValueError
        Fewer than 3 calibration items (the line and ``tau^2`` need
        ``n - 2 >= 1`` degrees of freedom), constant critic scores on them,
        mismatched shapes or invalid values.
    """
    critic = _float_vector("critic_scores", critic_scores)
    n = critic.size
    c_var = _float_vector("critic_var", critic_var, n)
    human = _float_vector("human_scores", human_scores, n)
    h_var = _float_vector("human_var", human_var, n)
    mask = np.asarray(has_human)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        raise ValueError(f"has_human must be a boolean array of shape ({n},)")
    _require_finite("critic_scores", critic)
    _require_finite("critic_var", c_var)
    if np.any(c_var < 0):
        raise ValueError("critic_var must be >= 0")
    if not (np.isfinite(min_residual_var) and min_residual_var > 0):
        raise ValueError("min_residual_var must be > 0")
    n_cal = int(mask.sum())
    if n_cal < 3:
        raise ValueError(
            f"need at least 3 items with human scores to calibrate the critic, got {n_cal}"
        )
    x, y, hv, cv = critic[mask], human[mask], h_var[mask], c_var[mask]
    _require_finite("human_scores (where has_human)", y)
    _require_finite("human_var (where has_human)", hv)
    if np.any(hv <= 0):
        raise ValueError("human_var must be > 0 where has_human")
    w = 1.0 / hv
    x_bar = np.sum(w * x) / np.sum(w)
    y_bar = np.sum(w * y) / np.sum(w)
    sxx = np.sum(w * (x - x_bar) ** 2)
    if sxx <= 1e-12 * max(np.sum(w * x**2), 1e-300):
        raise ValueError("critic scores are constant on the calibration items")
    slope = float(np.sum(w * (x - x_bar) * (y - y_bar)) / sxx)
    intercept = float(y_bar - slope * x_bar)
    resid = y - (intercept + slope * x)
    tau2 = float(np.sum(resid**2 - hv - slope**2 * cv) / (n_cal - 2))
    tau2 = max(tau2, float(min_residual_var))
    return CalibratedPrior(
        prior_mean=intercept + slope * critic,
        prior_var=slope**2 * c_var + tau2,
        slope=slope,
        intercept=intercept,
        residual_var=tau2,
        n_calibration=n_cal,
    )


# ------------------------------------------- difficult samples (paper 004)


def critic_disagreement_scores(
    critic_scores,
    human_scores,
    human_std,
    features,
    *,
    diversity_weight: float,
    k: int,
    rng: np.random.Generator,
    epsilon: float = 1.0,
) -> np.ndarray:
    """Greedy choice of items where the critic is wrong, spread in feature space.

    Paper 004, eqs. 3-5 (NR form, eq. 5): the ``n``-th item maximises::

        (q_w(x) - q(x))^2 / (sigma(x)^2 + epsilon) + lambda Div(x, X*_{n-1})

    the squared error of the critic ``q_w`` against the human score ``q``,
    normalised by the human variance (items humans disagree on count less),
    plus ``lambda`` times the point-to-set diversity ``Div``: the mean squared
    feature difference to the *nearest* already-chosen item (farthest-point
    sampling; ``Div`` of the empty set is 0).  The paper uses ``lambda =
    0.01``, ``epsilon = 1`` on MOS scales and CLIP features.  With ``epsilon
    = 0`` the first term is the square of ``|q_w - q| / sigma``.

    Parameters
    ----------
    critic_scores, human_scores, human_std : array_like, shape [n_items]
        On the same scale; ``human_std >= 0``.
    features : array_like, shape [n_items, n_features]
    diversity_weight : float
        ``lambda >= 0``.
    k : int
        Items to choose, ``1 <= k <= n_items``.
    rng : numpy.random.Generator
        Breaks exact ties uniformly.
    epsilon : float
        ``> 0`` (or ``0`` when every ``human_std > 0``).

    Returns
    -------
    ndarray of int64, shape [k]
        Chosen item indices in pick order.

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite values, negative ``human_std`` or
        ``diversity_weight``, ``k`` out of range, or a zero denominator.
    """
    rng = _check_rng(rng)
    critic = _float_vector("critic_scores", critic_scores)
    n = critic.size
    human = _float_vector("human_scores", human_scores, n)
    std = _float_vector("human_std", human_std, n)
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] != n:
        raise ValueError(
            f"features must have shape ({n}, n_features), got {feats.shape}"
        )
    for name, arr in (
        ("critic_scores", critic),
        ("human_scores", human),
        ("human_std", std),
        ("features", feats),
    ):
        _require_finite(name, arr)
    if np.any(std < 0):
        raise ValueError("human_std must be >= 0")
    if not (np.isfinite(diversity_weight) and diversity_weight >= 0):
        raise ValueError("diversity_weight must be >= 0")
    if not (np.isfinite(epsilon) and epsilon >= 0):
        raise ValueError("epsilon must be >= 0")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}], got {k!r}")
    denom = std**2 + epsilon
    if np.any(denom <= 0):
        raise ValueError("human_std**2 + epsilon must be > 0 (use epsilon > 0)")
    difficulty = (critic - human) ** 2 / denom  # paper 004, eq. 4/5 first term
    diversity = np.zeros(n)  # Div(x, {}) = 0
    available = np.ones(n, dtype=bool)
    chosen = np.empty(k, dtype=np.int64)
    for step in range(k):
        objective = np.where(
            available, difficulty + diversity_weight * diversity, -np.inf
        )
        ties = np.flatnonzero(objective == objective.max())
        pick = int(ties[rng.integers(ties.size)]) if ties.size > 1 else int(ties[0])
        chosen[step] = pick
        available[pick] = False
        dist = np.mean((feats - feats[pick]) ** 2, axis=1)
        diversity = dist if step == 0 else np.minimum(diversity, dist)
    return chosen
