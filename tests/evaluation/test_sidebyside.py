"""The side-by-side aggregation core against hand-computed cases."""
import math

import numpy as np
import pytest

from evaluation.sidebyside import (
    BradleyTerryFitError,
    bradley_terry_bootstrap,
    bradley_terry_ties,
    gsb_pairwise,
    krippendorff_alpha_ordinal,
    position_bias_binomial,
    reasonable_rate,
    win_tie_loss_bootstrap,
)


def test_gsb_counts_and_ratio_by_hand():
    """G, S, B are counted from the lower-numbered system's side whatever order the trial stored; ratio = (G+S)/(S+B)."""
    # 0 better, same, 1 better (stored as B=0, A=1, A better), 0 better
    rows = gsb_pairwise([0, 0, 1, 0], [1, 1, 0, 1], [1, 0, 1, 1], n_systems=2)
    (row,) = rows
    assert (row.i, row.j, row.n, row.good, row.same, row.bad) == (0, 1, 4, 2, 1, 1)
    assert row.gsb_ratio == pytest.approx(3 / 2)
    assert (row.win, row.tie, row.loss) == (0.5, 0.25, 0.25)
    assert row.gs_share == 0.75 and row.sb_share == 0.5


def test_gsb_ratio_is_infinite_without_same_or_bad_and_pairs_without_votes_are_left_out():
    """A system never tied or beaten has an infinite ratio; pairs with no votes do not appear."""
    rows = gsb_pairwise([0, 0], [2, 2], [1, 1], n_systems=3)
    assert [(r.i, r.j) for r in rows] == [(0, 2)]
    assert math.isinf(rows[0].gsb_ratio)


def test_bad_votes_are_refused():
    """A vote of a system against itself, an unknown system or an outcome outside -1/0/+1 is a ValueError."""
    with pytest.raises(ValueError, match="two different systems"):
        gsb_pairwise([0], [0], [1], n_systems=2)
    with pytest.raises(ValueError, match="0..n_systems-1"):
        gsb_pairwise([0], [5], [1], n_systems=2)
    with pytest.raises(ValueError, match="outcome"):
        gsb_pairwise([0], [1], [2], n_systems=2)


def test_bradley_terry_two_systems_matches_log_odds():
    """With 3 wins and 1 loss the MLE difference is log(3/1), centred to ±log(3)/2."""
    fit = bradley_terry_ties([0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, -1], n_systems=2)
    assert fit.scores[0] - fit.scores[1] == pytest.approx(math.log(3), abs=1e-9)
    assert fit.scores.sum() == pytest.approx(0, abs=1e-12)


def test_ties_count_as_half_a_win_each_way():
    """2 wins and 2 ties equal 3 wins and 1 loss (each tie is half of each): difference log 3."""
    fit = bradley_terry_ties([0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0], n_systems=2)
    assert fit.scores[0] - fit.scores[1] == pytest.approx(math.log(3), abs=1e-9)


def test_bradley_terry_three_systems_transitive_case():
    """Each adjacent pair split 2:1 and the far pair 4:1: strengths are the closed-form log-odds ladder."""
    # With s = (2c, c, 0) up to a shift, the score equations hold for c = log 2 when 0>1 2:1, 1>2 2:1, 0>2 4:1.
    a = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    b = [1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    y = [1, 1, -1, 1, 1, -1, 1, 1, 1, 1, -1]
    fit = bradley_terry_ties(a, b, y, n_systems=3)
    assert fit.scores[0] - fit.scores[1] == pytest.approx(math.log(2), abs=1e-8)
    assert fit.scores[1] - fit.scores[2] == pytest.approx(math.log(2), abs=1e-8)


def test_a_system_that_always_wins_raises_without_ridge_and_is_finite_with_it():
    """Perfect separation has no finite MLE: the fit says so, and a ridge makes it finite."""
    with pytest.raises(BradleyTerryFitError):
        bradley_terry_ties([0, 0], [1, 1], [1, 1], n_systems=2)
    fit = bradley_terry_ties([0, 0], [1, 1], [1, 1], n_systems=2, l2=0.1)
    assert np.isfinite(fit.scores).all() and fit.scores[0] > fit.scores[1]


def test_length_covariate_absorbs_a_pure_length_preference():
    """When votes follow answer length alone, the length-controlled strengths are near equal and γ > 0."""
    rng = np.random.default_rng(3)
    n = 4000
    a = rng.integers(0, 3, n)
    b = (a + rng.integers(1, 3, n)) % 3
    base_length = np.array([300.0, 150.0, 60.0])  # system 0 writes longest
    length_a = base_length[a] * rng.uniform(0.5, 1.5, n)
    length_b = base_length[b] * rng.uniform(0.5, 1.5, n)
    z = (length_a - length_b) / (length_a + length_b)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-3 * z)), 1, -1)
    plain = bradley_terry_ties(a, b, y, n_systems=3)
    controlled = bradley_terry_ties(a, b, y, n_systems=3, covariate=z)
    assert plain.scores[0] - plain.scores[2] > 0.8
    assert abs(controlled.scores[0] - controlled.scores[2]) < 0.2
    assert controlled.length_coef == pytest.approx(3, abs=0.5)


