"""Typed TOML tables: each field's type, minimum and TOML key are checked; errors name file, place, field."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pandawms.factory.tables import Where, fill


@dataclass(frozen=True, slots=True)
class Sample:
    count: int = field(default=1, metadata={"min": 1})
    grace: float = 2.0
    flag: bool = False
    folder: Path | None = None
    args: tuple[str, ...] = ()
    label: str | None = field(default=None, metadata={"name": "tag"})


WHERE = Where("f.toml", 'queue "Q"')


def test_every_supported_type_is_read() -> None:
    raw = {"count": 3, "grace": 1, "flag": True, "folder": "~/x", "args": ["--a", "b"], "tag": "managed"}
    got = fill(Sample(), raw, WHERE, "backend")
    assert got == Sample(3, 1.0, True, Path("~/x").expanduser(), ("--a", "b"), "managed")
    assert isinstance(got.grace, float)


def test_missing_keys_keep_the_base_values() -> None:
    base = Sample(count=5)
    assert fill(base, {"flag": True}, WHERE, "backend") == Sample(count=5, flag=True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"count": 0}, "backend.count: must be >= 1, got 0"),
        ({"count": 1.5}, "backend.count: must be an integer"),
        ({"grace": "soon"}, "backend.grace: must be a number"),
        ({"flag": 1}, "backend.flag: must be true or false"),
        ({"args": "--a"}, "backend.args: must be a list of strings"),
        ({"args": ["--a", 3]}, "backend.args: must be a non-empty string"),
        ({"label": "x"}, "backend.label: unknown field (known: args, count, flag, folder, grace, tag)"),
    ],
)
def test_bad_values_name_file_place_and_field(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as err:
        fill(Sample(), raw, WHERE, "backend")
    assert str(err.value).startswith(f'f.toml: queue "Q": {message}')


def test_not_a_table() -> None:
    with pytest.raises(ValueError) as err:
        fill(Sample(), 3, WHERE, "backend")
    assert str(err.value) == 'f.toml: queue "Q": backend: must be a table, got 3'
