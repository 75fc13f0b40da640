"""Server-rendered plots for the quality dashboard as inline SVG: bars, a histogram, and lines over an ordinal axis.

Django-free string building on evaluation/svg.py (the document, ticks, grid and axes), nothing fetched by the
browser, every label escaped here so the markup is safe as it is.
Each plot carries `data-plot` (its kind) and `data-n` (what it counts) for tests and scripts.
"""
from __future__ import annotations

import math
from html import escape

import numpy as np

from evaluation.svg import COLOURS, axes, linear_y, nice_ticks, placeholder, svg_open, x_title, y_grid, y_title

__all__ = ["bars_svg", "histogram_svg", "lines_svg"]

LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 64
#: x labels are drawn rotated by 30 degrees; this long at most (an ellipsis ends longer ones, the bar's tooltip has
#: them whole), each character about this wide at the 11 px tick font: the plot makes room for them below and left.
X_LABEL_CHARS, CHAR_WIDTH = 40, 6.2
_SIN, _COS = math.sin(math.radians(30)), math.cos(math.radians(30))


def _open(kind: str, title: str, n: int, width: int, height: int, view_left: float = 0.0) -> list[str]:
    """The document's opening, with the title also written at the top left."""
    return svg_open(title, width, height, view_left=view_left, plot=kind, n=n) + [f'<text class="axis-label" x="{LEFT}" y="16">{escape(title)}</text>']


def _empty(kind: str, title: str, width: int, message: str) -> str:
    """A short placeholder the width of the plot, so an empty dashboard stays compact."""
    parts = _open(kind, title, 0, width, 64)
    parts.append(placeholder(width / 2, 44, message))
    return "".join(parts)


def _y_axis(parts: list[str], ymin: float, ymax: float, width: int, height: int, label: str, fmt: str = "g", bottom: int = BOTTOM):
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - bottom
    y_of = linear_y(ymin, ymax, TOP, plot_h)
    parts += y_grid(nice_ticks(ymin, ymax, 5), y_of, LEFT, plot_w, fmt)
    parts += axes(LEFT, TOP, plot_w, plot_h)
    parts.append(y_title(label, TOP, plot_h))
    return y_of, plot_w, plot_h


def _x_label_text(label: str) -> str:
    return label if len(label) <= X_LABEL_CHARS else label[: X_LABEL_CHARS - 1] + "…"


def _x_label_room(xs, labels) -> tuple[int, float]:
    """(the margin below the plot, the width left of x = 0) that the rotated x labels need to show whole."""
    step = max(1, math.ceil(len(labels) / 16))
    shown = [(xs[i], len(_x_label_text(labels[i])) * CHAR_WIDTH) for i in range(0, len(labels), step)]
    bottom = max(BOTTOM, math.ceil(14 + max(length for _, length in shown) * _SIN + 14))
    left = max(0.0, *(length * _COS + 4 - x for x, length in shown))
    return bottom, math.ceil(left)


def _x_labels(parts: list[str], xs, labels, height: int, bottom: int = BOTTOM) -> None:
    step = max(1, math.ceil(len(labels) / 16))  # at most ~16 labels, so they never overlap
    for i in range(0, len(labels), step):
        y = height - bottom + 14
        parts.append(
            f'<text class="tick" x="{xs[i]:.1f}" y="{y}" text-anchor="end" transform="rotate(-30 {xs[i]:.1f} {y})">'
            f'{escape(_x_label_text(str(labels[i])))}</text>'
        )


