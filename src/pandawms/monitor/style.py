"""How the monitor shows things: state colours (reference A9), chart palette, durations and sizes."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pandawms.protocol.display import STATE_FILL, STATE_ORDER, format_duration, state_fill

__all__ = ["STATE_CHART", "STATE_FILL", "STATE_ORDER", "chart_color", "state_fill"]

# A stronger line colour per state for charts (the fills are too pale to tell apart in a stack).
STATE_CHART: Mapping[str, str] = MappingProxyType(
    {
        "finished": "#5a9e2f",
        "failed": "#e0574a",
        "running": "#8fcf63",
        "holding": "#f2c230",
        "transferring": "#6fbf7f",
        "cancelled": "#f39c12",
        "closed": "#9e9e9e",
        "activated": "#7fb8d8",
        "sent": "#f7d774",
        "starting": "#b5dd8f",
        "defined": "#a9c4dc",
        "assigned": "#8fd0d0",
        "waiting": "#e8dcb0",
    }
)
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#8cd17d",
)
OTHER_COLOR = "#cfcfcf"


def chart_color(name: str, index: int) -> str:
    if name in STATE_CHART:
        return STATE_CHART[name]
    if name == "Other":
        return OTHER_COLOR
    return PALETTE[index % len(PALETTE)]


def duration(seconds: int | float | None) -> str:
    """The CLI's format (protocol.display): "1:02:03", "2d 01:02:03"; empty for unknown."""
    return format_duration(seconds)


def size(n: int | float | None, unit: str = "B") -> str:
    """Human size: 1536 -> "1.5 kB" (unit "kB" means the value is already in kB)."""
    if n is None:
        return ""
    value = float(n)
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = units.index(unit)
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.0f} {units[i]}" if i == 0 or value >= 100 else f"{value:.1f} {units[i]}"


def count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def rate_class(rate: float | None) -> str:
    """CSS class for a failure rate: warning 10-20 %, alert above 20 % (reference A7)."""
    if rate is None:
        return ""
    return "alert" if rate > 20 else "warn" if rate >= 10 else "ok"
