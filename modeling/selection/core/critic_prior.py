"""Critic-informed choices for active learning: the critic's scores as a prior, and the samples it gets most wrong.

Django-free core (DESIGN.md, "Cores without Django"): plain numpy. Split from :mod:`modeling.selection.core.active`,
which uses these priors to choose pairs; the scale is the one of :mod:`evaluation.scaling`.

References
----------
.. [2] Paper 004 (docs/references.md), Sec. 3.3, eqs. 3-5:
   difficult-sample selection by variance-normalised error plus diversity.
.. [3] T. Minka, "Expectation Propagation for approximate Bayesian
   inference", UAI 2001 (cavity distributions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from evaluation.arrays import check_rng, float_vector, require_finite

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
    line_var : ndarray, shape [n_items]
        Variance of ``intercept + slope * critic`` from the uncertainty of the
        fitted line (``[1, c] Cov(a, b) [1, c]^T``); not in ``prior_var``.
        Few calibration items make it large; add it for the predictive
        variance of an item's human score.
    """

    prior_mean: np.ndarray
    prior_var: np.ndarray
    slope: float
    intercept: float
    residual_var: float
    n_calibration: int
    line_var: np.ndarray | None = None


def calibrate_critic_prior(
    critic_scores,
    critic_var,
    human_scores,
    human_var,
    has_human,
    *,
    min_residual_var: float = 1e-3,
    human_prior_mean=None,
    human_prior_var=None,
) -> CalibratedPrior:
    """Gaussian prior on every item's human score from a linear map of the critic.

    Fits the random-effects regression ``human_k = a + b critic_k + e_k``,
    ``e_k ~ N(0, tau^2)``, observed with noise ``human_var_k + b^2
    critic_var_k``, on the items with human data: ``tau^2`` maximises the
    restricted likelihood (REML) and ``a, b`` are the weighted least squares
    fit with weights ``1 / (human_var_k + b^2 critic_var_k + tau^2)``.  It
    returns ``prior_mean = a + b critic`` and ``prior_var = b^2 critic_var +
    tau^2`` for all items (items with human data too: their comparisons enter
    through the likelihood).

    Human scores from a MAP fit are shrunk towards that fit's own prior
    ``N(m_0, v_0)``; pass it as ``human_prior_mean``/``human_prior_var`` and it
    is divided out first (the cavity of expectation propagation [3])::

        precision_k = 1 / human_var_k - 1 / v_0k,
        human_k <- (human_k / human_var_k - m_0k / v_0k) / precision_k

    so the regression sees likelihood-only estimates with variance ``1 /
    precision_k``; items the comparisons barely inform (``precision_k <= 0``)
    drop out.  Without this, shrunk scores make ``tau^2`` collapse to its floor
    and the prior pins every item to the critic (docs/benchmarks.md).

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
    human_prior_mean, human_prior_var : float or array_like, shape [n_items], optional
        The prior of the fit that produced ``human_scores`` (for
        :func:`evaluation.scaling.thurstone_map_pairwise`'s default, ``0`` and
        ``1``).  Both or neither.

    Returns
    -------
    CalibratedPrior

    Raises
    ------
    ValueError
        Fewer than 3 calibration items (the line and ``tau^2`` need
        ``n - 2 >= 1`` degrees of freedom), constant critic scores on them,
        mismatched shapes or invalid values.
    RuntimeError
        If the REML search for ``tau^2`` does not converge.
    """
    critic = float_vector("critic_scores", critic_scores)
    n = critic.size
    c_var = float_vector("critic_var", critic_var, n)
    human = float_vector("human_scores", human_scores, n)
    h_var = float_vector("human_var", human_var, n)
    mask = np.asarray(has_human)
    if mask.shape != (n,) or mask.dtype != np.bool_:
        raise ValueError(f"has_human must be a boolean array of shape ({n},)")
    require_finite("critic_scores", critic)
    require_finite("critic_var", c_var)
    if np.any(c_var < 0):
        raise ValueError("critic_var must be >= 0")
    if not (np.isfinite(min_residual_var) and min_residual_var > 0):
        raise ValueError("min_residual_var must be > 0")
    if (human_prior_mean is None) != (human_prior_var is None):
        raise ValueError("give both human_prior_mean and human_prior_var, or neither")
    mask = mask.copy()
    y, hv = human.copy(), h_var.copy()
    require_finite("human_scores (where has_human)", y[mask])
    require_finite("human_var (where has_human)", hv[mask])
    if np.any(hv[mask] <= 0):
        raise ValueError("human_var must be > 0 where has_human")
    if human_prior_var is not None:
        m0 = np.broadcast_to(np.asarray(human_prior_mean, dtype=np.float64), (n,))
        v0 = np.broadcast_to(np.asarray(human_prior_var, dtype=np.float64), (n,))
        if not (np.all(np.isfinite(m0)) and np.all(np.isfinite(v0)) and np.all(v0 > 0)):
            raise ValueError("human_prior_mean must be finite and human_prior_var > 0")
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = 1.0 / hv - 1.0 / v0
            mask &= precision > 1e-6 / v0
            y = np.where(mask, (y / hv - m0 / v0) / precision, np.nan)
            hv = np.where(mask, 1.0 / precision, np.nan)
    n_cal = int(mask.sum())
    if n_cal < 3:
        raise ValueError(
            f"need at least 3 items with human scores to calibrate the critic, got {n_cal}"
        )
    x, y, hv, cv = critic[mask], y[mask], hv[mask], c_var[mask]
    if np.ptp(x) <= 1e-12 * max(np.max(np.abs(x)), 1e-300):
        raise ValueError("critic scores are constant on the calibration items")
    design = np.column_stack([np.ones(n_cal), x])

    def wls(tau2: float):
        slope = 0.0
        for _ in range(3 if np.any(cv > 0) else 1):  # noise depends on the slope
            total = hv + slope**2 * cv + tau2
            xtw = design.T / total
            info = xtw @ design
            intercept, slope = np.linalg.solve(info, xtw @ y)
        resid = y - intercept - slope * x
        neg_reml = 0.5 * (
            np.sum(np.log(total)) + np.sum(resid**2 / total) + np.linalg.slogdet(info)[1]
        )
        return float(intercept), float(slope), neg_reml, info

    floor = float(min_residual_var)
    top = max(10.0 * float(np.var(y)), 10.0 * floor)
    search = optimize.minimize_scalar(
        lambda log_tau2: wls(np.exp(log_tau2))[2],
        bounds=(np.log(floor), np.log(top)),
        method="bounded",
        options={"xatol": 1e-6, "maxiter": 200},
    )
    if not search.success:
        raise RuntimeError(f"REML search for the residual variance failed: {search.message}")
    tau2 = max(float(np.exp(search.x)), floor)
    if wls(floor)[2] <= search.fun:  # the bounded search never quite reaches its edge
        tau2 = floor
    intercept, slope, _, info = wls(tau2)
    cov = np.linalg.inv(info)
    line_var = cov[0, 0] + 2.0 * cov[0, 1] * critic + cov[1, 1] * critic**2
    return CalibratedPrior(
        prior_mean=intercept + slope * critic,
        prior_var=slope**2 * c_var + tau2,
        slope=slope,
        intercept=intercept,
        residual_var=tau2,
        n_calibration=n_cal,
        line_var=np.maximum(line_var, 0.0),
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
    rng = check_rng(rng)
    critic = float_vector("critic_scores", critic_scores)
    n = critic.size
    human = float_vector("human_scores", human_scores, n)
    std = float_vector("human_std", human_std, n)
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
        require_finite(name, arr)
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
