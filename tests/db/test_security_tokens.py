"""Tokens against a server with auth on (both backends): verified as the gate does, refused with a reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from pandawms.core.auth import Identity, Role
from pandawms.db.engine import Database
from pandawms.server.issuer import create_token, rotate_keys
from tests.conftest import FrozenClock
from tests.db.helpers import API, ok
from tests.db.security_helpers import IDENTITIES, Secure, secure_server, snapshot

ALICE = IDENTITIES["alice"]


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path)


def _whoami(sec: Secure, token: str) -> tuple[int, str]:
    resp = sec.client.get(f"{API}/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    return resp.status_code, resp.json()["message"]


def test_a_valid_token_names_its_caller(sec: Secure) -> None:
    data = ok(sec.client.get(f"{API}/auth/whoami", headers=sec.headers("alice")))
    assert (data["sub"], data["name"], data["roles"], data["vo"]) == ("sub-alice", "alice", ["user"], "atlas")
    assert data["issuer"] == sec.config.resolved_issuer


def test_no_token_is_401_with_www_authenticate(sec: Secure) -> None:
    resp = sec.client.get(f"{API}/job/list")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer token is required" in resp.json()["message"]


def test_expired_token_is_refused(sec: Secure) -> None:
    token = sec.token(ALICE, lifetime=timedelta(minutes=5))
    assert _whoami(sec, token)[0] == 200
    sec.clock.advance(minutes=6)
    assert _whoami(sec, token) == (401, "token: expired")


def test_wrong_audience_and_wrong_issuer_are_refused(sec: Secure, db: Database) -> None:
    other_aud = dataclasses.replace(sec.config, auth=dataclasses.replace(sec.config.auth, audience="rucio"))
    token = create_token(other_aud, ALICE, sec.clock(), db=db).access_token
    status, message = _whoami(sec, token)
    assert status == 401 and "audience 'rucio'" in message
    other_iss = dataclasses.replace(
        sec.config, auth=dataclasses.replace(sec.config.auth, issuer="https://evil")
    )
    token = create_token(other_iss, ALICE, sec.clock(), db=db).access_token
    status, message = _whoami(sec, token)
    assert status == 401 and "issuer 'https://evil'" in message


def test_tampered_token_is_refused(sec: Secure) -> None:
    header, payload, signature = sec.tokens["alice"].split(".")
    admin_payload = sec.tokens["admin"].split(".")[1]  # alice's signature over admin's claims
    for forged in (
        f"{header}.{admin_payload}.{signature}",
        f"{header}.{payload}.{signature[:-4]}AAAA",
        "x.y.z",
    ):
        status, message = _whoami(sec, forged)
        assert status == 401 and "does not verify" in message, message


def test_a_key_of_another_issuer_does_not_verify(sec: Secure, tmp_path: Path) -> None:
    stranger = Database(f"sqlite:///{tmp_path / 'other.db'}")
    token = create_token(sec.config, ALICE, sec.clock(), db=stranger).access_token  # same iss/aud, other key
    status, message = _whoami(sec, token)
    assert status == 401 and "does not verify" in message


def test_rotation_signs_with_the_new_key_and_old_tokens_keep_verifying(sec: Secure) -> None:
    old = sec.tokens["alice"]
    kid = rotate_keys(sec.config, sec.clock(), db=sec.db)
    new = sec.token(ALICE)
    jwks = KeySet.import_key_set(sec.client.get("/.well-known/jwks.json").json())
    assert jwt.decode(new, jwks, algorithms=["Ed25519"]).header["kid"] == kid  # anyone verifies with the JWKS
    assert _whoami(sec, new)[0] == 200  # an unknown kid reloads the keys once
    assert _whoami(sec, old)[0] == 200
    kids = [k["kid"] for k in sec.client.get("/.well-known/jwks.json").json()["keys"]]
    assert len(kids) == 2 and kids[-1] == kid
    assert all("d" not in k for k in sec.client.get("/.well-known/jwks.json").json()["keys"])  # public only


def _pair(sec: Secure) -> tuple[str, str]:
    pair = create_token(sec.config, ALICE, sec.clock(), refresh=True, db=sec.db)
    assert pair.refresh_token is not None
    return pair.access_token, pair.refresh_token


def _refresh(sec: Secure, token: str) -> tuple[int, dict[str, object]]:
    resp = sec.client.post(f"{API}/auth/token", json={"grant_type": "refresh_token", "refresh_token": token})
    body: dict[str, object] = resp.json()
    return resp.status_code, body


def test_refresh_rotates_and_reuse_revokes_every_token_of_the_subject(sec: Secure) -> None:
    _, first = _pair(sec)
    _, other_login = _pair(sec)  # the same person on another machine
    status, body = _refresh(sec, first)
    assert status == 200, body
    data = body["data"]
    assert isinstance(data, dict)
    second = str(data["refresh_token"])
    assert second != first and _whoami(sec, str(data["access_token"]))[0] == 200
    # the first one again (a stolen copy): refused, and everything of alice's revoked
    status, body = _refresh(sec, first)
    assert status == 401 and "every token of this identity is revoked" in str(body["message"])
    assert _refresh(sec, second)[0] == 401
    assert _refresh(sec, other_login)[0] == 401


def test_refresh_token_expires_and_logout_revokes(sec: Secure) -> None:
    _, token = _pair(sec)
    assert ok(sec.client.post(f"{API}/auth/revoke", json={"refresh_token": token})) is True
    assert ok(sec.client.post(f"{API}/auth/revoke", json={"refresh_token": token})) is False
    _, token = _pair(sec)
    sec.clock.advance(days=8)
    status, body = _refresh(sec, token)
    assert status == 401 and body["message"] == "refresh_token: expired"


def test_unknown_refresh_token_changes_nothing(sec: Secure) -> None:
    before = snapshot(sec.db)
    status, body = _refresh(sec, "x" * 43)
    assert (status, body["message"]) == (401, "refresh_token: unknown")
    assert snapshot(sec.db) == before


def test_pilot_token_names_its_queue() -> None:
    with pytest.raises(Exception, match="queue: a pilot token names its queue"):
        Identity(sub="p", roles=frozenset({Role.PILOT}))


def test_discovery_names_the_jwks_and_token_endpoint(sec: Secure) -> None:
    doc = sec.client.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == sec.config.resolved_issuer
    assert doc["jwks_uri"].endswith("/.well-known/jwks.json")
    assert doc["token_endpoint"].endswith("/api/v1/auth/token")
