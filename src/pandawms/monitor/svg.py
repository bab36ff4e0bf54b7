"""Server-side SVG charts: stacked bars over time bins or histogram bins, with legend and hover titles.

Drawn on the server so pages work offline, need no JavaScript library, and a live refresh of a page
region redraws its charts with the same code. Every text is escaped.
"""

from __future__ import annotations

import math
from html import escape

from pandawms.monitor.models import Chart

W, H = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 30, 40


def nice_ticks(v: int, most: int = 5) -> tuple[int, int]:
    """(step, top) for a count axis: a 1/2/5 x 10^k step, ``top`` the first multiple >= v, at most
    ``most`` steps (0/10/20/30/40, never 0/12/25/37)."""
    v = max(v, 1)
    mag = 1
    while True:
        for m in (1, 2, 5):
            step = m * mag
            if math.ceil(v / step) <= most:
                return step, step * math.ceil(v / step)
        mag *= 10


def _legend(chart: Chart) -> list[str]:
    """One row of swatches; series that do not fit are named in a "+N more" entry (hover lists them)."""
    out: list[str] = []
    x = float(LEFT)
    more_width = 60.0
    for i, s in enumerate(chart.series):
        width = 22 + 6.2 * len(s.name)
        last = i == len(chart.series) - 1
        if x + width > W - (0 if last else more_width):
            rest = chart.series[i:]
            names = escape(", ".join(r.name for r in rest))
            out.append(
                f'<text x="{x:.1f}" y="17" class="lg more"><title>{names}</title>+{len(rest)} more</text>'
            )
            break
        out.append(f'<rect x="{x:.1f}" y="8" width="10" height="10" fill="{escape(s.color)}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="17" class="lg">{escape(s.name)}</text>')
        x += width
    return out


def _axes(step: int, top: int, plot_h: int) -> list[str]:
    out = []
    for value in range(0, top + 1, step):
        y = TOP + plot_h - plot_h * value / top
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y + 3:.1f}" class="ax" text-anchor="end">{value:,}</text>')
    return out


def _label_x(center: float, label: str) -> float:
    """A label's centre, moved in so that no label is cut at either edge (~6 px per character)."""
    half = len(label) * 3 + 1
    return min(max(center, LEFT + half - 8), W - 1 - half)


def render(chart: Chart) -> str:
    """The chart as an inline <svg> element."""
    n = len(chart.labels)
    totals = [sum(s.values[i] for s in chart.series) for i in range(n)]
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    parts = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(chart.title)}" '
        f'data-chart="{escape(chart.name)}">'
    ]
    if not n or not any(totals):
        parts.append(f'<text x="{W / 2}" y="{H / 2}" class="empty" text-anchor="middle">no data</text></svg>')
        return "".join(parts)
    step_y, top = nice_ticks(max(totals))
    parts += _axes(step_y, top, plot_h) + _legend(chart)
    slot = plot_w / n
    bar = max(slot * 0.8, 1.0)
    longest = max(len(label) for label in chart.labels)
    step = max(1, math.ceil(n * (longest * 6 + 12) / plot_w))  # labels ~6 px per character apart
    for i, label in enumerate(chart.labels):
        x = LEFT + i * slot + (slot - bar) / 2
        y = float(TOP + plot_h)
        for s in chart.series:
            v = s.values[i]
            if not v:
                continue
            h = plot_h * v / top
            y -= h
            tip = escape(f"{label} - {s.name}: {v:,} {chart.unit}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{escape(s.color)}">'
                f"<title>{tip}</title></rect>"
            )
        if i % step == 0:
            lx = _label_x(x + bar / 2, label)
            parts.append(
                f'<text x="{lx:.1f}" y="{TOP + plot_h + 14}" class="ax" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
