"""Which pairs to ask next: expected information gain on the scaling posterior (priors from the critic: modeling.selection.core.critic_prior).

Django-free core (DESIGN.md, "Cores without Django"): plain numpy/scipy.

The scale is the one of :mod:`evaluation.scaling`: item ``i`` beats ``j`` with
probability ``Phi(s_i - s_j)``.  The posterior on the scores is summarised by
independent Gaussians ``N(posterior_mean_i, posterior_var_i)`` (the Laplace
approximation that :func:`evaluation.scaling.thurstone_map_pairwise` returns),
so everything here works on two arrays of shape ``[n_items]``; the critic
enters only through its scores (the narrow seam of STYLE.md), never as a model.

References
----------
.. [1] N. Houlsby, F. Huszar, Z. Ghahramani, M. Lengyel, "Bayesian Active
   Learning for Classification and Preference Learning", arXiv:1112.5745
   (2011), Sec. 3, closed form for the probit likelihood.
.. [2] Paper 004 (docs/references.md), Sec. 3.3, eqs. 3-5:
   difficult-sample selection by variance-normalised error plus diversity.
.. [3] T. Minka, "Expectation Propagation for approximate Bayesian
   inference", UAI 2001 (assumed-density filtering for the probit).
.. [4] A. Mikhailiuk, C. Wilmot, M. Perez-Ortiz, D. Yue, R. K. Mantiuk,
   "Active Sampling for Pairwise Comparisons via Approximate Message Passing
   and Information Gain Maximization" (ASAP), ICPR 2020: batch mode by a
   minimum spanning tree over the pairs' information gains (after Hybrid-MST,
   J. Li et al., 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse, special
import scipy.sparse.csgraph  # noqa: F401  (registers sparse.csgraph)

from evaluation.arrays import check_rng, float_vector, require_finite

__all__ = [
    "ProposedPair",
    "SelectionConfig",
    "bald_pairwise",
    "expected_rank_variance_reduction",
    "expected_variance_after_comparison",
    "rank_density",
    "select_pairs_batch",
]

#: ``C = sqrt(pi ln 2 / 2)``: ``h(Phi(x)) ~= exp(-x^2 / (2 C^2))`` in bits [1].
_HOULSBY_C2 = np.pi * np.log(2.0) / 2.0

#: Up to this many unordered pairs, the random strategy enumerates them all.
_ENUMERATE_ALL_PAIRS_MAX = 200_000


# ------------------------------------------------------------------ helpers


def _binary_entropy_bits(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-300, 1.0 - 1e-16)
    return -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))



# ------------------------------------------------------------------- BALD


def bald_pairwise(mean_i, var_i, mean_j, var_j) -> np.ndarray:
    """Expected information gain (bits) about the scores from one comparison.

    BALD [1]: the mutual information between the outcome of comparing ``i``
    with ``j`` and the scores, ``H[y | D] - E_s[H[y | s]]``, under the probit
    likelihood ``P(i beats j) = Phi(s_i - s_j)`` and independent Gaussian
    posteriors on ``s_i`` and ``s_j``.  With ``mu = m_i - m_j`` and
    ``sigma^2 = v_i + v_j`` ([1], Sec. 3, probit case)::

        I ~= h(Phi(mu / sqrt(1 + sigma^2)))
             - C / sqrt(sigma^2 + C^2) * exp(-mu^2 / (2 (sigma^2 + C^2)))

    with ``h`` the binary entropy in bits and ``C = sqrt(pi ln 2 / 2)``.  The
    first term is exact; the second uses ``h(Phi(x)) ~= exp(-x^2/(2 C^2))``
    (absolute error below about 0.02 bits).  It is largest for close means
    and large variances.

    Parameters
    ----------
    mean_i, var_i, mean_j, var_j : array_like, broadcastable, shape [n_pairs]
        Posterior means and variances (``>= 0``) of the two items of each
        candidate pair.

    Returns
    -------
    ndarray of float64, shape [n_pairs]
        Expected information gain in bits, clipped at 0 (the approximation can
        dip a hair below zero when ``sigma^2`` is tiny).

    Raises
    ------
    ValueError
        On non-finite input or negative variances.
    """
    m_i, v_i, m_j, v_j = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (mean_i, var_i, mean_j, var_j))
    )
    for name, arr in (("mean_i", m_i), ("var_i", v_i), ("mean_j", m_j), ("var_j", v_j)):
        require_finite(name, arr)
    if np.any(v_i < 0) or np.any(v_j < 0):
        raise ValueError("variances must be >= 0")
    return _bald(m_i - m_j, v_i + v_j)


def _bald(mu: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    marginal = _binary_entropy_bits(special.ndtr(mu / np.sqrt(1.0 + sigma2)))
    denom = sigma2 + _HOULSBY_C2
    conditional = np.sqrt(_HOULSBY_C2 / denom) * np.exp(-(mu**2) / (2.0 * denom))
    return np.maximum(marginal - conditional, 0.0)


def expected_variance_after_comparison(mean_i, var_i, mean_j, var_j):
    """Posterior variances of ``s_i`` and ``s_j`` expected after one comparison.

    Assumed-density filtering for the probit [3]: after observing that ``i``
    beat ``j`` (``y = +1``) or lost (``y = -1``), with ``z = y mu / sqrt(1 +
    sigma^2)`` and ``lambda(z) = phi(z) / Phi(z)``, the variance of ``s_i``
    becomes ``v_i (1 - v_i w(z) / (1 + sigma^2))`` with ``w = lambda (lambda +
    z)`` in ``(0, 1)``.  The outcome is unknown, so ``w`` is averaged over
    ``y`` with the predictive probabilities ``Phi(z)`` and ``1 - Phi(z)``.

    Parameters
    ----------
    mean_i, var_i, mean_j, var_j : array_like, broadcastable, shape [n_pairs]

    Returns
    -------
    new_var_i, new_var_j : ndarray, shape [n_pairs]
        Expected variances, ``0 < new_var <= var``.
    """
    m_i, v_i, m_j, v_j = np.broadcast_arrays(
        *(np.asarray(x, dtype=np.float64) for x in (mean_i, var_i, mean_j, var_j))
    )
    shrink = _adf_shrink(m_i - m_j, v_i + v_j)
    return v_i * (1.0 - v_i * shrink), v_j * (1.0 - v_j * shrink)


def _adf_shrink(mu: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    """``E_y[w(z)] / (1 + sigma^2)``: an item's variance loses ``v^2`` times this [3]."""
    total = 1.0 + sigma2
    z = mu / np.sqrt(total)
    expected_w = np.zeros_like(z)
    for sign in (1.0, -1.0):
        zs = sign * z
        log_cdf = special.log_ndtr(zs)
        lam = np.exp(-0.5 * zs**2 - 0.5 * np.log(2.0 * np.pi) - log_cdf)
        expected_w += np.exp(log_cdf) * lam * (lam + zs)
    return expected_w / total


