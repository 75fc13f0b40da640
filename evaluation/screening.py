"""Observer screening: BT.500's kurtosis test for ratings, a likelihood test for pairs, gold accuracy, straight-lining.

Django-free core (DESIGN.md). Each test flags annotators for a researcher to look at; excluding them is
a separate, deliberate action (annotation/services/exclusion.py).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from evaluation.scaling import thurstone_map_pairwise

__all__ = [
    "Bt500Observer",
    "PairOutlierObserver",
    "StraightLining",
    "bt500_screen_ratings",
    "gold_accuracy_by_annotator",
    "pair_outlier_screen",
    "straight_lining_by_annotator",
]

#: BT.500's thresholds: an observer is rejected when (P+Q)/N > REJECT_SHARE and |P-Q|/(P+Q) < REJECT_BALANCE.
REJECT_SHARE = 0.05
REJECT_BALANCE = 0.3


# --------------------------------------------------------------------------------------- BT.500 ratings


@dataclass(frozen=True)
class Bt500Observer:
    """One observer's BT.500 screening counts.

    Attributes
    ----------
    n : int
        Presentations (items) the observer rated that entered the test.
    p, q : int
        Ratings at or above (P), at or below (Q) the item's mean by the item's threshold.
    rejected : bool
        (P+Q)/n > 0.05 and |P-Q|/(P+Q) < 0.3.
    """

    n: int
    p: int
    q: int
    rejected: bool

    @property
    def share(self) -> float | None:
        return (self.p + self.q) / self.n if self.n else None

    @property
    def balance(self) -> float | None:
        return abs(self.p - self.q) / (self.p + self.q) if self.p + self.q else None

    def to_dict(self) -> dict:
        return {"n": self.n, "p": self.p, "q": self.q, "share": self.share, "balance": self.balance, "rejected": self.rejected}


def bt500_screen_ratings(ratings, *, min_ratings: int = 3) -> list[Bt500Observer]:
    """ITU-R BT.500 observer screening (Annex 2, §2.3.1) of a single-stimulus rating matrix.

    For each item j with mean u_j, sample standard deviation S_j (ddof=1) and kurtosis
    beta2_j = m4 / m2^2 (m_k: the k-th central moment, divided by n), the item's rating is "normal"
    when 2 <= beta2_j <= 4 and the threshold is 2 S_j, otherwise sqrt(20) S_j. Observer i counts
    P_i += 1 where u_ij >= u_j + threshold and Q_i += 1 where u_ij <= u_j - threshold, and is
    rejected when (P_i + Q_i) / N_i > 0.05 and |P_i - Q_i| / (P_i + Q_i) < 0.3: often far from
    the panel, in both directions (a consistent offset is not rejected).

    Parameters
    ----------
    ratings : array_like, shape [n_observers, n_items]
        NaN where an observer did not rate an item.
    min_ratings : int
        Items with fewer ratings, or with no spread (S_j = 0), are left out: their moments mean nothing.

    Returns
    -------
    list of Bt500Observer, one per row.
    """
    data = np.asarray(ratings, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("ratings must be an [observers, items] matrix")
    if min_ratings < 2:
        raise ValueError("min_ratings must be >= 2")
    rated = ~np.isnan(data)
    counts = rated.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):  # items with < 2 ratings give NaN here and are left out below
        mean = np.nansum(data, axis=0) / counts
        deviation = data - mean
        squares = np.nansum(deviation**2, axis=0)
        std = np.sqrt(squares / (counts - 1))
        m2 = squares / counts
        m4 = np.nansum(deviation**4, axis=0) / counts
        beta2 = m4 / m2**2
    tested = (counts >= min_ratings) & (std > 0)
    threshold = np.where((beta2 >= 2.0) & (beta2 <= 4.0), 2.0, math.sqrt(20.0)) * std
    counted = rated & tested  # [n_observers, n_items]
    with np.errstate(invalid="ignore"):
        p = (counted & (data >= mean + threshold)).sum(axis=1)
        q = (counted & (data <= mean - threshold)).sum(axis=1)
    n = counted.sum(axis=1)
    observers = []
    for n_i, p_i, q_i in zip(n.tolist(), p.tolist(), q.tolist()):
        rejected = bool(n_i and p_i + q_i and (p_i + q_i) / n_i > REJECT_SHARE and abs(p_i - q_i) / (p_i + q_i) < REJECT_BALANCE)
        observers.append(Bt500Observer(n=n_i, p=p_i, q=q_i, rejected=rejected))
    return observers


# ----------------------------------------------------------------------------------- pairs: likelihood


@dataclass(frozen=True)
class PairOutlierObserver:
    """One observer's fit to the consensus scale.

    Attributes
    ----------
    n : int
        The observer's pair judgements.
    log_likelihood : float
        Mean natural-log likelihood per judgement under the scale fitted to everyone else.
    distance : float
        (Q1 - L) / IQR over observers where L is below the first quartile Q1, else 0 (pwcmp's dist_L).
    flagged : bool
        distance > the threshold.
    """

    n: int
    log_likelihood: float
    distance: float
    flagged: bool

    def to_dict(self) -> dict:
        return {"n": self.n, "log_likelihood": self.log_likelihood, "distance": self.distance, "flagged": self.flagged}


def pair_outlier_screen(
    n_items: int,
    observer,
    first,
    second,
    outcome,
    *,
    n_observers: int | None = None,
    threshold: float = 3.0,
    leave_one_out: bool = True,
) -> list[PairOutlierObserver]:
    """Likelihood-based outlier test of pair observers against the consensus Thurstone scale.

    As pwcmp's `pw_outlier_analysis` (Perez-Ortiz & Mantiuk 2017, arXiv:1712.03686, §9): for each observer
    the scale is fitted (Thurstone Case V MAP, evaluation.scaling) to every other observer's judgements,
    and the observer's judgements are scored by their log-likelihood under it, log Phi(s_w - s_l) per
    decision and the mean of both sides' for a tie. The per-judgement mean L_i is compared with the
    distribution over observers: distance = (Q1 - L_i) / IQR below the first quartile, and an observer
    more than `threshold` IQRs below it is flagged. The default 3 is Tukey's "far out" fence: with a dozen
    honest simulated observers the largest distance stays near 2 (the quartiles of few values are noisy),
    while a reversed or coin-flipping observer lands beyond 10 (tests/evaluation/test_screening.py).

    Parameters
    ----------
    n_items : int
    observer : array_like of int, shape [n_judgements]
        Observer index 0..n_observers-1 of each judgement.
    first, second : array_like of int, shape [n_judgements]
    outcome : array_like of float, shape [n_judgements]
        1 where `first` won, 0 where `second` won, 0.5 for a tie.
    n_observers : int, optional
        Default: max(observer) + 1.
    threshold : float
        IQRs below Q1 that flag an observer (pwcmp suggests looking at those above 1).
    leave_one_out : bool
        Fit one scale per observer without them (pwcmp); False fits one scale to everyone (faster, milder).

    Returns
    -------
    list of PairOutlierObserver, one per observer (n = 0 and NaN likelihood for those without judgements).
    """
    observer = np.asarray(observer, dtype=np.int64)
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    outcome = np.asarray(outcome, dtype=np.float64)
    if not (observer.shape == first.shape == second.shape == outcome.shape):
        raise ValueError("observer, first, second and outcome must have the same shape")
    if not np.isin(outcome, (0.0, 0.5, 1.0)).all():
        raise ValueError("outcome must be 1 (first won), 0 (second won) or 0.5 (tie)")
    if threshold <= 0:
        raise ValueError("threshold must be > 0")
    n_observers = int(observer.max()) + 1 if n_observers is None and observer.size else (n_observers or 0)
    if observer.size and (observer.min() < 0 or observer.max() >= n_observers):
        raise ValueError("observer indices must be in [0, n_observers)")

    def fit(mask) -> np.ndarray:
        tie = outcome[mask] == 0.5
        first_won = outcome[mask] == 1.0
        winners = np.where(first_won | tie, first[mask], second[mask])
        losers = np.where(first_won | tie, second[mask], first[mask])
        # Only the scores are needed: the diagonal variances skip the O(n^3) exact inverse.
        return thurstone_map_pairwise(n_items, winners, losers, ties=tie, variance_method="diagonal").scores

    shared = None if leave_one_out else fit(np.ones(observer.size, dtype=bool))
    likelihood = np.full(n_observers, np.nan)
    counts = np.bincount(observer, minlength=n_observers)
    for i in np.flatnonzero(counts):
        own = observer == i
        scores = fit(~own) if leave_one_out else shared
        d = scores[first[own]] - scores[second[own]]
        log_first, log_second = special.log_ndtr(d), special.log_ndtr(-d)
        per = outcome[own] * log_first + (1.0 - outcome[own]) * log_second
        likelihood[i] = float(per.mean())

    valid = likelihood[~np.isnan(likelihood)]
    distance = np.zeros(n_observers)
    if valid.size >= 4:
        q1, q3 = np.percentile(valid, [25, 75])
        iqr = max(q3 - q1, 1e-9)
        distance = np.where(likelihood < q1, (q1 - likelihood) / iqr, 0.0)
        distance = np.nan_to_num(distance, nan=0.0)
    return [
        PairOutlierObserver(n=int(counts[i]), log_likelihood=float(likelihood[i]), distance=float(distance[i]), flagged=bool(distance[i] > threshold))
        for i in range(n_observers)
    ]


# ------------------------------------------------------------------------------- gold and straight-lining


def gold_accuracy_by_annotator(rows: Iterable[tuple[Hashable, bool]]) -> dict[Hashable, tuple[int, int, float]]:
    """(correct, answered, share) per annotator from (annotator, gold_correct) rows of hidden gold items."""
    correct: dict[Hashable, int] = defaultdict(int)
    answered: dict[Hashable, int] = defaultdict(int)
    for annotator, right in rows:
        answered[annotator] += 1
        correct[annotator] += int(bool(right))
    return {a: (correct[a], n, correct[a] / n) for a, n in answered.items()}


@dataclass(frozen=True)
class StraightLining:
    """How much one annotator gives the same answer.

    Attributes
    ----------
    n : int
        Answers considered.
    top_answer : object
        The most common answer.
    top_share : float
        Its share of all answers.
    longest_run : int
        The longest run of identical consecutive answers.
    flagged : bool
        At least `min_answers` answers and `top_share` >= the share threshold.
    """

    n: int
    top_answer: object
    top_share: float
    longest_run: int
    flagged: bool

    def to_dict(self) -> dict:
        return {"n": self.n, "top_answer": self.top_answer, "top_share": self.top_share, "longest_run": self.longest_run, "flagged": self.flagged}


def straight_lining(answers: Sequence, *, share: float = 0.9, min_answers: int = 10) -> StraightLining:
    """The most common answer's share and the longest run of one annotator's answers, in submission order.

    Pass what the annotator saw (for pairs the screen side, "left"/"right"/"tie"), so that always
    pressing the same key is caught whatever the items were.
    """
    if not 0.0 < share <= 1.0:
        raise ValueError("share must be in (0, 1]")
    if not answers:
        return StraightLining(n=0, top_answer=None, top_share=0.0, longest_run=0, flagged=False)
    top_answer, top_count = Counter(answers).most_common(1)[0]
    longest = run = 1
    for previous, current in zip(answers, answers[1:]):
        run = run + 1 if current == previous else 1
        longest = max(longest, run)
    top_share = top_count / len(answers)
    return StraightLining(
        n=len(answers), top_answer=top_answer, top_share=top_share, longest_run=longest,
        flagged=len(answers) >= min_answers and top_share >= share,
    )


def straight_lining_by_annotator(rows: Iterable[tuple[Hashable, object]], **options) -> dict[Hashable, StraightLining]:
    """`straight_lining` per annotator from (annotator, answer) rows in submission order."""
    grouped: dict[Hashable, list] = defaultdict(list)
    for annotator, answer in rows:
        grouped[annotator].append(answer)
    return {annotator: straight_lining(answers, **options) for annotator, answers in grouped.items()}
