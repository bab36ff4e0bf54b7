"""How the monitor shows an error category (reference errors.md §6): its fill and strong colours, with the
catalog's name and advice, so one lookup gives a page everything it draws for a category."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pandawms.protocol.errorcodes import ErrorCategory, category_info, describe

_C = ErrorCategory

# (fill, strong) per category: the fill behind the label, the strong colour for its border.
CATEGORY_COLOURS: Mapping[ErrorCategory, tuple[str, str]] = MappingProxyType(
    {
        _C.UNCATEGORIZED: ("#bdbdbd", "#898989"),
        _C.FILE_STORAGE: ("#f1e8ff", "#934fff"),
        _C.RUNTIME: ("#ffc2bc", "#b22222"),
        _C.NETWORK: ("#d9efef", "#099999"),
        _C.TERMINATION: ("#fff1aa", "#deb900"),
        _C.SOFTWARE: ("#e6f0f6", "#2174bb"),
        _C.INTERNAL: ("#fecfa6", "#e67300"),
    }
)


@dataclass(frozen=True, slots=True)
class CategoryStyle:
    category: ErrorCategory
    name: str
    fill: str
    strong: str
    advice: str


def category_style(category: ErrorCategory | int) -> CategoryStyle:
    """Name, colours and advice of a category; ValueError for a number outside the categories."""
    info = category_info(category)
    fill, strong = CATEGORY_COLOURS[info.category]
    return CategoryStyle(info.category, info.name, fill, strong, info.advice)


def shade(colour: str, k: int) -> str:
    """``colour`` (#rrggbb) mixed with white by k x 30 % (at most 60 %): the k-th code of one category."""
    mix = min(k, 2) * 0.3
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * mix):02x}" for c in rgb)


def code_colours(labels: list[str]) -> dict[str, str]:
    """Chart colours of ``component:code`` labels: their category's strong colour (the border of its
    badge), lighter for the second and third code of a category; "Other" grey."""
    seen: dict[ErrorCategory, int] = {}
    out: dict[str, str] = {}
    for label in labels:
        comp, _, code = label.partition(":")
        try:
            category = describe(comp, int(code)).category
        except ValueError:
            category = _C.UNCATEGORIZED
        k = seen.get(category, 0)
        seen[category] = k + 1
        out[label] = shade(CATEGORY_COLOURS[category][1], k)
    return out
