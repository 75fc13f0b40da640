"""Agreement cores: Krippendorff's alpha on textbook data, repeat agreement, circular triads (evaluation/agreement.py)."""
import math

import numpy as np
import pytest

from evaluation.agreement import (
    krippendorff_alpha,
    reliability_matrix,
    repeat_agreement_by_annotator,
    transitivity_by_annotator,
    transitivity_violations,
)

NAN = np.nan
#: Krippendorff (2011), "Computing Krippendorff's alpha-reliability", §C: 4 observers, 12 units, values 1-5.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_matches_krippendorffs_worked_example(level, expected):
    """The paper's published alphas for each level of measurement (to its three decimals); unit 12 is not pairable."""
    result = krippendorff_alpha(KRIPPENDORFF_2011, level=level)
    assert result.alpha == pytest.approx(expected, abs=5e-4)
    assert (result.n_units, result.n_coders, result.n_values) == (11, 4, 40)


def test_alpha_matches_a_hand_computed_nominal_case():
    """Two coders, units (a,a) (a,b) (b,b) (b,b): o_ab = o_ba = 1, n_a = 3, n_b = 5, n = 8, so
    D_o = 2/8, D_e = 2·3·5/(8·7) and alpha = 1 - (1/4)/(30/56) = 8/15."""
    matrix, coders, units, values = reliability_matrix([
        ("ann", 1, "a"), ("bob", 1, "a"), ("ann", 2, "a"), ("bob", 2, "b"),
        ("ann", 3, "b"), ("bob", 3, "b"), ("ann", 4, "b"), ("bob", 4, "b"),
    ])
    assert values == ["a", "b"] and coders == ["ann", "bob"] and units == [1, 2, 3, 4]
    assert krippendorff_alpha(matrix, level="nominal").alpha == pytest.approx(8 / 15)


def test_alpha_is_undefined_without_pairable_units_or_variation():
    """No unit coded twice, or one value everywhere: alpha is None rather than a number that means nothing."""
    assert krippendorff_alpha([[1, NAN], [NAN, 2]], level="interval").alpha is None
    single = krippendorff_alpha([[3, 3], [3, 3]], level="ordinal")
    assert single.alpha is None and single.n_units == 2


def test_alpha_rejects_bad_input():
    """An unknown level of measurement or a flat vector is a clear ValueError."""
    with pytest.raises(ValueError, match="level must be one of"):
        krippendorff_alpha(KRIPPENDORFF_2011, level="cardinal")
    with pytest.raises(ValueError, match="matrix"):
        krippendorff_alpha([1, 2, 3], level="nominal")


def test_repeat_agreement_compares_each_repeat_with_the_first_answer():
    """Ann repeats two items (one the same, one a level off); Bob's repeat has no first answer and is skipped."""
    rows = [
        ("ann", 1, 4, False), ("ann", 2, 2, False), ("ann", 1, 4, True), ("ann", 2, 3, True),
        ("bob", 7, "a", False), ("bob", 7, "a", True), ("bob", 8, "b", True),
    ]
    result = repeat_agreement_by_annotator(rows)
    assert result["ann"].to_dict() == {"n": 2, "agreed": 1, "share": 0.5, "mean_abs_difference": 0.5}
    assert result["bob"].to_dict() == {"n": 1, "agreed": 1, "share": 1.0, "mean_abs_difference": None}


def test_a_hand_built_cycle_is_one_circular_triad():
    """a>b, b>c, c>a is circular; adding d beaten by all three makes three more triads, none circular."""
    cycle = [("a", "b"), ("b", "c"), ("c", "a")]
    result = transitivity_violations(cycle)
    assert (result.triads, result.circular, result.share) == (1, 1, 1.0)
    extended = transitivity_violations(cycle + [("a", "d"), ("b", "d"), ("c", "d")])
    assert (extended.triads, extended.circular) == (4, 1)


def test_transitivity_uses_the_majority_of_repeated_pairs():
    """b>a twice outvotes a>b once, so the a>b>c>a cycle is broken; an even split leaves the pair undecided."""
    assert transitivity_violations([("a", "b"), ("b", "a"), ("b", "a"), ("b", "c"), ("c", "a")]).circular == 0
    undecided = transitivity_violations([("a", "b"), ("b", "a"), ("b", "c"), ("c", "a")])
    assert undecided.triads == 0 and undecided.share is None


def test_transitivity_per_annotator_and_bad_rows():
    """Each annotator is checked on their own judgements only; comparing an item with itself is an error."""
    rows = [("x", 1, 2), ("x", 2, 3), ("x", 3, 1), ("y", 1, 2), ("y", 2, 3), ("y", 1, 3)]
    result = transitivity_by_annotator(rows)
    assert result["x"].circular == 1 and result["y"].circular == 0 and result["y"].triads == 1
    with pytest.raises(ValueError, match="itself"):
        transitivity_violations([(1, 1)])


def test_transitivity_counts_match_kendalls_formula_on_a_full_tournament():
    """On a complete tournament the circular triads equal Kendall's C(n,3) - sum_i C(w_i, 2) for out-degrees w_i."""
    rng = np.random.default_rng(3)
    n = 9
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            pairs.append((i, j) if rng.random() < 0.5 else (j, i))
    wins = np.bincount([w for w, _ in pairs], minlength=n)
    expected = math.comb(n, 3) - sum(math.comb(int(w), 2) for w in wins)
    result = transitivity_violations(pairs)
    assert result.triads == math.comb(n, 3) and result.circular == expected
