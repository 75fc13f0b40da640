"""Aggregation of blinded side-by-side votes: G+S/S+B, win/tie/loss, Bradley–Terry, position bias, agreement.

Django-free: numpy and scipy. Votes are parallel arrays, one entry a vote:

- ``system_a``, ``system_b`` : int, shape [n_votes] — the two systems of the trial (indices 0..n_systems-1);
- ``outcome`` : int, shape [n_votes] — +1 A better, 0 same, -1 B better (relative to A, whatever side A was shown on);
- ``item`` : int, shape [n_votes] — the study item (image) the vote is about; the bootstrap resamples items, so
  votes on one image stay together (they are not independent);
- ``left_is_a`` : bool, shape [n_votes] — A was shown on the left.

The bootstrap is evaluation/resampling.py's, Krippendorff's alpha evaluation/agreement.py's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from evaluation.agreement import krippendorff_alpha
from evaluation.resampling import check_bootstrap, cluster_weights, percentile_interval

__all__ = [
    "BradleyTerryFit",
    "BradleyTerryFitError",
    "PairSummary",
    "PositionBias",
    "bradley_terry_bootstrap",
    "bradley_terry_ties",
    "gsb_pairwise",
    "krippendorff_alpha_ordinal",
    "position_bias_binomial",
    "reasonable_rate",
    "win_tie_loss_bootstrap",
]


#: A strength difference beyond this (odds of e^30, near where float64 loses 1 - p) means the fit runs off to infinity.
MAX_LOGIT = 30.0


class BradleyTerryFitError(RuntimeError):
    """Newton's method did not converge (e.g. a system that always wins, with no ridge to hold it)."""


def _votes(system_a, system_b, outcome, n_systems: int):
    a = np.asarray(system_a, dtype=np.int64)
    b = np.asarray(system_b, dtype=np.int64)
    y = np.asarray(outcome, dtype=np.int64)
    if not (a.shape == b.shape == y.shape) or a.ndim != 1:
        raise ValueError("system_a, system_b and outcome must be 1-D arrays of one length")
    if n_systems < 2:
        raise ValueError("n_systems must be >= 2")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_systems):
        raise ValueError("system indices must lie in 0..n_systems-1")
    if np.any(a == b):
        raise ValueError("a vote must compare two different systems")
    if not np.isin(y, (-1, 0, 1)).all():
        raise ValueError("outcome must be +1 (A better), 0 (same) or -1 (B better)")
    return a, b, y


@dataclass(frozen=True)
class PairSummary:
    """One ordered pair of systems (i, j), i < j, from i's side: G = i better, S = same, B = j better."""

    i: int
    j: int
    n: int
    good: int
    same: int
    bad: int
    #: (G + S) / (S + B), VisualCritic Table 7 (paper 000): > 1 when i is preferred; inf when S + B = 0.
    gsb_ratio: float
    win: float
    tie: float
    loss: float
    win_ci: tuple[float, float] = (float("nan"), float("nan"))
    tie_ci: tuple[float, float] = (float("nan"), float("nan"))
    loss_ci: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def gs_share(self) -> float:
        """G+S as a share of the pair's votes."""
        return (self.good + self.same) / self.n if self.n else float("nan")

    @property
    def sb_share(self) -> float:
        """S+B as a share of the pair's votes."""
        return (self.same + self.bad) / self.n if self.n else float("nan")


def _oriented(a, b, y, i: int, j: int):
    """The outcomes of votes on pair {i, j}, from i's side (+1: i better)."""
    forward = (a == i) & (b == j)
    backward = (a == j) & (b == i)
    mask = forward | backward
    return mask, np.where(forward, y, -y)[mask]


