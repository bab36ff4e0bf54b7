"""Typed TOML tables: a frozen dataclass filled from one table, each value checked against its field.

A field's TOML key is ``metadata["name"]`` (default: the field name) and ``metadata["min"]`` its smallest
value. Errors name the file, the place in it and the field (``factory.toml: queue "Q": backend.x: ...``),
so a mistyped queue is a loud error at start instead of a silently dropped queue (factory.md §8 #9).
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Set
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class Where:
    """Builds error messages that name the file, the place in it and the field (under ``prefix``)."""

    def __init__(self, path: Path | str, place: str, prefix: str = "") -> None:
        self.path = path
        self.place = place
        self.prefix = prefix

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.path}: {self.place}: {self.prefix}{key}: {problem}")

    def within(self, key: str) -> Where:
        """The place of the sub-table ``key`` (``backend.`` fields of a queue)."""
        return Where(self.path, self.place, f"{self.prefix}{key}.")


def toml_key(f: Field[Any]) -> str:
    key: str = f.metadata.get("name", f.name)
    return key


def fill(base: T, raw: object, where: Where, key: str, *, skip: Set[str] = frozenset()) -> T:
    """``base`` with the values of the TOML table ``raw`` found at ``key`` (keys in ``skip`` are the
    caller's)."""
    table = table_of(raw, where, key)
    inner = where.within(key)
    hints = get_type_hints(type(base))
    by_key = {toml_key(f): f for f in fields(base) if toml_key(f) not in skip}
    no_unknown(table, set(by_key) | set(skip), inner)
    values = {}
    for name, value in table.items():
        if name not in skip:
            f = by_key[name]
            values[f.name] = value_of(hints[f.name], value, name, inner, f.metadata.get("min"))
    return replace(base, **values)


def table_of(value: object, where: Where, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise where.error(key, f"must be a table, got {value!r}")
    return value


def no_unknown(table: Mapping[str, Any], known: Set[str], where: Where) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise where.error(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")


def value_of(kind: object, value: object, key: str, where: Where, minimum: float | None) -> object:
    """``value`` checked as a ``kind``: bool, int, float, str, Path, tuple[str, ...], or one of them | None"""
    kind = _not_none(kind, key, where)
    if kind is bool:
        if not isinstance(value, bool):
            raise where.error(key, f"must be true or false, got {value!r}")
        return value
    if kind is int:
        return integer(value, key, where, minimum=minimum)
    if kind is float:
        return number(value, key, where, minimum=minimum)
    if kind is str:
        return text(value, key, where)
    if kind is Path:
        return Path(text(value, key, where)).expanduser()
    if get_origin(kind) is tuple and get_args(kind) == (str, ...):
        if not isinstance(value, list):
            raise where.error(key, f"must be a list of strings, got {value!r}")
        return tuple(text(item, key, where) for item in value)
    raise TypeError(f"{where.place}: {where.prefix}{key}: a {kind!r} field cannot be read from TOML")


def _not_none(kind: object, key: str, where: Where) -> object:
    """X for ``X | None`` (TOML has no null, so a value that is given is an X); other kinds unchanged."""
    if get_origin(kind) is not types.UnionType:
        return kind
    kinds = [k for k in get_args(kind) if k is not type(None)]
    if len(kinds) != 1:
        raise TypeError(f"{where.place}: {where.prefix}{key}: a {kind} field cannot be read from TOML")
    return kinds[0]


def text(value: object, key: str, where: Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def integer(value: object, key: str, where: Where, *, minimum: float | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(key, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise where.error(key, f"must be >= {minimum}, got {value}")
    return value


def number(value: object, key: str, where: Where, *, minimum: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(key, f"must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise where.error(key, f"must be >= {minimum}, got {value}")
    return float(value)
