"""The device authorization grant (RFC 8628, ``panda login``) against a server with auth on, both back
ends: every answer of the token endpoint (authorization_pending, slow_down, expired_token,
access_denied, invalid_grant), single use, expiry on the frozen clock, codes stored only hashed, an
admin's approval when no identity provider is configured, and the public routes' limits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pandawms.core.auth import Identity, Role
from pandawms.core.device import ALPHABET, DEVICE_GRANT
from pandawms.core.errors import Conflict, InvalidInput, NotFound
from pandawms.db.engine import Database
from pandawms.db.schema import audit_log, device_codes
from pandawms.server.issuer import decide_device
from tests.conftest import FrozenClock
from tests.db.helpers import API, ok
from tests.db.security_helpers import Secure, secure_server
from tests.livesupport.browser import confirm_login

BOB = Identity(sub="bob-at-site", name="Bob", vo="atlas", roles=frozenset({Role.USER, Role.PRODUCTION}))


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path, device_interval=5, device_lifetime=300, device_rate=0)


def start(s: Secure, **body: Any) -> dict[str, Any]:
    data: dict[str, Any] = ok(s.client.post(f"{API}/auth/device", json={"client_id": "panda-cli", **body}))
    return data


def poll(s: Secure, device_code: str) -> Any:
    body = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "panda-cli"}
    return s.client.post(f"{API}/auth/token", json=body)


def refusal(resp: Any) -> str:
    assert resp.status_code == 400, resp.text
    doc = resp.json()
    assert doc["success"] is False and doc["data"]["error"] == doc["error"], doc
    assert resp.headers["cache-control"] == "no-store"
    return str(doc["error"])


def approve(s: Secure, user_code: str, identity: Identity | None = BOB) -> None:
    decide_device(s.config, user_code, identity, s.clock(), db=s.db)


def test_a_login_answers_rfc_8628s_fields_and_its_codes_are_stored_hashed(sec: Secure) -> None:
    got = start(sec, scope="openid")
    code = got["user_code"]
    assert len(code) == 9 and code[4] == "-" and all(c in ALPHABET for c in code.replace("-", ""))
    assert got["verification_uri"] == "http://testserver/auth/device"
    assert got["verification_uri_complete"] == f"http://testserver/auth/device?user_code={code}"
    assert (got["expires_in"], got["interval"]) == (300, 5)
    with sec.db.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(device_codes))]
    assert len(rows) == 1
    row = rows[0]
    assert row["device_hash"] == hashlib.sha256(got["device_code"].encode()).hexdigest()
    assert row["user_hash"] == hashlib.sha256(code.replace("-", "").encode()).hexdigest()
    stored = repr(rows)
    assert got["device_code"] not in stored and code.replace("-", "") not in stored and code not in stored
    assert (row["state"], row["client_id"], row["scope"]) == ("pending", "panda-cli", "openid")


def test_polls_answer_pending_then_slow_down_which_grows_the_interval(sec: Secure) -> None:
    device = start(sec)["device_code"]
    assert refusal(poll(sec, device)) == "authorization_pending"
    sec.clock.advance(seconds=4)  # sooner than the 5 s interval
    slow = poll(sec, device)
    assert refusal(slow) == "slow_down" and slow.json()["data"]["interval"] == 10
    sec.clock.advance(seconds=6)  # 6 s < the 10 s interval now in force
    assert refusal(poll(sec, device)) == "slow_down"
    sec.clock.advance(seconds=15)
    pending = poll(sec, device)
    assert refusal(pending) == "authorization_pending" and pending.json()["data"]["interval"] == 15


def test_an_approved_login_gets_a_pair_once_and_its_refresh_rotates(sec: Secure) -> None:
    got = start(sec)
    approve(sec, got["user_code"].lower())  # typed in lower case: still the code
    pair = ok(poll(sec, got["device_code"]))
    assert pair["refresh_token"] and pair["token_type"] == "Bearer"
    who = ok(
        sec.client.get(f"{API}/auth/whoami", headers={"Authorization": f"Bearer {pair['access_token']}"})
    )
    assert (who["sub"], who["name"], sorted(who["roles"])) == ("bob-at-site", "Bob", ["production", "user"])
    sec.clock.advance(seconds=10)
    again = poll(sec, got["device_code"])
    assert refusal(again) == "invalid_grant" and "already used" in again.json()["message"]
    body = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    renewed = ok(sec.client.post(f"{API}/auth/token", json=body))
    assert renewed["refresh_token"] != pair["refresh_token"]
    with sec.db.read() as conn:
        assert conn.execute(select(device_codes.c.state)).scalar_one() == "used"
    assert audited(sec) == [("bob-at-site", "production,user", "LOGIN", "panda token approve", 200)]


def audited(s: Secure) -> list[tuple[object, ...]]:
    """The audit rows of login decisions."""
    cols = (audit_log.c.sub, audit_log.c.roles, audit_log.c.method, audit_log.c.path, audit_log.c.status_code)
    with s.db.read() as conn:
        return [tuple(r) for r in conn.execute(select(*cols).where(audit_log.c.method == "LOGIN"))]


def test_an_unapproved_login_expires(sec: Secure) -> None:
    got = start(sec)
    sec.clock.advance(seconds=299)
    assert refusal(poll(sec, got["device_code"])) == "authorization_pending"
    sec.clock.advance(seconds=1)
    expired = poll(sec, got["device_code"])
    assert refusal(expired) == "expired_token" and "expired" in expired.json()["message"]
    with pytest.raises(Conflict, match="expired"):
        approve(sec, got["user_code"])
    page = sec.client.get("/auth/device", params={"user_code": got["user_code"]})
    assert page.status_code == 409 and "expired" in page.text


def test_an_approval_after_expiry_gives_no_tokens(sec: Secure) -> None:
    got = start(sec)
    approve(sec, got["user_code"])
    sec.clock.advance(seconds=301)
    assert refusal(poll(sec, got["device_code"])) == "expired_token"


def test_a_denied_login_answers_access_denied(sec: Secure) -> None:
    got = start(sec)
    approve(sec, got["user_code"], None)
    assert refusal(poll(sec, got["device_code"])) == "access_denied"
    assert audited(sec) == [("", "", "LOGIN", "panda token approve", 403)]
    with pytest.raises(Conflict, match="already denied"):
        approve(sec, got["user_code"])


def test_unknown_codes_and_bad_requests_are_refused_naming_the_field(sec: Secure) -> None:
    assert refusal(poll(sec, "x" * 43)) == "invalid_grant"
    wrong_grant = sec.client.post(
        f"{API}/auth/token", json={"grant_type": "password", "device_code": "x" * 43}
    )
    assert wrong_grant.status_code == 422 and "grant_type" in wrong_grant.json()["message"]
    short = sec.client.post(f"{API}/auth/token", json={"grant_type": DEVICE_GRANT, "device_code": "abc"})
    assert short.status_code == 422 and "device_code" in short.json()["message"]
    bad_client = sec.client.post(f"{API}/auth/device", json={"client_id": "a b<script>"})
    assert bad_client.status_code == 422 and "client_id" in bad_client.json()["message"]
    with pytest.raises(NotFound, match="no such login"):
        approve(sec, "BCDF-GHJK")
    with pytest.raises(InvalidInput, match="user_code"):
        approve(sec, "ABCD-1234")


def test_without_an_identity_provider_approve_asks_for_an_admin(sec: Secure) -> None:
    got = start(sec)
    form = sec.client.get("/auth/device")
    assert form.status_code == 200 and "name='user_code'" in form.text
    page = confirm_login(sec.client, got["verification_uri_complete"])
    assert page.status_code == 200 and f"panda token approve {got['user_code']}" in page.text
    assert refusal(poll(sec, got["device_code"])) == "authorization_pending"  # nothing decided yet
    approve(sec, got["user_code"])  # the admin's path is unchanged
    assert ok(poll(sec, got["device_code"]))["refresh_token"]
    unknown = sec.client.get("/auth/device", params={"user_code": "BCDF-GHJK"})
    assert unknown.status_code == 404 and "no such login" in unknown.text
    bad = sec.client.get("/auth/device", params={"user_code": "<b>1234</b>"})
    assert bad.status_code == 400 and "<b>" not in bad.text and "user_code" in bad.text
    callback = sec.client.get("/auth/device/complete", params={"state": "s", "code": "c"})
    assert callback.status_code == 404 and "no identity provider" in callback.text


def test_starting_logins_is_limited_per_client_address(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    for s in secure_server(db, clock, tmp_path, device_rate=0.001, write_burst=2):
        start(s)
        start(s)
        limited = s.client.post(f"{API}/auth/device", json={"client_id": "panda-cli"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert s.client.get("/auth/device").status_code == 429


def test_discovery_names_the_device_endpoint(sec: Secure) -> None:
    doc = sec.client.get("/.well-known/openid-configuration").json()
    assert doc["device_authorization_endpoint"] == "http://testserver/api/v1/auth/device"
    assert DEVICE_GRANT in doc["grant_types_supported"]