def gsb_pairwise(system_a, system_b, outcome, *, n_systems: int) -> list[PairSummary]:
    """Good/Same/Bad counts and the G+S/S+B ratio for every pair of systems that has votes.

    The ratio is (G + S) / (S + B) as in VisualCritic's human side-by-side comparison (paper 000,
    Table 7), where G counts votes preferring the first system of the pair, B the second, S ties.

    Returns
    -------
    list of PairSummary, pairs (i, j) with i < j in lexicographic order; intervals are NaN here
    (see :func:`win_tie_loss_bootstrap`).
    """
    a, b, y = _votes(system_a, system_b, outcome, n_systems)
    rows = []
    for i in range(n_systems):
        for j in range(i + 1, n_systems):
            _, oriented = _oriented(a, b, y, i, j)
            n = oriented.size
            if n == 0:
                continue
            good, same, bad = int((oriented == 1).sum()), int((oriented == 0).sum()), int((oriented == -1).sum())
            ratio = (good + same) / (same + bad) if same + bad else float("inf")
            rows.append(PairSummary(i, j, n, good, same, bad, ratio, good / n, same / n, bad / n))
    return rows


def win_tie_loss_bootstrap(
    system_a, system_b, outcome, item, *, n_systems: int, n_resamples: int = 1000, confidence: float = 0.95,
    rng: np.random.Generator,
) -> list[PairSummary]:
    """:func:`gsb_pairwise` with percentile bootstrap intervals on the win, tie and loss shares.

    Items (images) are resampled with replacement and every vote on a drawn item comes along (a cluster
    bootstrap; Efron & Tibshirani 1993, ch. 13). Resamples where a pair has no votes are left out of
    that pair's interval.
    """
    check_bootstrap(n_resamples, confidence, rng)
    a, b, y = _votes(system_a, system_b, outcome, n_systems)
    item = np.asarray(item)
    if item.shape != a.shape:
        raise ValueError("item must have one entry per vote")
    rows = gsb_pairwise(a, b, y, n_systems=n_systems)
    low, high = np.minimum(a, b), np.maximum(a, b)
    pair = low * n_systems + high  # one id per unordered pair
    oriented = np.where(a == low, y, -y)  # +1: the lower-numbered system better
    n_pairs = n_systems * n_systems
    draws = np.full((n_resamples, 3, n_pairs), np.nan)
    for k, weight in enumerate(cluster_weights(item, n_resamples, rng)):
        total = np.bincount(pair, weights=weight, minlength=n_pairs)
        with np.errstate(invalid="ignore", divide="ignore"):
            for column, value in enumerate((1, 0, -1)):
                draws[k, column] = np.bincount(pair, weights=weight * (oriented == value), minlength=n_pairs) / total
    out = []
    for r in rows:
        table = draws[:, :, r.i * n_systems + r.j]
        out.append(PairSummary(
            r.i, r.j, r.n, r.good, r.same, r.bad, r.gsb_ratio, r.win, r.tie, r.loss,
            percentile_interval(table[:, 0], confidence), percentile_interval(table[:, 1], confidence), percentile_interval(table[:, 2], confidence),
        ))
    return out


@dataclass(frozen=True)
class BradleyTerryFit:
    """Bradley–Terry strengths on the logit scale, centred to mean 0; `length_coef` when a covariate was used."""

    scores: np.ndarray  # [n_systems]
    length_coef: float | None
    iterations: int


def bradley_terry_ties(
    system_a, system_b, outcome, *, n_systems: int, covariate=None, l2: float = 0.0, max_iter: int = 100, tol: float = 1e-10,
) -> BradleyTerryFit:
    """Maximum-likelihood Bradley–Terry strengths, a tie counting as half a win for each side.

    The model is logistic regression without intercept, P(A beats B) = σ(s_A − s_B + γ·z), where z is an
    optional per-vote covariate (e.g. the normalised answer-length difference, so that s is controlled for
    length). As in Chatbot Arena's leaderboard, a tie enters the likelihood as half a win and half a loss:
    the log-likelihood is Σ w·log σ(η) + (1 − w)·log σ(−η) with w = 1, ½, 0 for A better, same, B better.
    s_0 is held at 0 while fitting (the likelihood only sees differences) and the scores are centred
    afterwards. Newton's method; ``l2`` adds a ridge penalty ½·l2·‖θ‖² that keeps the fit finite when a
    system always wins.

    Parameters
    ----------
    covariate : array_like, shape [n_votes], optional
    l2 : float
        Ridge strength, >= 0.

    Raises
    ------
    ValueError
        Bad input, or no votes.
    BradleyTerryFitError
        No convergence in ``max_iter`` Newton steps (e.g. perfect separation with ``l2 = 0``).
    """
    a, b, y = _votes(system_a, system_b, outcome, n_systems)
    if a.size == 0:
        raise ValueError("no votes to fit")
    if l2 < 0:
        raise ValueError("l2 must be >= 0")
    x = _bt_design(a, b, n_systems, covariate)
    return _bt_newton(x, (y + 1) / 2.0, np.ones(a.size), n_systems=n_systems, has_covariate=covariate is not None,
                      l2=l2, max_iter=max_iter, tol=tol)


