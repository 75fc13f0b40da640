"""The benchmark plot: one group of bars per prompting system, labels escaped, empty state."""
from system_benchmarks.plots import cells_bars_svg


def test_bars_per_cell_with_interval_and_escaped_labels():
    """Two cells draw two groups; a missing PLCC draws no bar; the tooltip carries SRCC and its interval."""
    svg = cells_bars_svg([
        {"protocol": "single", "prompting": "standard", "srcc": 0.8, "srcc_low": 0.6, "srcc_high": 0.9, "plcc": 0.7},
        {"protocol": "double", "prompting": "<b>", "srcc": -0.2, "srcc_low": None, "srcc_high": None, "plcc": None},
    ])
    assert svg.startswith("<svg") and 'data-cells="2"' in svg
    assert "SS standard: SRCC 0.800 [0.600, 0.900]" in svg
    assert svg.count('class="point bar-plcc"') == 1 and svg.count('class="point bar-srcc"') == 2
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_no_cells_says_so():
    """Before results exist the plot says so instead of drawing axes."""
    assert "No results yet" in cells_bars_svg([])