def test_bootstrap_intervals_contain_the_point_estimates():
    """Win/tie/loss and BT percentile intervals (item resampling) contain the estimates on all votes."""
    rng = np.random.default_rng(0)
    n = 120
    item = np.repeat(np.arange(40), 3)
    a = np.zeros(n, dtype=int)
    b = np.ones(n, dtype=int)
    y = rng.choice([1, 0, -1], size=n, p=[0.5, 0.2, 0.3])
    (row,) = win_tie_loss_bootstrap(a, b, y, item, n_systems=2, n_resamples=300, rng=np.random.default_rng(1))
    for value, (low, high) in ((row.win, row.win_ci), (row.tie, row.tie_ci), (row.loss, row.loss_ci)):
        assert low <= value <= high and high - low > 0
    fit, intervals = bradley_terry_bootstrap(a, b, y, item, n_systems=2, n_resamples=200, rng=np.random.default_rng(2))
    assert (intervals[:, 0] <= fit.scores).all() and (fit.scores <= intervals[:, 1]).all()
    with pytest.raises(TypeError):
        win_tie_loss_bootstrap(a, b, y, item, n_systems=2, rng=0)


def test_position_bias_exact_binomial():
    """8 left wins of 10 decisive votes (ties ignored): share 0.8, two-sided exact p = 112/1024."""
    outcome = [1] * 6 + [-1] * 4 + [0, 0]
    left_is_a = [True] * 6 + [False, False, True, True] + [True, False]
    bias = position_bias_binomial(outcome, left_is_a)
    assert (bias.decisive, bias.left_wins, bias.left_share) == (10, 8, 0.8)
    assert bias.p_value == pytest.approx(112 / 1024)
    assert math.isnan(position_bias_binomial([0], [True]).p_value)


def test_krippendorff_alpha_textbook_value():
    """Krippendorff (2011), 4 observers x 12 units with missing values: ordinal alpha = 0.815."""
    n = None
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, n, n, n],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, n, 3],
        [n, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, n],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, n],
    ]
    unit, coder, value = zip(*[(u, c, v) for c, row in enumerate(data) for u, v in enumerate(row) if v is not None])
    alpha = krippendorff_alpha_ordinal(unit, coder, value, value_domain=(1, 2, 3, 4, 5))
    assert alpha == pytest.approx(0.815, abs=5e-4)


def test_krippendorff_alpha_perfect_and_undefined():
    """Two annotators who always agree (on varied votes) give alpha 1; no doubly-judged unit gives NaN."""
    assert krippendorff_alpha_ordinal([0, 0, 1, 1, 2, 2], ["x", "y"] * 3, [1, 1, 0, 0, -1, -1]) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha_ordinal([0, 1], ["x", "y"], [1, -1]))


def test_reasonable_rate_needs_all_three_criteria():
    """An answer is reasonable only when all three DepictQA criteria are met; unmarked systems are NaN."""
    rate, count = reasonable_rate([0, 0, 1], [[1, 1, 1], [1, 0, 1], [1, 1, 1]], n_systems=3)
    assert rate[0] == 0.5 and rate[1] == 1.0 and math.isnan(rate[2])
    assert list(count) == [2, 1, 0]
