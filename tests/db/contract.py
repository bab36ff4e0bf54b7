"""Checks behind tests/db/test_openapi_contract.py: a route's declared model, untyped schema spots, and
whether an answer is exactly what the model says (validates and dumps back to the same JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError

from pandawms.protocol.envelope import Envelope

Schema = dict[str, Any]
_TYPED_KEYS = ("type", "$ref", "anyOf", "oneOf", "allOf", "enum", "const")


def operations(spec: Schema) -> set[tuple[str, str]]:
    """(METHOD, path) of every GET and POST operation in the spec."""
    return {
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if method in ("get", "post")
    }


def response_model(app: FastAPI, method: str, path: str) -> Any:
    """The ``response_model`` of the route serving (method, path), prefixes of included routers applied."""
    for ctx in iter_route_contexts(app.routes):
        if (
            isinstance(ctx.original_route, APIRoute)
            and ctx.path_format == path
            and method in (ctx.methods or ())
        ):
            return ctx.response_model
    raise AssertionError(f"{method} {path} is in the spec but no APIRoute serves it")


def declared_component(spec: Schema, method: str, path: str) -> str | None:
    """Name of the component the spec advertises for the JSON 200 answer, or None."""
    op = spec["paths"][path][method.lower()]
    schema = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    ref = schema.get("schema", {}).get("$ref")
    return str(ref).rsplit("/", 1)[-1] if ref else None


def model_problems(app: FastAPI, spec: Schema, method: str, path: str) -> list[str]:
    """The route must declare a pydantic response model and the spec must advertise exactly that model."""
    model = response_model(app, method, path)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return [f"{method} {path}: no pydantic response_model (got {model!r})"]
    name = declared_component(spec, method, path)
    if name is None:
        return [f"{method} {path}: the spec advertises no application/json schema for 200"]
    title = spec["components"]["schemas"][name].get("title")
    if title != model.__name__:
        return [f"{method} {path}: spec advertises {name} (title {title!r}), route declares {model.__name__}"]
    return []


def untyped(schema: Schema, components: Schema, where: str, seen: set[str] | None = None) -> list[str]:
    """Locations in ``schema`` that accept anything: ``object``/``Any`` values, ``dict[str, object]``,
    models with ``extra='allow'``. ``$ref`` components are followed once each."""
    seen = set() if seen is None else seen
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return untyped(components[name], components, name, seen)
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += untyped(sub, components, where, seen)
    if not any(k in schema for k in _TYPED_KEYS):
        return [where]
    for prop, sub in schema.get("properties", {}).items():
        found += untyped(sub, components, f"{where}.{prop}", seen)
    extra = schema.get("additionalProperties")
    if extra is True or extra == {}:
        found.append(f"{where}.*")
    elif isinstance(extra, dict):
        found += untyped(extra, components, f"{where}.*", seen)
    if schema.get("type") == "array":
        items = schema.get("items")
        found += [f"{where}[]"] if not items else untyped(items, components, f"{where}[]", seen)
    return found


def data_type(model: type[BaseModel]) -> Any:
    """T of ``Envelope[T]``; the model itself for non-envelope answers (the monitor's JSON twins)."""
    if issubclass(model, Envelope):
        args = model.__pydantic_generic_metadata__["args"]
        assert args, f"{model.__name__}: a bare Envelope says nothing about its data"
        return args[0]
    return model


def answer_problems(model: type[BaseModel], body: Any) -> list[str]:
    """Whether ``body`` (decoded JSON) is exactly an answer of ``model``: envelope keys, then the data
    validates and dumps back unchanged (no unknown keys, no coerced values)."""
    data = body
    if issubclass(model, Envelope):
        if not isinstance(body, dict) or set(body) != {"success", "message", "data"}:
            return [f"not an envelope: {str(body)[:200]}"]
        if body["success"] is not True or body["data"] is None:
            return [f"success={body['success']!r}, data={body['data']!r}: {body['message']}"]
        data = body["data"]
    adapter: TypeAdapter[Any] = TypeAdapter(data_type(model))
    try:
        value = adapter.validate_python(data)
    except ValidationError as exc:
        return [f"does not validate as {model.__name__}: {exc}"]
    again = adapter.dump_python(value, mode="json", by_alias=True)
    if again != data:
        return [f"differs from {model.__name__} after a round trip: sent {data!r}, model gives {again!r}"]
    return []