# ------------------------------------------------------- ranking objective


def rank_density(posterior_mean, posterior_var) -> np.ndarray:
    """Posterior density of other items' scores around each item (items per unit score).

    The rank of ``i`` is ``sum_b 1[s_b < s_i]``, so to first order (delta
    method) ``Var(rank_i) ~= rho_i^2 Var(s_i)`` with ``rho_i = sum_{b != i}
    N(m_b; m_i, v_i + v_b)``.  The Gaussian kernel is replaced by a box of
    the same variance, half-width ``sqrt(3 (v_i + median v))``, so ``rho`` is
    two binary searches per item, O(n log n) (10,000 items in about 2 ms).

    Parameters
    ----------
    posterior_mean, posterior_var : array_like, shape [n_items]

    Returns
    -------
    ndarray, shape [n_items]
        ``rho_i >= 0``.
    """
    mean = float_vector("posterior_mean", posterior_mean)
    var = float_vector("posterior_var", posterior_var, mean.size)
    half = np.sqrt(3.0 * (var + np.median(var)))
    ordered = np.sort(mean)
    inside = np.searchsorted(ordered, mean + half, side="right") - np.searchsorted(
        ordered, mean - half, side="left"
    )
    return (inside - 1) / (2.0 * half)


def expected_rank_variance_reduction(
    mean_i, var_i, mean_j, var_j, density_i, density_j
) -> np.ndarray:
    """Expected drop of ``Var(rank_i) + Var(rank_j)`` from comparing ``i`` with ``j``.

    With ``Var(rank) ~= rho^2 v`` (:func:`rank_density`) and the expected
    assumed-density update of :func:`expected_variance_after_comparison`,
    ``v -> v - v^2 E[w] / (1 + v_i + v_j)``::

        gain = E[w] / (1 + v_i + v_j) * (rho_i^2 v_i^2 + rho_j^2 v_j^2)

    in squared ranks.  Unlike BALD it ignores uncertainty about items nobody
    can confuse with others (the ends of the scale, empty stretches), which
    Spearman's correlation does not reward.

    Parameters
    ----------
    mean_i, var_i, mean_j, var_j, density_i, density_j : array_like, broadcastable

    Returns
    -------
    ndarray, shape [n_pairs]
    """
    m_i, v_i, m_j, v_j, r_i, r_j = np.broadcast_arrays(
        *(
            np.asarray(x, dtype=np.float64)
            for x in (mean_i, var_i, mean_j, var_j, density_i, density_j)
        )
    )
    shrink = _adf_shrink(m_i - m_j, v_i + v_j)
    return shrink * ((r_i * v_i) ** 2 + (r_j * v_j) ** 2)


