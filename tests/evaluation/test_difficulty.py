"""Difficult-sample selection (paper 004, eqs. 3-5) on hand-computed cases."""
import numpy as np
import pytest

from evaluation.difficulty import difficult_select_grouped, difficult_select_nr, normalised_error, point_to_set_mse


def test_normalised_error_by_hand():
    """(expert - human)^2 / (std^2 + eps): (10^2)/(0+1) = 100, (10^2)/(3^2+1) = 10, 0/(1+1) = 0."""
    error = normalised_error([60, 60, 50], [50, 50, 50], [0, 3, 1], epsilon=1.0)
    assert error.tolist() == [100.0, 10.0, 0.0]


def test_variance_normalisation_prefers_consistently_rated_items():
    """Same error, different human spread: the item people agreed on is chosen first."""
    chosen = difficult_select_nr([70, 70, 50], [50, 50, 50], [10, 1, 1], n_select=1)
    assert chosen.indices.tolist() == [1]  # 400/2 = 200 beats 400/101


def test_diversity_changes_the_second_choice_by_hand():
    """Hand-computed eq. 5 with λ = 1.

    Gains (eps = 1, std = 0): [16, 15, 9]. Features: item 0 at 0, item 1 at 0.5, item 2 at 4 (1-D).
    Step 1: Div = 0 for all, item 0 (16). Step 2: Div to {0} = [0, 0.25, 16]; objective
    [-, 15.25, 25]: item 2. Step 3: item 1, Div = min(0.25, 12.25) = 0.25.
    """
    selection = difficult_select_nr(
        [4, 15 ** 0.5, 3], [0, 0, 0], [0, 0, 0], n_select=3, features=[[0.0], [0.5], [4.0]], lam=1.0,
    )
    assert selection.indices.tolist() == [0, 2, 1]
    assert np.allclose(selection.difficulty, [16, 9, 15])
    assert np.allclose(selection.diversity, [0, 16, 0.25])
    assert np.allclose(selection.objective, [16, 25, 15.25])
    without = difficult_select_nr([4, 15 ** 0.5, 3], [0, 0, 0], [0, 0, 0], n_select=3, features=[[0.0], [0.5], [4.0]], lam=0.0)
    assert without.indices.tolist() == [0, 1, 2]


def test_point_to_set_uses_the_nearest_chosen_item():
    """Div is the MSE to the nearest chosen feature vector, averaged over features."""
    features = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
    assert point_to_set_mse(features, []).tolist() == [0.0, 0.0, 0.0]
    assert point_to_set_mse(features, [0, 1]).tolist() == [0.0, 0.0, 1.0]


def test_grouped_selection_by_hand():
    """Eq. 3 then eq. 4: references scored by mean gain (ref 7: (0+4)/2 = 2, ref 9: (9+1)/2 = 5), top-1 each."""
    items, references = difficult_select_grouped(
        [0, 2, 3, 1], [0, 0, 0, 0], [0, 0, 0, 0], [7, 7, 9, 9], n_groups=2, per_group=1, epsilon=1.0,
    )
    # gains with eps=1: [0, 2, 4.5, 0.5]; means: ref 7 = 1.0, ref 9 = 2.5 -> ref 9 first, its item 2; then ref 7, item 1.
    assert references.indices.tolist() == [1, 0]
    assert items.tolist() == [2, 1]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"expert": [1, 2], "human": [1], "human_std": [0, 0], "n_select": 1}, "2 entries"),
        ({"expert": [1, 2], "human": [1, 2], "human_std": [-1, 0], "n_select": 1}, ">= 0"),
        ({"expert": [1, 2], "human": [1, 2], "human_std": [0, 0], "n_select": 3}, "cannot choose 3 of 2"),
        ({"expert": [1, np.nan], "human": [1, 2], "human_std": [0, 0], "n_select": 1}, "finite"),
        ({"expert": [1, 2], "human": [1, 2], "human_std": [0, 0], "n_select": 1, "features": [[1.0]]}, "shape"),
    ],
)
def test_bad_input_raises_clear_errors(kwargs, message):
    """Mismatched lengths, negative spread, too many items, NaN and wrong feature shapes raise ValueError."""
    with pytest.raises(ValueError, match=message):
        difficult_select_nr(**kwargs)


def test_the_benchmark_cores_import_without_django():
    """evaluation.protocols, evaluation.difficulty and the benchmark plot load no django module (DESIGN.md)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "import evaluation.protocols, evaluation.difficulty, system_benchmarks.plots\n"
        "loaded = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
