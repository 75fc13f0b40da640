"""Difficult-sample selection: hard, diverse, consistently rated test items (paper 004, §3.3, eqs. 3-5).

Django-free core (DESIGN.md, "Cores without Django"). An inexpensive *expert* model stands in for the
costly system under test: items where the expert's prediction is far from the human score, relative to
how much people disagreed about that item, are likely to make other models err too, and items people
rated inconsistently are discounted. A diversity term keeps the chosen set from collapsing onto one kind
of failure. Selection is greedy, one item (or reference) at a time, as the paper's argmax recursion.

Conventions: ``expert`` must already be on the scale of ``human`` (map it first, e.g. with the
4-parameter logistic of :func:`evaluation.metrics.logistic4_fit`); ``human_std`` is the standard
deviation of the human score in the same units. ``Div(x, S)`` is the point-to-set distance "MSE in a
feature space" (the paper uses CLIP features): here the mean squared difference between ``x``'s feature
vector and that of its *nearest* already-chosen item, 0 while nothing is chosen. Nearest, not mean,
so that an item close to any chosen one adds little diversity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.arrays import finite_vector

__all__ = [
    "DifficultSelection",
    "difficult_select_grouped",
    "difficult_select_nr",
    "normalised_error",
    "point_to_set_mse",
]

#: The paper's settings (§4.1): trade-off λ = 0.01 and stability constant ε = 1 (for 0-100 scores).
DEFAULT_LAMBDA = 0.01
DEFAULT_EPSILON = 1.0


@dataclass(frozen=True)
class DifficultSelection:
    """The chosen items in the order they were chosen, with the terms of the objective when chosen.

    Attributes
    ----------
    indices : ndarray of int, shape [n_selected]
    difficulty : ndarray, shape [n_selected]
        Variance-normalised squared error of each chosen item (eq. 5's first term).
    diversity : ndarray, shape [n_selected]
        ``Div`` of each item to the items chosen before it.
    objective : ndarray, shape [n_selected]
        ``difficulty + λ diversity`` at the time of choice.
    """

    indices: np.ndarray
    difficulty: np.ndarray
    diversity: np.ndarray
    objective: np.ndarray


def normalised_error(expert, human, human_std, *, epsilon: float = DEFAULT_EPSILON) -> np.ndarray:
    """``(q_w(x) - q(x))^2 / (σ(x)^2 + ε)`` per item (paper 004, eqs. 3-5).

    Parameters
    ----------
    expert, human, human_std : array_like, shape [n_items]
        Expert prediction (on the human scale), human score, human standard deviation (>= 0).
    epsilon : float
        > 0, keeps items with zero recorded spread finite.

    Returns
    -------
    ndarray, shape [n_items]
    """
    expert = finite_vector("expert", expert)
    human = finite_vector("human", human, expert.size)
    std = finite_vector("human_std", human_std, expert.size)
    if np.any(std < 0):
        raise ValueError("human_std must be >= 0")
    if not epsilon > 0:
        raise ValueError("epsilon must be > 0")
    return (expert - human) ** 2 / (std**2 + epsilon)


def point_to_set_mse(features: np.ndarray, chosen: list[int]) -> np.ndarray:
    """``Div(x, S)`` for every item x: MSE between its features and the nearest chosen item's; 0 for an empty S.

    Parameters
    ----------
    features : ndarray, shape [n_items, n_features]
    chosen : list of int

    Returns
    -------
    ndarray, shape [n_items]
    """
    if not chosen:
        return np.zeros(features.shape[0])
    differences = features[:, None, :] - features[None, chosen, :]  # [n_items, n_chosen, n_features]
    return np.mean(differences**2, axis=2).min(axis=1)


def _features(features, n_items: int) -> np.ndarray:
    if features is None:
        return np.zeros((n_items, 1))
    array = np.asarray(features, dtype=float)
    if array.ndim != 2 or array.shape[0] != n_items:
        raise ValueError(f"features must have shape [{n_items}, n_features], got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("features must be finite")
    return array


def _greedy(gain: np.ndarray, features: np.ndarray, n_select: int, lam: float) -> DifficultSelection:
    chosen: list[int] = []
    difficulty, diversity, objective = [], [], []
    available = np.ones(gain.size, dtype=bool)
    div = np.zeros(gain.size)  # Div(x, chosen) for every x, kept up to date one chosen item at a time
    for _ in range(n_select):
        total = np.where(available, gain + lam * div, -np.inf)
        best = int(np.argmax(total))  # ties: the lowest index, so the result is deterministic
        chosen.append(best)
        available[best] = False
        difficulty.append(gain[best])
        diversity.append(div[best])
        objective.append(total[best])
        to_best = np.mean((features - features[best]) ** 2, axis=1)  # [n_items]
        div = to_best if len(chosen) == 1 else np.minimum(div, to_best)
    return DifficultSelection(
        np.asarray(chosen, dtype=np.int64), np.asarray(difficulty), np.asarray(diversity), np.asarray(objective)
    )


def _check_selection(n_select: int, n_items: int, lam: float) -> None:
    if isinstance(n_select, bool) or not isinstance(n_select, (int, np.integer)) or n_select < 1:
        raise ValueError("n_select must be an integer >= 1")
    if n_select > n_items:
        raise ValueError(f"cannot choose {n_select} of {n_items} items")
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError("lambda must be finite and >= 0")


def difficult_select_nr(
    expert,
    human,
    human_std,
    *,
    n_select: int,
    features=None,
    lam: float = DEFAULT_LAMBDA,
    epsilon: float = DEFAULT_EPSILON,
) -> DifficultSelection:
    """Greedy no-reference selection of ``n_select`` hard, diverse items (paper 004, eq. 5).

    ``x_n* = argmax_{x not chosen} (q_w(x) - q(x))^2 / (σ(x)^2 + ε) + λ Div(x, X*_{n-1})``.

    Parameters
    ----------
    expert, human, human_std : array_like, shape [n_items]
    n_select : int
    features : array_like, shape [n_items, n_features], optional
        Feature vectors for ``Div``; without them the selection is by difficulty alone.
    lam, epsilon : float

    Returns
    -------
    DifficultSelection

    Raises
    ------
    ValueError
        Mismatched shapes, non-finite values, negative spread, ``n_select`` out of range.
    """
    gain = normalised_error(expert, human, human_std, epsilon=epsilon)
    _check_selection(n_select, gain.size, lam)
    return _greedy(gain, _features(features, gain.size), n_select, lam)


def difficult_select_grouped(
    expert,
    human,
    human_std,
    groups,
    *,
    n_groups: int,
    per_group: int,
    group_features=None,
    lam: float = DEFAULT_LAMBDA,
    epsilon: float = DEFAULT_EPSILON,
) -> tuple[np.ndarray, DifficultSelection]:
    """Full-reference selection: ``n_groups`` references by eq. 3, then the ``per_group`` hardest of each by eq. 4.

    Eq. 3 scores a reference ``y`` by the mean normalised error of its distorted images plus
    ``λ Div(y, Y*_{n-1})`` on the references' features; eq. 4 takes the top ``per_group`` images of each
    chosen reference by normalised error (fewer when a reference has fewer images).

    Parameters
    ----------
    expert, human, human_std : array_like, shape [n_items]
    groups : array_like of int, shape [n_items]
        The reference (group) id of each item.
    n_groups, per_group : int
    group_features : array_like, shape [n_distinct_groups, n_features], optional
        One row per distinct group id, in ascending id order.

    Returns
    -------
    (ndarray of int, DifficultSelection)
        The chosen item indices (grouped, references in choice order), and the reference selection
        (its ``indices`` are positions in the ascending distinct group ids).
    """
    gain = normalised_error(expert, human, human_std, epsilon=epsilon)
    groups = np.asarray(groups)
    if groups.shape != gain.shape:
        raise ValueError("groups must have one entry per item")
    if per_group < 1:
        raise ValueError("per_group must be >= 1")
    distinct = np.unique(groups)
    _check_selection(n_groups, distinct.size, lam)
    mean_gain = np.asarray([gain[groups == group].mean() for group in distinct])
    references = _greedy(mean_gain, _features(group_features, distinct.size), n_groups, lam)
    items = []
    for position in references.indices:
        members = np.flatnonzero(groups == distinct[position])
        order = members[np.argsort(-gain[members], kind="stable")]
        items.extend(order[:per_group].tolist())
    return np.asarray(items, dtype=np.int64), references
