"""Agreement between predicted quality scores and human scores (IQA metrics).

Plain numpy/scipy, no Django (DESIGN.md, "Cores without Django"). Every function takes
two 1-D arrays of the same length, ``pred`` (a model's or system's scores) and
``target`` (human scores, e.g. MOS or Thurstone scale values), one entry per item.

The 4-parameter logistic used before PLCC and RMSE is the monotonic mapping of the
VQEG FR-TV Phase II final report (2003), section on "nonlinear regression":
``f(x) = (β1 − β2) / (1 + exp(−(x − β3) / |β4|)) + β2``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from evaluation.arrays import finite_vector
from evaluation.resampling import bootstrap_indices, check_bootstrap, percentile_interval

__all__ = [
    "BootstrapInterval",
    "Logistic4",
    "LogisticFitError",
    "bootstrap_ci",
    "krcc",
    "logistic4_fit",
    "pairwise_accuracy",
    "pairwise_accuracy_judgements",
    "plcc",
    "rmse",
    "srcc",
    "srcc_interval",
]

# A logistic has four parameters; least squares needs at least as many items.
_LOGISTIC_MIN_ITEMS = 4


class LogisticFitError(RuntimeError):
    """The 4-parameter logistic fit did not converge to finite parameters."""


# --------------------------------------------------------------------------- validation


def _validate_pair(pred, target, *, min_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (pred, target) pair: 1-D, same shape, finite, at least ``min_items``."""
    pred = finite_vector("pred", pred)
    target = finite_vector("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {pred.shape} and {target.shape}"
        )
    if pred.size < min_items:
        raise ValueError(f"need at least {min_items} items, got {pred.size}")
    return pred, target


def _require_not_constant(array: np.ndarray, name: str) -> None:
    """Raise ValueError if ``array`` is constant (correlation and fit are undefined)."""
    if np.ptp(array) == 0:
        raise ValueError(f"{name} is constant; the correlation is undefined")


# --------------------------------------------------------------------------- rank correlations


def srcc(pred, target) -> float:
    """Spearman rank-order correlation (SRCC) between predicted and human scores.

    Measures prediction monotonicity: the Pearson correlation of the ranks, with
    average ranks for ties.

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores.
    target : array_like, shape [n_items]
        Human scores.

    Returns
    -------
    float
        SRCC in [-1, 1].

    Raises
    ------
    ValueError
        If the shapes differ, there are fewer than 2 items, a value is not finite, or
        either input is constant.
    """
    pred, target = _validate_pair(pred, target, min_items=2)
    _require_not_constant(pred, "pred")
    _require_not_constant(target, "target")
    return float(stats.spearmanr(pred, target).statistic)


