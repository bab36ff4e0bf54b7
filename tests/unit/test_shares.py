"""Global shares (scheduling.md §8): leaf mapping, absolute targets, under-served order, TOML parsing."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pandawms.core.errors import InvalidInput
from pandawms.core.shares import DEFAULT_TREE, Share, leaf_for, leaves, order, parse_shares, under_served

TREE = Share(
    "root",
    1.0,
    children=(
        Share(
            "prod",
            0.6,
            label="managed",
            children=(
                Share("mc", 0.5, working_group="AP_MC.*"),
                Share("reprocessing", 0.3, working_group="AP_REPRO"),
                Share("prod-other", 0.2),
            ),
        ),
        Share(
            "analysis",
            0.4,
            label="user",
            children=(Share("vip", 0.25, user="alice|bob"), Share("users", 0.75)),
        ),
        Share("frozen", 0.0, label="test"),
    ),
)


def test_leaves_have_absolute_targets() -> None:
    got = dict(leaves(TREE))
    assert list(got) == ["mc", "reprocessing", "prod-other", "vip", "users", "frozen"]
    assert got == pytest.approx(
        {"mc": 0.3, "reprocessing": 0.18, "prod-other": 0.12, "vip": 0.1, "users": 0.3, "frozen": 0.0}
    )
    assert leaves(DEFAULT_TREE) == [("production", 0.7), ("analysis", 0.3)]
    assert leaves(Share("solo", 1.0)) == [("solo", 1.0)]


@pytest.mark.parametrize(
    ("label", "wg", "user", "leaf"),
    [
        pytest.param("managed", "AP_MC_2024", "prodsys", "mc", id="prod-mc"),
        pytest.param("managed", "AP_REPRO", "prodsys", "reprocessing", id="prod-repro"),
        pytest.param("managed", "AP_HIGGS", "prodsys", "prod-other", id="prod-fallthrough"),
        pytest.param("user", "", "alice", "vip", id="vip"),
        pytest.param("user", "", "alicex", "users", id="regex-is-anchored"),
        pytest.param("test", "", "x", "frozen", id="zero-share-still-maps"),
        pytest.param("install", "", "x", "frozen", id="catch-all-last-leaf"),
    ],
)
def test_leaf_for(label: str, wg: str, user: str, leaf: str) -> None:
    assert leaf_for(TREE, label, wg, user) == leaf


@pytest.mark.parametrize(
    ("label", "leaf"),
    [("managed", "production"), ("test", "production"), ("ptest", "production"), ("user", "analysis"),
     ("panda", "analysis"), ("gangarobot", "analysis")],
)  # fmt: skip
def test_default_tree(label: str, leaf: str) -> None:
    assert leaf_for(DEFAULT_TREE, label, "", "") == leaf


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        pytest.param({}, ["analysis", "production"], id="idle-ties-by-name"),
        pytest.param(
            {"production": 70, "analysis": 30}, ["analysis", "production"], id="on-target-ties-by-name"
        ),
        pytest.param({"production": 90, "analysis": 10}, ["analysis", "production"], id="analysis-starved"),
        pytest.param({"production": 50, "analysis": 50}, ["production", "analysis"], id="production-starved"),
        pytest.param({"production": 10, "ghost": 1000}, ["analysis", "production"], id="unknown-ignored"),
    ],
)
def test_order_default_tree(usage: dict[str, float], expected: list[str]) -> None:
    assert order(DEFAULT_TREE, usage) == expected


def test_order_is_recursive_and_zero_targets_go_last() -> None:
    # analysis uses 10 % of the cores for a 40 % target: all its leaves come first, vip before users
    # (vip idle); inside prod mc is above target (80 of 90), reprocessing (5 of 90 for 30 %) is further
    # below its target than prod-other (5 of 90 for 20 %)
    usage = {"mc": 80.0, "reprocessing": 5.0, "prod-other": 5.0, "users": 10.0, "frozen": 0.0}
    assert order(TREE, usage) == ["vip", "users", "reprocessing", "prod-other", "mc", "frozen"]


def test_zero_target_leaf_inside_a_served_subtree_goes_last() -> None:
    tree = Share(
        "r", 1, children=(Share("a", 0.5, children=(Share("a0", 0.0), Share("a1", 1.0))), Share("b", 0.5))
    )
    assert order(tree, {"b": 10.0}) == ["a1", "b", "a0"]


def test_under_served() -> None:
    got = under_served(DEFAULT_TREE, {"production": 90, "analysis": 10})
    assert got == pytest.approx({"production": 0.9 / 0.7, "analysis": 0.1 / 0.3})
    assert under_served(DEFAULT_TREE, {}) == {"production": 0.0, "analysis": 0.0}
    frozen = under_served(TREE, {"frozen": 1.0})
    assert math.isinf(frozen["frozen"]) and frozen["mc"] == 0.0


usages = st.dictionaries(
    st.sampled_from(["mc", "reprocessing", "prod-other", "vip", "users", "frozen"]), st.floats(0, 1e6)
)


@given(usage=usages)
def test_order_is_a_permutation_of_the_leaves(usage: dict[str, float]) -> None:
    ranked = order(TREE, usage)
    assert sorted(ranked) == sorted(name for name, _ in leaves(TREE))
    assert ranked[-1] == "frozen"
    assert set(under_served(TREE, usage)) == set(ranked)


# --- construction and parsing -----------------------------------------------------------------------------


def test_parse_shares() -> None:
    data = {
        "children": [
            {"name": "production", "fraction": 0.7, "label": "managed|test", "children": [
                {"name": "mc", "fraction": 1, "working_group": "AP_MC"},
            ]},
            {"name": "analysis", "fraction": 0.3, "label": "user"},
        ]
    }  # fmt: skip
    tree = parse_shares(data, "shares")
    assert tree == Share(
        "root",
        1.0,
        children=(
            Share(
                "production", 0.7, label="managed|test", children=(Share("mc", 1.0, working_group="AP_MC"),)
            ),
            Share("analysis", 0.3, label="user"),
        ),
    )
    assert parse_shares({"name": "top"}, "shares") == Share("top", 1.0)


def test_sibling_sums_tolerate_rounding() -> None:
    parse_shares({"children": [{"name": n, "fraction": 0.1} for n in "abcdefghij"]}, "s")


def one(**child: object) -> dict[str, object]:
    return {"children": [child]}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param(
            one(name="a", fraction=1.5), "s.children[0].fraction", r"in \[0, 1\]", id="fraction-range"
        ),
        pytest.param(one(name="a", fraction="half"), "s.children[0].fraction", "number", id="fraction-type"),
        pytest.param(one(name="a"), "s.children[0].fraction", "required", id="fraction-missing"),
        pytest.param(one(fraction=0.5), "s.children[0].name", "required", id="name-missing"),
        pytest.param(
            {"children": [{"name": "a", "fraction": 0.6}, {"name": "b", "fraction": 0.5}]},
            "s.children",
            "sum to 1.1",
            id="sum",
        ),
        pytest.param(
            one(name="a", fraction=0.5, children=[{"name": "a", "fraction": 1}]),
            "s.children[0].children[0].name",
            "duplicate",
            id="duplicate-nested",
        ),
        pytest.param(
            one(name="a", fraction=0.5, user="("), "s.children[0].user", "not a valid regex", id="regex"
        ),
        pytest.param(one(name="a", fraction=0.5, label=3), "s.children[0].label", "string", id="regex-type"),
        pytest.param(
            one(name="a", fraction=0.5, weight=3), "s.children[0].weight", "unknown", id="unknown-key"
        ),
        pytest.param({"children": {"name": "a"}}, "s.children", "list", id="children-not-list"),
        pytest.param({"children": ["a"]}, "s.children[0]", "table", id="child-not-table"),
    ],
)
def test_parse_shares_errors_name_the_path(data: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_shares(data, "s")
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_direct_construction_is_checked() -> None:
    with pytest.raises(InvalidInput, match="duplicate"):
        Share("r", 1, children=(Share("a", 0.5), Share("b", 0.5, children=(Share("a", 1),))))
    with pytest.raises(InvalidInput, match="fraction"):
        Share("a", -0.1)
