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


def _nice_max(v: int) -> int:
    if v <= 4:
        return 4
    mag = 10 ** int(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return int(m * mag)
    return v


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


def _axes(top: int, plot_h: int) -> list[str]:
    out = []
    for i in range(5):
        y = TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 3:.1f}" class="ax" text-anchor="end">{top * i // 4:,}</text>'
        )
    return out


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
    top = _nice_max(max(totals))
    parts += _axes(top, plot_h) + _legend(chart)
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
            lx = x + bar / 2
            parts.append(
                f'<text x="{lx:.1f}" y="{TOP + plot_h + 14}" class="ax" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
