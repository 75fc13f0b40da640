"""The shared SVG scaffolding (evaluation/svg.py): ticks, scales, escaping and the document."""
from xml.etree import ElementTree

import pytest

from evaluation.svg import axes, clip, linear_x, linear_y, nice_ticks, placeholder, svg_open, x_grid, y_grid, y_title


@pytest.mark.parametrize(
    ("low", "high", "count", "expected"),
    [
        (0.0, 1.0, 6, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-0.33, 2.9, 6, [0.0, 1.0, 2.0]),
        (0.0, 10.0, 5, [0.0, 2.5, 5.0, 7.5, 10.0]),
        (-1.0, 1.0, 6, [-1.0, -0.5, 0.0, 0.5, 1.0]),
        (103.0, 187.0, 6, [120.0, 140.0, 160.0, 180.0]),
    ],
)
def test_nice_ticks_are_round_and_inside_the_range(low, high, count, expected):
    """Ticks are 1, 2, 2.5 or 5 times a power of ten apart, start at the first multiple and stay in [low, high]."""
    assert nice_ticks(low, high, count) == expected


def test_nice_ticks_of_an_empty_or_infinite_span_is_the_low_end():
    """A zero, negative or infinite span gives one tick at `low` instead of looping or dividing by zero."""
    assert nice_ticks(2.0, 2.0) == [2.0]
    assert nice_ticks(3.0, 1.0) == [3.0]
    assert nice_ticks(0.0, float("inf")) == [0.0]


def test_linear_scales_map_the_ends_to_the_plot_edges():
    """y puts the high end at the top (SVG y grows downwards); x puts the low end on the left."""
    y_of = linear_y(-1.0, 1.0, 28, 200)
    assert (y_of(1.0), y_of(-1.0), y_of(0.0)) == (28.0, 228.0, 128.0)
    x_of = linear_x(0.0, 4.0, 50, 400)
    assert (x_of(0.0), x_of(4.0), x_of(1.0)) == (50.0, 450.0, 150.0)


def test_a_document_built_from_the_pieces_is_well_formed_and_escaped():
    """Open, grid, axes and titles with markup in every text make valid XML whose texts read back unescaped."""
    title = 'Scores <b>&</b> "quotes"'
    parts = svg_open(title, 300, 200, items=3, kind="<x>")
    y_of = linear_y(0.0, 1.0, 10, 150)
    parts += y_grid(nice_ticks(0.0, 1.0), y_of, 40, 250, ".1f", axis_at_zero=True)
    parts += x_grid([0, 0.5, 1], linear_x(0, 1, 40, 250), 10, 160, ".0%")
    parts += axes(40, 10, 250, 150)
    parts.append(y_title("Score <i>", 10, 150))
    parts.append("</svg>")
    root = ElementTree.fromstring("".join(parts))
    namespace = "{http://www.w3.org/2000/svg}"
    assert root.get("aria-label") == title and root.get("data-items") == "3" and root.get("data-kind") == "<x>"
    assert root.find(f"{namespace}title").text == title
    texts = [element.text for element in root.iter(f"{namespace}text")]
    assert texts[:2] == ["0.0", "0.2"] and "50%" in texts and texts[-1] == "Score <i>"
    classes = [element.get("class") for element in root.iter(f"{namespace}line")]
    assert classes.count("axis") == 3  # the line at 0 and the two axes


def test_placeholder_closes_an_empty_plot():
    """An empty plot is the opening, a centred escaped message and the closing tag."""
    svg = "".join(svg_open("t", 100, 50, rows=0)) + placeholder(50.0, 25.0, "No <votes>")
    root = ElementTree.fromstring(svg)
    assert svg.endswith("</svg>") and root.get("data-rows") == "0"
    assert root.find("{http://www.w3.org/2000/svg}text").text == "No <votes>"


def test_clip_shortens_long_names_with_an_ellipsis():
    """Names up to the size stay as they are; longer ones keep size - 1 characters and an ellipsis."""
    assert clip("short") == "short"
    assert clip("x" * 20, 8) == "xxxxxxx…" and len(clip("x" * 20, 8)) == 8
