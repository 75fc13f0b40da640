"""Thurstone Case V scaling of pairwise preferences and MOS of ratings.

Django-free core (DESIGN.md, "Cores without Django"): plain numpy/scipy.

Scale convention
----------------
Each item ``i`` has a latent quality ``s_i`` and the probability that ``i`` is
preferred over ``j`` is ``Phi(s_i - s_j)`` (Thurstone Case V with the variance
of the *difference* fixed to one, exactly as in paper 004, eq. 2).  One unit of
score is therefore one standard deviation of the perceptual difference: a gap
of 1 means the better item wins about 84% of comparisons.

With a Gaussian prior ``N(prior_mean_i, prior_var_i)`` per item the MAP is
unique and finite for any data (items that always win, disconnected graphs,
items never compared).  With the paper's prior ``N(0, 1)`` the MAP
automatically satisfies the paper's constraint ``sum_i s_i = 0``: the
likelihood gradient sums to zero, so at the optimum ``sum_i s_i / 1 = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import special

from evaluation.arrays import as_index_array, check_n_items, require_finite

__all__ = [
    "PairCounts",
    "ScalingConvergenceError",
    "ScalingResult",
    "aggregate_pairwise",
    "log_posterior",
    "log_posterior_grad",
    "log_posterior_hessian",
    "thurstone_map_pairwise",
]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)

#: Above this many compared items, ``variances="auto"`` uses the diagonal
#: approximation instead of the exact dense inverse (O(n^3)).
EXACT_VARIANCE_MAX_ITEMS = 3000


class ScalingConvergenceError(RuntimeError):
    """The Newton iteration did not reach the requested tolerance."""


@dataclass(frozen=True)
class PairCounts:
    """Comparisons aggregated per unordered pair ``first < second``.

    Attributes
    ----------
    n_items : int
    first, second : ndarray of int64, shape [n_pairs]
        Item indices with ``first < second``, each pair once.
    first_wins, second_wins : ndarray of float64, shape [n_pairs]
        How often ``first`` beat ``second`` and vice versa (ties count 0.5
        to each side).
    """

    n_items: int
    first: np.ndarray
    second: np.ndarray
    first_wins: np.ndarray
    second_wins: np.ndarray


@dataclass(frozen=True)
class ScalingResult:
    """MAP scores and Laplace variances of a Thurstone Case V fit.

    Attributes
    ----------
    scores : ndarray, shape [n_items]
        MAP latent qualities (paper 004, eq. 2).
    variances : ndarray, shape [n_items]
        Posterior variance per item from the Laplace approximation,
        ``diag(H^-1)`` with ``H`` the negative log-posterior Hessian at the MAP
        (or its lower bound ``1 / H_ii`` when ``variance_method`` is
        ``"diagonal"``).
    n_iter : int
        Newton iterations used.
    log_posterior : float
        Unnormalised log-posterior at the MAP (see :func:`log_posterior`).
    variance_method : str
        ``"exact"`` or ``"diagonal"``.
    """

    scores: np.ndarray
    variances: np.ndarray
    n_iter: int
    log_posterior: float
    variance_method: str


# ---------------------------------------------------------------- validation


def _per_item(name: str, value, n_items: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(n_items, default, dtype=np.float64)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_items, float(arr))
    elif arr.shape != (n_items,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({n_items},), got {arr.shape}"
        )
    require_finite(name, arr)
    return arr


def aggregate_pairwise(
    n_items, winners, losers, *, ties=None, weights=None
) -> PairCounts:
    """Aggregate individual comparisons into win counts per unordered pair.

    Parameters
    ----------
    n_items : int
    winners, losers : array_like of int, shape [n_comparisons]
        Preferred and non-preferred item of each comparison.
    ties : array_like of bool, shape [n_comparisons], optional
        Comparisons judged equal; each counts half a win to each side
        (the order of ``winners``/``losers`` is then irrelevant).
    weights : array_like of float, shape [n_comparisons], optional
        Non-negative multiplicity of each comparison (default 1).

    Returns
    -------
    PairCounts
        The counts ``C_ij`` of paper 004, eq. 1, stored sparsely.

    Raises
    ------
    ValueError
        On mismatched lengths, out-of-range indices, ``winner == loser``,
        NaN, or negative weights.
    """
    n_items = check_n_items(n_items)
    w = as_index_array("winners", winners, n_items)
    l = as_index_array("losers", losers, n_items)
    if w.shape != l.shape:
        raise ValueError(
            f"winners and losers have different lengths ({w.size} != {l.size})"
        )
    if np.any(w == l):
        raise ValueError("a comparison has winner == loser")
    if weights is None:
        c = np.ones(w.size, dtype=np.float64)
    else:
        c = np.asarray(weights, dtype=np.float64)
        if c.shape != w.shape:
            raise ValueError(f"weights must have shape ({w.size},), got {c.shape}")
        if np.isnan(c).any():
            raise ValueError("weights contains NaN")
        if not np.all(np.isfinite(c)):
            raise ValueError("weights must be finite")
        if np.any(c < 0):
            raise ValueError("weights must be non-negative")
    if ties is None:
        tie = np.zeros(w.size, dtype=bool)
    else:
        tie = np.asarray(ties)
        if tie.shape != w.shape:
            raise ValueError(f"ties must have shape ({w.size},), got {tie.shape}")
        if tie.dtype != bool:
            raise ValueError("ties must be a boolean mask")

    lo = np.minimum(w, l)
    hi = np.maximum(w, l)
    lo_won = w < l
    # Credit to the lower-index side: 1 if it won, 0 if it lost, 0.5 on a tie.
    lo_credit = np.where(tie, 0.5, lo_won.astype(np.float64)) * c
    hi_credit = c - lo_credit
    key = lo * n_items + hi
    uniq, inv = np.unique(key, return_inverse=True)
    first_wins = np.bincount(inv, weights=lo_credit, minlength=uniq.size)
    second_wins = np.bincount(inv, weights=hi_credit, minlength=uniq.size)
    keep = (first_wins + second_wins) > 0
    uniq = uniq[keep]
    return PairCounts(
        n_items=n_items,
        first=uniq // n_items,
        second=uniq % n_items,
        first_wins=first_wins[keep],
        second_wins=second_wins[keep],
    )


# ---------------------------------------------------------- log-posterior


def _mills(d: np.ndarray) -> np.ndarray:
    """``phi(d) / Phi(d)``, the derivative of ``log Phi(d)``, computed stably."""
    return np.exp(-0.5 * d * d - _LOG_SQRT_2PI - special.log_ndtr(d))


def log_posterior(scores, pairs: PairCounts, prior_mean, prior_var) -> float:
    """Unnormalised log-posterior of Thurstone Case V scores (paper 004, eq. 2).

    ``sum_ij C_ij log Phi(s_i - s_j) - sum_i (s_i - m_i)^2 / (2 v_i)``;
    constants of the Gaussian prior are dropped.

    Parameters
    ----------
    scores : ndarray, shape [n_items]
    pairs : PairCounts
    prior_mean, prior_var : float or ndarray, shape [n_items]

    Returns
    -------
    float
    """
    s = np.asarray(scores, dtype=np.float64)
    d = s[pairs.first] - s[pairs.second]
    ll = pairs.first_wins @ special.log_ndtr(d) + pairs.second_wins @ special.log_ndtr(
        -d
    )
    return float(ll - 0.5 * np.sum((s - prior_mean) ** 2 / prior_var))


def log_posterior_grad(scores, pairs: PairCounts, prior_mean, prior_var) -> np.ndarray:
    """Gradient of :func:`log_posterior` with respect to the scores.

    Returns
    -------
    ndarray, shape [n_items]
    """
    s = np.asarray(scores, dtype=np.float64)
    d = s[pairs.first] - s[pairs.second]
    g_edge = pairs.first_wins * _mills(d) - pairs.second_wins * _mills(-d)  # [n_pairs]
    n = s.size
    g = np.bincount(pairs.first, weights=g_edge, minlength=n)
    g -= np.bincount(pairs.second, weights=g_edge, minlength=n)
    return g - (s - prior_mean) / prior_var


def _edge_curvature(d: np.ndarray, pairs: PairCounts) -> np.ndarray:
    """``-d^2/dd^2`` of the pair log-likelihood; positive (log Phi is concave)."""
    r_pos = _mills(d)
    r_neg = _mills(-d)
    return pairs.first_wins * r_pos * (d + r_pos) + pairs.second_wins * r_neg * (
        r_neg - d
    )


def log_posterior_hessian(
    scores, pairs: PairCounts, prior_mean, prior_var
) -> sp.csr_matrix:
    """Hessian of the *negative* :func:`log_posterior`, a sparse SPD matrix.

    ``H = diag(1 / prior_var) + L(h)`` with ``L(h)`` the graph Laplacian whose
    edge weights ``h_ij`` are the curvatures of the pair log-likelihoods.

    Returns
    -------
    scipy.sparse.csr_matrix, shape [n_items, n_items]
    """
    s = np.asarray(scores, dtype=np.float64)
    n = s.size
    h = _edge_curvature(s[pairs.first] - s[pairs.second], pairs)
    diag = np.broadcast_to(1.0 / np.asarray(prior_var, dtype=np.float64), (n,)).copy()
    diag += np.bincount(pairs.first, weights=h, minlength=n)
    diag += np.bincount(pairs.second, weights=h, minlength=n)
    rows = np.concatenate([pairs.first, pairs.second, np.arange(n)])
    cols = np.concatenate([pairs.second, pairs.first, np.arange(n)])
    vals = np.concatenate([-h, -h, diag])
    return sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()


# ------------------------------------------------------------------ fitting


def thurstone_map_pairwise(
    n_items,
    winners,
    losers,
    *,
    ties=None,
    weights=None,
    prior_mean=None,
    prior_var=None,
    tol: float = 1e-10,
    max_iter: int = 50,
    variance_method: str = "auto",
) -> ScalingResult:
    """MAP Thurstone Case V scores from pairwise preferences (paper 004, eq. 2).

    Maximises ``sum_ij C_ij log Phi(s_i - s_j) - sum_i (s_i - m_i)^2 / (2 v_i)``
    over the scores ``s``: the posterior mode of the latent qualities under a
    unit-variance-difference Thurstone model and independent Gaussian priors.
    The paper's prior is ``m = 0, v = 1`` (the default), which also enforces its
    ``sum_i s_i = 0`` constraint at the optimum.  Per-item uncertainty is the
    Laplace approximation, ``diag(H^-1)`` at the MAP.

    The objective is strictly concave, so damped Newton is used: each step
    solves ``H delta = grad`` by Jacobi-preconditioned conjugate gradients on
    the sparse Hessian (prior precision plus weighted graph Laplacian), with
    a backtracking line search.  Items never compared are left out of the
    optimisation and get exactly their prior mean and variance.

    Parameters
    ----------
    n_items : int
    winners, losers : array_like of int, shape [n_comparisons]
        Preferred and non-preferred item of each comparison; duplicates are
        aggregated into counts.
    ties : array_like of bool, shape [n_comparisons], optional
        Comparisons judged equal, counted half a win to each side.
    weights : array_like of float, shape [n_comparisons], optional
        Non-negative multiplicity of each comparison (default 1).
    prior_mean : float or array_like, shape [n_items], optional
        Prior mean per item (default 0).
    prior_var : float or array_like, shape [n_items], optional
        Prior variance per item, > 0 (default 1).
    tol : float
        Stop when half the squared Newton decrement, ``grad . H^-1 grad / 2``
        (the predicted gain in log-posterior), is at most ``tol``.
    max_iter : int
        Maximum Newton iterations.
    variance_method : {"auto", "exact", "diagonal"}
        ``"exact"``: diagonal of the dense inverse Hessian via Cholesky,
        O(n^3) in the number of compared items.  ``"diagonal"``: ``1 / H_ii``,
        a lower bound on the Laplace variance (it ignores correlations
        between items; tight when an item's own comparisons or its prior
        dominate, and too small by roughly ``1 / (n_connected * mean prior
        precision)`` for the common-shift mode of a well-connected graph).
        ``"auto"``: exact up to ``EXACT_VARIANCE_MAX_ITEMS`` compared items.

    Returns
    -------
    ScalingResult
        ``scores`` and ``variances`` of shape [n_items].

    Raises
    ------
    ValueError
        On invalid input (see :func:`aggregate_pairwise`), non-positive or
        non-finite prior variance, non-finite prior mean.
    TypeError
        If ``n_items`` is not an integer.
    ScalingConvergenceError
        If the tolerance is not reached within ``max_iter`` iterations or
        the line search fails.
    """
    n_items = check_n_items(n_items)
    if not (tol > 0):
        raise ValueError("tol must be > 0")
    if (
        isinstance(max_iter, bool)
        or not isinstance(max_iter, (int, np.integer))
        or max_iter < 1
    ):
        raise ValueError("max_iter must be an integer >= 1")
    if variance_method not in ("auto", "exact", "diagonal"):
        raise ValueError('variance_method must be "auto", "exact" or "diagonal"')
    mean = _per_item("prior_mean", prior_mean, n_items, 0.0)
    var = _per_item("prior_var", prior_var, n_items, 1.0)
    if np.any(var <= 0):
        raise ValueError("prior_var must be > 0")
    pairs = aggregate_pairwise(n_items, winners, losers, ties=ties, weights=weights)

    # Work only on items that appear in a comparison; the rest keep their prior.
    active = np.zeros(n_items, dtype=bool)
    active[pairs.first] = True
    active[pairs.second] = True
    idx = np.flatnonzero(active)
    remap = np.full(n_items, -1, dtype=np.int64)
    remap[idx] = np.arange(idx.size)
    sub = PairCounts(
        idx.size,
        remap[pairs.first],
        remap[pairs.second],
        pairs.first_wins,
        pairs.second_wins,
    )
    m_a, v_a = mean[idx], var[idx]

    scores = mean.copy()
    variances = var.copy()
    if idx.size == 0:
        method = "exact"
        n_iter = 0
    else:
        s_a, n_iter, H = _newton(sub, m_a, v_a, tol=tol, max_iter=max_iter)
        scores[idx] = s_a
        method = variance_method
        if method == "auto":
            method = "exact" if idx.size <= EXACT_VARIANCE_MAX_ITEMS else "diagonal"
        if method == "exact":
            variances[idx] = _inverse_diagonal(H)
        else:
            variances[idx] = 1.0 / H.diagonal()
    lp = log_posterior(scores, pairs, mean, var)
    scores.flags.writeable = False
    variances.flags.writeable = False
    return ScalingResult(
        scores=scores,
        variances=variances,
        n_iter=n_iter,
        log_posterior=lp,
        variance_method=method,
    )


class _Objective:
    """Negative log-posterior with a fixed sparse Hessian pattern (fast path).

    Evaluating the value caches ``log Phi(+-d)``, which the gradient and the
    Hessian at the same point reuse, so each Newton step computes the special
    functions once.
    """

    def __init__(self, pairs: PairCounts, mean: np.ndarray, var: np.ndarray):
        n = pairs.n_items
        self.pairs, self.mean, self.prec = pairs, mean, 1.0 / var
        rows = np.concatenate([pairs.first, pairs.second, np.arange(n)])
        cols = np.concatenate([pairs.second, pairs.first, np.arange(n)])
        # Positions are unique, so the CSR data is a permutation of the COO order.
        order = np.arange(rows.size, dtype=np.float64)
        self.H = sp.csr_matrix((order, (rows, cols)), shape=(n, n))
        self.perm = self.H.data.astype(np.int64)

    def value(self, s: np.ndarray):
        p = self.pairs
        d = s[p.first] - s[p.second]
        lp, ln = special.log_ndtr(d), special.log_ndtr(-d)
        f = -(p.first_wins @ lp + p.second_wins @ ln) + 0.5 * np.sum(
            self.prec * (s - self.mean) ** 2
        )
        return float(f), (d, lp, ln)

    def grad_hess(self, s: np.ndarray, cache):
        p = self.pairs
        n = s.size
        d, lp, ln = cache
        base = -0.5 * d * d - _LOG_SQRT_2PI
        r_pos = np.exp(base - lp)  # phi(d) / Phi(d)
        r_neg = np.exp(base - ln)  # phi(d) / Phi(-d)
        g_edge = p.first_wins * r_pos - p.second_wins * r_neg
        g = np.bincount(p.second, weights=g_edge, minlength=n)
        g -= np.bincount(p.first, weights=g_edge, minlength=n)
        g += self.prec * (s - self.mean)
        h = p.first_wins * r_pos * (d + r_pos) + p.second_wins * r_neg * (r_neg - d)
        diag = self.prec + np.bincount(p.first, weights=h, minlength=n)
        diag += np.bincount(p.second, weights=h, minlength=n)
        vals = np.concatenate([-h, -h, diag])
        self.H.data = vals[self.perm]
        return g, self.H, diag


def _newton(pairs: PairCounts, mean, var, *, tol: float, max_iter: int):
    """Damped Newton on the negative log-posterior; returns (s, n_iter, H at s)."""
    obj = _Objective(pairs, mean, var)
    s = mean.copy()
    f, cache = obj.value(s)
    for it in range(1, max_iter + 1):
        g, H, diag = obj.grad_hess(s, cache)
        precond = sp.diags(1.0 / diag)
        step, _info = spla.cg(
            H, -g, rtol=1e-10, atol=0.0, maxiter=10 * s.size + 100, M=precond
        )
        slope = g @ step
        if not (slope < 0):  # CG failed to give a descent direction
            step = -g / diag
            slope = g @ step
        if -0.5 * slope <= tol:
            return s, it, H.copy()
        t = 1.0
        for _ in range(60):
            s_new = s + t * step
            f_new, cache_new = obj.value(s_new)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            raise ScalingConvergenceError(
                "Thurstone MAP: line search failed to decrease the objective"
            )
        s, f, cache = s_new, f_new, cache_new
    raise ScalingConvergenceError(
        f"Thurstone MAP did not converge in max_iter={max_iter} Newton iterations "
        f"(predicted gain {-0.5 * slope:.3g} > tol={tol:g})"
    )


def _inverse_diagonal(H: sp.csr_matrix) -> np.ndarray:
    """``diag(H^-1)`` of an SPD matrix via dense Cholesky (LAPACK potrf/potri)."""
    dense = H.toarray()
    c, info = scipy.linalg.lapack.dpotrf(dense, lower=False, overwrite_a=True)
    if info != 0:
        raise np.linalg.LinAlgError("Hessian is not positive definite")
    inv, info = scipy.linalg.lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError("could not invert the Hessian")
    return np.diag(inv).copy()
