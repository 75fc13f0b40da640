"""Observer screening cores: BT.500 on a constructed panel, the pair likelihood test on simulated observers,
gold accuracy and straight-lining (evaluation/screening.py)."""
import numpy as np
import pytest

from evaluation.screening import (
    bt500_screen_ratings,
    gold_accuracy_by_annotator,
    pair_outlier_screen,
    straight_lining,
    straight_lining_by_annotator,
)
from evaluation.simulation import thurstone_judgements

N_ITEMS = 12
REGULARS = 8


def bt500_panel(outlier) -> np.ndarray:
    """Eight regular observers (per item one says 2, one says 4, the rest 3) and a ninth giving `outlier(j)`."""
    panel = np.full((REGULARS + 1, N_ITEMS), 3.0)
    for j in range(N_ITEMS):
        panel[j % REGULARS, j] = 2.0
        panel[(j + 1) % REGULARS, j] = 4.0
        panel[REGULARS, j] = outlier(j)
    return panel


def test_bt500_rejects_an_observer_far_off_in_both_directions():
    """Hand computation for an item where the ninth says 5: ratings 2, 3×6, 4, 5 have mean 29/9, S = 5/6 and
    beta2 = (82674/59049) / (50/81)^2 = 3.674, so the item is normal and the threshold is 2S = 5/3; 5 >= 44/9
    counts P, no regular rating reaches it. Alternating 5 and 1 gives P = Q = 6 of 12: (P+Q)/N = 1 > 0.05 and
    |P-Q|/(P+Q) = 0 < 0.3, rejected; the regular observers have P = Q = 0."""
    result = bt500_screen_ratings(bt500_panel(lambda j: 5.0 if j % 2 == 0 else 1.0))
    erratic = result[REGULARS]
    assert (erratic.n, erratic.p, erratic.q, erratic.rejected) == (12, 6, 6, True)
    assert erratic.share == 1.0 and erratic.balance == 0.0
    assert all((o.p, o.q, o.rejected) == (0, 0, False) for o in result[:REGULARS])


def test_bt500_keeps_an_observer_who_is_consistently_high():
    """Always 5: P = 12, Q = 0, so |P-Q|/(P+Q) = 1 >= 0.3 — an offset, not noise, and BT.500 keeps them."""
    high = bt500_screen_ratings(bt500_panel(lambda j: 5.0))[REGULARS]
    assert (high.p, high.q, high.rejected) == (12, 0, False)


def test_bt500_uses_the_wide_threshold_for_non_normal_items():
    """Nine 3s and one 5: beta2 = 8.1 (not normal), so the threshold is sqrt(20)·S = 2.83 and 5 is not counted."""
    panel = np.array([[3.0]] * 9 + [[5.0]])
    assert bt500_screen_ratings(panel)[9].p == 0


def test_bt500_skips_thin_or_flat_items_and_rejects_bad_input():
    """Items with fewer than three ratings or no spread count for nobody; a vector or min_ratings < 2 is an error."""
    panel = np.array([[1.0, 3.0], [5.0, 3.0], [np.nan, 3.0]])
    assert [o.n for o in bt500_screen_ratings(panel)] == [0, 0, 0]
    with pytest.raises(ValueError, match="matrix"):
        bt500_screen_ratings([1.0, 2.0])
    with pytest.raises(ValueError, match="min_ratings"):
        bt500_screen_ratings(panel, min_ratings=1)


def simulated_pairs(rng, *, n_observers=12, n_items=20, per_observer=120, adversary=None, random_observer=None):
    """Thurstone observers on one true scale; `adversary` answers reversed, `random_observer` flips coins."""
    true = np.linspace(-2.0, 2.0, n_items)
    observer, first, second, outcome = [], [], [], []
    for o in range(n_observers):
        a = rng.integers(0, n_items, per_observer)
        b = (a + rng.integers(1, n_items, per_observer)) % n_items
        winners, _ = thurstone_judgements(true, a, b, rng=rng)
        first_won = winners == a
        if o == adversary:
            first_won = ~first_won
        if o == random_observer:
            first_won = rng.random(per_observer) < 0.5
        observer += [o] * per_observer
        first += a.tolist()
        second += b.tolist()
        outcome += first_won.astype(float).tolist()
    return n_items, np.array(observer), np.array(first), np.array(second), np.array(outcome)


def test_pair_outlier_test_flags_an_adversarial_and_a_random_observer():
    """Of twelve simulated Thurstone observers, the one answering reversed and the one flipping coins fall far below
    the others' likelihood under the leave-one-out consensus scale and are the only ones flagged."""
    n_items, observer, first, second, outcome = simulated_pairs(np.random.default_rng(7), adversary=3, random_observer=8)
    result = pair_outlier_screen(n_items, observer, first, second, outcome)
    flagged = [i for i, o in enumerate(result) if o.flagged]
    assert flagged == [3, 8]
    honest = [o.log_likelihood for i, o in enumerate(result) if i not in (3, 8)]
    assert result[3].log_likelihood < result[8].log_likelihood < min(honest)
    assert result[8].log_likelihood < np.log(0.5)  # a coin: E[(log p + log(1-p))/2] <= log 1/2 (Jensen)
    assert all(o.n == 120 for o in result)


def test_pair_outlier_test_flags_nobody_in_an_honest_panel():
    """Twelve honest observers: small differences in likelihood are chance, and none is more than 3 IQR below Q1."""
    for seed in (11, 15):
        n_items, observer, first, second, outcome = simulated_pairs(np.random.default_rng(seed))
        result = pair_outlier_screen(n_items, observer, first, second, outcome)
        assert not any(o.flagged for o in result), seed
    shared = pair_outlier_screen(n_items, observer, first, second, outcome, leave_one_out=False)
    assert all(s.log_likelihood >= o.log_likelihood - 1e-9 for s, o in zip(shared, result))  # own data helps the fit


def test_pair_outlier_test_rejects_bad_input():
    """Mismatched shapes, outcomes other than 0, 0.5, 1, and observer ids out of range are ValueErrors."""
    with pytest.raises(ValueError, match="same shape"):
        pair_outlier_screen(3, [0], [0, 1], [1, 2], [1.0, 0.0])
    with pytest.raises(ValueError, match="outcome"):
        pair_outlier_screen(3, [0], [0], [1], [0.7])
    with pytest.raises(ValueError, match="observer indices"):
        pair_outlier_screen(3, [5], [0], [1], [1.0], n_observers=2)


def test_gold_accuracy_per_annotator():
    """Correct, answered and share for each annotator."""
    result = gold_accuracy_by_annotator([("a", True), ("a", False), ("a", True), ("b", False)])
    assert result["a"] == (2, 3, pytest.approx(2 / 3)) and result["b"] == (0, 1, 0.0)


def test_straight_lining_finds_the_same_answer_every_time():
    """Twelve lefts and one right: share 12/13 >= 0.9 and a run of 10; a varied annotator is not flagged."""
    answers = ["left"] * 10 + ["right"] + ["left"] * 2
    result = straight_lining(answers)
    assert (result.n, result.top_answer, result.longest_run, result.flagged) == (13, "left", 10, True)
    assert result.top_share == pytest.approx(12 / 13)
    varied = straight_lining_by_annotator([("v", level) for level in [1, 2, 3, 4, 5] * 3])["v"]
    assert not varied.flagged and varied.longest_run == 1
    assert not straight_lining(["left"] * 5).flagged  # too few answers to say
    assert straight_lining([]).n == 0
    with pytest.raises(ValueError, match="share"):
        straight_lining(answers, share=0)
