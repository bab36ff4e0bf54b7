"""Global shares: a nested tree of target fractions, the leaf a task or job belongs to, and which leaves
are the most under-served (scheduling.md §8; the dispatcher's share order is §7 step 2).

Regexes match whole attribute values (``re.fullmatch``) so "test" does not also catch "ptest". Usage is any
additive measure per leaf (running cores, executing HS06); orders are deterministic (ties by name).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from pandawms.core.errors import InvalidInput

_SUM_SLACK = 1e-9
_FILTERS = ("label", "working_group", "user")


def _check_regex(pattern: str | None, field: str) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"{field} {pattern!r} is not a valid regex: {exc}", field=field) from None


@dataclass(frozen=True, slots=True)
class Share:
    """One node of the share tree; a node without children is a leaf that tasks and jobs are mapped to."""

    name: str
    fraction: float  # of the parent (0..1); the root's own fraction is ignored
    label: str | None = None  # regex on prodSourceLabel
    working_group: str | None = None  # regex
    user: str | None = None  # regex
    children: tuple[Share, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("a share needs a name", field="name")
        if not 0 <= self.fraction <= 1:
            raise InvalidInput(f"fraction must be in [0, 1], got {self.fraction}", field="fraction")
        for key in _FILTERS:
            _check_regex(getattr(self, key), key)
        total = sum(c.fraction for c in self.children)
        if total > 1 + _SUM_SLACK:
            raise InvalidInput(
                f"fractions of the children of {self.name!r} sum to {total:g} > 1", field="children"
            )
        seen: set[str] = set()
        for node in _walk(self):
            if node.name in seen:
                raise InvalidInput(f"duplicate share name {node.name!r}", field="children")
            seen.add(node.name)

    def accepts(self, label: str, working_group: str, user: str) -> bool:
        """True when every filter this node sets matches the whole attribute value."""
        values = (label, working_group, user)
        return all(
            pattern is None or re.fullmatch(pattern, value) is not None
            for pattern, value in zip((self.label, self.working_group, self.user), values, strict=True)
        )


def _walk(node: Share) -> Iterator[Share]:
    yield node
    for child in node.children:
        yield from _walk(child)


DEFAULT_TREE = Share(
    "root",
    1.0,
    children=(
        Share("production", 0.7, label="managed|test|ptest|prod_test|install"),
        Share("analysis", 0.3, label="user|panda"),  # panda: the users' build jobs
    ),
)


def _leaf_paths(
    node: Share, fraction: float, path: tuple[Share, ...]
) -> Iterator[tuple[Share, float, tuple[Share, ...]]]:
    """Leaves depth first with their absolute target fraction and the nodes from the root down to them."""
    path = (*path, node)
    if not node.children:
        yield node, fraction, path
    for child in node.children:
        yield from _leaf_paths(child, fraction * child.fraction, path)


def leaves(tree: Share) -> list[tuple[str, float]]:
    """Every leaf, depth first, with its absolute target: the product of the fractions below the root."""
    return [(leaf.name, target) for leaf, target, _ in _leaf_paths(tree, 1.0, ())]


def leaf_for(tree: Share, label: str, working_group: str, user: str) -> str:
    """The first leaf (depth first) whose node and every ancestor accept the attributes.

    Catch-all: a task or job no leaf accepts goes to the tree's last leaf (in DEFAULT_TREE "analysis"),
    so nothing is ever left without a share.
    """
    last = tree.name
    for leaf, _, path in _leaf_paths(tree, 1.0, ()):
        if all(node.accepts(label, working_group, user) for node in path):
            return leaf.name
        last = leaf.name
    return last


def _usage(node: Share, usage: Mapping[str, float]) -> float:
    if not node.children:
        return max(0.0, usage.get(node.name, 0.0))
    return sum(_usage(c, usage) for c in node.children)


def _ordered(node: Share, usage: Mapping[str, float]) -> list[str]:
    if not node.children:
        return [node.name]
    total = _usage(node, usage)

    def key(child: Share) -> tuple[bool, float, str]:
        used = _usage(child, usage) / total if total > 0 else 0.0
        ratio = used / child.fraction if child.fraction > 0 else math.inf
        return child.fraction == 0, ratio, child.name

    return [leaf for child in sorted(node.children, key=key) for leaf in _ordered(child, usage)]


def order(tree: Share, usage: Mapping[str, float]) -> list[str]:
    """Leaves most under-served first: at each level the child with the lowest usage share / target comes
    first with all its leaves (recursively), ties by name; leaves with an absolute target of 0 go last.

    ``usage`` maps leaf names to a non-negative measure; unknown names are ignored, missing leaves count 0.
    """
    targets = dict(leaves(tree))
    ranked = _ordered(tree, usage)
    return [n for n in ranked if targets[n] > 0] + [n for n in ranked if targets[n] <= 0]


def under_served(tree: Share, usage: Mapping[str, float]) -> dict[str, float]:
    """For the monitor: each leaf's usage share / absolute target (< 1 is under-served, 1 on target).

    0 when nothing is used at all; a leaf with target 0 shows 0 when idle and infinity when it runs work.
    """
    targets = leaves(tree)
    used = {name: max(0.0, usage.get(name, 0.0)) for name, _ in targets}
    total = sum(used.values())
    out: dict[str, float] = {}
    for name, target in targets:
        share = used[name] / total if total > 0 else 0.0
        out[name] = share / target if target > 0 else (math.inf if share > 0 else 0.0)
    return out


# --- the TOML-shaped configuration ------------------------------------------------------------------------

_KEYS = {"name", "fraction", "children", *_FILTERS}


def _string(data: Mapping[str, object], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{path}.{key}: must be a string, got {value!r}", field=f"{path}.{key}")
    return value


def _fraction(data: Mapping[str, object], path: str, default: float | None) -> float:
    value = data.get("fraction", default)
    if value is None:
        raise InvalidInput(f"{path}.fraction: required", field=f"{path}.fraction")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{path}.fraction: must be a number, got {value!r}", field=f"{path}.fraction")
    return float(value)


def _children(data: Mapping[str, object], path: str, seen: set[str]) -> tuple[Share, ...]:
    raw = data.get("children", [])
    if not isinstance(raw, list | tuple):
        raise InvalidInput(f"{path}.children: must be a list of tables", field=f"{path}.children")
    return tuple(_parse(item, f"{path}.children[{i}]", seen, None) for i, item in enumerate(raw))


def _parse(data: object, path: str, seen: set[str], default_name: str | None) -> Share:
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{path}: must be a table, got {type(data).__name__}", field=path)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}: unknown field", field=f"{path}.{unknown[0]}")
    name = _string(data, "name", path) or default_name
    if not name:
        raise InvalidInput(f"{path}.name: required", field=f"{path}.name")
    if name in seen:
        raise InvalidInput(f"{path}.name: duplicate share name {name!r}", field=f"{path}.name")
    seen.add(name)
    fraction = _fraction(data, path, 1.0 if default_name else None)
    filters = {key: _string(data, key, path) for key in _FILTERS}
    children = _children(data, path, seen)
    try:
        return Share(name, fraction, filters["label"], filters["working_group"], filters["user"], children)
    except InvalidInput as exc:  # the node's own checks: prefix its path
        raise InvalidInput(f"{path}.{exc.field}: {exc}", field=f"{path}.{exc.field}") from None


def parse_shares(data: Mapping[str, object], where: str) -> Share:
    """Build the tree from a TOML-shaped table: the root (``name`` default "root") with nested
    ``[[children]]`` tables of ``name``, ``fraction`` and optional ``label``, ``working_group``, ``user``
    regexes. Fractions in [0, 1], sibling fractions sum to at most 1, names unique in the whole tree;
    InvalidInput names the path, e.g. ``shares.children[1].fraction``.
    """
    return _parse(data, where, set(), "root")
