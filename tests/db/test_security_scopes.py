"""Catalog writes are owned per scope (Rucio's model, keyed on the token ``sub``): users add scopes only
under ``user.`` for themselves and write only in their own; a rule belongs to the sub that made it;
production and admin write everywhere. A refused call answers 403 naming the scope or rule, and leaves
every table as it was."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pandawms.core.auth import Identity, Role
from pandawms.db.engine import Database
from pandawms.services import catalog
from tests.conftest import FrozenClock
from tests.db.catalog_helpers import files
from tests.db.helpers import API, ok
from tests.db.jedi_helpers import feed
from tests.db.security_helpers import Secure, secure_server, snapshot
from tests.db.task_helpers import task_params

BOB = Identity(sub="sub-bob", name="bob", vo="atlas", roles=frozenset({Role.USER}))


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path)


def _post(sec: Secure, who: str, route: str, body: dict[str, Any]) -> Any:
    return sec.client.post(f"{API}{route}", json=body, headers=sec.headers(who))


def _refused(sec: Secure, who: str, route: str, body: dict[str, Any], why: str) -> None:
    before = snapshot(sec.db)
    resp = _post(sec, who, route, body)
    assert resp.status_code == 403, (route, resp.text)
    assert why in resp.json()["message"], (route, resp.json()["message"])
    assert snapshot(sec.db) == before, f"{route}: a refused call changed the catalog"


def _owner(sec: Secure, scope: str) -> str:
    with sec.db.read() as conn:
        return catalog.scope_account(conn, scope)


def _catalog(sec: Secure) -> None:
    """alice owns user.alice with dataset ds.a, bob user.bob with ds.b, production mc23 with ds.m; each
    dataset has two files with replicas at DISK."""
    rse = {"name": "DISK", "site": "SITE", "prefix": "file:///storage/DISK"}
    ok(_post(sec, "admin", "/rse/upsert", {"rses": [rse]}))
    for who, scope, name in (
        ("alice", "user.alice", "ds.a"),
        ("bob", "user.bob", "ds.b"),
        ("production", "mc23", "ds.m"),
    ):
        ok(_post(sec, who, "/scope/add", {"scope": scope}))
        ok(_post(sec, who, "/did/add", {"dids": [{"scope": scope, "name": name, "type": "dataset"}]}))
        body = {"dataset": f"{scope}:{name}", "files": files(scope, 2), "rse": "DISK"}
        ok(_post(sec, who, "/did/add_files", body))


@pytest.fixture
def cat(sec: Secure) -> Secure:
    sec.tokens["bob"] = sec.token(BOB)
    _catalog(sec)
    return sec


def test_a_user_adds_only_user_scopes_and_only_for_themselves(sec: Secure) -> None:
    got = ok(_post(sec, "alice", "/scope/add", {"scope": "user.alice"}))
    assert (got["account"], got["created"]) == ("sub-alice", True)  # empty account: the caller's sub
    assert _owner(sec, "user.alice") == "sub-alice"
    ok(_post(sec, "alice", "/scope/add", {"scope": "user.alice.x", "account": "sub-alice"}))
    _refused(sec, "alice", "/scope/add", {"scope": "mc23"}, "only under 'user.'")
    _refused(sec, "alice", "/scope/add", {"scope": "user.", "account": ""}, "only under 'user.'")
    _refused(
        sec, "alice", "/scope/add", {"scope": "user.bob", "account": "sub-bob"}, "own account 'sub-alice'"
    )
    again = ok(_post(sec, "admin", "/scope/add", {"scope": "user.alice"}))
    assert (again["account"], again["created"]) == ("sub-alice", False)  # a repeat answers the owner
    assert ok(_post(sec, "production", "/scope/add", {"scope": "mc23"}))["account"] == ""  # production's
    ok(_post(sec, "admin", "/scope/add", {"scope": "user.bob", "account": "sub-bob"}))
    assert _owner(sec, "user.bob") == "sub-bob"


def test_users_write_only_in_their_own_scopes(cat: Secure) -> None:
    bobs, prods = "user.bob:ds.b", "mc23:ds.m"
    writes: list[tuple[str, dict[str, Any]]] = [
        ("/did/add", {"dids": [{"scope": "user.bob", "name": "mine.now", "type": "dataset"}]}),
        ("/did/add_files", {"dataset": bobs, "files": files("user.bob", 1, start=9)}),
        ("/did/add_files", {"dataset": "user.alice:ds.a", "files": files("user.bob", 1, start=9)}),
        ("/did/attach", {"did": bobs, "children": ["user.alice:f.000000.root"]}),
        ("/did/detach", {"did": bobs, "children": ["user.bob:f.000000.root"]}),
        ("/did/close", {"dids": ["user.alice:ds.a", bobs]}),  # one foreign DID refuses the batch
        ("/did/freeze", {"dids": [bobs]}),
        ("/did/delete", {"dids": [bobs]}),
        ("/replica/add", {"rse": "DISK", "files": ["user.bob:f.000000.root"]}),
        ("/replica/add_files", {"rse": "DISK", "files": files("user.bob", 1, start=7)}),
    ]
    for route, body in writes:
        _refused(cat, "alice", route, body, "user.bob: not your scope")
    _refused(cat, "alice", "/did/close", {"dids": [prods]}, "mc23: not your scope (it belongs to production)")
    # her own scope, with others' files attached: Rucio checks the dataset's scope only
    ok(_post(cat, "alice", "/did/add", {"dids": [{"scope": "user.alice", "name": "mix", "type": "dataset"}]}))
    ok(_post(cat, "alice", "/did/attach", {"did": "user.alice:mix", "children": ["user.bob:f.000001.root"]}))
    ok(_post(cat, "alice", "/did/close", {"dids": ["user.alice:ds.a"]}))
    # production and admin write everywhere
    ok(_post(cat, "production", "/did/attach", {"did": bobs, "children": ["user.alice:f.000001.root"]}))
    ok(_post(cat, "admin", "/did/close", {"dids": [bobs, prods]}))


def test_a_rule_belongs_to_the_sub_that_made_it(cat: Secure) -> None:
    mine = ok(_post(cat, "alice", "/rule/add", {"did": "user.bob:ds.b", "rse": "DISK"}))
    assert mine["account"] == "sub-alice"  # on anyone's data, for herself
    _refused(
        cat,
        "alice",
        "/rule/add",
        {"did": "user.alice:ds.a", "rse": "DISK", "account": "sub-bob"},
        "not your rule",
    )
    _refused(cat, "bob", "/rule/delete", {"id": mine["id"]}, f"{mine['id']}: not your rule")
    prods = ok(_post(cat, "production", "/rule/add", {"did": "mc23:ds.m", "rse": "DISK", "account": "atlas"}))
    _refused(cat, "alice", "/rule/delete", {"id": prods["id"]}, "not your rule")
    ok(_post(cat, "alice", "/rule/delete", {"id": mine["id"]}))
    ok(_post(cat, "production", "/rule/delete", {"id": prods["id"]}))
    missing = _post(cat, "alice", "/rule/delete", {"id": 999_999})
    assert missing.status_code == 404  # unknown ids pass the policy: the handler says so


def _task(scope: str, name: str = "user.alice.ana.v1") -> dict[str, Any]:
    raw = task_params(name)
    raw["jobParameters"][1]["dataset"] = "user.alice:ds.a"
    raw["jobParameters"][2]["dataset"] = f"{scope}:{name}.out"
    raw["log"]["dataset"] = f"{scope}:{name}.log"
    return raw


def test_a_task_writes_its_outputs_only_in_scopes_its_owner_may_write(cat: Secure) -> None:
    _refused(cat, "alice", "/task/submit", _task("user.bob"), "user.bob: not your scope")
    _refused(cat, "alice", "/task/submit", _task("mc23"), "mc23: not your scope")
    _refused(cat, "alice", "/task/submit", _task("group.higgs"), "group.higgs: a user adds scopes only under")
    task_id = int(ok(_post(cat, "alice", "/task/submit", _task("user.alice.t")))["jediTaskID"])
    feed(cat.db, task_id, cat.clock())
    assert _owner(cat, "user.alice.t") == "sub-alice"  # the new scope is its owner's, by sub
    production = _task("mc23", "mc23.prod.v1") | {"prodSourceLabel": "managed"}
    ok(_post(cat, "production", "/task/submit", production))


def test_a_job_writes_its_outputs_only_in_scopes_its_owner_may_write(cat: Secure) -> None:
    def job(dataset: str) -> dict[str, Any]:
        out = {"lfn": "out.root", "type": "output", "dataset": dataset}
        return {"jobs": [{"transformation": "/bin/true", "computingSite": "SMALL", "files": [out]}]}

    _refused(cat, "alice", "/job/submit", job("user.bob:out.ds"), "user.bob: not your scope")
    _refused(cat, "alice", "/job/submit", job("data23:out.ds"), "data23: a user adds scopes only under")
    ok(_post(cat, "alice", "/job/submit", job("user.alice:out.ds")))
    ok(_post(cat, "alice", "/job/submit", job("user.alice.new:out.ds")))  # new, and hers to add
    ok(_post(cat, "production", "/job/submit", job("user.bob:out.ds")))