def srcc_interval(value: float, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of an SRCC from its value and item count alone (no scores needed).

    Fisher's z with the standard error of Bonett and Wright (2000) for Spearman's rho,
    ``sqrt((1 + rho^2 / 2) / (n - 3))``: at n = 37 and rho = 0.5 the 95 % interval is
    about [0.19, 0.72], so two versions 0.05 apart on 37 held-out images are not told apart.

    Raises
    ------
    ValueError
        If ``n < 4``, ``value`` is outside [-1, 1] or ``level`` outside (0, 1).
    """
    if n < 4:
        raise ValueError("an SRCC interval needs at least 4 items")
    if not -1.0 <= value <= 1.0 or not 0.0 < level < 1.0:
        raise ValueError("value must be in [-1, 1] and level in (0, 1)")
    rho = float(np.clip(value, -0.999999, 0.999999))
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt((1 + rho**2 / 2) / (n - 3))
    return float(np.tanh(np.arctanh(rho) - half)), float(np.tanh(np.arctanh(rho) + half))


def krcc(pred, target) -> float:
    """Kendall rank-order correlation (KRCC, tau-b) between predicted and human scores.

    ``(concordant − discordant) / sqrt((n0 − n1)(n0 − n2))`` over item pairs, with
    tau-b's correction for ties in either input (scipy's default).

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores.
    target : array_like, shape [n_items]
        Human scores.

    Returns
    -------
    float
        KRCC in [-1, 1].

    Raises
    ------
    ValueError
        If the shapes differ, there are fewer than 2 items, a value is not finite, or
        either input is constant.
    """
    pred, target = _validate_pair(pred, target, min_items=2)
    _require_not_constant(pred, "pred")
    _require_not_constant(target, "target")
    return float(stats.kendalltau(pred, target).statistic)


# --------------------------------------------------------------------------- logistic mapping


@dataclass(frozen=True)
class Logistic4:
    """The VQEG 4-parameter logistic ``f(x) = (β1 − β2) / (1 + exp(−(x − β3)/|β4|)) + β2``.

    ``beta1`` and ``beta2`` are the asymptotes as x → +∞ and x → −∞, ``beta3`` the
    midpoint and ``|beta4|`` the horizontal scale. The mapping is increasing when
    ``beta1 > beta2`` and decreasing otherwise.
    """

    beta1: float
    beta2: float
    beta3: float
    beta4: float

    def __post_init__(self) -> None:
        betas = (self.beta1, self.beta2, self.beta3, self.beta4)
        if not all(np.isfinite(beta) for beta in betas):
            raise ValueError(f"logistic parameters must be finite, got {betas}")
        if self.beta4 == 0:
            raise ValueError("beta4 must be non-zero")

    def __call__(self, x) -> np.ndarray:
        """Map scores ``x`` (any shape) through the logistic; returns the same shape."""
        return _logistic4(
            np.asarray(x, dtype=float), self.beta1, self.beta2, self.beta3, self.beta4
        )


def _logistic4(
    x: np.ndarray, beta1: float, beta2: float, beta3: float, beta4: float
) -> np.ndarray:
    """The logistic itself, written with expit so large |x| does not overflow."""
    scale = max(abs(beta4), np.finfo(float).tiny)
    return beta2 + (beta1 - beta2) * special.expit((x - beta3) / scale)


def logistic4_fit(pred, target, *, max_evaluations: int = 10_000) -> Logistic4:
    """Least-squares fit of the 4-parameter logistic mapping ``pred`` onto ``target``.

    Minimises ``Σ_i (f(pred_i) − target_i)²`` with Levenberg–Marquardt
    (``scipy.optimize.curve_fit``), starting from β1 = max(target), β2 = min(target)
    (swapped when pred and target are negatively correlated), β3 = mean(pred) and
    β4 = std(pred). VQEG FR-TV Phase II final report (2003).

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores (the logistic's input).
    target : array_like, shape [n_items]
        Human scores (what the logistic should reproduce).
    max_evaluations : int, optional
        Most evaluations of the logistic the optimiser may spend.

    Returns
    -------
    Logistic4
        The fitted mapping, with ``beta4 > 0``.

    Raises
    ------
    ValueError
        If the shapes differ, there are fewer than 4 items, a value is not finite,
        either input is constant, or ``max_evaluations < 1``.
    LogisticFitError
        If the optimiser does not converge to finite parameters.
    """
    pred, target = _validate_pair(pred, target, min_items=_LOGISTIC_MIN_ITEMS)
    _require_not_constant(pred, "pred")
    _require_not_constant(target, "target")
    if max_evaluations < 1:
        raise ValueError("max_evaluations must be >= 1")

    increasing = np.corrcoef(pred, target)[0, 1] >= 0
    high, low = float(np.max(target)), float(np.min(target))
    initial = [high, low] if increasing else [low, high]
    initial += [float(np.mean(pred)), float(np.std(pred))]
    try:
        with warnings.catch_warnings():
            # An inestimable covariance is harmless here: only the β's are used.
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            betas, _ = optimize.curve_fit(
                _logistic4, pred, target, p0=initial, maxfev=max_evaluations
            )
    except (RuntimeError, ValueError) as error:
        # curve_fit raises RuntimeError on hitting maxfev, ValueError on non-finite residuals.
        raise LogisticFitError(
            f"4-parameter logistic fit did not converge: {error}"
        ) from error
    if not np.all(np.isfinite(betas)) or betas[3] == 0:
        raise LogisticFitError(
            f"4-parameter logistic fit gave degenerate parameters {betas}"
        )
    return Logistic4(
        float(betas[0]), float(betas[1]), float(betas[2]), float(abs(betas[3]))
    )


def _mapped(pred: np.ndarray, target: np.ndarray, fit_logistic: bool) -> np.ndarray:
    """``pred`` mapped through a logistic fitted to ``target``, or unchanged."""
    return logistic4_fit(pred, target)(pred) if fit_logistic else pred


def plcc(pred, target, *, fit_logistic: bool = True) -> float:
    """Pearson linear correlation (PLCC) between (logistic-mapped) predictions and human scores.

    Measures prediction accuracy: with ``fit_logistic`` the predictions first pass
    through the fitted 4-parameter logistic (:func:`logistic4_fit`), so that a
    monotonic but non-linear relation still scores near 1 (VQEG FR-TV Phase II, 2003).

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores.
    target : array_like, shape [n_items]
        Human scores.
    fit_logistic : bool, optional
        Fit and apply the logistic before correlating (default), or correlate raw scores.

    Returns
    -------
    float
        PLCC in [-1, 1].

    Raises
    ------
    ValueError
        If the shapes differ, there are too few items (2, or 4 with ``fit_logistic``),
        a value is not finite, or either input (or the mapped prediction) is constant.
    LogisticFitError
        If the logistic fit does not converge.
    """
    pred, target = _validate_pair(
        pred, target, min_items=_LOGISTIC_MIN_ITEMS if fit_logistic else 2
    )
    _require_not_constant(pred, "pred")
    _require_not_constant(target, "target")
    mapped = _mapped(pred, target, fit_logistic)
    _require_not_constant(mapped, "the logistic-mapped pred")
    return float(stats.pearsonr(mapped, target).statistic)


def rmse(pred, target, *, fit_logistic: bool = True) -> float:
    """Root-mean-square error between (logistic-mapped) predictions and human scores.

    ``sqrt(mean((f(pred) − target)²))`` with ``f`` the fitted 4-parameter logistic
    (:func:`logistic4_fit`), or the identity when ``fit_logistic`` is False. In the
    units of ``target``.

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores.
    target : array_like, shape [n_items]
        Human scores.
    fit_logistic : bool, optional
        Fit and apply the logistic first (default), or compare raw scores.

    Returns
    -------
    float
        RMSE, >= 0.

    Raises
    ------
    ValueError
        If the shapes differ, there are too few items (1, or 4 with ``fit_logistic``),
        a value is not finite, or (with ``fit_logistic``) either input is constant.
    LogisticFitError
        If the logistic fit does not converge.
    """
    pred, target = _validate_pair(
        pred, target, min_items=_LOGISTIC_MIN_ITEMS if fit_logistic else 1
    )
    mapped = _mapped(pred, target, fit_logistic)
    return float(np.sqrt(np.mean((mapped - target) ** 2)))


# --------------------------------------------------------------------------- pairwise accuracy


def pairwise_accuracy(pred, target, *, tie_tolerance: float = 0.0) -> float:
    """Fraction of item pairs that the prediction orders the same way as the human scores.

    Over pairs i < j with ``|target_i − target_j| > tie_tolerance``, the mean of
    ``1`` when ``sign(pred_i − pred_j) == sign(target_i − target_j)``, ``0.5`` when the
    prediction ties, ``0`` otherwise (a tied prediction is as good as a coin flip).

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores.
    target : array_like, shape [n_items]
        Human scores.
    tie_tolerance : float, optional
        Target differences at or below this are human ties and the pair is left out.

    Returns
    -------
    float
        Accuracy in [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ, there are fewer than 2 items, a value is not finite,
        ``tie_tolerance`` is negative or not finite, or no pair differs by more than it.
    """
    pred, target = _validate_pair(pred, target, min_items=2)
    if not np.isfinite(tie_tolerance) or tie_tolerance < 0:
        raise ValueError(f"tie_tolerance must be finite and >= 0, got {tie_tolerance}")
    credit = 0.0
    n_pairs = 0
    # One row of the upper triangle at a time: O(n) memory, for thousands of items.
    for i in range(pred.size - 1):
        target_diff = target[i] - target[i + 1 :]  # [n_items - i - 1]
        kept = np.abs(target_diff) > tie_tolerance
        agreement = np.sign(pred[i] - pred[i + 1 :][kept]) * np.sign(
            target_diff[kept]
        )  # 1, 0 or -1
        credit += float(np.sum((agreement + 1) / 2))
        n_pairs += int(np.count_nonzero(kept))
    if n_pairs == 0:
        raise ValueError(
            f"no pair of targets differs by more than tie_tolerance={tie_tolerance}"
        )
    return credit / n_pairs


def pairwise_accuracy_judgements(pred, winners, losers) -> float:
    """Fraction of human pairwise judgements that the predicted scores agree with.

    The mean over judgements k of ``1`` when ``pred[winners[k]] > pred[losers[k]]``,
    ``0.5`` when the two predictions tie, ``0`` otherwise. Repeated judgements of the
    same pair each count, so the result weights pairs by how often they were asked.

    Parameters
    ----------
    pred : array_like, shape [n_items]
        Predicted scores.
    winners : array_like of int, shape [n_judgements]
        Index into ``pred`` of the item the human preferred in each judgement.
    losers : array_like of int, shape [n_judgements]
        Index into ``pred`` of the other item in each judgement.

    Returns
    -------
    float
        Accuracy in [0, 1].

    Raises
    ------
    ValueError
        If ``pred`` is not finite 1-D, winners and losers differ in shape, are empty,
        are not integers, fall outside ``pred``, or a judgement compares an item with itself.
    """
    pred = finite_vector("pred", pred)
    winners = np.asarray(winners)
    losers = np.asarray(losers)
    if winners.ndim != 1 or winners.shape != losers.shape:
        raise ValueError(
            f"winners and losers must be 1-D of the same shape, got {winners.shape} and {losers.shape}"
        )
    if winners.size == 0:
        raise ValueError("need at least 1 judgement")
    for name, indices in (("winners", winners), ("losers", losers)):
        if not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(
                f"{name} must be integer indices, got dtype {indices.dtype}"
            )
        if indices.min() < 0 or indices.max() >= pred.size:
            raise ValueError(f"{name} must index into pred (0 .. {pred.size - 1})")
    if np.any(winners == losers):
        raise ValueError("a judgement compares an item with itself")
    agreement = np.sign(pred[winners] - pred[losers])  # [n_judgements]: 1, 0 or -1
    return float(np.mean((agreement + 1) / 2))


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class BootstrapInterval:
    """A metric's value on all items and its percentile bootstrap confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    n_skipped: int


# Resamples may be skipped when the metric is undefined on them (e.g. a constant resample);
# beyond this fraction the interval would describe a biased subset, so bootstrap_ci refuses.
_MAX_SKIPPED_FRACTION = 0.1


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    pred,
    target,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rng: np.random.Generator,
) -> BootstrapInterval:
    """Percentile bootstrap confidence interval for a metric, resampling items.

    Each resample draws ``n_items`` item indices with replacement and evaluates
    ``metric(pred[idx], target[idx])``; the interval is the ``(1 − confidence)/2`` and
    ``(1 + confidence)/2`` quantiles of those values (Efron & Tibshirani, 1993, ch. 13).
    Resamples on which the metric raises ValueError or LogisticFitError (e.g. all
    drawn targets equal) are skipped and counted.

    Parameters
    ----------
    metric : callable ``(pred, target) -> float``
        E.g. :func:`srcc`, or ``functools.partial(plcc, fit_logistic=False)``.
    pred : array_like, shape [n_items]
        Predicted scores.
    target : array_like, shape [n_items]
        Human scores.
    n_resamples : int, optional
        Number of bootstrap resamples.
    confidence : float, optional
        Coverage of the interval, in (0, 1).
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same interval.

    Returns
    -------
    BootstrapInterval
        ``estimate`` (metric on all items), ``low``, ``high`` and the bookkeeping.

    Raises
    ------
    ValueError
        If the inputs are invalid (as for the metric), ``n_resamples < 2``,
        ``confidence`` is outside (0, 1), or the metric was undefined on more than 10%
        of resamples.
    TypeError
        If ``rng`` is not a ``numpy.random.Generator``.
    """
    pred, target = _validate_pair(pred, target, min_items=2)
    check_bootstrap(n_resamples, confidence, rng)

    estimate = float(metric(pred, target))
    values = []
    n_skipped = 0
    for indices in bootstrap_indices(pred.size, n_resamples, rng):  # [n_items] each
        try:
            values.append(float(metric(pred[indices], target[indices])))
        except (ValueError, LogisticFitError):
            n_skipped += 1
    if n_skipped > _MAX_SKIPPED_FRACTION * n_resamples:
        raise ValueError(
            f"the metric was undefined on {n_skipped} of {n_resamples} resamples; too few or too tied items"
        )
    low, high = percentile_interval(values, confidence)
    return BootstrapInterval(
        estimate=estimate,
        low=low,
        high=high,
        confidence=confidence,
        n_resamples=n_resamples,
        n_skipped=n_skipped,
    )
