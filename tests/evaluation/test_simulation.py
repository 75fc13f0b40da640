"""The simulated Thurstone observer used by tests and benchmarks."""
import numpy as np
from scipy import special

from evaluation.simulation import thurstone_judgements


def test_win_rate_matches_the_thurstone_probability():
    """Over many draws, the better item wins with probability Φ(s_i − s_j), and each pair keeps its two items."""
    rng = np.random.default_rng(0)
    n = 20_000
    winners, losers = thurstone_judgements([1.0, 0.0], np.zeros(n, int), np.ones(n, int), rng=rng)
    assert abs(np.mean(winners == 0) - special.ndtr(1.0)) < 0.01
    assert np.all(winners != losers) and set(np.unique(np.r_[winners, losers])) == {0, 1}


def test_same_seed_same_judgements():
    """A fixed Generator seed gives the same judgements."""
    args = ([0.5, 0.0, -0.5], [0, 1, 0], [1, 2, 2])
    a = thurstone_judgements(*args, rng=np.random.default_rng(3))
    b = thurstone_judgements(*args, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
