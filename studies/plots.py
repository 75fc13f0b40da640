"""Server-side SVG plots of a study's results: BT strengths with intervals, and win/tie/loss bars per pair.

Django-free string building on evaluation/svg.py; every label is escaped here, so the markup is safe to put into
a page as it is.
"""
from __future__ import annotations

from html import escape

from evaluation.svg import clip, linear_x, nice_ticks, placeholder, svg_open, x_grid, x_title

__all__ = ["strengths_svg", "win_tie_loss_svg"]

WIN, TIE, LOSS = "#3a7d44", "#b8bec6", "#c0392b"


def strengths_svg(names, scores, lows, highs, *, title: str = "Bradley–Terry strength with 95% interval", width: int = 720) -> str:
    """One row per system, best at the top: a dot at its strength and a bar over its interval (logit scale)."""
    rows = sorted(zip(names, scores, lows, highs), key=lambda row: -row[1])
    row_h, left, right, top, bottom = 28, 180, 24, 24, 34
    height = top + bottom + row_h * max(len(rows), 1)
    parts = svg_open(title, width, height, rows=len(rows))
    if not rows:
        parts.append(placeholder(width / 2, height / 2, "No votes yet"))
        return "".join(parts)
    values = [v for _, s, lo, hi in rows for v in (s, lo, hi) if v is not None]
    low, high = min(values + [0.0]), max(values + [0.0])
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = 0.05 * (high - low)
    low, high = low - pad, high + pad
    plot_w = width - left - right
    x_of = linear_x(low, high, left, plot_w)
    parts += x_grid(nice_ticks(low, high), x_of, top, height - bottom)
    parts.append(x_title("Strength (logit; 0 = average)", left + plot_w / 2, height - 4))
    for k, (name, score, lo, hi) in enumerate(rows):
        y = top + row_h * k + row_h / 2
        tip = f"{name}: {score:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")
        parts.append(f'<g class="point"><title>{escape(tip)}</title>')
        parts.append(f'<text class="tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(clip(name, 28))}</text>')
        if lo is not None and hi is not None:
            parts.append(f'<line class="errbar" x1="{x_of(lo):.1f}" x2="{x_of(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke-width="2"/>')
        parts.append(f'<circle class="dot" cx="{x_of(score):.1f}" cy="{y:.1f}" r="4"/></g>')
    parts.append("</svg>")
    return "".join(parts)


def win_tie_loss_svg(pairs, *, title: str = "Win / tie / loss per pair (first system's view)", width: int = 720) -> str:
    """A stacked bar per pair of systems: share of votes the first won (green), tied (grey) and lost (red)."""
    row_h, left, right, top, bottom = 28, 260, 24, 24, 30
    height = top + bottom + row_h * max(len(pairs), 1)
    parts = svg_open(title, width, height, rows=len(pairs))
    if not pairs:
        parts.append(placeholder(width / 2, height / 2, "No votes yet"))
        return "".join(parts)
    plot_w = width - left - right
    parts += x_grid((0, 0.25, 0.5, 0.75, 1), linear_x(0, 1, left, plot_w), top, height - bottom, ".0%")
    for k, pair in enumerate(pairs):
        y = top + row_h * k + 4
        label = f"{pair['system_1']} vs {pair['system_2']}"
        short = f"{clip(pair['system_1'])} vs {clip(pair['system_2'])}"
        parts.append(f'<text class="tick" x="{left - 8}" y="{y + 14:.1f}" text-anchor="end">{escape(short)}</text>')
        x = float(left)
        for share, colour, what in ((pair["win"], WIN, "win"), (pair["tie"], TIE, "tie"), (pair["loss"], LOSS, "loss")):
            w = share * plot_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{row_h - 8}" fill="{colour}">'
                f"<title>{escape(label)}: {what} {share:.0%} of {pair['n']}</title></rect>"
            )
            x += w
    parts.append("</svg>")
    return "".join(parts)