def bars_svg(labels, values, *, title: str, y_label: str, y_range=None, reference=None, width: int = 960, height: int = 300) -> str:
    """Vertical bars, one per label; None values are drawn as a gap marked "n/a".

    Parameters
    ----------
    labels : sequence of str, shape [n]
    values : sequence of float or None, shape [n]
    y_range : (low, high), optional
        Default: from min(0, values) to max(values), padded.
    reference : float, optional
        A dashed horizontal line (a pass mark, say).
    """
    labels = [str(label) for label in labels]
    if len(labels) != len(values):
        raise ValueError("labels and values must have the same length")
    known = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not known:
        return _empty("bars", title, width, "Nothing to show yet")
    slot = (width - LEFT - RIGHT) / len(labels)
    xs = [LEFT + (i + 0.5) * slot for i in range(len(labels))]
    bottom, view_left = _x_label_room(xs, labels)
    height += bottom - BOTTOM  # the plot keeps its height; long labels get room of their own below it
    parts = _open("bars", title, len(labels), width, height, view_left)
    low, high = y_range if y_range is not None else (min(0.0, *known), max(0.0, *known))
    if not high > low:
        high = low + 1.0
    y_of, plot_w, _ = _y_axis(parts, low, high, width, height, y_label, bottom=bottom)
    for x, label, value in zip(xs, labels, values):
        if value is None or not math.isfinite(value):
            parts.append(f'<text class="note" x="{x:.1f}" y="{y_of(low) - 4:.1f}" text-anchor="middle">n/a</text>')
            continue
        y0, y1 = y_of(max(low, 0.0) if low < 0 < high else low), y_of(float(value))
        top, h = min(y0, y1), abs(y1 - y0)
        parts.append(
            f'<rect class="bar" x="{x - slot * 0.35:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" height="{max(h, 0.5):.1f}" '
            f'fill="{COLOURS[0]}"><title>{escape(label)}: {float(value):.3f}</title></rect>'
        )
    if reference is not None:
        y = y_of(float(reference))
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#D55E00" stroke-dasharray="4 3"/>')
    _x_labels(parts, xs, labels, height, bottom)
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(values, *, title: str, x_label: str, bins: int = 20, width: int = 960, height: int = 280) -> str:
    """A histogram of `values` in `bins` equal-width bins over their range; the bin edges label the x axis."""
    data = np.asarray([v for v in values if v is not None], dtype=np.float64)
    data = data[np.isfinite(data)]
    if bins < 1:
        raise ValueError("bins must be >= 1")
    if data.size == 0:
        return _empty("histogram", title, width, "No scores yet")
    parts = _open("histogram", title, int(data.size), width, height)
    low, high = float(data.min()), float(data.max())
    if not high > low:
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(data, bins=bins, range=(low, high))
    y_of, plot_w, _ = _y_axis(parts, 0.0, float(max(counts.max(), 1)) * 1.05, width, height, "Images")
    slot = plot_w / bins
    for i, count in enumerate(counts.tolist()):
        x, y = LEFT + i * slot, y_of(count)
        parts.append(
            f'<rect class="bar" x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(slot - 1, 0.5):.1f}" height="{y_of(0) - y:.1f}" fill="{COLOURS[0]}">'
            f"<title>[{edges[i]:.3g}, {edges[i + 1]:.3g}): {count}</title></rect>"
        )
    xs = [LEFT + i * slot for i in range(bins + 1)]
    _x_labels(parts, xs, [f"{edge:.3g}" for edge in edges], height)
    parts.append(x_title(x_label, LEFT + plot_w / 2, height - 6))
    parts.append("</svg>")
    return "".join(parts)


def lines_svg(x_labels, series: dict, *, title: str, y_label: str, y_range=None, width: int = 960, height: int = 300) -> str:
    """One line per series over an ordinal x axis (days, versions), with a legend; None values break a line.

    Parameters
    ----------
    x_labels : sequence of str, shape [n_x]
    series : dict of name -> sequence of float or None, each shape [n_x]
    """
    x_labels = [str(label) for label in x_labels]
    for name, ys in series.items():
        if len(ys) != len(x_labels):
            raise ValueError(f"series {name!r} must have one value per x label")
    known = [float(v) for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    if not known or not x_labels:
        return _empty("lines", title, width, "Nothing to show yet")
    parts = _open("lines", title, len(x_labels), width, height)
    low, high = y_range if y_range is not None else (min(0.0, *known), max(known))
    if not high > low:
        high = low + 1.0
    y_of, plot_w, _ = _y_axis(parts, low, high, width, height, y_label)
    slot = plot_w / len(x_labels)
    xs = [LEFT + (i + 0.5) * slot for i in range(len(x_labels))]
    for index, (name, ys) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        segment: list[str] = []
        for x, value in zip(xs + [None], list(ys) + [None]):
            if value is not None and math.isfinite(value):
                segment.append(f"{x:.1f},{y_of(float(value)):.1f}")
                parts.append(f'<circle cx="{x:.1f}" cy="{y_of(float(value)):.1f}" r="2.5" fill="{colour}"><title>{escape(name)}: {float(value):.3g}</title></circle>')
                continue
            if len(segment) > 1:
                parts.append(f'<polyline class="series" points="{" ".join(segment)}" fill="none" stroke="{colour}" stroke-width="2"/>')
            segment = []
        legend_y = TOP + 4 + index * 14
        parts.append(f'<rect x="{LEFT + 8}" y="{legend_y - 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text class="tick" x="{LEFT + 22}" y="{legend_y + 1}">{escape(name)}</text>')
    _x_labels(parts, xs, x_labels, height)
    parts.append("</svg>")
    return "".join(parts)
