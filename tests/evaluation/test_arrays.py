"""Input checks shared by the cores (evaluation/arrays.py): what they accept and the errors they raise."""
import numpy as np
import pytest

from evaluation.arrays import as_index_array, check_n_items, check_rng, finite_vector, float_vector, require_finite


def test_float_vector_returns_float64_of_the_expected_length():
    """Lists of ints become float64 vectors; a length is checked when given."""
    vector = float_vector("x", [1, 2, 3], 3)
    assert vector.dtype == np.float64 and vector.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("value", "n", "message"),
    [([[1.0, 2.0]], None, "x must be 1-D, got shape \\(1, 2\\)"), (3.0, None, "x must be 1-D"), ([1.0, 2.0], 3, "x must have 3 entries")],
)
def test_float_vector_names_the_argument_in_its_error(value, n, message):
    """Wrong shapes raise ValueError naming the argument and the shape."""
    with pytest.raises(ValueError, match=message):
        float_vector("x", value, n)


def test_finiteness_is_checked_where_asked():
    """float_vector lets NaN through; require_finite and finite_vector refuse NaN and infinities."""
    assert np.isnan(float_vector("x", [np.nan])[0])
    with pytest.raises(ValueError, match="scores must be finite"):
        require_finite("scores", np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="y must be finite"):
        finite_vector("y", [0.0, np.nan])


def test_as_index_array_accepts_whole_numbers_and_refuses_the_rest():
    """Integer or whole float indices in range become int64; fractions, NaN, strings and out-of-range indices raise."""
    assert as_index_array("w", np.array([0.0, 2.0]), 3).tolist() == [0, 2]
    assert as_index_array("w", [], 3).dtype == np.int64
    for values, message in (([0.5], "integer item indices"), ([np.nan], "contains NaN"), (["a"], "dtype"),
                            ([3], "out of range \\[0, 3\\)"), ([-1], "out of range"), ([[0]], "1-D")):
        with pytest.raises(ValueError, match=message):
            as_index_array("w", values, 3)


def test_check_rng_takes_a_generator_only():
    """A Generator is returned as it is; a seed or the legacy RandomState is a TypeError naming its type."""
    rng = np.random.default_rng(0)
    assert check_rng(rng) is rng
    with pytest.raises(TypeError, match="got int"):
        check_rng(0)
    with pytest.raises(TypeError, match="got RandomState"):
        check_rng(np.random.RandomState(0))


def test_check_n_items_wants_a_positive_whole_number():
    """Python and numpy ints >= 1 pass as int; bools and floats are TypeErrors, zero a ValueError."""
    assert check_n_items(np.int64(3)) == 3 and type(check_n_items(np.int64(3))) is int
    for bad in (True, 2.0, "3"):
        with pytest.raises(TypeError, match="n_items must be an integer"):
            check_n_items(bad)
    with pytest.raises(ValueError, match=">= 1"):
        check_n_items(0)
