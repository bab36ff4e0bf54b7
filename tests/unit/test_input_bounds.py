"""Every number a client may send is bounded: an integer the task buffer cannot store, an id that is not
positive or a time window of 1e308 hours is bad input (a 4xx naming the field), never a 500. The spec is
the contract, so the bounds are checked where clients read them: in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pandawms.config import ServerConfig
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.server.app import create_app


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d: Path = tmp_path_factory.mktemp("spec")
    app = create_app(ServerConfig(agents=False, db_url=f"sqlite:///{d / 'x.db'}", data_dir=d))
    doc: dict[str, Any] = app.openapi()
    return doc


def _numbers(schema: Any, where: str, comps: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, Any]]:
    """Every integer or number schema reachable from ``schema``, with a path naming where it is."""
    if isinstance(schema, list):
        for item in schema:
            yield from _numbers(item, where, comps, seen)
    elif isinstance(schema, dict):
        yield from _numbers_in(schema, where, comps, seen)


def _numbers_in(
    schema: dict[str, Any], where: str, comps: dict[str, Any], seen: set[str]
) -> Iterator[tuple[str, Any]]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.split("/")[-1]
        if name not in seen:
            seen.add(name)
            yield from _numbers(comps[name], name, comps, seen)
        return
    if schema.get("type") in ("integer", "number"):
        yield where, schema
    for prop, sub in schema.get("properties", {}).items():
        yield from _numbers(sub, f"{where}.{prop}", comps, seen)
    yield from _numbers(schema.get("items"), f"{where}[]", comps, seen)
    for key in ("anyOf", "oneOf", "allOf", "additionalProperties"):
        yield from _numbers(schema.get(key), where, comps, seen)


def _client_numbers(spec: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    comps = spec["components"]["schemas"]
    seen: set[str] = set()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for param in op.get("parameters", []):
                yield from _numbers(param.get("schema", {}), f"{method} {path} {param['name']}", comps, seen)
            body = op.get("requestBody", {}).get("content", {})
            for media in body.values():
                yield from _numbers(media.get("schema", {}), f"{method} {path} body", comps, seen)


def test_every_number_a_client_sends_has_both_bounds_within_the_task_buffer(spec: dict[str, Any]) -> None:
    unbounded = []
    for where, schema in _client_numbers(spec):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        # the spec renders 2**63 - 1 as the float 2**63 (JSON numbers are doubles): compare as floats
        if low is None or high is None or high > float(BIGINT_MAX) or low < -float(BIGINT_MAX):
            unbounded.append(f"{where}: {schema}")
    assert not unbounded, "unbounded numbers:\n" + "\n".join(unbounded)


def test_ids_are_positive(spec: dict[str, Any]) -> None:
    bad = [
        f"{where}: {schema}"
        for where, schema in _client_numbers(spec)
        if where.rsplit(" ", 1)[-1].split(".")[-1].rstrip("[]").lower().endswith(("_id", "_ids", "id", "tid"))
        and schema.get("type") == "integer"
        and schema.get("minimum", 0) < 1
        and not where.endswith(("before_id", "after"))
    ]
    assert not bad, "ids must be >= 1:\n" + "\n".join(bad)
