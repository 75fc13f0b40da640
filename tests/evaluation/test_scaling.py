"""Tests for the Thurstone Case V scaling core (paper 004, eq. 2)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import special, stats

from evaluation.ratings import MOSResult, mos_from_ratings, mos_prior_mean
from evaluation.scaling import (
    ScalingConvergenceError,
    aggregate_pairwise,
    log_posterior,
    log_posterior_grad,
    log_posterior_hessian,
    thurstone_map_pairwise,
)


def simulate(true, n_comp, rng):
    """Random distinct pairs with outcomes drawn from Phi(s_i - s_j)."""
    n = true.size
    a = rng.integers(0, n, n_comp)
    b = (a + rng.integers(1, n, n_comp)) % n
    a_wins = rng.random(n_comp) < special.ndtr(true[a] - true[b])
    return np.where(a_wins, a, b), np.where(a_wins, b, a)


@pytest.fixture
def small_problem():
    rng = np.random.default_rng(1)
    n = 8
    w, l = simulate(rng.normal(size=n), 60, rng)
    ties = rng.random(60) < 0.2
    weights = rng.uniform(0.5, 2.0, 60)
    pairs = aggregate_pairwise(n, w, l, ties=ties, weights=weights)
    mean = rng.normal(size=n)
    var = rng.uniform(0.5, 2.0, n)
    s = rng.normal(size=n)
    return pairs, mean, var, s


def test_recovers_known_scores():
    """50 items, 20k simulated comparisons: Spearman > 0.95, centred RMSE < 0.15, ~95% coverage."""
    rng = np.random.default_rng(0)
    true = rng.normal(size=50)
    w, l = simulate(true, 20_000, rng)
    res = thurstone_map_pairwise(50, w, l)
    assert stats.spearmanr(true, res.scores).statistic > 0.95
    err = (res.scores - res.scores.mean()) - (true - true.mean())
    assert np.sqrt(np.mean(err**2)) < 0.15
    z = np.abs(err) / np.sqrt(res.variances)
    assert np.mean(z < 1.96) > 0.8


def test_gradient_matches_finite_differences(small_problem):
    """Analytic gradient of the log-posterior agrees with central differences."""
    pairs, mean, var, s = small_problem
    eps = 1e-6
    fd = np.array(
        [
            (
                log_posterior(s + eps * e, pairs, mean, var)
                - log_posterior(s - eps * e, pairs, mean, var)
            )
            / (2 * eps)
            for e in np.eye(s.size)
        ]
    )
    np.testing.assert_allclose(
        log_posterior_grad(s, pairs, mean, var), fd, rtol=1e-6, atol=1e-6
    )


def test_hessian_matches_finite_differences(small_problem):
    """Sparse Hessian of the negative log-posterior agrees with differences of the gradient."""
    pairs, mean, var, s = small_problem
    eps = 1e-6
    fd = np.array(
        [
            -(
                log_posterior_grad(s + eps * e, pairs, mean, var)
                - log_posterior_grad(s - eps * e, pairs, mean, var)
            )
            / (2 * eps)
            for e in np.eye(s.size)
        ]
    )
    H = log_posterior_hessian(s, pairs, mean, var).toarray()
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(H, H.T)
    assert np.all(np.linalg.eigvalsh(H) > 0)


def test_map_is_stationary_and_exact_variances_invert_hessian():
    """At the MAP the public gradient vanishes and exact variances are diag(H^-1)."""
    rng = np.random.default_rng(2)
    w, l = simulate(rng.normal(size=20), 500, rng)
    mean, var = rng.normal(size=20), rng.uniform(0.5, 2, 20)
    res = thurstone_map_pairwise(
        20, w, l, prior_mean=mean, prior_var=var, variance_method="exact"
    )
    pairs = aggregate_pairwise(20, w, l)
    assert np.max(np.abs(log_posterior_grad(res.scores, pairs, mean, var))) < 1e-6
    H = log_posterior_hessian(res.scores, pairs, mean, var).toarray()
    np.testing.assert_allclose(res.variances, np.diag(np.linalg.inv(H)), rtol=1e-10)
    assert res.log_posterior == pytest.approx(
        log_posterior(res.scores, pairs, mean, var)
    )
    diag = thurstone_map_pairwise(
        20, w, l, prior_mean=mean, prior_var=var, variance_method="diagonal"
    )
    np.testing.assert_array_equal(diag.scores, res.scores)
    assert np.all(diag.variances <= res.variances + 1e-15)


def test_default_prior_centres_scores():
    """With the paper's N(0, 1) prior the MAP satisfies sum_i s_i = 0 (eq. 2's constraint)."""
    rng = np.random.default_rng(3)
    w, l = simulate(rng.normal(size=30) + 5.0, 2000, rng)
    res = thurstone_map_pairwise(30, w, l)
    assert abs(res.scores.sum()) < 1e-8


def test_uncertainty_shrinks_with_more_data():
    """Ten times the same comparisons gives strictly smaller variances for every compared item."""
    rng = np.random.default_rng(4)
    w, l = simulate(rng.normal(size=15), 300, rng)
    few = thurstone_map_pairwise(15, w, l)
    many = thurstone_map_pairwise(15, np.tile(w, 10), np.tile(l, 10))
    assert np.all(many.variances < few.variances)
    weighted = thurstone_map_pairwise(15, w, l, weights=np.full(w.size, 10.0))
    np.testing.assert_allclose(weighted.scores, many.scores, atol=1e-8)


def test_never_compared_items_keep_their_prior_exactly():
    """Items absent from all comparisons get exactly their prior mean and variance."""
    mean = np.array([0.3, -1.0, 2.5, 0.7, -0.2])
    var = np.array([1.0, 0.5, 3.0, 2.0, 0.25])
    res = thurstone_map_pairwise(
        5, [0, 1, 0], [1, 0, 3], prior_mean=mean, prior_var=var
    )
    assert res.scores[2] == mean[2] and res.variances[2] == var[2]
    assert res.scores[4] == mean[4] and res.variances[4] == var[4]
    empty = thurstone_map_pairwise(3, [], [], prior_mean=1.5, prior_var=2.0)
    np.testing.assert_array_equal(empty.scores, [1.5, 1.5, 1.5])
    np.testing.assert_array_equal(empty.variances, [2.0, 2.0, 2.0])
    assert empty.n_iter == 0


def test_always_winning_item_is_finite():
    """An item that wins every comparison gets a finite, largest score and finite variance."""
    w = np.zeros(3000, dtype=int)
    l = np.tile([1, 2, 3], 1000)
    res = thurstone_map_pairwise(4, w, l)
    assert np.all(np.isfinite(res.scores)) and np.all(np.isfinite(res.variances))
    assert res.scores[0] == res.scores.max()
    assert np.all(res.variances > 0)


def test_disconnected_graph_is_finite():
    """Two components that are never compared with each other still get finite scores and variances."""
    w = [0, 0, 1, 3, 3, 4]
    l = [1, 2, 2, 4, 5, 5]
    res = thurstone_map_pairwise(6, w, l)
    assert np.all(np.isfinite(res.scores)) and np.all(np.isfinite(res.variances))
    np.testing.assert_allclose(res.scores[:3], res.scores[3:], atol=1e-10)


def test_tie_only_pair_gives_equal_scores():
    """A pair with ties only gets equal scores, whatever the listed order."""
    res = thurstone_map_pairwise(2, [0, 1, 0], [1, 0, 1], ties=[True, True, True])
    assert res.scores[0] == pytest.approx(res.scores[1], abs=1e-12)
    flipped = thurstone_map_pairwise(2, [1], [0], ties=[True])
    np.testing.assert_allclose(flipped.scores, [0.0, 0.0], atol=1e-12)


def test_aggregate_counts_duplicates_and_half_ties():
    """Duplicates become counts per unordered pair; a tie adds 0.5 to each side."""
    pairs = aggregate_pairwise(
        4, [2, 0, 2, 3], [0, 2, 0, 1], ties=[False, False, True, False]
    )
    np.testing.assert_array_equal(pairs.first, [0, 1])
    np.testing.assert_array_equal(pairs.second, [2, 3])
    np.testing.assert_array_equal(pairs.first_wins, [1.5, 0.0])
    np.testing.assert_array_equal(pairs.second_wins, [1.5, 1.0])


def test_result_is_frozen_and_read_only():
    """ScalingResult is a frozen dataclass with read-only arrays."""
    res = thurstone_map_pairwise(3, [0], [1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_iter = 3
    with pytest.raises(ValueError):
        res.scores[0] = 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"winners": [0, 5], "losers": [1, 2]}, "out of range"),
        ({"winners": [-1], "losers": [1]}, "out of range"),
        ({"winners": [0, 1], "losers": [1]}, "different lengths"),
        ({"winners": [2], "losers": [2]}, "winner == loser"),
        ({"winners": [0.0, np.nan], "losers": [1, 2]}, "NaN"),
        ({"winners": [0.5], "losers": [1]}, "integer"),
        ({"winners": [0], "losers": [1], "weights": [-1.0]}, "non-negative"),
        ({"winners": [0], "losers": [1], "weights": [np.nan]}, "NaN"),
        (
            {"winners": [0], "losers": [1], "weights": [1.0, 1.0]},
            "weights must have shape",
        ),
        (
            {"winners": [0], "losers": [1], "ties": [True, False]},
            "ties must have shape",
        ),
        ({"winners": [0], "losers": [1], "prior_var": 0.0}, "prior_var must be > 0"),
        (
            {"winners": [0], "losers": [1], "prior_var": [1, 1, -1]},
            "prior_var must be > 0",
        ),
        (
            {"winners": [0], "losers": [1], "prior_var": [1, 1]},
            "prior_var must be a scalar or have shape",
        ),
        (
            {"winners": [0], "losers": [1], "prior_mean": np.nan},
            "prior_mean must be finite",
        ),
        (
            {"winners": [0], "losers": [1], "variance_method": "magic"},
            "variance_method",
        ),
    ],
)
def test_bad_input_raises_value_error(kwargs, message):
    """Invalid inputs raise ValueError with a message naming the problem."""
    with pytest.raises(ValueError, match=message):
        thurstone_map_pairwise(3, **kwargs)


def test_non_convergence_raises():
    """Stopping after one Newton iteration raises ScalingConvergenceError."""
    rng = np.random.default_rng(5)
    w, l = simulate(rng.normal(size=20) * 3, 2000, rng)
    with pytest.raises(ScalingConvergenceError, match="max_iter=1"):
        thurstone_map_pairwise(20, w, l, max_iter=1)


def test_mos_from_ratings_statistics():
    """Per-item mean, std, n and 95% t-interval match direct computation; NaN where unrated."""
    idx = [0, 0, 0, 2, 2, 3]
    r = [1, 2, 4, 5, 3, 4]
    mos = mos_from_ratings(idx, r, 5)
    assert isinstance(mos, MOSResult)
    np.testing.assert_array_equal(mos.n, [3, 0, 2, 1, 0])
    np.testing.assert_allclose(mos.mean[[0, 2, 3]], [7 / 3, 4.0, 4.0])
    assert np.isnan(mos.mean[1]) and np.isnan(mos.mean[4])
    sd0 = np.std([1, 2, 4], ddof=1)
    assert mos.std[0] == pytest.approx(sd0)
    half = stats.t.ppf(0.975, 2) * sd0 / np.sqrt(3)
    assert (mos.ci_low[0], mos.ci_high[0]) == pytest.approx(
        (7 / 3 - half, 7 / 3 + half)
    )
    assert np.isnan(mos.std[3]) and np.isnan(mos.ci_low[3])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([0, 1], [3], 2), "different lengths"),
        (([0, 2], [3, 3], 2), "out of range"),
        (([0], [6], 2), r"\[1, 5\]"),
        (([0], [np.nan], 2), "NaN"),
    ],
)
def test_mos_bad_input_raises(args, message):
    """mos_from_ratings rejects mismatched, out-of-range and NaN input."""
    with pytest.raises(ValueError, match=message):
        mos_from_ratings(*args)


def test_mos_prior_mean_z_scores_rated_items():
    """The MOS prior is the z-scored MOS over rated items and 0 for unrated ones."""
    mos = mos_from_ratings([0, 1, 3], [1, 3, 5], 4)
    prior = mos_prior_mean(mos)
    np.testing.assert_allclose(prior, [-np.sqrt(1.5), 0.0, 0.0, np.sqrt(1.5)])
    res = thurstone_map_pairwise(4, [], [], prior_mean=prior)
    np.testing.assert_array_equal(res.scores, prior)


def test_core_does_not_import_django():
    """evaluation.scaling imports without pulling in Django (DESIGN.md, cores)."""
    import subprocess
    import sys

    code = "import sys, evaluation.scaling; assert 'django' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_non_integer_n_items_raises_type_error():
    """n_items must be an integer."""
    with pytest.raises(TypeError, match="n_items"):
        thurstone_map_pairwise(2.5, [0], [1])
