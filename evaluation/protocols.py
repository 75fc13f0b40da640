"""Prompting systems for benchmarking a quality model: protocols × prompting styles, answer parsing, aggregation.

Django-free core (DESIGN.md, "Cores without Django"). Paper 004 (Wu et al.) crosses three psychophysical
protocols with three prompting styles into nine prompting systems (§3.1-3.2, Fig. 3):

* **single-stimulus**: one test image, answer a quality score in [0, 100];
* **double-stimulus**: two images (A, B), answer which is better or that they are the same (2AFC with a
  third option); the answers form the preference counts ``C_ij`` (eq. 1) aggregated by the Thurstone
  Case V MAP (eq. 2, :func:`evaluation.scaling.thurstone_map_pairwise`);
* **multiple-stimulus**: ``L`` images, answer a ranking best to worst; each ranking gives its ``L(L-1)/2``
  pairwise preferences, aggregated the same way;

each asked with **standard** prompting (ask directly), **in-context** prompting (first show exemplar
images with their human scores) or **chain-of-thought** prompting (ask to analyse the visual attributes
first, then conclude on a final line). Images are attached after the text: exemplars first, then the
test images, which the text calls Image A, Image B, ... in that order.

:func:`answer_parse` reads a free-text answer robustly and returns the value or, when no single
reading is possible, ``None`` with the reason, so that unparseable answers are counted, never guessed.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evaluation.arrays import check_rng
from evaluation.scaling import thurstone_map_pairwise

__all__ = [
    "LEVEL_SCORES",
    "PROMPTINGS",
    "PROTOCOLS",
    "ParsedAnswer",
    "answer_parse",
    "comparisons_from_choices",
    "comparisons_from_rankings",
    "exemplar_answer",
    "groups_design",
    "groups_design_by_reference",
    "n_exemplars_for",
    "image_label",
    "prompt_build",
    "scores_from_comparisons",
    "scores_from_singles",
]

from evaluation.prompting import (  # noqa: F401 -- the protocols' names and prompts are part of this module's API
    A_BETTER,
    B_BETTER,
    CHAIN_OF_THOUGHT,
    DOUBLE,
    IN_CONTEXT,
    LEVEL_SCORES,
    MAX_LIST_SIZE,
    MIN_LIST_SIZE,
    MULTIPLE,
    PROMPTINGS,
    PROTOCOLS,
    SAME,
    SINGLE,
    STANDARD,
    _n_images_for,
    exemplar_answer,
    image_label,
    n_exemplars_for,
    prompt_build,
)


# ------------------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class ParsedAnswer:
    """What an answer says, or why it cannot be read.

    ``value`` is a float in [0, 100] (single), ``"a"``, ``"b"`` or ``"same"`` (double), or a tuple of test
    image positions best first (multiple); ``None`` when unparseable, with ``reason`` saying why.
    """

    value: float | str | tuple[int, ...] | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.value is not None

    def as_json(self):
        """The value as JSON-able data (a ranking becomes a list)."""
        return list(self.value) if isinstance(self.value, tuple) else self.value


_MARKER = re.compile(r"(?:final\s+)?(?:score|answer|ranking|rank|rating|verdict|conclusion)\s*[:=]", re.IGNORECASE)
_NUMBER = r"[-+]?\d+(?:[.,]\d+)?"
_SCORED = re.compile(rf"({_NUMBER})\s*(?:%|(?:/|out\s+of)\s*({_NUMBER}))?", re.IGNORECASE)
_SCORE_PHRASE = re.compile(
    rf"(?:score|rate|rating|rated|give\s+it|quality\s+(?:is|of)|assess\s+it\s+at)[^0-9\n]{{0,25}}?({_NUMBER}(?:\s*(?:/|out\s+of)\s*{_NUMBER})?)",
    re.IGNORECASE,
)
_LEVEL = re.compile(r"\b(bad|poor|fair|good|excellent)\b", re.IGNORECASE)


def _decisive(text: str) -> tuple[str, bool]:
    """The part of ``text`` after its last answer marker ("Score:", "Answer:", ...), else all of it."""
    matches = list(_MARKER.finditer(text))
    if matches:
        return text[matches[-1].end():].strip(), True
    return text.strip(), False


def _to_float(token: str) -> float:
    return float(token.replace(",", "."))


def _score_of(match_text: str) -> tuple[float | None, str]:
    match = _SCORED.match(match_text.strip())
    if not match:
        return None, "no number"
    value = _to_float(match.group(1))
    if match.group(2):
        scale = _to_float(match.group(2))
        if scale <= 0:
            return None, f"the scale '/{match.group(2)}' is not positive"
        value = 100.0 * value / scale
    if not 0.0 <= value <= 100.0:
        return None, f"the score {value:g} is outside 0-100"
    return value, ""


def _parse_single(text: str) -> ParsedAnswer:
    segment, marked = _decisive(text)
    numbers = list(_SCORED.finditer(segment))
    if marked and numbers:
        value, why = _score_of(numbers[0].group(0))
        return ParsedAnswer(value, why)
    if not marked:
        phrases = list(_SCORE_PHRASE.finditer(segment))
        if phrases:
            value, why = _score_of(phrases[-1].group(1))
            return ParsedAnswer(value, why)
        if len(numbers) == 1:
            value, why = _score_of(numbers[0].group(0))
            return ParsedAnswer(value, why)
        if len(numbers) > 1:
            return ParsedAnswer(None, f"{len(numbers)} numbers and no 'Score:' line: no single score")
    levels = {match.group(1).lower() for match in _LEVEL.finditer(segment)}
    if len(levels) == 1:
        return ParsedAnswer(LEVEL_SCORES[levels.pop()])
    if len(levels) > 1:
        return ParsedAnswer(None, f"several quality levels ({', '.join(sorted(levels))}) and no number")
    return ParsedAnswer(None, "no score in the answer")


_CHOICE_PATTERNS = {
    A_BETTER: re.compile(r"\b(?:image\s*a|first(?:\s+image)?|left(?:\s+image)?|a)\b", re.IGNORECASE),
    B_BETTER: re.compile(r"\b(?:image\s*b|second(?:\s+image)?|right(?:\s+image)?|b)\b", re.IGNORECASE),
    SAME: re.compile(r"\b(?:same|equal(?:ly)?|comparable|similar|tie|neither|identical|both)\b", re.IGNORECASE),
}
_BETTER = re.compile(
    r"\b(image\s*a|image\s*b|first|second|left|right)\b(?:\s+image)?\s+(?:is|has|looks|shows|appears|seems)\s+"
    r"(?:\w+\s+){0,2}?(better|higher|superior|sharper|clearer|cleaner|worse|lower|inferior)",
    re.IGNORECASE,
)
_SIDE = {"image a": A_BETTER, "first": A_BETTER, "left": A_BETTER, "image b": B_BETTER, "second": B_BETTER, "right": B_BETTER}


def _choices_in(segment: str, *, bare_letters: bool) -> set[str]:
    found = set()
    for choice, pattern in _CHOICE_PATTERNS.items():
        for match in pattern.finditer(segment):
            word = match.group(0)
            # A lone lower-case "a" is the article: only a capital A (or B) on its own names an image.
            if len(word) == 1 and (not bare_letters or word.islower()):
                continue
            found.add(choice)
    return found


def _parse_double(text: str) -> ParsedAnswer:
    segment, marked = _decisive(text)
    short = len(segment.split()) <= 4
    choices = _choices_in(segment, bare_letters=marked or short)
    if len(choices) == 1:
        return ParsedAnswer(choices.pop())
    if not choices:
        return ParsedAnswer(None, "names neither image nor 'same'")
    # Both named: a sentence like "Image A is sharper than Image B" decides; the last such sentence wins.
    verdicts = list(_BETTER.finditer(segment))
    if verdicts:
        side = _SIDE[re.sub(r"\s+", " ", verdicts[-1].group(1).lower())]
        worse = verdicts[-1].group(2).lower() in ("worse", "lower", "inferior")
        return ParsedAnswer((B_BETTER if side == A_BETTER else A_BETTER) if worse else side)
    return ParsedAnswer(None, "names both images without a clear choice")


_RANK_LABEL = re.compile(r"(?:\bimage\s*([a-h])\b)|(?<![A-Za-z])([A-H])(?![A-Za-z])", re.IGNORECASE)


def _parse_multiple(text: str, n_images: int) -> ParsedAnswer:
    segment, marked = _decisive(text)
    if not marked:
        # Without a marker, the ranking is the last line that names images.
        lines = [line for line in segment.splitlines() if _RANK_LABEL.search(line)]
        if len([line for line in lines if ">" in line]) >= 1:
            lines = [line for line in lines if ">" in line]
        segment = lines[-1] if lines and ">" in lines[-1] else segment
    labels = []
    for match in _RANK_LABEL.finditer(segment):
        if match.group(1):
            labels.append(match.group(1).upper())
        elif match.group(2).isupper():
            labels.append(match.group(2))
    if not labels:
        return ParsedAnswer(None, "no ranking of images in the answer")
    allowed = [image_label(i) for i in range(n_images)]
    stray = sorted(set(labels) - set(allowed))
    if stray:
        return ParsedAnswer(None, f"names image {', '.join(stray)}, but only {allowed[0]}-{allowed[-1]} were shown")
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        return ParsedAnswer(None, f"names image {', '.join(repeated)} more than once")
    if len(labels) != n_images:
        return ParsedAnswer(None, f"ranks {len(labels)} of the {n_images} images")
    return ParsedAnswer(tuple(allowed.index(label) for label in labels))


def answer_parse(protocol: str, text: str, *, n_images: int) -> ParsedAnswer:
    """Read a system's answer under ``protocol``; never guesses.

    Rules, in order: the text after the last answer marker ("Score:", "Answer:", "Ranking:", ...) decides
    when there is one (chain-of-thought answers); otherwise the whole text.

    * single: a number, optionally as ``x/10``, ``x out of 5`` or ``x%`` (rescaled to 0-100); without a
      marker the last "score/rate ... <number>" phrase, else the only number, else a single level word
      (bad 0, poor 25, fair 50, good 75, excellent 100). Out of range or several candidates: unparseable.
    * double: "Image A"/"first"/"left", "Image B"/"second"/"right", or "same"/"equal"/"comparable";
      when both images are named, the last "X is better/sharper/worse ..." sentence decides.
    * multiple: image letters in order (``C > A > B``, ``1. Image C 2. Image A ...``); each shown image
      exactly once, none that was not shown.

    Parameters
    ----------
    protocol : {"single", "double", "multiple"}
    text : str
    n_images : int
        Test images shown.

    Returns
    -------
    ParsedAnswer
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    _n_images_for(protocol, n_images)
    if not isinstance(text, str) or not text.strip():
        return ParsedAnswer(None, "empty answer")
    if protocol == SINGLE:
        return _parse_single(text)
    if protocol == DOUBLE:
        return _parse_double(text)
    return _parse_multiple(text, n_images)


