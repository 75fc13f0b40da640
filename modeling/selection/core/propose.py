"""The one entry point of pair selection: from the comparisons so far (and the critic's scores) to the next pairs.

Django-free core (DESIGN.md, "Cores without Django"). :func:`propose_pairs` fits the posterior itself
(:func:`evaluation.scaling.thurstone_map_pairwise`), turns the critic's raw scores into a prior on the
human scale (:func:`modeling.selection.core.critic_prior.calibrate_critic_prior`), breaks ties by a
seeded random permutation of the items and selects with
:func:`modeling.selection.core.active.select_pairs_batch`. The app's refill calls the same two steps
(:func:`selection_posterior`, then :func:`propose_from_posterior`), so a figure measured on
:func:`propose_pairs` is the app's figure.

The critic as a hierarchical prior, and which scores selection serves
---------------------------------------------------------------------
An image's human score is ``s = a + b c + e`` with ``c`` its critic score, ``e ~ N(0, tau^2)``.
With enough compared images (``MIN_CALIBRATION_ITEMS``), ``a, b, tau^2`` are fitted by
:func:`calibrate_critic_prior` on the human-only scores (their own fitting prior divided out), and
every image gets the prior ``N(a + b c, b^2 var_c + tau^2 + line_var)``: the residual variance plus
the uncertainty of the fitted line, so an image nobody compared is never more certain than the
calibration allows. A critic that does not predict the human scores gets ``b ~ 0`` and ``tau^2`` about
the spread of the human scores: a prior as wide as the scale itself. Before that (cold start) nothing
is known about ``a, b, tau``; the prior keeps the human scale's own prior ``N(m_0, v_0)`` in total
variance and splits it with a default correlation ``COLD_START_CORRELATION = rho``: mean ``m_0 + rho
sqrt(v_0) z(c)``, variance ``(1 - rho^2) v_0``.

The scores a researcher sees (the Scores page, the exports) are the **human-only** ones: the scaling
run's Thurstone MAP from comparisons and ratings alone. Selection serves that ranking, so it works on
the human-only posterior. The critic shapes the *cold start*: before it can be calibrated, the images
nobody has compared sit at the cold-start prior mean, so the first batch compares neighbours in critic
score (near ties, the most informative first comparisons) instead of random images. Once calibrated,
the critic only keeps an uncompared image from looking more certain than its prior allows (variance at
least ``max(v_0, calibrated prior variance)``); the means are the human-only ones. Measured
(docs/benchmarks.md): letting the calibrated critic steer later batches made the human-only ranking
*slower*: conditioning on the human + critic posterior sent comparisons where the combined posterior
was unsure (up to 2.6x with a Spearman-0.9 critic), and placing uncompared images at their calibrated
critic score cost 10-15 % on wide spreads (the critic's errors there are several JND, so "neighbours
in critic score" are mostly certain outcomes). The human + critic posterior is still available from
the prior (``SelectionPosterior.prior_mean`` / ``prior_var``) for reports and critic disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.arrays import float_vector, require_finite
from evaluation.scaling import thurstone_map_pairwise
from modeling.selection.core.active import SelectionConfig, bald_pairwise, select_pairs_batch
from modeling.selection.core.critic_prior import CalibratedPrior, calibrate_critic_prior

__all__ = [
    "COLD_START_CORRELATION",
    "MIN_CALIBRATION_ITEMS",
    "SelectionPosterior",
    "propose_from_posterior",
    "propose_pairs",
    "selection_posterior",
]

#: Compared images needed before the critic is calibrated on them (the line and tau^2 need a few).
MIN_CALIBRATION_ITEMS = 5
#: Assumed critic-human correlation before any human data (cold start); see the module docstring.
COLD_START_CORRELATION = 0.5


@dataclass(frozen=True)
class SelectionPosterior:
    """The posterior selection works on, and the prior it came from.

    Attributes
    ----------
    mean, var : ndarray, shape [n_items]
        What selection works on: the human-only Laplace posterior; with a critic, images nobody has
        compared have variance ``max(prior_var, v_0)`` and, at cold start, the critic's prior mean.
    prior_mean, prior_var : ndarray, shape [n_items]
        The critic's prior on the human scale (calibrated or cold start); without a critic, the
        human scale's own prior ``N(m_0, v_0)``.
    prior : str
        ``"default"`` (no critic), ``"critic, cold start"`` or ``"critic, calibrated"``.
    n_compared : int
        Images with at least one comparison.
    calibration : CalibratedPrior or None
        The critic's calibration, when ``prior`` is ``"critic, calibrated"``.
    """

    mean: np.ndarray
    var: np.ndarray
    prior_mean: np.ndarray
    prior_var: np.ndarray
    prior: str
    n_compared: int
    calibration: CalibratedPrior | None = None


def _per_item(name, value, n, default):
    if value is None:
        return np.full(n, default, dtype=np.float64)
    arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    require_finite(name, arr)
    return arr


def selection_posterior(
    n_items,
    winners,
    losers,
    *,
    ties=None,
    critic_scores=None,
    critic_var=None,
    prior_mean=None,
    prior_var=None,
) -> SelectionPosterior:
    """Human-only Thurstone MAP posterior; a critic places the uncompared images at cold start.

    Parameters
    ----------
    n_items : int
    winners, losers : array_like of int, shape [n_comparisons]
    ties : array_like of bool, shape [n_comparisons], optional
    critic_scores : array_like, shape [n_items], optional
        The critic's raw scores for every item (any scale: calibration maps them).
    critic_var : array_like, shape [n_items], optional
        Their variances (default 0).
    prior_mean, prior_var : float or array_like, shape [n_items], optional
        The human scale's own prior, without the critic (default ``N(0, 1)``, as the scaling run's;
        e.g. z-scored MOS from ratings).

    Returns
    -------
    SelectionPosterior
    """
    n = int(n_items)
    m0 = _per_item("prior_mean", prior_mean, n, 0.0)
    v0 = _per_item("prior_var", prior_var, n, 1.0)
    if np.any(v0 <= 0):
        raise ValueError("prior_var must be > 0")
    winners = np.asarray(winners, dtype=np.int64).reshape(-1)
    losers = np.asarray(losers, dtype=np.int64).reshape(-1)
    compared = np.zeros(n, dtype=bool)
    compared[winners] = True
    compared[losers] = True
    n_compared = int(compared.sum())

    def fit(mean, var):
        result = thurstone_map_pairwise(n, winners, losers, ties=ties, prior_mean=mean, prior_var=var)
        return np.asarray(result.scores), np.asarray(result.variances)

    if critic_scores is None:
        mean, var = fit(m0, v0)
        return SelectionPosterior(mean, var, m0, v0, "default", n_compared)
    critic = float_vector("critic_scores", critic_scores, n)
    require_finite("critic_scores", critic)
    c_var = _per_item("critic_var", critic_var, n, 0.0)
    if np.any(c_var < 0):
        raise ValueError("critic_var must be >= 0")

    human, human_var = fit(m0, v0)
    calibrated = None
    if n_compared >= MIN_CALIBRATION_ITEMS and np.ptp(critic[compared]) > 0:
        try:
            calibrated = calibrate_critic_prior(
                critic, c_var, human, human_var, compared, human_prior_mean=m0, human_prior_var=v0,
            )
        except (ValueError, RuntimeError):
            calibrated = None  # too few informative items: stay at the cold start
    if calibrated is not None:
        p_mean = calibrated.prior_mean
        p_var = calibrated.prior_var + calibrated.line_var
        label = "critic, calibrated"
    else:
        sd = critic.std()
        z = (critic - critic.mean()) / sd if sd > 0 else np.zeros(n)
        rho = COLD_START_CORRELATION
        p_mean = m0 + rho * np.sqrt(v0) * z
        p_var = (1.0 - rho**2) * v0
        label = "critic, cold start"
    # Selection serves the human-only ranking (module docstring). At cold start the critic places the
    # images nobody has compared yet, so the first batch compares neighbours in critic score; once it is
    # calibrated, images keep their human-only means. An uncompared image is never more certain than the
    # human scale's prior or the critic's calibrated prior allows, so it is not passed over.
    mean = human if calibrated is not None else np.where(compared, human, p_mean)
    var = np.where(compared, human_var, np.maximum(p_var, v0))
    return SelectionPosterior(mean, var, p_mean, p_var, label, n_compared, calibrated)


def _index_pairs(name, value, n) -> np.ndarray:
    arr = np.asarray(value if value is not None else np.empty((0, 2)), dtype=np.int64)
    if arr.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must be integer pairs of shape [n_pairs, 2]")
    if arr.min() < 0 or arr.max() >= n:
        raise ValueError(f"{name} has indices out of range [0, {n})")
    return arr


def propose_from_posterior(
    mean,
    var,
    k: int,
    *,
    rng: np.random.Generator,
    exclude=None,
    candidates=None,
    config: SelectionConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``k`` pairs from a posterior, ties broken by a random permutation of the items.

    The selector (:func:`select_pairs_batch`) runs on the items in the order of
    ``rng.permutation(n)``, so equal means, variances or gains never resolve by index (database id).
    The gain returned is the mutual information between the outcome of one comparison and the
    scores under the current posterior (BALD), in bits: within ``[0, 1]``.

    Returns
    -------
    pairs : ndarray of int64, shape [k', 2]
        ``k' <= k``, ``pairs[:, 0] < pairs[:, 1]``, in pick order.
    gains : ndarray of float64, shape [k']
        Bits per comparison.
    """
    mean = float_vector("mean", mean)
    var = float_vector("var", var, mean.size)
    n = mean.size
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    perm = rng.permutation(n)
    position = np.empty(n, dtype=np.int64)
    position[perm] = np.arange(n)
    exclude_arr = _index_pairs("exclude", exclude, n)
    cand_arr = None if candidates is None else _index_pairs("candidates", candidates, n)
    picked = select_pairs_batch(
        mean[perm], var[perm], k, rng=rng,
        exclude=position[exclude_arr] if exclude_arr.size else None,
        candidates=None if cand_arr is None else position[cand_arr],
        config=config,
    )
    if not picked:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    pairs = perm[np.array([(p.i, p.j) for p in picked], dtype=np.int64)]
    pairs.sort(axis=1)
    a, b = pairs[:, 0], pairs[:, 1]
    gains = np.clip(bald_pairwise(mean[a], var[a], mean[b], var[b]), 0.0, 1.0)
    return pairs, gains


