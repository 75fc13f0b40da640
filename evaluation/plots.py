"""Server-rendered plots as inline SVG: scores with 95% error bars, ordered by score.

Django-free: plain numpy and string building, no chart library and nothing fetched by the browser.
Every label is escaped here, so the returned markup is safe to put into a page as it is.
"""
from __future__ import annotations

import math
from html import escape

import numpy as np

__all__ = ["scores_errorbar_svg"]

#: Beyond this many items the plot shows an evenly spaced subsample by rank, over a band of all intervals.
MAX_POINTS = 300


def _nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
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


def scores_errorbar_svg(
    scores,
    ci_low,
    ci_high,
    *,
    labels=None,
    max_points: int = MAX_POINTS,
    width: int = 960,
    height: int = 340,
    title: str = "Scores with 95% intervals, ordered by score",
) -> str:
    """An SVG of each item's score (dot) and 95% interval (bar), lowest score on the left.

    Parameters
    ----------
    scores, ci_low, ci_high : array_like, shape [n_items]
        Any order; the plot sorts by score.
    labels : sequence of str, shape [n_items], optional
        Shown as each point's tooltip (escaped).
    max_points : int
        Up to this many items every item is drawn. Beyond it, `max_points` items evenly spaced by rank
        (lowest and highest included) are drawn over a shaded band of every item's interval, and
        alternate tenths of the ranks are striped so positions stay readable.

    Returns
    -------
    str
        `<svg ...>...</svg>` markup, with `data-points` (items drawn) and `data-items` (all items).
    """
    score = np.asarray(scores, dtype=np.float64)
    low = np.asarray(ci_low, dtype=np.float64)
    high = np.asarray(ci_high, dtype=np.float64)
    n = score.size
    if not (low.shape == high.shape == score.shape):
        raise ValueError("scores, ci_low and ci_high must have the same shape")
    if max_points < 2:
        raise ValueError("max_points must be >= 2")
    names = [str(label) for label in labels] if labels is not None else [f"#{i + 1}" for i in range(n)]
    if len(names) != n:
        raise ValueError("labels must have one entry per score")
    left, right, top, bottom = 56, 12, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="scoreplot" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" data-items="{n}" data-points="{{points}}">',
        f"<title>{escape(title)}</title>",
    ]
    if n == 0:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="axis-label">No scores yet</text></svg>')
        return "".join(parts).replace("{points}", "0")

    order = np.argsort(score, kind="stable")
    ymin, ymax = float(low.min()), float(high.max())
    if not ymax > ymin:
        ymin, ymax = ymin - 1.0, ymax + 1.0
    pad = 0.05 * (ymax - ymin)
    ymin, ymax = ymin - pad, ymax + pad

    def x_of(rank) -> np.ndarray:
        return left + (np.asarray(rank, dtype=np.float64) + 0.5) * plot_w / n

    def y_of(value) -> np.ndarray:
        return top + (ymax - np.asarray(value, dtype=np.float64)) * plot_h / (ymax - ymin)

    # Grid and axes.
    for tick in _nice_ticks(ymin, ymax):
        y = float(y_of(tick))
        parts.append(f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}"/>')
    parts.append(
        f'<text class="axis-label" x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">'
        f"Images by rank, lowest score left ({n})</text>"
    )
    parts.append(
        f'<text class="axis-label" transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">Score</text>'
    )

    if n > max_points:
        ranks = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
        # Stripes on alternate tenths of the ranks, then the band of all intervals.
        for tenth in range(0, 10, 2):
            x0, x1 = float(x_of(tenth * n / 10 - 0.5)), float(x_of((tenth + 1) * n / 10 - 0.5))
            parts.append(f'<rect class="stripe" x="{x0:.1f}" y="{top}" width="{x1 - x0:.1f}" height="{plot_h}"/>')
        band_ranks = np.unique(np.linspace(0, n - 1, min(n, 4 * max_points)).round().astype(np.int64))
        xs = x_of(band_ranks)
        upper = y_of(high[order[band_ranks]])
        lower = y_of(low[order[band_ranks]])
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, upper))
        points += " " + " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs[::-1], lower[::-1]))
        parts.append(f'<polygon class="band" points="{points}"/>')
        parts.append(
            f'<text class="note" x="{left + 6}" y="{top - 10}">One image in {n / ranks.size:.0f} by rank '
            f"({ranks.size} of {n} drawn) over a band of all {n} intervals</text>"
        )
    else:
        ranks = np.arange(n)

    radius = 3.0 if ranks.size <= 100 else 2.0
    cap = min(4.0, plot_w / max(ranks.size, 1) / 3)
    for rank in ranks:
        item = order[rank]
        x = float(x_of(rank))
        y, y_low, y_high = float(y_of(score[item])), float(y_of(low[item])), float(y_of(high[item]))
        tip = f"{names[item]}: {score[item]:.3f} [{low[item]:.3f}, {high[item]:.3f}], rank {rank + 1} of {n}"
        parts.append(f'<g class="point"><title>{escape(tip)}</title>')
        parts.append(f'<line class="errbar" x1="{x:.1f}" x2="{x:.1f}" y1="{y_low:.1f}" y2="{y_high:.1f}"/>')
        if cap >= 1.5:
            parts.append(f'<line class="errbar" x1="{x - cap:.1f}" x2="{x + cap:.1f}" y1="{y_low:.1f}" y2="{y_low:.1f}"/>')
            parts.append(f'<line class="errbar" x1="{x - cap:.1f}" x2="{x + cap:.1f}" y1="{y_high:.1f}" y2="{y_high:.1f}"/>')
        parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="{radius}"/></g>')
    parts.append("</svg>")
    return "".join(parts).replace("{points}", str(int(ranks.size)), 1)