def _bt_design(a: np.ndarray, b: np.ndarray, n_systems: int, covariate) -> np.ndarray:
    """[n_votes, n_systems - 1 (+1)]: +1 in A's column, -1 in B's (system 0 is the reference), then the covariate."""
    n = a.size
    x = np.zeros((n, n_systems - 1 + (covariate is not None)))
    rows = np.arange(n)
    x[rows[a > 0], a[a > 0] - 1] = 1.0
    x[rows[b > 0], b[b > 0] - 1] = -1.0
    if covariate is not None:
        z = np.asarray(covariate, dtype=np.float64)
        if z.shape != a.shape or not np.isfinite(z).all():
            raise ValueError("covariate must be finite, one entry per vote")
        x[:, -1] = z
    return x


def _bt_newton(x, w, weight, *, n_systems: int, has_covariate: bool, l2: float, max_iter: int = 100, tol: float = 1e-10) -> BradleyTerryFit:
    """Newton's method for the weighted half-win likelihood Σ v·[w·log σ(xθ) + (1 − w)·log σ(−xθ)] − ½·l2·‖θ‖²."""
    columns = x.shape[1]
    theta = np.zeros(columns)
    ridge = l2 * np.eye(columns)
    for iteration in range(1, max_iter + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ theta)))
        gradient = x.T @ (weight * (w - p)) - l2 * theta
        hessian = (x * (weight * p * (1 - p))[:, None]).T @ x + ridge
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        theta += step
        if not np.isfinite(theta).all() or np.abs(theta).max() > MAX_LOGIT:
            break  # running off to infinity: separation, no finite MLE
        if np.max(np.abs(step)) < tol:
            strengths = np.concatenate([[0.0], theta[: n_systems - 1]])
            return BradleyTerryFit(strengths - strengths.mean(), float(theta[-1]) if has_covariate else None, iteration)
    raise BradleyTerryFitError(f"Bradley–Terry did not converge in {max_iter} iterations (a system always wins? set l2 > 0)")