# ----------------------------------------------------------- batch selection


@dataclass(frozen=True)
class ProposedPair:
    """One pair to show an annotator, ``i < j``, with its expected gain (bits or squared ranks)."""

    i: int
    j: int
    expected_gain: float


@dataclass(frozen=True)
class SelectionConfig:
    """How :func:`select_pairs_batch` scores candidates, prunes them and spreads a batch.

    Attributes
    ----------
    strategy : {"eig", "mst", "random"}
        ``"eig"``: greedy picks of the best expected gain, each followed by
        the expected variance update of its two items (BALD [1] or the rank
        objective); ``"mst"``: the ``k`` best edges of a maximum spanning
        tree over the candidate gains (the batch mode of ASAP [4]);
        ``"random"``: uniformly random distinct pairs (the baseline);
        ``"thompson"``: neighbours (or swapped pairs) in rankings sampled
        from the posterior, one sample per pair (``thompson_*`` below).
        Measured slower than ``"eig"`` at n = 200 (docs/benchmarks.md,
        "Bounds and Thompson neighbours"); not the default.
    objective : {"ranking", "scores"}
        ``"scores"``: expected information (bits) about the scores, BALD [1];
        ``"ranking"``: expected reduction of the summed rank variance, i.e. of
        the posterior variance of each item weighted by the squared density of
        items around it (:func:`expected_rank_variance_reduction`).  Ranking
        metrics (Spearman) only care about items that can swap places.
    exhaustive_max_pairs : int
        Up to this many unordered pairs (``n (n - 1) / 2``), every pair is a
        candidate; above it, candidates are pruned as below.
    max_candidates_per_item : int
        Candidate pairs generated per item when pruning:
        ``max_candidates_per_item - n_random_partners`` partners at
        geometrically spaced offsets (1, 2, 4, ... up to ``n / 2``) in sorted
        posterior mean, plus ``n_random_partners`` random partners.  At most
        ``n_items * max_candidates_per_item`` candidates in all, instead of
        ``n^2 / 2``.
    n_random_partners : int
        Random partners per item, so far-apart but very uncertain items
        (e.g. a badly calibrated prior) can still be compared.
    reuse_damping : float in (0, 1]
        Within one batch, a candidate's gain is multiplied by
        ``reuse_damping ** (uses_i + uses_j)``, so a batch spreads over items;
        ``1`` leaves only the variance update.
    max_pairs_per_item : int
        Hard cap on how many pairs of one batch may share an item.
    thompson_pairs_per_sample : int
        ``"thompson"`` only: adjacent pairs taken from one sampled ranking
        (``1``: a fresh sample per pair; ``m``: ``m`` adjacencies at a random
        start and a stride of about ``n / m``).
    thompson_weight : {"uniform", "bald", "gap"}
        ``"thompson"`` only: how the position in the sampled ranking is
        chosen: uniformly, or in proportion to the adjacent pair's BALD
        (bits) under the current posterior; with ``thompson_pairs =
        "discordant"``, ``"gap"`` draws the partner in proportion to the
        pair's gap in the sample (how wrong the current order is, if the
        sample were the truth).
    thompson_pairs : {"adjacent", "discordant"}
        ``"thompson"`` only: ``"adjacent"``: two items next to each other in
        the sampled ranking; ``"discordant"``: a pair the sampled ranking
        orders the other way round from the posterior means (an item drawn in
        proportion to how far the sample moved it, a partner it swapped with
        uniformly).
    """

    strategy: str = "eig"
    objective: str = "ranking"
    exhaustive_max_pairs: int = 50_000
    max_candidates_per_item: int = 10
    n_random_partners: int = 2
    reuse_damping: float = 0.5
    max_pairs_per_item: int = 2
    thompson_pairs_per_sample: int = 1
    thompson_weight: str = "uniform"
    thompson_pairs: str = "adjacent"

    def __post_init__(self):
        if self.strategy not in _STRATEGIES:
            raise ValueError(
                f"strategy must be one of {_STRATEGIES}, got {self.strategy!r}"
            )
        if self.objective not in _OBJECTIVES:
            raise ValueError(
                f"objective must be one of {_OBJECTIVES}, got {self.objective!r}"
            )
        if self.thompson_pairs not in ("adjacent", "discordant"):
            raise ValueError(
                "thompson_pairs must be 'adjacent' or 'discordant', "
                f"got {self.thompson_pairs!r}"
            )
        if self.thompson_weight not in ("uniform", "bald", "gap"):
            raise ValueError(
                "thompson_weight must be 'uniform', 'bald' or 'gap', "
                f"got {self.thompson_weight!r}"
            )
        for name in (
            "max_candidates_per_item",
            "max_pairs_per_item",
            "thompson_pairs_per_sample",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < 1
            ):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("n_random_partners", "exhaustive_max_pairs"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < 0
            ):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.n_random_partners >= self.max_candidates_per_item:
            raise ValueError("n_random_partners must be < max_candidates_per_item")
        if not (0.0 < self.reuse_damping <= 1.0):
            raise ValueError(
                f"reuse_damping must be in (0, 1], got {self.reuse_damping!r}"
            )


