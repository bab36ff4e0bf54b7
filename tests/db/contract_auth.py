"""Contract cases of the issuer's routes (tests/db/test_openapi_contract.py): tokens minted on the server's
own database, so whoami and the refresh grant answer their models with auth off as with it on."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from pandawms.core.auth import Identity, Role
from pandawms.server.context import ServerContext
from pandawms.server.issuer import create_token
from tests.db.helpers import API

Call = Callable[[TestClient, object], httpx.Response]
ADMIN = Identity(sub="sub-admin", name="root", vo="atlas", groups=("atlas",), roles=frozenset({Role.ADMIN}))


def _pair(client: TestClient) -> tuple[str, str]:
    ctx: ServerContext = client.app.state.ctx  # type: ignore[attr-defined]
    pair = create_token(ctx.config, ADMIN, ctx.clock(), refresh=True, db=ctx.db)
    assert pair.refresh_token is not None
    return pair.access_token, pair.refresh_token


def _token(client: TestClient, _world: object) -> httpx.Response:
    body = {"grant_type": "refresh_token", "refresh_token": _pair(client)[1]}
    resp: httpx.Response = client.post(f"{API}/auth/token", json=body)
    return resp


def _revoke(client: TestClient, _world: object) -> httpx.Response:
    resp: httpx.Response = client.post(f"{API}/auth/revoke", json={"refresh_token": _pair(client)[1]})
    return resp


def _whoami(client: TestClient, _world: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {_pair(client)[0]}"}
    resp: httpx.Response = client.get(f"{API}/auth/whoami", headers=headers)
    return resp


def _device(client: TestClient, _world: object) -> httpx.Response:
    resp: httpx.Response = client.post(f"{API}/auth/device", json={"client_id": "panda-cli"})
    return resp


def _get(path: str) -> Call:
    def call(client: TestClient, _world: object) -> httpx.Response:
        resp: httpx.Response = client.get(path)
        return resp

    return call


AUTH_CASES: dict[tuple[str, str], Call] = {
    ("GET", "/.well-known/jwks.json"): _get("/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"): _get("/.well-known/openid-configuration"),
    ("POST", f"{API}/auth/token"): _token,
    ("POST", f"{API}/auth/revoke"): _revoke,
    ("POST", f"{API}/auth/device"): _device,
    ("GET", f"{API}/auth/whoami"): _whoami,
    ("GET", f"{API}/audit/list"): _get(f"{API}/audit/list"),
}
