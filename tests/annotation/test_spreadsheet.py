"""CSV injection: text that starts like a formula gets a leading apostrophe; other values pass unchanged."""
import pytest

from annotation.spreadsheet import csv_safe


@pytest.mark.parametrize("text", ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_text_is_quoted(text):
    assert csv_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["photo.png", "", "a=b", 3, -1.5, None])
def test_other_values_pass_unchanged(value):
    assert csv_safe(value) == value
