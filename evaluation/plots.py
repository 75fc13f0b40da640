"""Server-rendered plots as inline SVG: scores with 95% error bars, ordered by score.

Django-free: plain numpy and string building on evaluation/svg.py, no chart library and nothing fetched by the
browser. Every label is escaped here, so the returned markup is safe to put into a page as it is.
"""
from __future__ import annotations

from html import escape

import numpy as np

from evaluation.svg import axes, linear_y, nice_ticks, placeholder, svg_open, x_title, y_grid, y_title

__all__ = ["scores_errorbar_svg"]

#: Beyond this many items the plot shows an evenly spaced subsample by rank, over a band of all intervals.
MAX_POINTS = 300


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
    parts = svg_open(title, width, height, items=n, points="{points}")
    if n == 0:
        parts.append(placeholder(width / 2, height / 2, "No scores yet"))
        return "".join(parts).replace("{points}", "0")

    order = np.argsort(score, kind="stable")
    ymin, ymax = float(low.min()), float(high.max())
    if not ymax > ymin:
        ymin, ymax = ymin - 1.0, ymax + 1.0
    pad = 0.05 * (ymax - ymin)
    ymin, ymax = ymin - pad, ymax + pad

    def x_of(rank) -> np.ndarray:
        return left + (np.asarray(rank, dtype=np.float64) + 0.5) * plot_w / n

    y_of = linear_y(ymin, ymax, top, plot_h)

    # Grid and axes.
    parts += y_grid(nice_ticks(ymin, ymax), y_of, left, plot_w)
    parts += axes(left, top, plot_w, plot_h)
    parts.append(x_title(f"Images by rank, lowest score left ({n})", left + plot_w / 2, height - 8))
    parts.append(y_title("Score", top, plot_h))

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
