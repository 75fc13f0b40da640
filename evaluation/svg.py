"""The scaffolding every server-rendered SVG plot shares: the document, linear scales, ticks, grid, axes, colours.

Django-free string building, nothing fetched by the browser. Everything that takes text escapes it, so markup
built from these pieces is safe to put into a page as it is. The CSS classes (``scoreplot``, ``grid``, ``axis``,
``tick``, ``axis-label``, ...) are styled by the site's stylesheet.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

__all__ = [
    "COLOURS",
    "axes",
    "clip",
    "linear_x",
    "linear_y",
    "nice_ticks",
    "placeholder",
    "svg_open",
    "x_grid",
    "y_grid",
    "x_title",
    "y_title",
]

#: Series colours, in order (colour-blind-safe Okabe-Ito).
COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart); ``[low]`` for an empty span."""
    span = high - low
    if not math.isfinite(span) or span <= 0:
        return [low]
    raw = span / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(power * m for m in (1, 2, 2.5, 5, 10) if power * m >= raw)
    first = math.ceil(low / step) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def clip(text, size: int = 16) -> str:
    """``text`` cut to ``size`` characters, the last one an ellipsis when it was longer (escape it afterwards)."""
    text = str(text)
    return text if len(text) <= size else text[: size - 1] + "…"


def svg_open(title: str, width: int, height: int, *, view_left: float = 0.0, **data) -> list[str]:
    """The opening ``<svg>`` tag (with ``data-<name>`` attributes from ``data``, in order) and its ``<title>``.

    ``view_left`` (>= 0) widens the view that many units to the left of x = 0, for labels that reach past it.
    Close the document with ``"</svg>"`` (or :func:`placeholder`).
    """
    attributes = "".join(f' data-{name}="{escape(str(value))}"' for name, value in data.items())
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="scoreplot" viewBox="{-view_left if view_left else 0:g} 0 {width + view_left:g} {height}" role="img" '
        f'aria-label="{escape(title)}"{attributes}>',
        f"<title>{escape(title)}</title>",
    ]


def placeholder(x: float, y: float, message: str) -> str:
    """A centred message where a plot has nothing to draw, and the closing ``</svg>``."""
    return f'<text x="{x}" y="{y}" text-anchor="middle" class="axis-label">{escape(message)}</text></svg>'


def linear_y(low: float, high: float, top: float, plot_h: float) -> Callable:
    """Data value → y pixel: ``high`` at ``top``, ``low`` at ``top + plot_h`` (works on floats and arrays)."""

    def y_of(value):
        return top + (high - value) * plot_h / (high - low)

    return y_of


def linear_x(low: float, high: float, left: float, plot_w: float) -> Callable:
    """Data value → x pixel: ``low`` at ``left``, ``high`` at ``left + plot_w`` (works on floats and arrays)."""

    def x_of(value):
        return left + (value - low) * plot_w / (high - low)

    return x_of


def y_grid(ticks, y_of: Callable, left: float, plot_w: float, fmt: str = "g", *, axis_at_zero: bool = False) -> list[str]:
    """A horizontal grid line and a tick label left of the plot at each tick; the line at 0 drawn as an axis
    when ``axis_at_zero``."""
    parts = []
    for tick in ticks:
        y = float(y_of(tick))
        css = "axis" if axis_at_zero and tick == 0 else "grid"
        parts.append(f'<line class="{css}" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{format(tick, fmt)}</text>')
    return parts


def x_grid(ticks, x_of: Callable, top: float, bottom: float, fmt: str = "g") -> list[str]:
    """A vertical grid line from ``top`` to ``bottom`` and a tick label under it at each tick."""
    parts = []
    for tick in ticks:
        x = float(x_of(tick))
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">{format(tick, fmt)}</text>')
    return parts


def axes(left: float, top: float, plot_w: float, plot_h: float) -> list[str]:
    """The y axis on the left edge of the plot and the x axis along its bottom."""
    return [
        f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>',
        f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>',
    ]


def y_title(label: str, top: float, plot_h: float) -> str:
    """The y axis title, written upwards along the left margin."""
    return f'<text class="axis-label" transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(label)}</text>'


def x_title(label: str, x: float, y: float) -> str:
    """The x axis title, centred on ``x`` at baseline ``y``."""
    return f'<text class="axis-label" x="{x}" y="{y}" text-anchor="middle">{escape(label)}</text>'
