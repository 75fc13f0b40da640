"""The shared bootstrap (evaluation/resampling.py): checks, reproducible draws, cluster weights, intervals."""
import numpy as np
import pytest

from evaluation.resampling import bootstrap_indices, check_bootstrap, cluster_weights, percentile_interval


def test_bootstrap_indices_draw_one_integers_call_per_resample():
    """Resample k is exactly the k-th ``rng.integers(0, n, size=n)`` of the same seed, so seeds give fixed numbers."""
    drawn = list(bootstrap_indices(7, 5, np.random.default_rng(3)))
    reference = np.random.default_rng(3)
    assert len(drawn) == 5
    for indices in drawn:
        assert np.array_equal(indices, reference.integers(0, 7, size=7))


def test_bootstrap_indices_of_nothing_draws_nothing():
    """With no units every resample is empty and the generator is left untouched."""
    rng = np.random.default_rng(0)
    assert [indices.size for indices in bootstrap_indices(0, 3, rng)] == [0, 0, 0]
    assert rng.integers(0, 100) == np.random.default_rng(0).integers(0, 100)


def test_cluster_weights_count_how_often_each_rows_cluster_was_drawn():
    """Each row's weight is the number of draws of its cluster; weights sum to the number of rows of the drawn clusters."""
    cluster = np.array(["b", "a", "b", "c"])
    reference = np.random.default_rng(5)
    for weight in cluster_weights(cluster, 20, np.random.default_rng(5)):
        counts = np.bincount(reference.integers(0, 3, size=3), minlength=3)  # clusters a, b, c in sorted order
        assert weight.tolist() == [counts[1], counts[0], counts[1], counts[2]]


def test_the_same_seed_gives_the_same_resamples():
    """Two generators with one seed give identical weights; another seed different ones."""
    cluster = np.arange(30) % 7
    first = np.stack(list(cluster_weights(cluster, 10, np.random.default_rng(1))))
    again = np.stack(list(cluster_weights(cluster, 10, np.random.default_rng(1))))
    other = np.stack(list(cluster_weights(cluster, 10, np.random.default_rng(2))))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_percentile_interval_uses_the_finite_samples():
    """The interval is the tail quantiles of the finite samples; NaN when none is finite."""
    samples = np.concatenate([np.arange(101.0), [np.nan, np.inf]])
    assert percentile_interval(samples, 0.9) == pytest.approx((5.0, 95.0))
    low, high = percentile_interval([np.nan, np.nan], 0.95)
    assert np.isnan(low) and np.isnan(high)


def test_check_bootstrap_refuses_bad_arguments():
    """Too few resamples or a confidence outside (0, 1) are ValueErrors; a seed instead of a Generator a TypeError."""
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_resamples"):
        check_bootstrap(1, 0.95, rng)
    with pytest.raises(ValueError, match="confidence"):
        check_bootstrap(100, 1.0, rng)
    with pytest.raises(TypeError, match="Generator"):
        check_bootstrap(100, 0.95, 42)
