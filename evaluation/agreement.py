"""Agreement between annotators: Krippendorff's alpha, consistency-repeat agreement, transitivity of pairs.

Django-free core (DESIGN.md): plain rows in, numbers out. The Django side (evaluation/quality.py) reads a
project's judgements into the row shapes documented on each function.
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from itertools import combinations

import krippendorff
import numpy as np

__all__ = [
    "AlphaResult",
    "RepeatAgreement",
    "TransitivityResult",
    "krippendorff_alpha",
    "reliability_matrix",
    "repeat_agreement_by_annotator",
    "transitivity_violations",
    "transitivity_by_annotator",
]

LEVELS_OF_MEASUREMENT = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class AlphaResult:
    """Krippendorff's alpha of one variable and what it was computed from.

    Attributes
    ----------
    alpha : float or None
        1 - D_o / D_e; None where it is undefined (fewer than one pairable unit, or a single value in all the data).
    level : str
        The level of measurement (nominal, ordinal, interval, ratio).
    n_units : int
        Units (items) coded by at least two annotators: only those enter alpha.
    n_coders : int
        Annotators with at least one value in a pairable unit.
    n_values : int
        Values in pairable units (the n of Krippendorff's formulas).
    """

    alpha: float | None
    level: str
    n_units: int
    n_coders: int
    n_values: int

    def to_dict(self) -> dict:
        return {"alpha": self.alpha, "level": self.level, "n_units": self.n_units, "n_coders": self.n_coders, "n_values": self.n_values}


def reliability_matrix(rows: Iterable[tuple[Hashable, Hashable, object]]) -> tuple[np.ndarray, list, list, list]:
    """The coders-by-units matrix Krippendorff's alpha reads, from (coder, unit, value) rows.

    Values are coded by their rank among the distinct values (sorted), so nominal strings and ordinal
    levels both work; a coder's second value for the same unit replaces the first (pass no repeats).

    Returns
    -------
    matrix : ndarray, shape [n_coders, n_units]
        Value codes (0, 1, ...) with NaN where a coder did not code a unit.
    coders, units, values : list
        The row, column and code labels, in order.
    """
    rows = list(rows)
    coders = sorted({row[0] for row in rows}, key=str)
    units = sorted({row[1] for row in rows}, key=str)
    values = sorted({row[2] for row in rows}, key=lambda v: (isinstance(v, str), v))
    coder_index = {c: i for i, c in enumerate(coders)}
    unit_index = {u: i for i, u in enumerate(units)}
    value_code = {v: float(i) for i, v in enumerate(values)}
    matrix = np.full((len(coders), len(units)), np.nan)
    for coder, unit, value in rows:
        matrix[coder_index[coder], unit_index[unit]] = value_code[value]
    return matrix, coders, units, values


def krippendorff_alpha(reliability_data, *, level: str, value_domain=None) -> AlphaResult:
    """Krippendorff's alpha of a coders-by-units matrix (NaN for missing), via the `krippendorff` package.

    alpha = 1 - D_o / D_e, the observed disagreement within units over the disagreement expected by chance,
    with the distance of the level of measurement (Krippendorff 2011, "Computing Krippendorff's
    alpha-reliability"). 1 is perfect agreement, 0 agreement at chance, below 0 systematic disagreement.

    Parameters
    ----------
    reliability_data : array_like, shape [n_coders, n_units]
        Numeric values (for nominal data any codes), NaN where missing.
    level : {"nominal", "ordinal", "interval", "ratio"}
    value_domain : sequence, optional
        Every possible value, ordered (ordinal distances count the values between); default: those present.

    Returns
    -------
    AlphaResult
        `alpha` is None when it is undefined: no unit coded twice, or one value only.

    Raises
    ------
    ValueError
        For an unknown level or data that is not two-dimensional.
    """
    if level not in LEVELS_OF_MEASUREMENT:
        raise ValueError(f"level must be one of {', '.join(LEVELS_OF_MEASUREMENT)}")
    data = np.asarray(reliability_data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("reliability_data must be a [coders, units] matrix")
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    kept = data[:, pairable]
    n_values = int((~np.isnan(kept)).sum())
    n_coders = int((~np.isnan(kept)).any(axis=1).sum())
    present = np.unique(kept[~np.isnan(kept)])
    alpha = None
    if pairable.any() and present.size >= 2:
        domain = value_domain if value_domain is not None else present
        value = float(krippendorff.alpha(reliability_data=kept, level_of_measurement=level, value_domain=domain))
        alpha = value if math.isfinite(value) else None
    return AlphaResult(alpha=alpha, level=level, n_units=int(pairable.sum()), n_coders=n_coders, n_values=n_values)


# ------------------------------------------------------------------------------------ consistency repeats


@dataclass(frozen=True)
class RepeatAgreement:
    """How often an annotator gave a repeated item the answer they gave it the first time.

    Attributes
    ----------
    n : int
        Repeats with an earlier answer to compare with.
    agreed : int
        Repeats answered exactly as the first time.
    share : float or None
        agreed / n (None without repeats).
    mean_abs_difference : float or None
        For numeric answers (rating levels): the mean |repeat - first|; None otherwise.
    """

    n: int
    agreed: int
    share: float | None
    mean_abs_difference: float | None

    def to_dict(self) -> dict:
        return {"n": self.n, "agreed": self.agreed, "share": self.share, "mean_abs_difference": self.mean_abs_difference}


def repeat_agreement_by_annotator(rows: Iterable[tuple[Hashable, Hashable, object, bool]]) -> dict[Hashable, RepeatAgreement]:
    """Repeat agreement per annotator from (annotator, item, answer, is_repeat) rows.

    A repeat is compared with the same annotator's first (non-repeat) answer to the item; repeats
    without one are skipped. Pair answers must be in the item's own A/B terms (so a repeat shown
    the other way round still agrees when it picks the same image).
    """
    firsts: dict[tuple, object] = {}
    repeats: list[tuple] = []
    for annotator, item, answer, is_repeat in rows:
        if is_repeat:
            repeats.append((annotator, item, answer))
        else:
            firsts[(annotator, item)] = answer
    agreed: dict[Hashable, int] = defaultdict(int)
    total: dict[Hashable, int] = defaultdict(int)
    differences: dict[Hashable, list[float]] = defaultdict(list)
    for annotator, item, answer in repeats:
        if (annotator, item) not in firsts:
            continue
        first = firsts[(annotator, item)]
        total[annotator] += 1
        agreed[annotator] += int(first == answer)
        if isinstance(first, (int, float)) and isinstance(answer, (int, float)) and not isinstance(first, bool):
            differences[annotator].append(abs(float(answer) - float(first)))
    return {
        annotator: RepeatAgreement(
            n=n, agreed=agreed[annotator], share=agreed[annotator] / n,
            mean_abs_difference=float(np.mean(differences[annotator])) if differences[annotator] else None,
        )
        for annotator, n in total.items()
    }


# ------------------------------------------------------------------------------------------ transitivity


@dataclass(frozen=True)
class TransitivityResult:
    """Circular triads in one annotator's pair judgements (Kendall & Babington Smith 1940).

    Attributes
    ----------
    triads : int
        Triples of items whose three pairs the annotator all decided (ties and evenly split pairs left out).
    circular : int
        Of those, the triples judged in a circle (a > b, b > c, c > a).
    share : float or None
        circular / triads (None without triads).
    """

    triads: int
    circular: int
    share: float | None

    def to_dict(self) -> dict:
        return {"triads": self.triads, "circular": self.circular, "share": self.share}


def transitivity_violations(judgements: Iterable[tuple[Hashable, Hashable]]) -> TransitivityResult:
    """Count circular triads among one annotator's decided pairs, from (winner, loser) rows.

    A pair judged more than once counts by the annotator's majority; an even split is undecided and
    left out, as are ties (pass only decisive judgements). Every triangle of the decided-pair graph is
    checked: it is circular when each item beats exactly one of the other two.
    """
    wins: Counter = Counter()
    for winner, loser in judgements:
        if winner == loser:
            raise ValueError("an item cannot be compared with itself")
        wins[(winner, loser)] += 1
    beats: dict[Hashable, set] = defaultdict(set)
    neighbours: dict[Hashable, set] = defaultdict(set)
    for (winner, loser), count in list(wins.items()):
        against = wins.get((loser, winner), 0)
        if count > against:
            beats[winner].add(loser)
            neighbours[winner].add(loser)
            neighbours[loser].add(winner)
    order = {item: i for i, item in enumerate(neighbours)}  # any total order: each triangle is counted once
    triads = circular = 0
    for a in neighbours:
        later = [b for b in neighbours[a] if order[b] > order[a]]
        for b, c in combinations(later, 2):
            if c not in neighbours[b]:
                continue
            triads += 1
            # In a circle each item beats exactly one of the other two; otherwise one beats both.
            if (b in beats[a]) + (c in beats[a]) == 1 and (a in beats[b]) + (c in beats[b]) == 1:
                circular += 1
    return TransitivityResult(triads=triads, circular=circular, share=circular / triads if triads else None)


def transitivity_by_annotator(rows: Iterable[tuple[Hashable, Hashable, Hashable]]) -> dict[Hashable, TransitivityResult]:
    """`transitivity_violations` for each annotator, from (annotator, winner, loser) rows."""
    grouped: dict[Hashable, list] = defaultdict(list)
    for annotator, winner, loser in rows:
        grouped[annotator].append((winner, loser))
    return {annotator: transitivity_violations(pairs) for annotator, pairs in grouped.items()}
