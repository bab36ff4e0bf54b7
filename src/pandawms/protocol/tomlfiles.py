"""Reading the operator's TOML files (queues, RSEs): arrays of tables validated entry by entry.

Errors name the file, the entry (index and name) and the field, so a bad edit is easy to find.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError


class _Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Named)
M = TypeVar("M", bound=BaseModel)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The file's tables; ValueError naming ``what`` (e.g. "queue file") and the file when unreadable."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from exc


def table_specs(
    path: Path, data: dict[str, Any], key: str, model: type[M], to_spec: Callable[[M], S], label: str
) -> list[S]:
    """Validate the ``[[key]]`` tables with ``model`` into specs with unique names (``label`` names them)."""
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise ValueError(f"{path}: '{key}' must be an array of tables ([[{key}]])")
    specs: list[S] = []
    for i, entry in enumerate(entries):
        try:
            specs.append(to_spec(model.model_validate(entry)))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or key
            name = entry.get("name", "?") if isinstance(entry, dict) else "?"
            raise ValueError(f"{path}: {key} #{i + 1} ({name}): {field}: {err['msg']}") from None
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate {label} name(s): {', '.join(dupes)}")
    return specs
