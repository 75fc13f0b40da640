"""The dashboard's SVG plots (evaluation/plots_quality.py): what they draw, escaping, empty data, bad input."""
import math
import re

import pytest

from evaluation.plots_quality import CHAR_WIDTH, bars_svg, histogram_svg, lines_svg


def test_bars_draw_one_bar_per_known_value_and_escape_labels():
    """Three labels, one without a value: two bars, an "n/a", a reference line, and the label escaped."""
    svg = bars_svg(["<b>ann</b>", "bob", "cy"], [0.8, None, 0.4], title="Gold", y_label="Share", y_range=(0, 1), reference=0.5)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'data-plot="bars"' in svg and 'data-n="3"' in svg
    assert svg.count('class="bar"') == 2 and "n/a" in svg and 'stroke-dasharray="4 3"' in svg
    assert "<b>" not in svg and "&lt;b&gt;ann&lt;/b&gt;" in svg


def test_histogram_counts_every_value_once():
    """Bins hold every value (the last edge included) and say their counts in tooltips."""
    svg = histogram_svg([0.0, 0.1, 0.9, 1.0, None], title="Scores", x_label="Score", bins=2)
    assert svg.count('class="bar"') == 2 and "): 2</title>" in svg and 'data-n="4"' in svg


def test_lines_break_at_missing_values_and_have_a_legend():
    """A None splits a series into two polylines; each series has a legend entry."""
    svg = lines_svg(["v1", "v2", "v3", "v4", "v5"], {"SRCC": [0.1, 0.2, None, 0.4, 0.5], "PLCC": [0.3, 0.3, 0.3, 0.3, 0.3]},
                    title="Critic", y_label="Metric", y_range=(0, 1))
    assert svg.count('class="series"') == 3 and ">SRCC</text>" in svg and ">PLCC</text>" in svg


def test_empty_plots_say_so_compactly():
    """No data: a short placeholder with data-n 0, for each kind of plot."""
    for svg in (bars_svg([], [], title="t", y_label="y"), histogram_svg([], title="t", x_label="x"), lines_svg([], {}, title="t", y_label="y")):
        assert 'data-n="0"' in svg and 'viewBox="0 0 960 64"' in svg


def test_bad_input_is_a_clear_error():
    """Mismatched lengths and zero bins raise ValueError."""
    with pytest.raises(ValueError, match="same length"):
        bars_svg(["a"], [1, 2], title="t", y_label="y")
    with pytest.raises(ValueError, match="one value per x label"):
        lines_svg(["a", "b"], {"s": [1]}, title="t", y_label="y")
    with pytest.raises(ValueError, match="bins"):
        histogram_svg([1.0], title="t", x_label="x", bins=0)


def test_bar_labels_get_room_below_and_left_so_none_is_clipped():
    """Long rotated x labels (the alpha chart's "description reasoning.distortions.blur (nominal)") fit in the view:
    the bottom margin and the view's left edge grow with them; very long ones end in an ellipsis (issue 17, bug 9)."""
    labels = ["description distortions.motion_blur (nominal)", "pair reasoning.texture_condition (nominal)", "x" * 80]
    svg = bars_svg(labels, [0.5, 0.7, 0.9], title="alpha", y_label="alpha")
    min_x, _, view_w, view_h = (float(v) for v in re.search(r'viewBox="([^"]+)"', svg).group(1).split())
    texts = re.findall(r'<text class="tick" x="([\d.]+)" y="(\d+)" text-anchor="end" transform="rotate\(-30[^"]*\)">([^<]+)</text>', svg)
    assert len(texts) == 3 and texts[2][2] == "x" * 39 + "…"
    for x, y, text in texts:
        length = len(text) * CHAR_WIDTH
        assert float(x) - length * math.cos(math.radians(30)) >= min_x  # the label's far end is inside on the left
        assert float(y) + length * math.sin(math.radians(30)) <= view_h  # and above the bottom edge
    assert min_x < 0 and view_w > 960
