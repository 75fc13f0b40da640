"""Server-side SVG plots of a study's results: BT strengths with intervals, and win/tie/loss bars per pair.

Django-free string building in the style of evaluation/plots.py; every label is escaped here, so the markup is
safe to put into a page as it is.
"""
from __future__ import annotations

from html import escape

from evaluation.plots import _nice_ticks

__all__ = ["strengths_svg", "win_tie_loss_svg"]

WIN, TIE, LOSS = "#3a7d44", "#b8bec6", "#c0392b"


def _clip(name: str, size: int = 16) -> str:
    name = str(name)
    return name if len(name) <= size else name[: size - 1] + "…"


def strengths_svg(names, scores, lows, highs, *, title: str = "Bradley–Terry strength with 95% interval", width: int = 720) -> str:
    """One row per system, best at the top: a dot at its strength and a bar over its interval (logit scale)."""
    rows = sorted(zip(names, scores, lows, highs), key=lambda row: -row[1])
    row_h, left, right, top, bottom = 28, 180, 24, 24, 34
    height = top + bottom + row_h * max(len(rows), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="scoreplot" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" data-rows="{len(rows)}"><title>{escape(title)}</title>'
    ]
    if not rows:
        parts.append(f'<text class="axis-label" x="{width / 2}" y="{height / 2}" text-anchor="middle">No votes yet</text></svg>')
        return "".join(parts)
    values = [v for _, s, lo, hi in rows for v in (s, lo, hi) if v is not None]
    low, high = min(values + [0.0]), max(values + [0.0])
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = 0.05 * (high - low)
    low, high = low - pad, high + pad
    plot_w = width - left - right

    def x_of(value: float) -> float:
        return left + (value - low) * plot_w / (high - low)

    for tick in _nice_ticks(low, high):
        x = x_of(tick)
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - bottom}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle">{tick:g}</text>')
    parts.append(f'<text class="axis-label" x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">Strength (logit; 0 = average)</text>')
    for k, (name, score, lo, hi) in enumerate(rows):
        y = top + row_h * k + row_h / 2
        tip = f"{name}: {score:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else "")
        parts.append(f'<g class="point"><title>{escape(tip)}</title>')
        parts.append(f'<text class="tick" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(_clip(name, 28))}</text>')
        if lo is not None and hi is not None:
            parts.append(f'<line class="errbar" x1="{x_of(lo):.1f}" x2="{x_of(hi):.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke-width="2"/>')
        parts.append(f'<circle class="dot" cx="{x_of(score):.1f}" cy="{y:.1f}" r="4"/></g>')
    parts.append("</svg>")
    return "".join(parts)


def win_tie_loss_svg(pairs, *, title: str = "Win / tie / loss per pair (first system's view)", width: int = 720) -> str:
    """A stacked bar per pair of systems: share of votes the first won (green), tied (grey) and lost (red)."""
    row_h, left, right, top, bottom = 28, 260, 24, 24, 30
    height = top + bottom + row_h * max(len(pairs), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="scoreplot" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" data-rows="{len(pairs)}"><title>{escape(title)}</title>'
    ]
    if not pairs:
        parts.append(f'<text class="axis-label" x="{width / 2}" y="{height / 2}" text-anchor="middle">No votes yet</text></svg>')
        return "".join(parts)
    plot_w = width - left - right
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = left + tick * plot_w
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - bottom}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{height - bottom + 14}" text-anchor="middle">{tick:.0%}</text>')
    for k, pair in enumerate(pairs):
        y = top + row_h * k + 4
        label = f"{pair['system_1']} vs {pair['system_2']}"
        short = f"{_clip(pair['system_1'])} vs {_clip(pair['system_2'])}"
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
