"""``did you mean coreCount?`` for an unknown field: the wire names of the model at an error's location.

Used by the server's 422/400 answers and by the CLI's client-side checks, so both suggest the same
names. Pure: a pydantic model and one error of ``ValidationError.errors()``."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

_WRAPPERS = (list, tuple, set, frozenset, Sequence)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold: ``X``, ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType) or origin in _WRAPPERS or origin is dict:
        args = typing.get_args(annotation)
        if origin is dict:
            args = args[1:]
        return [m for arg in args for m in _models_in(arg)]
    return []


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.annotation
    return None


def model_at(model: type[BaseModel], path: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that holds the last element of ``path`` (list indexes and dict keys are stepped over)."""
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        annotation = _field(current, part)
        if annotation is None:  # a dict key or an unknown name: stay if the model maps keys to models
            continue
        found = _models_in(annotation)
        current = found[0] if found else None
    return current


def wire_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def did_you_mean(model: type[BaseModel] | None, err: Mapping[str, Any], *, skip: int = 0) -> str:
    """`` - did you mean coreCount?`` when ``err`` is pydantic's ``extra_forbidden`` and a known field of
    the model at its location is close; ``skip`` drops leading location parts (FastAPI's ``body``)."""
    loc = tuple(err.get("loc", ()))[skip:]
    if model is None or err.get("type") != "extra_forbidden" or not loc:
        return ""
    holder = model_at(model, loc[:-1])
    if holder is None:
        return ""
    by_lower = {n.lower(): n for n in wire_names(holder)}
    exact = by_lower.get(str(loc[-1]).lower())
    if exact is not None:  # only the case differs
        return f" - did you mean {exact}?"
    close = difflib.get_close_matches(str(loc[-1]).lower(), list(by_lower), n=3, cutoff=0.5)
    return f" - did you mean {' or '.join(by_lower[c] for c in close)}?" if close else ""
