"""Every route has a policy or an explicit public mark (server/policies.py); no policy names a dead path."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from pandawms.config import ServerConfig
from pandawms.core.access import Action
from pandawms.core.auth import Role
from pandawms.protocol import paths
from pandawms.server.app import ROUTERS, create_app
from pandawms.server.auth import AuthGate
from pandawms.server.fastpath import PATHS as FAST_PATHS
from pandawms.server.policies import DENIED, PUBLIC, ROUTE_POLICIES, policy_for


def _api_paths() -> set[str]:
    return {r.path for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)}


def test_every_api_route_has_a_policy_or_is_marked_public() -> None:
    missing = _api_paths() - set(ROUTE_POLICIES)
    assert not missing, (
        f"add a RoutePolicy (or PUBLIC) to server/policies.ROUTE_POLICIES for {sorted(missing)}"
    )


def test_every_policy_names_a_live_route(tmp_path: Path) -> None:
    spec = create_app(ServerConfig(agents=False, db_url=f"sqlite:///{tmp_path / 'x.db'}")).openapi()
    served = {p[len(paths.API_PREFIX) :] for p in spec["paths"] if p.startswith(paths.API_PREFIX)}
    stale = set(ROUTE_POLICIES) - served - {"/openapi.json", "/docs"}
    assert not stale, f"policies for routes that are gone: {sorted(stale)}"
    assert served <= set(ROUTE_POLICIES)


def test_an_undeclared_api_path_is_denied_and_the_monitor_follows_the_config() -> None:
    assert policy_for(paths.API_PREFIX + "/job/new_thing", False) is DENIED
    assert DENIED.roles == frozenset()
    assert policy_for("/jobs/", False) is PUBLIC
    login = policy_for("/jobs/", True)
    assert not login.public and login.roles == frozenset(Role)
    assert policy_for(paths.JWKS, True) is PUBLIC
    # panda login's verification page and the identity provider's redirect back: before any token
    assert policy_for(paths.DEVICE_PAGE, True) is PUBLIC
    assert policy_for(paths.DEVICE_COMPLETE, True) is PUBLIC
    assert policy_for(paths.DEVICE_COMPLETE + "/x", True) is not PUBLIC


def test_public_routes_change_nothing_but_tokens() -> None:
    """Only reads and the token grants themselves (and the start of a device login) go without a token."""
    public = {p for p, pol in ROUTE_POLICIES.items() if pol.public}
    assert public == {
        paths.HEALTH,
        paths.IS_ALIVE,
        paths.READY,
        "/openapi.json",
        "/docs",
        paths.AUTH_TOKEN,
        paths.AUTH_REVOKE,
        paths.AUTH_DEVICE,  # rate-limited per client address; it hands out nothing until approved
    }


def test_writes_need_a_role_that_owns_them() -> None:
    for path, pol in ROUTE_POLICIES.items():
        if pol.action in (Action.ACQUIRE, Action.UPDATE):
            assert pol.roles is not None and Role.USER not in pol.roles, path
        if pol.action is Action.MANAGE:
            assert pol.check is not None, f"{path}: manage needs an ownership check"


def test_every_fast_path_call_has_its_check_on_the_parsed_request(tmp_path: Path) -> None:
    """The gate leaves the resource check of the fast path's calls to it (one parse): each needs a
    ``parsed`` check, and a gate told to defer a path without one refuses to start."""
    for path in FAST_PATHS:
        policy = policy_for(path, False)
        assert policy.parsed is not None and not policy.public, path
        assert policy.check is not None or policy.pure is not None  # the routes' own check stays
    config = ServerConfig(agents=False, db_url=f"sqlite:///{tmp_path / 'x.db'}")
    ctx = create_app(config).state.ctx
    with pytest.raises(ValueError, match=r"without a parsed check.*job/kill"):
        AuthGate(create_app(config), ctx, deferred=frozenset({paths.API_PREFIX + paths.JOB_KILL}))