# ------------------------------------------------------------------------------------------ design


def groups_design(n_items: int, group_size: int, rounds: int, *, rng: np.random.Generator) -> np.ndarray:
    """Which items each double- or multiple-stimulus prompt shows: every item in ``rounds`` groups.

    Each round is a random permutation cut into groups of ``group_size``; a last, short group is filled
    up with other items drawn at random, so every item appears at least ``rounds`` times and no group
    repeats an item. Positions within a group are random too (the permutation), which balances
    left/right and list-position bias.

    Returns
    -------
    ndarray of int, shape [n_groups, group_size]

    Raises
    ------
    ValueError
        ``group_size`` < 2 or above ``n_items``, ``rounds`` < 1.
    """
    if group_size < 2:
        raise ValueError("group_size must be >= 2")
    if n_items < group_size:
        raise ValueError(f"need at least {group_size} items for groups of {group_size}, got {n_items}")
    if rounds < 1:
        raise ValueError("rounds must be >= 1")
    check_rng(rng)
    groups = []
    for _ in range(rounds):
        order = rng.permutation(n_items)
        for start in range(0, n_items, group_size):
            group = list(order[start : start + group_size])
            if len(group) < group_size:
                others = np.setdiff1d(np.arange(n_items), group)
                group += list(rng.choice(others, size=group_size - len(group), replace=False))
            groups.append(group)
    return np.asarray(groups, dtype=np.int64)