_STRATEGIES = ("eig", "mst", "random", "thompson")
_OBJECTIVES = ("ranking", "scores")


def _pair_keys(first: np.ndarray, second: np.ndarray, n: int) -> np.ndarray:
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    return lo.astype(np.int64) * n + hi.astype(np.int64)


def _exclude_keys(exclude, n: int) -> np.ndarray:
    if exclude is None or len(exclude) == 0:
        return np.empty(0, dtype=np.int64)
    arr = np.asarray(list(exclude), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("exclude must be a collection of (i, j) pairs")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"exclude has indices out of range [0, {n})")
    return np.unique(_pair_keys(arr[:, 0], arr[:, 1], n))


def _sorted_offsets(count: int, n: int) -> np.ndarray:
    """``count`` distinct offsets in sorted order, geometric from 1 to about ``n / 2``.

    Only next neighbours (offsets 1..8) make a chain-like comparison graph
    whose long-range differences are poorly known; pairs a few posterior
    standard deviations apart are nearly as informative and tie the scale
    together (docs/benchmarks.md, "Active pair selection").
    """
    top = max(n // 2, 1)
    offsets = np.unique(np.round(np.geomspace(1, top, max(count, 1))).astype(np.int64))
    # rounding merges small offsets: fill up with the smallest unused ones
    extra = np.setdiff1d(np.arange(1, top + 1), offsets)[: count - offsets.size]
    return np.sort(np.concatenate([offsets, extra]))[:count]


def _candidate_keys(mean, config: SelectionConfig, rng, candidates) -> np.ndarray:
    n = mean.size
    if candidates is not None:
        arr = np.asarray(candidates)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu":
            raise ValueError(
                "candidates must be an integer array of shape [n_pairs, 2]"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise ValueError(f"candidates has indices out of range [0, {n})")
        first, second = arr[:, 0], arr[:, 1]
    elif n * (n - 1) // 2 <= config.exhaustive_max_pairs:
        first, second = np.triu_indices(n, k=1)
        return first.astype(np.int64) * n + second
    else:
        order = np.argsort(mean, kind="stable")
        firsts, seconds = [], []
        for offset in _sorted_offsets(
            config.max_candidates_per_item - config.n_random_partners, n
        ):
            firsts.append(order[:-offset])
            seconds.append(order[offset:])
        if config.n_random_partners and n > 1:
            base = np.repeat(np.arange(n), config.n_random_partners)
            partner = (base + rng.integers(1, n, base.size)) % n
            firsts.append(base)
            seconds.append(partner)
        if not firsts:
            return np.empty(0, dtype=np.int64)
        first, second = np.concatenate(firsts), np.concatenate(seconds)
    keep = first != second
    keys = np.sort(_pair_keys(first[keep], second[keep], n))
    # sort-based dedupe: np.unique's hash path is several times slower here
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys


def select_pairs_batch(
    posterior_mean,
    posterior_var,
    k: int,
    *,
    rng: np.random.Generator,
    candidates=None,
    exclude=None,
    config: SelectionConfig | None = None,
) -> list[ProposedPair]:
    """Choose ``k`` pairs to compare next, spread over items.

    Candidates: every pair while ``n (n - 1) / 2 <= exhaustive_max_pairs``,
    else at most ``n_items * max_candidates_per_item`` (partners at
    geometric offsets in sorted posterior mean plus random partners).  Each is
    scored by ``config.objective``: BALD in bits (``"scores"``) or the expected
    drop of the rank variance (``"ranking"``,
    :func:`expected_rank_variance_reduction`).  ``"eig"`` picks greedily;
    after each pick the two items' variances are replaced by their expected
    values after one comparison (:func:`expected_variance_after_comparison`)
    and their other candidates are rescored and damped by ``reuse_damping``
    per use.  ``"mst"`` takes maximum-spanning-tree edges [4].  ``"random"``:
    uniformly random distinct pairs among ``candidates`` (or all pairs).  In
    all, no pair appears twice, no pair in ``exclude`` is proposed, ``i == j``
    never is, and no item is in more than ``max_pairs_per_item`` pairs
    (except for ``"random"``).

    Parameters
    ----------
    posterior_mean, posterior_var : array_like, shape [n_items]
        Current posterior (e.g. ``ScalingResult.scores`` / ``.variances``);
        variances must be ``> 0``.
    k : int
        Batch size, ``>= 0``.  Fewer pairs come back when too few are allowed
        (candidates exhausted, or ``max_pairs_per_item`` reached on all).
    rng : numpy.random.Generator
        Draws the random partners and the random strategy.
    candidates : array_like of int, shape [n_pairs, 2], optional
        Restrict the search to these pairs (any order; duplicates ignored).
    exclude : collection of (int, int), optional
        Pairs already judged (by this annotator); either order.
    config : SelectionConfig, optional

    Returns
    -------
    list of ProposedPair
        In pick order, ``i < j``, with the gain at pick time in the
        objective's unit (bits, or squared ranks); for the random strategy,
        the undamped BALD of the pair in bits.

    Raises
    ------
    ValueError
        On mismatched shapes, non-finite values, variances ``<= 0``,
        ``k < 0`` or out-of-range indices.
    """
    config = SelectionConfig() if config is None else config
    rng = check_rng(rng)
    mean = float_vector("posterior_mean", posterior_mean)
    var = float_vector("posterior_var", posterior_var, mean.size)
    require_finite("posterior_mean", mean)
    require_finite("posterior_var", var)
    if np.any(var <= 0):
        raise ValueError("posterior_var must be > 0")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    n = mean.size
    excluded = _exclude_keys(exclude, n)
    if k == 0 or n < 2:
        return []
    if config.strategy == "random":
        return _select_random(mean, var, int(k), rng, candidates, excluded)
    if config.strategy == "thompson":
        if candidates is not None:
            raise ValueError("candidates are not supported by the thompson strategy")
        return _select_thompson(mean, var, int(k), rng, excluded, config)

    keys = _candidate_keys(mean, config, rng, candidates)
    keys = keys[~np.isin(keys, excluded, assume_unique=True)]
    if keys.size == 0:
        return []
    first, second = keys // n, keys % n
    density = rank_density(mean, var) if config.objective == "ranking" else None

    def gain(a, b, v):
        if density is None:
            return _bald(mean[a] - mean[b], v[a] + v[b])
        return _adf_shrink(mean[a] - mean[b], v[a] + v[b]) * (
            (density[a] * v[a]) ** 2 + (density[b] * v[b]) ** 2
        )

    gains = gain(first, second, var)
    if config.strategy == "mst":
        return _select_mst(first, second, gains, n, int(k), config)
    var = var.copy()
    # item -> its candidate rows, so an update touches only those rows
    rows = np.concatenate([np.arange(keys.size), np.arange(keys.size)])
    items = np.concatenate([first, second])
    by_item = np.argsort(items, kind="stable")
    starts = np.searchsorted(items[by_item], np.arange(n + 1))
    uses = np.zeros(n, dtype=np.int64)
    picked: list[ProposedPair] = []
    while len(picked) < k:
        best = int(np.argmax(gains))
        if gains[best] == -np.inf:
            break
        i, j = int(first[best]), int(second[best])
        picked.append(ProposedPair(i, j, float(gains[best])))
        gains[best] = -np.inf
        var[i], var[j] = expected_variance_after_comparison(
            mean[i], var[i], mean[j], var[j]
        )
        uses[i] += 1
        uses[j] += 1
        # a row lies in both lists only if it is (i, j) itself, already -inf
        touched = np.concatenate(
            [
                rows[by_item[starts[i] : starts[i + 1]]],
                rows[by_item[starts[j] : starts[j + 1]]],
            ]
        )
        touched = touched[gains[touched] != -np.inf]
        a, b = first[touched], second[touched]
        new = gain(a, b, var) * config.reuse_damping ** (uses[a] + uses[b])
        capped = (uses[a] >= config.max_pairs_per_item) | (
            uses[b] >= config.max_pairs_per_item
        )
        gains[touched] = np.where(capped, -np.inf, new)
    return picked


def _select_thompson(mean, var, k, rng, excluded, config) -> list[ProposedPair]:
    """Neighbours in rankings sampled from the posterior (Thompson sampling).

    For each pick, one sample ``s ~ N(mean, var)`` (independent) is drawn and
    sorted over the items still allowed in this batch (fewer than
    ``max_pairs_per_item`` uses); a position is chosen (uniformly or by the
    adjacent pair's BALD) and the two items next to each other there are
    compared: "in a plausible ranking drawn from what we know, these two are
    next to each other".  Pairs already in the batch or in ``excluded`` are
    skipped.  ``thompson_pairs_per_sample`` adjacencies may come from one
    sample, at a random start and a stride of about ``n / m``.
    """
    n = mean.size
    sd = np.sqrt(var)
    uses = np.zeros(n, dtype=np.int64)
    taken = excluded
    picked: list[ProposedPair] = []
    m = config.thompson_pairs_per_sample
    failures = 0
    while len(picked) < k and failures < 8:
        allowed = np.flatnonzero(uses < config.max_pairs_per_item)
        if allowed.size < 2:
            break
        sample = mean[allowed] + sd[allowed] * rng.standard_normal(allowed.size)
        if config.thompson_pairs == "discordant":
            pair = _sampled_discordant_pair(
                mean[allowed], sample, allowed, taken, n, rng,
                by_gap=config.thompson_weight == "gap",
            )
        if config.thompson_pairs == "discordant" and pair is not None:
            lo, hi = pair
            bits = float(_bald(mean[lo] - mean[hi], var[lo] + var[hi]))
            picked.append(ProposedPair(lo, hi, bits))
            uses[lo] += 1
            uses[hi] += 1
            taken = np.append(taken, np.int64(lo * n + hi))
            failures = 0
            continue
        # "adjacent", or no discordant pair in this sample (e.g. tied means):
        # neighbours in the sampled ranking
        order = allowed[np.argsort(sample, kind="stable")]
        a, b = order[:-1], order[1:]
        keys = _pair_keys(a, b, n)
        ok = ~np.isin(keys, taken)
        if not ok.any():
            failures += 1
            continue
        positions = np.flatnonzero(ok)
        if config.thompson_weight == "bald":
            pa, pb = a[positions], b[positions]
            weight = _bald(mean[pa] - mean[pb], var[pa] + var[pb])
            weight = weight + 1e-12
            first = rng.choice(positions.size, p=weight / weight.sum())
        else:
            first = int(rng.integers(positions.size))
        want = min(m, k - len(picked), positions.size)
        stride = max(positions.size // want, 1)
        chosen = positions[(first + stride * np.arange(want)) % positions.size]
        added = 0
        for p in chosen:
            i, j = int(a[p]), int(b[p])
            if max(uses[i], uses[j]) >= config.max_pairs_per_item:
                continue  # an earlier adjacency of this sample used the item up
            lo, hi = min(i, j), max(i, j)
            key = np.int64(lo * n + hi)
            if key in taken:
                continue
            bits = float(_bald(mean[lo] - mean[hi], var[lo] + var[hi]))
            picked.append(ProposedPair(lo, hi, bits))
            uses[lo] += 1
            uses[hi] += 1
            taken = np.append(taken, key)
            added += 1
        failures = 0 if added else failures + 1
    return picked


def _sampled_discordant_pair(mean, sample, items, taken, n, rng, by_gap=False):
    """A pair that ``sample`` orders the other way round from ``mean``: ``(lo, hi)`` or None.

    ``mean``, ``sample`` are over ``items`` (ids in ``0..n-1``); the first item is drawn
    in proportion to how far the sample moved it in rank, its partner among the items it
    swapped with (uniformly, or ``by_gap``: in proportion to their gap in the sample).
    """
    rank_mean = np.empty(mean.size, dtype=np.int64)
    rank_mean[np.argsort(mean, kind="stable")] = np.arange(mean.size)
    rank_sample = np.empty(mean.size, dtype=np.int64)
    rank_sample[np.argsort(sample, kind="stable")] = np.arange(mean.size)
    moved = np.abs(rank_sample - rank_mean).astype(np.float64)
    for _ in range(4):
        if moved.sum() == 0:
            return None
        i = int(rng.choice(mean.size, p=moved / moved.sum()))
        swapped = np.flatnonzero((mean - mean[i]) * (sample - sample[i]) < 0)
        if swapped.size:
            a = items[i]
            b = items[swapped]
            keys = _pair_keys(np.full(b.size, a), b, n)
            keep = ~np.isin(keys, taken)
            b = b[keep]
            if b.size:
                if by_gap:
                    gap = np.abs(sample[swapped[keep]] - sample[i]) + 1e-12
                    j = int(b[rng.choice(b.size, p=gap / gap.sum())])
                else:
                    j = int(b[rng.integers(b.size)])
                return (min(a, j), max(a, j))
        moved[i] = 0.0
    return None


def _select_mst(first, second, gains, n, k, config) -> list[ProposedPair]:
    """Edges of maximum spanning trees over the gains, best first.

    ASAP's batch mode [4]: a spanning tree links the items without cycles,
    so a batch never spends two comparisons on what one path already ties
    together.  Tree edges are taken in decreasing gain under
    ``max_pairs_per_item``; when the cap leaves the batch short, a new tree
    is grown on the pairs and items still allowed.
    """
    uses = np.zeros(n, dtype=np.int64)
    open_rows = np.ones(first.size, dtype=bool)
    picked: list[ProposedPair] = []
    while len(picked) < k:
        open_rows &= (uses[first] < config.max_pairs_per_item) & (
            uses[second] < config.max_pairs_per_item
        )
        rows = np.flatnonzero(open_rows)
        if rows.size == 0:
            break
        top = float(gains[rows].max())
        # minimise (top - gain) + 1: every weight > 0, since 0 means "no edge"
        graph = sparse.coo_matrix(
            (top - gains[rows] + 1.0, (first[rows], second[rows])), shape=(n, n)
        )
        tree = sparse.csgraph.minimum_spanning_tree(graph.tocsr()).tocoo()
        tree_gain = top + 1.0 - tree.data
        added = 0
        for edge in np.argsort(-tree_gain, kind="stable"):
            i, j = sorted((int(tree.row[edge]), int(tree.col[edge])))
            if max(uses[i], uses[j]) >= config.max_pairs_per_item:
                continue
            picked.append(ProposedPair(i, j, float(tree_gain[edge])))
            uses[i] += 1
            uses[j] += 1
            added += 1
            if len(picked) == k:
                break
        if added == 0:
            break
        chosen = np.array([p.i * n + p.j for p in picked], dtype=np.int64)
        open_rows &= ~np.isin(first * n + second, chosen)
    return picked


def _select_random(mean, var, k, rng, candidates, excluded) -> list[ProposedPair]:
    n = mean.size
    n_all = n * (n - 1) // 2
    if candidates is not None or n_all <= _ENUMERATE_ALL_PAIRS_MAX:
        if candidates is not None:
            pool = _candidate_keys(mean, SelectionConfig(), rng, candidates)
        else:
            first, second = np.triu_indices(n, k=1)
            pool = first.astype(np.int64) * n + second
        pool = pool[~np.isin(pool, excluded)]
        chosen = rng.choice(pool, size=min(k, pool.size), replace=False)
    else:
        # Sparse sampling: rejection of repeats and excluded pairs is cheap
        # because k + |exclude| is far below n^2 / 2.
        k = min(k, n_all - excluded.size)
        chosen_list: list[np.ndarray] = []
        seen = excluded
        while sum(c.size for c in chosen_list) < k:
            a = rng.integers(0, n, 2 * k)
            b = (a + rng.integers(1, n, 2 * k)) % n
            draw = _pair_keys(a, b, n)
            _, first_seen = np.unique(draw, return_index=True)
            draw = draw[np.sort(first_seen)]
            draw = draw[~np.isin(draw, seen)]
            draw = draw[: k - sum(c.size for c in chosen_list)]
            chosen_list.append(draw)
            seen = np.concatenate([seen, draw])
        chosen = np.concatenate(chosen_list)
    first, second = chosen // n, chosen % n
    gains = _bald(mean[first] - mean[second], var[first] + var[second])
    return [
        ProposedPair(int(a), int(b), float(g)) for a, b, g in zip(first, second, gains)
    ]
