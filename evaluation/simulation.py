"""Simulated observers for tests and benchmarks: judgements drawn from known true scores (no Django)."""
import numpy as np
from scipy import special


def thurstone_judgements(true_scores, first, second, *, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one Thurstone Case V judgement per pair: `first` wins with probability Φ(s_first − s_second).

    Parameters
    ----------
    true_scores : array_like, shape [n_items]
    first, second : array_like of int, shape [n_pairs]
    rng : np.random.Generator

    Returns
    -------
    winners, losers : ndarray of int64, shape [n_pairs]
    """
    true_scores = np.asarray(true_scores, dtype=float)
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    first_wins = rng.random(first.size) < special.ndtr(true_scores[first] - true_scores[second])
    return np.where(first_wins, first, second), np.where(first_wins, second, first)