def propose_pairs(
    n_items,
    winners,
    losers,
    k: int,
    *,
    ties=None,
    critic_scores=None,
    exclude=None,
    rng: np.random.Generator | None = None,
    critic_var=None,
    prior_mean=None,
    prior_var=None,
    config: SelectionConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The next ``k`` pairs to compare, from the comparisons so far.

    Fits the posterior (:func:`selection_posterior`: the human-only Thurstone MAP; with
    ``critic_scores``, the critic places the images nobody has compared yet at cold start, so the
    first batch compares neighbours in critic score) and selects
    (:func:`propose_from_posterior`: default :class:`SelectionConfig`, ties broken by a seeded
    random permutation). A pair already judged may come back while its outcome is still uncertain;
    pass the pairs that must not (open ones, or those the next annotator has judged) as ``exclude``.

    Parameters
    ----------
    n_items : int
    winners, losers : array_like of int, shape [n_comparisons]
        Preferred and other item of each comparison so far.
    k : int
        Pairs wanted, ``>= 0``.
    ties : array_like of bool, shape [n_comparisons], optional
    critic_scores : array_like, shape [n_items], optional
        The promoted critic's raw scores for all items, or None.
    exclude : array_like of int, shape [n_pairs, 2], optional
    rng : numpy.random.Generator, optional
        Default ``numpy.random.default_rng(0)``.
    critic_var, prior_mean, prior_var, config
        See :func:`selection_posterior` and :class:`SelectionConfig`.

    Returns
    -------
    pairs : ndarray of int64, shape [k', 2], ``k' <= k``
    gains : ndarray of float64, shape [k']
        Mutual information of one comparison with the scores, in bits (``[0, 1]``).

    Example
    -------
    >>> pairs, gains = propose_pairs(4, [0, 1], [1, 2], 2, rng=np.random.default_rng(0))
    >>> pairs.shape, bool(((gains >= 0) & (gains <= 1)).all())
    ((2, 2), True)
    """
    posterior = selection_posterior(
        n_items, winners, losers, ties=ties, critic_scores=critic_scores, critic_var=critic_var,
        prior_mean=prior_mean, prior_var=prior_var,
    )
    rng = np.random.default_rng(0) if rng is None else rng
    return propose_from_posterior(posterior.mean, posterior.var, k, rng=rng, exclude=exclude, config=config)