def bradley_terry_bootstrap(
    system_a, system_b, outcome, item, *, n_systems: int, covariate=None, l2: float = 0.01, n_resamples: int = 500,
    confidence: float = 0.95, rng: np.random.Generator,
) -> tuple[BradleyTerryFit, np.ndarray]:
    """The fit on all votes and percentile intervals of each strength from an item-level bootstrap.

    Returns
    -------
    fit : BradleyTerryFit
    intervals : ndarray, shape [n_systems, 2]
        Low and high ends of the ``confidence`` interval of each centred strength.
    """
    check_bootstrap(n_resamples, confidence, rng)
    a, b, y = _votes(system_a, system_b, outcome, n_systems)
    z = None if covariate is None else np.asarray(covariate, dtype=np.float64)
    fit = bradley_terry_ties(a, b, y, n_systems=n_systems, covariate=z, l2=l2)
    samples = np.full((n_resamples, n_systems), np.nan)
    w = (y + 1) / 2.0
    if z is None:
        # Without a covariate the likelihood depends on each (A, B) pair's total weight and weighted wins only:
        # fit on one row per ordered pair instead of one per vote.
        key = a * n_systems + b
        pairs, group = np.unique(key, return_inverse=True)
        x = _bt_design(pairs // n_systems, pairs % n_systems, n_systems, None)
    else:
        x = _bt_design(a, b, n_systems, z)
    for k, weight in enumerate(cluster_weights(item, n_resamples, rng)):
        if z is None:
            total = np.bincount(group, weights=weight, minlength=pairs.size)
            wins = np.bincount(group, weights=weight * w, minlength=pairs.size)
            row_w, row_weight = np.divide(wins, total, out=np.zeros_like(wins), where=total > 0), total
        else:
            row_w, row_weight = w, weight
        try:
            samples[k] = _bt_newton(x, row_w, row_weight, n_systems=n_systems, has_covariate=z is not None, l2=l2, tol=1e-8).scores
        except BradleyTerryFitError:
            continue
    intervals = np.array([percentile_interval(samples[:, s], confidence) for s in range(n_systems)])
    return fit, intervals


@dataclass(frozen=True)
class PositionBias:
    """Among decisive votes, how often the answer shown on the left won; p from an exact two-sided binomial test."""

    decisive: int
    left_wins: int
    left_share: float
    p_value: float


def position_bias_binomial(outcome, left_is_a) -> PositionBias:
    """Test whether the left answer wins more (or less) often than half of the decisive votes.

    Under no position bias, and since the server draws the sides at random, the number of left wins among
    n decisive (non-tie) votes is Binomial(n, ½).
    """
    y = np.asarray(outcome, dtype=np.int64)
    left = np.asarray(left_is_a, dtype=bool)
    if y.shape != left.shape:
        raise ValueError("outcome and left_is_a must have one entry per vote")
    decisive = y != 0
    n = int(decisive.sum())
    left_wins = int(((y == 1) & left & decisive).sum() + ((y == -1) & ~left & decisive).sum())
    if n == 0:
        return PositionBias(0, 0, float("nan"), float("nan"))
    return PositionBias(n, left_wins, left_wins / n, float(stats.binomtest(left_wins, n, 0.5).pvalue))


def krippendorff_alpha_ordinal(unit, annotator, value, *, value_domain=(-1, 0, 1)) -> float:
    """Krippendorff's α between annotators on the ordinal −1/0/+1 vote (Krippendorff 2011).

    Parameters
    ----------
    unit, annotator : array_like, shape [n_votes]
        Hashable ids: what was judged (a trial: item and pair of systems) and who judged it.
    value : array_like, shape [n_votes]
        The vote relative to a fixed A (+1, 0, −1).
    value_domain : sequence of float
        The ordered values a vote can take (all of them, so that ranks do not depend on what was seen).

    Returns
    -------
    float
        NaN when no unit has two votes (α undefined) or every vote is the same value.
    """
    unit, annotator, value = np.asarray(unit), np.asarray(annotator), np.asarray(value, dtype=np.float64)
    if not (unit.shape == annotator.shape == value.shape):
        raise ValueError("unit, annotator and value must have one entry per vote")
    units, u_index = np.unique(unit, return_inverse=True)
    coders, c_index = np.unique(annotator, return_inverse=True)
    matrix = np.full((coders.size, units.size), np.nan)
    matrix[c_index, u_index] = value
    result = krippendorff_alpha(matrix, level="ordinal", value_domain=[float(v) for v in value_domain])
    return float("nan") if result.alpha is None else result.alpha


def reasonable_rate(system, marks, *, n_systems: int) -> tuple[np.ndarray, np.ndarray]:
    """Share of marked answers meeting all three DepictQA criteria (paper 002, appendix A3.2), per system.

    Parameters
    ----------
    system : array_like of int, shape [n_marks]
    marks : array_like of bool, shape [n_marks, 3]
        (finds the main quality issue, no serious false distortion, description/reasoning/conclusion agree).

    Returns
    -------
    rate : ndarray, shape [n_systems] (NaN where a system has no marks)
    count : ndarray of int, shape [n_systems]
    """
    s = np.asarray(system, dtype=np.int64)
    m = np.asarray(marks, dtype=bool).reshape(-1, 3) if len(s) else np.zeros((0, 3), dtype=bool)
    if m.shape[0] != s.size:
        raise ValueError("marks must have one row of three criteria per entry of system")
    reasonable = m.all(axis=1)
    count = np.bincount(s, minlength=n_systems)
    hits = np.bincount(s, weights=reasonable, minlength=n_systems)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, hits / np.maximum(count, 1), np.nan)
    return rate, count
