"""The benchmark plot as inline SVG: SRCC (with its bootstrap 95% interval) and PLCC per protocol × prompting.

Django-free string building on evaluation/svg.py, every label escaped here.
"""
from __future__ import annotations

from html import escape

from evaluation.svg import linear_y, placeholder, svg_open, x_title, y_grid

__all__ = ["cells_bars_svg"]

_SHORT = {"single": "SS", "double": "DS", "multiple": "MS", "standard": "standard", "in_context": "in-context", "chain_of_thought": "CoT"}


def cells_bars_svg(cells: list[dict], *, width: int = 960, height: int = 320, title: str = "SRCC and PLCC per prompting system") -> str:
    """Grouped bars on [-1, 1]: per cell an SRCC bar with its interval and a PLCC bar; a missing value draws no bar.

    Parameters
    ----------
    cells : list of dict
        ``protocol``, ``prompting``, ``srcc``, ``srcc_low``, ``srcc_high``, ``plcc`` (floats or None).

    Returns
    -------
    str
        ``<svg ...>`` markup with ``data-cells`` (the number of cells drawn).
    """
    left, right, top, bottom = 48, 12, 28, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = svg_open(title, width, height, cells=len(cells))
    if not cells:
        parts.append(placeholder(width / 2, height / 2, "No results yet"))
        return "".join(parts)

    y_of = linear_y(-1.0, 1.0, top, plot_h)
    parts += y_grid((-1.0, -0.5, 0.0, 0.5, 1.0), y_of, left, plot_w, axis_at_zero=True)
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}"/>')
    group_w = plot_w / len(cells)
    bar_w = min(28.0, group_w / 3)
    for i, cell in enumerate(cells):
        x0 = left + i * group_w + group_w / 2 - bar_w
        label = f"{_SHORT.get(cell['protocol'], cell['protocol'])} {_SHORT.get(cell['prompting'], cell['prompting'])}"
        for k, (name, css) in enumerate((("srcc", "dot"), ("plcc", "errbar"))):
            value = cell.get(name)
            if value is None:
                continue
            x = x0 + k * bar_w
            y, zero = y_of(value), y_of(0.0)
            tip = f"{label}: {name.upper()} {value:.3f}"
            if name == "srcc" and cell.get("srcc_low") is not None:
                tip += f" [{cell['srcc_low']:.3f}, {cell['srcc_high']:.3f}]"
            parts.append(f'<g class="point bar-{name}"><title>{escape(tip)}</title>')
            parts.append(
                f'<rect class="bar {css}" x="{x + 1:.1f}" y="{min(y, zero):.1f}" width="{bar_w - 2:.1f}" height="{abs(zero - y):.1f}"/>'
            )
            if name == "srcc" and cell.get("srcc_low") is not None:
                cx = x + bar_w / 2
                parts.append(
                    f'<line class="errbar" x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_of(cell["srcc_high"]):.1f}" y2="{y_of(cell["srcc_low"]):.1f}"/>'
                )
            parts.append("</g>")
        parts.append(
            f'<text class="tick" x="{left + (i + 0.5) * group_w:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        x_title("Left bar SRCC (line: bootstrap 95% interval), right bar PLCC after the 4-parameter logistic", left + plot_w / 2, height - 8)
    )
    parts.append("</svg>")
    return "".join(parts)
