"""The token and revocation endpoints take the OAuth 2 form body (RFC 6749 §4.1.3/§6, RFC 8628 §3.4,
RFC 7009, with its ``token`` and ``token_type_hint``) as well as JSON, both back ends: the same answers
field for field, the same 422 naming the field, a 400 naming a repeated or NUL-carrying parameter, a 415
for other content types; the spec says so. And ``public_url``: the links a login hands out start there,
whatever host the request came to."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pandawms.core.device import DEVICE_GRANT
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.conftest import FrozenClock
from tests.db.helpers import API, ok
from tests.db.security_helpers import Secure, secure_config, secure_server, snapshot
from tests.db.test_security_device import approve, refusal, start

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path, device_interval=5, device_lifetime=300, device_rate=0)


def form_poll(s: Secure, device_code: str) -> Any:
    body = {"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": "panda-cli"}
    return s.client.post(f"{API}/auth/token", data=body)


def test_a_form_poll_gets_every_answer_a_json_poll_gets(sec: Secure) -> None:
    got = start(sec)
    pending = form_poll(sec, got["device_code"])
    assert refusal(pending) == "authorization_pending" and pending.json()["data"]["interval"] == 5
    sec.clock.advance(seconds=1)
    slow = form_poll(sec, got["device_code"])
    assert refusal(slow) == "slow_down" and slow.json()["data"]["interval"] == 10
    approve(sec, got["user_code"])
    sec.clock.advance(seconds=10)
    pair = ok(form_poll(sec, got["device_code"]))
    assert pair["token_type"] == "Bearer" and pair["refresh_token"]
    assert refusal(form_poll(sec, got["device_code"])) == "invalid_grant"
    assert refusal(form_poll(sec, "z" * 43)) == "invalid_grant"
    refresh = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    renewed = ok(sec.client.post(f"{API}/auth/token", data=refresh))
    assert renewed["refresh_token"] != pair["refresh_token"]
    reused = sec.client.post(f"{API}/auth/token", data=refresh)  # the old one again: a replay
    assert reused.status_code == 401, reused.text


def test_revoke_takes_a_form_too(sec: Secure) -> None:
    got = start(sec)
    approve(sec, got["user_code"])
    pair = ok(form_poll(sec, got["device_code"]))
    body = {"refresh_token": pair["refresh_token"]}
    assert ok(sec.client.post(f"{API}/auth/revoke", data=body)) is True
    assert ok(sec.client.post(f"{API}/auth/revoke", data=body)) is False
    extra = sec.client.post(f"{API}/auth/revoke", data={**body, "scope": "all"})
    assert extra.status_code == 422 and "scope" in extra.json()["message"]


def test_revoke_takes_rfc_7009s_token_and_hint_and_refuses_access_tokens(sec: Secure) -> None:
    got = start(sec)
    approve(sec, got["user_code"])
    pair = ok(form_poll(sec, got["device_code"]))
    access = {"token": pair["access_token"], "token_type_hint": "access_token"}
    before = snapshot(sec.db)
    resp = sec.client.post(f"{API}/auth/revoke", data=access)
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_token_type", resp.text
    assert "revoke the refresh token" in resp.json()["error_description"]
    for bad in ({}, {"token": pair["refresh_token"], "refresh_token": pair["refresh_token"]}):
        resp = sec.client.post(f"{API}/auth/revoke", data={**bad, "token_type_hint": "refresh_token"})
        assert resp.status_code == 422 and "token" in resp.json()["message"], resp.text
    assert snapshot(sec.db) == before
    # the hint is only a hint (RFC 7009 §2.1): a wrong or unknown one still finds the refresh token
    hinted = {"token": pair["refresh_token"], "token_type_hint": "access_token"}
    assert ok(sec.client.post(f"{API}/auth/revoke", data=hinted)) is True
    assert ok(sec.client.post(f"{API}/auth/revoke", json={**hinted, "token_type_hint": "x"})) is False
    renew = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    assert sec.client.post(f"{API}/auth/token", data=renew).status_code == 401  # revoked for good


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        (f"grant_type={DEVICE_GRANT}&device_code=abc", 422, "device_code"),
        ("grant_type=password&device_code=" + "x" * 43, 422, "grant_type"),
        (f"grant_type={DEVICE_GRANT}&device_code={'x' * 43}&scope=all", 422, "scope"),
        (f"grant_type={DEVICE_GRANT}", 422, "device_code"),
        (f"grant_type={DEVICE_GRANT}&device_code={'x' * 20}&device_code={'y' * 20}", 400, "device_code"),
        (f"grant_type={DEVICE_GRANT}&device_code={'x' * 20}%00", 400, "device_code: NUL"),
        ("grant_type=refresh_token&&&", 400, "body: expected form-urlencoded"),
    ],
)
def test_bad_forms_are_refused_naming_the_field(sec: Secure, body: str, status: int, names: str) -> None:
    resp = sec.client.post(f"{API}/auth/token", content=body.encode(), headers=FORM)
    assert resp.status_code == status and names in resp.json()["message"], resp.text
    assert resp.json()["success"] is False


def test_a_blank_parameter_counts_as_omitted_and_other_types_are_415(sec: Secure) -> None:
    got = start(sec)
    body = f"grant_type={DEVICE_GRANT}&device_code={got['device_code']}&client_id="
    blank = sec.client.post(f"{API}/auth/token", content=body.encode(), headers=FORM)
    assert refusal(blank) == "authorization_pending"
    charset = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    sec.clock.advance(seconds=10)
    assert refusal(sec.client.post(f"{API}/auth/token", content=body.encode(), headers=charset)) == (
        "authorization_pending"
    )
    text = {"Content-Type": "text/plain"}
    plain = sec.client.post(f"{API}/auth/token", content=body.encode(), headers=text)
    assert plain.status_code == 415 and "text/plain" in plain.json()["message"]
    sec.clock.advance(seconds=10)
    unlabelled = sec.client.post(
        f"{API}/auth/token", json={"grant_type": DEVICE_GRANT, "device_code": got["device_code"]}
    )
    assert refusal(unlabelled) == "authorization_pending"  # JSON as before


def test_the_spec_gives_both_bodies_the_same_schema(sec: Secure) -> None:
    spec = sec.client.get(f"{API}/openapi.json").json()
    for path in ("/auth/token", "/auth/revoke"):
        content = spec["paths"][API + path]["post"]["requestBody"]["content"]
        assert set(content) == {"application/json", "application/x-www-form-urlencoded"}
        as_json = {k: v for k, v in content["application/json"]["schema"].items() if k != "title"}
        assert content["application/x-www-form-urlencoded"]["schema"] == as_json, path


@pytest.fixture
def behind_proxy(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[TestClient]:
    config = secure_config(db, tmp_path, device_rate=0)
    config = dataclasses.replace(config, public_url="https://panda.example.org/wms")
    with TestClient(create_app(config, db, clock=clock)) as client:
        yield client


def test_with_a_public_url_the_links_start_there(behind_proxy: TestClient) -> None:
    got = ok(behind_proxy.post(f"{API}/auth/device", json={"client_id": "panda-cli"}))
    assert got["verification_uri"] == "https://panda.example.org/wms/auth/device"
    assert got["verification_uri_complete"] == (
        f"https://panda.example.org/wms/auth/device?user_code={got['user_code']}"
    )
    doc = behind_proxy.get("/.well-known/openid-configuration").json()
    assert doc["token_endpoint"] == "https://panda.example.org/wms/api/v1/auth/token"
    assert doc["device_authorization_endpoint"] == "https://panda.example.org/wms/api/v1/auth/device"
    assert doc["jwks_uri"] == "https://panda.example.org/wms/.well-known/jwks.json"
    page = behind_proxy.get("/auth/device", params={"user_code": got["user_code"]})
    assert page.status_code == 200 and "Secure" in page.headers["set-cookie"]  # https for the browser
