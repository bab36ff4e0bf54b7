"""The monitor's look of an error category: colours from errors.md §6 with the catalog's name and advice."""

from __future__ import annotations

import re

import pytest

from pandawms.monitor.common import error_entry
from pandawms.monitor.error_style import CATEGORY_COLOURS, category_style
from pandawms.protocol.errorcodes import ErrorCategory, category_info

REFERENCE_COLOURS = {
    0: ("#bdbdbd", "#898989"),
    1: ("#f1e8ff", "#934fff"),
    2: ("#ffc2bc", "#b22222"),
    3: ("#d9efef", "#099999"),
    4: ("#fff1aa", "#deb900"),
    5: ("#e6f0f6", "#2174bb"),
    6: ("#fecfa6", "#e67300"),
}


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_every_category_has_colours_name_and_advice(category: ErrorCategory) -> None:
    style = category_style(category)
    info = category_info(category)
    assert style.category is category
    assert (style.name, style.advice) == (info.name, info.advice)
    assert style.name and style.advice
    assert (style.fill, style.strong) == REFERENCE_COLOURS[int(category)]
    assert re.fullmatch(r"#[0-9a-f]{6}", style.fill) and re.fullmatch(r"#[0-9a-f]{6}", style.strong)


def test_colours_cover_the_categories_and_tell_them_apart() -> None:
    assert set(CATEGORY_COLOURS) == set(ErrorCategory)
    assert len(set(CATEGORY_COLOURS.values())) == len(ErrorCategory)
    assert category_style(4) == category_style(ErrorCategory.TERMINATION)
    with pytest.raises(ValueError):
        category_style(7)


def test_an_error_entry_carries_the_style_of_its_category() -> None:
    entry = error_entry("pilot", 1305)  # PAYLOADEXECUTIONFAILURE: runtime
    assert (entry.acronym, entry.category) == ("PAYLOADEXECUTIONFAILURE", int(ErrorCategory.RUNTIME))
    assert (entry.fill, entry.strong) == REFERENCE_COLOURS[2]
    assert entry.category_name == "Runtime Failures and Resource Violations"
    assert "stdout/stderr" in entry.advice
    unknown = error_entry("pilot", 9999)
    assert (unknown.category_name, unknown.fill) == ("Uncategorized", "#bdbdbd")
