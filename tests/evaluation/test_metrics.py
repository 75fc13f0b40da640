"""Golden cases and bad-input errors for evaluation.metrics (no database needed)."""

import functools

import numpy as np
import pytest

from evaluation.metrics import (
    BootstrapInterval,
    Logistic4,
    LogisticFitError,
    bootstrap_ci,
    krcc,
    logistic4_fit,
    pairwise_accuracy,
    pairwise_accuracy_judgements,
    plcc,
    rmse,
    srcc,
)

TRUE_LOGISTIC = Logistic4(beta1=5.0, beta2=1.0, beta3=4.0, beta4=1.5)


@pytest.fixture
def noisy_scores():
    """Forty items whose human scores follow a logistic of the prediction, plus noise."""
    rng = np.random.default_rng(7)
    pred = np.linspace(0.0, 10.0, 40)
    target = TRUE_LOGISTIC(pred) + rng.normal(0.0, 0.3, size=pred.size)
    return pred, target


# ----------------------------------------------------------------------------- SRCC / KRCC


def test_srcc_of_reversed_list_is_minus_one():
    """SRCC of a list against its reverse is exactly −1."""
    assert srcc([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0, abs=1e-12)


def test_srcc_is_one_for_any_increasing_map():
    """SRCC ignores non-linearity: an increasing map of the prediction scores 1."""
    pred = np.array([0.1, 0.4, 2.0, 3.5, 9.0])
    assert srcc(pred, np.exp(pred)) == pytest.approx(1.0, abs=1e-12)


def test_srcc_hand_computed_one_swap():
    """One adjacent swap in four items gives 1 − 6·2/(4·15) = 0.8."""
    assert srcc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, abs=1e-12)


