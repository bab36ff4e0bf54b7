"""The pure parts: claim checks (iss, aud, exp, sub/jti) and the per-resource refusal rules, as tables."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.core.access import (
    Action,
    JobFacts,
    ScopeFacts,
    TaskFacts,
    job_refusal,
    label_refusal,
    owner_of_new,
    refuse,
    rule_refusal,
    scope_add_refusal,
    scope_refusal,
    task_refusal,
)
from pandawms.core.auth import (
    Caller,
    Identity,
    Role,
    access_claims,
    caller_from_claims,
    check_claims,
    parse_lifetime,
    roles_from_groups,
)
from pandawms.core.errors import Forbidden, InvalidInput, Unauthenticated
from pandawms.core.states import JobStatus

NOW = datetime(2026, 1, 1, 12, 0, 0)


def _caller(*roles: Role, sub: str = "alice", queue: str = "") -> Caller:
    return Caller(Identity(sub=sub, roles=frozenset(roles), queue=queue), jti="j", expires=NOW)


def _claims(**over: object) -> dict[str, object]:
    who = Identity(sub="alice", roles=frozenset({Role.USER}))
    c = access_claims(who, issuer="iss", audience="aud", now=NOW, lifetime=timedelta(minutes=20), jti="j1")
    return {**c, **over}


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"iss": "other"}, "issuer 'other'"),
        ({"aud": "rucio"}, "audience 'rucio'"),
        ({"aud": ["rucio", "x"]}, "audience"),
        ({"exp": None}, "exp missing"),
        ({"exp": int((NOW - datetime(1970, 1, 1)).total_seconds()) - 31}, "expired"),
        ({"sub": ""}, "sub missing"),
        ({"jti": None}, "jti missing"),
    ],
)
def test_claims_that_fail(over: dict[str, object], message: str) -> None:
    with pytest.raises(Unauthenticated, match=message):
        check_claims(_claims(**over), issuer="iss", audiences=("aud",), now=NOW)


def test_claims_that_pass_give_the_caller() -> None:
    claims = check_claims(_claims(aud=["x", "aud"]), issuer="iss", audiences=("aud",), now=NOW)
    caller = caller_from_claims(claims)
    assert (caller.sub, caller.roles, caller.expires) == (
        "alice",
        frozenset({Role.USER}),
        NOW + timedelta(minutes=20),
    )
    with pytest.raises(Unauthenticated, match="unknown role 'root'"):
        caller_from_claims({**claims, "roles": ["root"]})


def test_group_mapping_and_lifetimes() -> None:
    mapping = {"/atlas/production": Role.PRODUCTION, "/atlas": Role.USER}
    assert roles_from_groups(["/atlas", "/cms"], mapping) == {Role.USER}
    assert parse_lifetime("4d") == timedelta(days=4) and parse_lifetime("90") == timedelta(seconds=90)
    for bad in ("", "4w", "-1h", "500d"):
        with pytest.raises(InvalidInput, match="lifetime"):
            parse_lifetime(bad)


JOB = JobFacts(1, owner="alice", task_owner="", label="user", queue="SMALL", status=JobStatus.RUNNING)
MANAGED = JobFacts(2, owner="prod", task_owner="", label="managed", queue="BIG", status=JobStatus.ACTIVATED)
TASK_JOB = JobFacts(3, owner="", task_owner="alice", label="user", queue="SMALL", status=JobStatus.SENT)


@pytest.mark.parametrize(
    ("caller", "action", "job", "refused"),
    [
        (_caller(Role.USER), Action.MANAGE, JOB, False),
        (_caller(Role.USER), Action.MANAGE, TASK_JOB, False),  # a job of the user's task
        (_caller(Role.USER, sub="bob"), Action.MANAGE, JOB, True),
        (_caller(Role.USER), Action.MANAGE, MANAGED, True),
        (_caller(Role.PRODUCTION, sub="p"), Action.MANAGE, MANAGED, False),
        (_caller(Role.PRODUCTION, sub="p"), Action.MANAGE, JOB, True),
        (_caller(Role.ADMIN, sub="root"), Action.MANAGE, JOB, False),
        (_caller(Role.PILOT, sub="p", queue="SMALL"), Action.UPDATE, JOB, False),
        (_caller(Role.PILOT, sub="p", queue="BIG"), Action.UPDATE, JOB, True),
        (_caller(Role.PILOT, sub="p", queue="BIG"), Action.UPDATE, MANAGED, True),  # not dispatched
        (_caller(Role.USER), Action.UPDATE, JOB, True),  # users never report as pilots
        (_caller(Role.FACTORY, sub="f"), Action.MANAGE, JOB, True),
        (_caller(Role.USER, sub="bob"), Action.READ, JOB, False),
    ],
)
def test_job_policy(caller: Caller, action: Action, job: JobFacts, refused: bool) -> None:
    assert (job_refusal(caller, action, job) is not None) is refused


def test_task_and_label_policies_and_the_refusal_message() -> None:
    task = TaskFacts(7, owner="alice", label="user")
    assert task_refusal(_caller(Role.USER), Action.MANAGE, task) is None
    assert task_refusal(_caller(Role.USER, sub="bob"), Action.MANAGE, task) == "not your task"
    assert (
        label_refusal(_caller(Role.USER), ["user", "managed"])
        == "prodSourceLabel managed needs the production role"
    )
    assert label_refusal(_caller(Role.PRODUCTION), ["managed"]) is None
    refuse("x", [])
    with pytest.raises(Forbidden, match=r"jobs manage: 12 refused: 0: no; 1: no.*\(and 2 more\)"):
        refuse("jobs manage", [(i, "no") for i in range(12)])


USER, OTHER, PROD, ADMIN = (
    _caller(Role.USER),
    _caller(Role.USER, sub="bob"),
    _caller(Role.PRODUCTION, sub="prod"),
    _caller(Role.ADMIN, sub="root"),
)


@pytest.mark.parametrize(
    ("caller", "scope", "refused"),
    [
        (USER, ScopeFacts("user.alice", "alice"), None),
        (OTHER, ScopeFacts("user.alice", "alice"), "not your scope"),
        (USER, ScopeFacts("mc23", ""), "not your scope (it belongs to production)"),
        (PROD, ScopeFacts("user.alice", "alice"), None),
        (ADMIN, ScopeFacts("mc23", ""), None),
    ],
)
def test_scope_policy(caller: Caller, scope: ScopeFacts, refused: str | None) -> None:
    assert scope_refusal(caller, Action.WRITE, scope) == refused
    assert scope_refusal(caller, Action.READ, scope) is None


@pytest.mark.parametrize(
    ("caller", "scope", "account", "refused"),
    [
        (USER, "user.alice", "", None),  # for herself
        (USER, "user.alice", "alice", None),
        (USER, "user.x", "bob", "own account 'alice', not 'bob'"),
        (USER, "mc23", "", "only under 'user.'"),
        (USER, "user.", "", "only under 'user.'"),
        (PROD, "mc23", "", None),
        (ADMIN, "user.bob", "bob", None),
    ],
)
def test_scope_add_policy(caller: Caller, scope: str, account: str, refused: str | None) -> None:
    why = scope_add_refusal(caller, scope, account)
    assert (why is None) if refused is None else (why is not None and refused in why)


def test_new_owners_and_the_rule_policy() -> None:
    assert owner_of_new(USER, "", scope=True) == "alice"
    assert owner_of_new(PROD, "", scope=True) == ""  # an operator's scope with no account: production's
    assert owner_of_new(PROD, "", scope=False) == "prod"  # a rule is always somebody's
    assert owner_of_new(USER, "bob", scope=False) == "bob"  # asked for: the rule policy decides
    assert rule_refusal(USER, "alice") is None
    assert rule_refusal(OTHER, "alice") == "not your rule"
    assert rule_refusal(USER, "") == "not your rule (it belongs to production)"
    assert rule_refusal(PROD, "alice") is None and rule_refusal(ADMIN, "") is None