def groups_design_by_reference(references, group_size: int, rounds: int, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Full-reference groups (paper 004, §3.1): pairs or lists of images that share one reference (same content).

    :func:`groups_design` within each reference's images; references with fewer than ``group_size`` images give no
    group, and their images are returned as left out.

    Parameters
    ----------
    references : array_like of int, shape [n_items]
        Each item's reference id.

    Returns
    -------
    groups : ndarray of int, shape [n_groups, group_size]
        Item indices; every group's items have one reference.
    left_out : ndarray of int, shape [n_left_out]
        Items in no group.
    """
    references = np.asarray(references, dtype=np.int64)
    check_rng(rng)
    groups, left_out = [], []
    for reference in np.unique(references):
        members = np.flatnonzero(references == reference)
        if members.size < group_size:
            left_out += members.tolist()
            continue
        groups.append(members[groups_design(members.size, group_size, rounds, rng=rng)])
    stacked = np.concatenate(groups) if groups else np.empty((0, group_size), dtype=np.int64)
    return stacked, np.asarray(sorted(left_out), dtype=np.int64)


# ------------------------------------------------------------------------------------------ aggregation


def scores_from_singles(n_items: int, items, values) -> np.ndarray:
    """Single-stimulus scores per item: the mean of its parsed scores, NaN where it has none.

    Parameters
    ----------
    items : array_like of int, shape [n_answers]
    values : array_like of float, shape [n_answers]

    Returns
    -------
    ndarray, shape [n_items]
    """
    items = np.asarray(items, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    if items.shape != values.shape:
        raise ValueError("items and values must have the same length")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"items must be in [0, {n_items})")
    totals = np.bincount(items, weights=values, minlength=n_items)
    counts = np.bincount(items, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Comparisons:
    """Pairwise outcomes ready for :func:`thurstone_map_pairwise`: ``winners[k]`` beat ``losers[k]`` unless ``ties[k]``."""

    winners: np.ndarray  # [n_comparisons]
    losers: np.ndarray  # [n_comparisons]
    ties: np.ndarray  # [n_comparisons], bool


def comparisons_from_choices(pairs, choices: Sequence[str]) -> Comparisons:
    """Double-stimulus answers as comparisons: ``pairs[k] = (item shown as A, item shown as B)``.

    ``"a"``: A beat B; ``"b"``: B beat A; ``"same"``: a tie (half a win each, as in
    :func:`evaluation.scaling.aggregate_pairwise`), the paper's third option.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(choices) != len(pairs):
        raise ValueError("one choice per pair is needed")
    winners, losers, ties = [], [], []
    for (a, b), choice in zip(pairs, choices):
        if choice not in (A_BETTER, B_BETTER, SAME):
            raise ValueError(f"a choice must be 'a', 'b' or 'same', got {choice!r}")
        winners.append(b if choice == B_BETTER else a)
        losers.append(a if choice == B_BETTER else b)
        ties.append(choice == SAME)
    return Comparisons(np.asarray(winners, np.int64), np.asarray(losers, np.int64), np.asarray(ties, bool))


def comparisons_from_rankings(rankings: Sequence[Sequence[int]]) -> Comparisons:
    """Multiple-stimulus rankings (item ids, best first) as their ``L(L-1)/2`` pairwise preferences each (paper 004, §3.1)."""
    winners, losers = [], []
    for ranking in rankings:
        ranking = [int(item) for item in ranking]
        if len(set(ranking)) != len(ranking):
            raise ValueError("a ranking repeats an item")
        for i, better in enumerate(ranking):
            for worse in ranking[i + 1 :]:
                winners.append(better)
                losers.append(worse)
    return Comparisons(np.asarray(winners, np.int64), np.asarray(losers, np.int64), np.zeros(len(winners), bool))


def scores_from_comparisons(n_items: int, comparisons: Comparisons) -> np.ndarray:
    """Thurstone Case V MAP scores from the comparisons (paper 004, eq. 2, prior N(0, 1)); NaN for items never compared.

    Returns
    -------
    ndarray, shape [n_items]
    """
    # Only the scores are used, so the cheap diagonal variances do (the exact ones cost O(n^3)).
    result = thurstone_map_pairwise(
        n_items, comparisons.winners, comparisons.losers, ties=comparisons.ties, variance_method="diagonal",
    )
    compared = np.zeros(n_items, dtype=bool)
    compared[comparisons.winners] = True
    compared[comparisons.losers] = True
    return np.where(compared, result.scores, np.nan)