def test_krcc_of_reversed_list_is_minus_one():
    """KRCC of a list against its reverse is exactly −1."""
    assert krcc([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0, abs=1e-12)


def test_krcc_hand_computed_one_swap():
    """One adjacent swap in four items: 5 concordant, 1 discordant, tau = 4/6."""
    assert krcc([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3, abs=1e-12)


# ----------------------------------------------------------------------------- logistic fit


def test_logistic4_call_matches_formula():
    """Logistic4 evaluates (β1 − β2)/(1 + exp(−(x − β3)/|β4|)) + β2, also for a negative β4."""
    x = np.array([-3.0, 0.0, 4.0, 7.5])
    expected = (5.0 - 1.0) / (1 + np.exp(-(x - 4.0) / 1.5)) + 1.0
    np.testing.assert_allclose(TRUE_LOGISTIC(x), expected, rtol=1e-12)
    np.testing.assert_allclose(Logistic4(5.0, 1.0, 4.0, -1.5)(x), expected, rtol=1e-12)


def test_logistic4_does_not_overflow_far_from_midpoint():
    """Logistic4 returns its asymptotes, without overflow, far from the midpoint."""
    np.testing.assert_allclose(TRUE_LOGISTIC(np.array([-1e6, 1e6])), [1.0, 5.0])


def test_logistic4_rejects_zero_scale():
    """Logistic4 with β4 = 0 is a ValueError."""
    with pytest.raises(ValueError, match="beta4"):
        Logistic4(1.0, 0.0, 0.0, 0.0)


def test_logistic4_fit_recovers_exact_parameters():
    """On noiseless logistic data the fit recovers β to 1e-6."""
    pred = np.linspace(0.0, 10.0, 25)
    fit = logistic4_fit(pred, TRUE_LOGISTIC(pred))
    np.testing.assert_allclose(
        [fit.beta1, fit.beta2, fit.beta3, fit.beta4], [5.0, 1.0, 4.0, 1.5], atol=1e-6
    )


def test_logistic4_fit_recovers_parameters_under_noise(noisy_scores):
    """With noise sd 0.3 on 40 items the fit recovers β within 0.5 (β4 reported positive)."""
    fit = logistic4_fit(*noisy_scores)
    np.testing.assert_allclose(
        [fit.beta1, fit.beta2, fit.beta3, fit.beta4], [5.0, 1.0, 4.0, 1.5], atol=0.5
    )
    assert fit.beta4 > 0


def test_logistic4_fit_handles_decreasing_relation():
    """A decreasing relation is fitted with β1 < β2 and reproduces the targets."""
    pred = np.linspace(0.0, 10.0, 25)
    target = Logistic4(1.0, 5.0, 4.0, 1.5)(pred)
    fit = logistic4_fit(pred, target)
    assert fit.beta1 < fit.beta2
    np.testing.assert_allclose(fit(pred), target, atol=1e-6)


def test_logistic4_fit_raises_when_it_does_not_converge(noisy_scores):
    """An evaluation budget too small to converge raises LogisticFitError."""
    with pytest.raises(LogisticFitError, match="did not converge"):
        logistic4_fit(*noisy_scores, max_evaluations=2)


# ----------------------------------------------------------------------------- PLCC / RMSE


def test_plcc_without_fit_hand_computed():
    """Raw PLCC of [1, 2, 3] and [1, 2, 4] is 3 / sqrt(2 · 42/9)."""
    assert plcc([1, 2, 3], [1, 2, 4], fit_logistic=False) == pytest.approx(
        3 / np.sqrt(2 * 42 / 9), abs=1e-12
    )


def test_plcc_after_logistic_is_one_on_logistic_transformed_linear_relation():
    """A logistic of a linear function of pred gives PLCC ≈ 1 after the fit, clearly less raw."""
    pred = np.linspace(-2.0, 3.0, 30)
    target = TRUE_LOGISTIC(2.0 * pred + 3.0)
    assert plcc(pred, target) == pytest.approx(1.0, abs=1e-9)
    assert plcc(pred, target, fit_logistic=False) < 0.99


def test_rmse_without_fit_hand_computed():
    """Raw RMSE of [1, 2, 3] against [1, 2, 5] is sqrt(4/3)."""
    assert rmse([1, 2, 3], [1, 2, 5], fit_logistic=False) == pytest.approx(
        np.sqrt(4 / 3), abs=1e-12
    )


def test_rmse_after_logistic_is_zero_on_exact_logistic_data():
    """Noiseless logistic data have RMSE ≈ 0 after the fit."""
    pred = np.linspace(0.0, 10.0, 25)
    assert rmse(pred, TRUE_LOGISTIC(pred)) == pytest.approx(0.0, abs=1e-6)


def test_rmse_after_logistic_matches_noise_level(noisy_scores):
    """With noise sd 0.3 the fitted RMSE is near 0.3 and below the raw RMSE."""
    fitted = rmse(*noisy_scores)
    assert 0.2 < fitted < 0.4
    assert fitted < rmse(*noisy_scores, fit_logistic=False)


# ----------------------------------------------------------------------------- pairwise accuracy


def test_pairwise_accuracy_hand_worked():
    """pred [1,2,3] vs target [1,3,2]: pairs (0,1) and (0,2) agree, (1,2) does not: 2/3."""
    assert pairwise_accuracy([1, 2, 3], [1, 3, 2]) == pytest.approx(2 / 3, abs=1e-12)


def test_pairwise_accuracy_counts_predicted_ties_as_half():
    """A tie in the prediction on a pair the humans order earns half credit: 2.5/3."""
    assert pairwise_accuracy([1, 1, 3], [1, 2, 3]) == pytest.approx(2.5 / 3, abs=1e-12)


def test_pairwise_accuracy_leaves_out_human_ties_within_tolerance():
    """Targets 1 and 1.05 count as a tie under tolerance 0.1, leaving only the two agreeing pairs."""
    pred, target = [2, 1, 3], [1.0, 1.05, 3.0]
    assert pairwise_accuracy(pred, target) == pytest.approx(2 / 3, abs=1e-12)
    assert pairwise_accuracy(pred, target, tie_tolerance=0.1) == pytest.approx(
        1.0, abs=1e-12
    )


def test_pairwise_accuracy_matches_brute_force(noisy_scores):
    """The row-by-row computation equals a brute-force double loop over pairs."""
    pred, target = noisy_scores
    credit, n_pairs = 0.0, 0
    for i in range(pred.size):
        for j in range(i + 1, pred.size):
            if abs(target[i] - target[j]) > 0.2:
                n_pairs += 1
                credit += (
                    np.sign(pred[i] - pred[j]) * np.sign(target[i] - target[j]) + 1
                ) / 2
    assert pairwise_accuracy(pred, target, tie_tolerance=0.2) == pytest.approx(
        credit / n_pairs, abs=1e-12
    )


def test_pairwise_accuracy_judgements_hand_worked():
    """Judgements 2>0 and 1>0 agree with pred [0.1, 0.5, 0.9], 0>2 does not: 2/3."""
    assert pairwise_accuracy_judgements(
        [0.1, 0.5, 0.9], [2, 1, 0], [0, 0, 2]
    ) == pytest.approx(2 / 3, abs=1e-12)


def test_pairwise_accuracy_judgements_counts_predicted_ties_as_half():
    """A judgement between two items with equal predictions earns half credit."""
    assert pairwise_accuracy_judgements(
        [0.5, 0.5, 0.9], [0, 2], [1, 0]
    ) == pytest.approx(0.75, abs=1e-12)


@pytest.mark.parametrize(
    ("winners", "losers", "message"),
    [
        ([0, 1], [1], "same shape"),
        ([], [], "at least 1 judgement"),
        ([0.0], [1.0], "integer"),
        ([0], [3], "index into pred"),
        ([-1], [0], "index into pred"),
        ([1], [1], "itself"),
    ],
)
def test_pairwise_accuracy_judgements_rejects_bad_judgements(winners, losers, message):
    """Mismatched, empty, non-integer, out-of-range or self judgements are ValueErrors."""
    with pytest.raises(ValueError, match=message):
        pairwise_accuracy_judgements([0.1, 0.5, 0.9], winners, losers)


def test_pairwise_accuracy_rejects_all_ties_and_bad_tolerance():
    """No pair beyond the tolerance, or a negative tolerance, is a ValueError."""
    with pytest.raises(ValueError, match="no pair"):
        pairwise_accuracy([1, 2, 3], [1, 1, 1])
    with pytest.raises(ValueError, match="tie_tolerance"):
        pairwise_accuracy([1, 2, 3], [1, 2, 3], tie_tolerance=-0.1)


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_point_estimate(noisy_scores):
    """The 95% interval for SRCC brackets the estimate on all items and lies in [-1, 1]."""
    interval = bootstrap_ci(
        srcc, *noisy_scores, n_resamples=500, rng=np.random.default_rng(0)
    )
    assert isinstance(interval, BootstrapInterval)
    assert interval.estimate == pytest.approx(srcc(*noisy_scores))
    assert -1.0 <= interval.low <= interval.estimate <= interval.high <= 1.0
    assert interval.n_resamples == 500 and interval.confidence == 0.95


def test_bootstrap_ci_is_reproducible_with_the_same_seed(noisy_scores):
    """The same seed gives the same interval; a different seed a different one."""
    raw_plcc = functools.partial(plcc, fit_logistic=False)
    first = bootstrap_ci(
        raw_plcc, *noisy_scores, n_resamples=200, rng=np.random.default_rng(42)
    )
    again = bootstrap_ci(
        raw_plcc, *noisy_scores, n_resamples=200, rng=np.random.default_rng(42)
    )
    other = bootstrap_ci(
        raw_plcc, *noisy_scores, n_resamples=200, rng=np.random.default_rng(43)
    )
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)


def test_bootstrap_ci_narrows_with_lower_confidence(noisy_scores):
    """An 80% interval from the same resamples lies inside the 95% one."""
    wide = bootstrap_ci(
        krcc, *noisy_scores, n_resamples=300, rng=np.random.default_rng(1)
    )
    narrow = bootstrap_ci(
        krcc,
        *noisy_scores,
        n_resamples=300,
        confidence=0.8,
        rng=np.random.default_rng(1),
    )
    assert wide.low <= narrow.low <= narrow.high <= wide.high


def test_bootstrap_ci_refuses_when_metric_is_mostly_undefined():
    """With two items most resamples are constant, so the interval is refused."""
    with pytest.raises(ValueError, match="undefined on"):
        bootstrap_ci(
            srcc, [1.0, 2.0], [1.0, 2.0], n_resamples=100, rng=np.random.default_rng(0)
        )


def test_bootstrap_ci_rejects_bad_arguments(noisy_scores):
    """A seed instead of a Generator is a TypeError; too few resamples or a confidence outside (0, 1) a ValueError."""
    with pytest.raises(TypeError, match="Generator"):
        bootstrap_ci(srcc, *noisy_scores, rng=0)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(srcc, *noisy_scores, n_resamples=1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(srcc, *noisy_scores, confidence=1.0, rng=np.random.default_rng(0))


# ----------------------------------------------------------------------------- bad input

ALL_METRICS = [srcc, krcc, plcc, rmse, pairwise_accuracy, logistic4_fit]


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_mismatched_shapes_are_rejected(metric):
    """pred and target of different lengths are a ValueError."""
    with pytest.raises(ValueError, match="same shape"):
        metric([1, 2, 3, 4, 5], [1, 2, 3, 4])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_nan_is_rejected(metric):
    """A NaN in either input is a ValueError."""
    with pytest.raises(ValueError, match="finite"):
        metric([1, 2, np.nan, 4, 5], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="finite"):
        metric([1, 2, 3, 4, 5], [1, 2, 3, np.nan, 5])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_two_dimensional_input_is_rejected(metric):
    """A 2-D array is a ValueError, not silently flattened."""
    with pytest.raises(ValueError, match="1-D"):
        metric(np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.parametrize(
    ("metric", "n_items"),
    [
        (srcc, 1),
        (krcc, 1),
        (pairwise_accuracy, 1),
        (functools.partial(plcc, fit_logistic=False), 1),
        (plcc, 3),
        (rmse, 3),
        (logistic4_fit, 3),
    ],
)
def test_too_few_items_are_rejected(metric, n_items):
    """Fewer items than the metric needs (2, or 4 for the logistic fit) is a ValueError."""
    with pytest.raises(ValueError, match="at least"):
        metric(np.arange(n_items, dtype=float), np.arange(n_items, dtype=float) ** 2)


@pytest.mark.parametrize(
    "metric",
    [srcc, krcc, plcc, functools.partial(plcc, fit_logistic=False), logistic4_fit],
)
def test_constant_input_is_rejected_where_correlation_is_undefined(metric):
    """A constant pred or target is a ValueError for correlations and the logistic fit."""
    with pytest.raises(ValueError, match="constant"):
        metric([2, 2, 2, 2, 2], [1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="constant"):
        metric([1, 2, 3, 4, 5], [3, 3, 3, 3, 3])


def test_rmse_without_fit_accepts_constant_input():
    """Raw RMSE is defined for constant inputs: |2 − 3| = 1 everywhere."""
    assert rmse([2, 2, 2], [3, 3, 3], fit_logistic=False) == pytest.approx(1.0)


def test_srcc_interval_matches_its_sampling_spread():
    """The Fisher-z interval with Bonett-Wright's SE covers the SRCC of fresh samples about 95 % of the time."""
    from scipy import stats

    from evaluation.metrics import srcc_interval

    low, high = srcc_interval(0.5, 37)
    assert (round(low, 2), round(high, 2)) == (0.19, 0.72)
    rng = np.random.default_rng(0)
    true_rho, n, covered = 0.5, 37, 0
    r = 2 * np.sin(np.pi * true_rho / 6)  # Pearson r of a bivariate normal whose Spearman rho is 0.5
    for _ in range(400):
        x = rng.standard_normal(n)
        y = r * x + np.sqrt(1 - r**2) * rng.standard_normal(n)
        lo, hi = srcc_interval(float(stats.spearmanr(x, y).statistic), n)
        covered += lo <= true_rho <= hi
    assert 0.91 <= covered / 400 <= 0.99
    with pytest.raises(ValueError):
        srcc_interval(0.5, 3)
    with pytest.raises(ValueError):
        srcc_interval(1.5, 37)
