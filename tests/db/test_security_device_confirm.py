"""``panda login``'s confirmation page, both back ends: after the code, the page says what asks (client,
code, start, scope, what it may do) with Approve and Deny; only a POST that carries the page's CSRF
cookie and field (from no other site) decides anything. Deny is the device's access_denied, audited
as the page's; opening the page changes nothing; every value is escaped and no page has a script."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pandawms.db.engine import Database
from pandawms.db.schema import device_codes
from tests.conftest import FrozenClock
from tests.db.helpers import ok
from tests.db.security_helpers import Secure, secure_server, snapshot
from tests.db.test_security_device import approve, audited, poll, refusal, start
from tests.livesupport.browser import HIDDEN, confirm_login


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path, device_interval=5, device_lifetime=600, device_rate=0)


def state(s: Secure) -> str:
    with s.db.read() as conn:
        return str(conn.execute(select(device_codes.c.state)).scalar_one())


def form_of(s: Secure, user_code: str) -> dict[str, str]:
    page = s.client.get("/auth/device", params={"user_code": user_code})
    assert page.status_code == 200, page.text
    return dict(HIDDEN.findall(page.text))


def test_the_page_says_what_asks_and_opening_it_changes_nothing(sec: Secure) -> None:
    got = start(sec, scope="openid <script>alert(1)</script>")
    sec.clock.advance(seconds=180)
    before = snapshot(sec.db)
    page = sec.client.get("/auth/device", params={"user_code": got["user_code"].lower()})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert got["user_code"] in text and "<code>panda-cli</code>" in text
    started = sec.clock() - timedelta(seconds=180)
    assert f"Started: {started:%Y-%m-%d %H:%M:%S} UTC (3 min ago)" in text
    assert "act as you" in text and "7 days" in text and "panda logout" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script" not in text
    assert "value='approve'>Approve</button>" in text and "value='deny'>Deny</button>" in text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"]
    assert "panda_device_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # http://testserver: a Secure cookie would never come back
    assert snapshot(sec.db) == before and state(sec) == "pending"


def test_deny_refuses_the_login_and_the_device_gets_access_denied(sec: Secure) -> None:
    got = start(sec)
    page = confirm_login(sec.client, got["verification_uri_complete"], "deny")
    assert page.status_code == 200 and "login refused" in page.text
    assert refusal(poll(sec, got["device_code"])) == "access_denied"
    assert audited(sec) == [("", "", "LOGIN", "/auth/device", 403)]
    again = sec.client.get("/auth/device", params={"user_code": got["user_code"]})
    assert again.status_code == 409 and "already denied" in again.text


def test_approve_then_the_admin_still_decides_without_an_identity_provider(sec: Secure) -> None:
    got = start(sec)
    page = confirm_login(sec.client, got["verification_uri"], user_code=got["user_code"])
    assert page.status_code == 200 and f"panda token approve {got['user_code']}" in page.text
    assert state(sec) == "pending"
    approve(sec, got["user_code"])
    assert ok(poll(sec, got["device_code"]))["access_token"]


def test_two_tabs_share_one_csrf_token(sec: Secure) -> None:
    first, second = start(sec), start(sec)
    form1 = form_of(sec, first["user_code"])
    form2 = form_of(sec, second["user_code"])
    assert form1["csrf"] == form2["csrf"]
    resp = sec.client.post("/auth/device", data={**form1, "decision": "deny"})
    assert resp.status_code == 200 and "login refused" in resp.text


@pytest.mark.parametrize(
    ("headers", "cookie", "field", "why"),
    [
        ({}, None, "same", "cookie is missing"),
        ({}, "same", "other", "not this browser"),
        ({}, "same", None, "not this browser"),
        ({"Origin": "https://evil.example"}, "same", "same", "another site (Origin https://evil.example)"),
        ({"Origin": "null"}, "same", "same", "another site"),
        ({"Sec-Fetch-Site": "cross-site"}, "same", "same", "Sec-Fetch-Site"),
    ],
)
def test_a_post_not_from_the_confirmation_page_decides_nothing(
    sec: Secure, headers: dict[str, str], cookie: str | None, field: str | None, why: str
) -> None:
    got = start(sec)
    form = form_of(sec, got["user_code"])
    token = form.pop("csrf")
    sec.client.cookies.clear()
    values = {"same": token, "other": "x" * 43, None: None}
    if values[cookie] is not None:
        sec.client.cookies.set("panda_device_csrf", str(values[cookie]))
    if values[field] is not None:
        form["csrf"] = str(values[field])
    before = snapshot(sec.db)
    for decision in ("approve", "deny"):
        resp = sec.client.post("/auth/device", data={**form, "decision": decision}, headers=headers)
        assert resp.status_code == 403 and why in resp.text and "not confirmed" in resp.text, resp.text
    assert snapshot(sec.db) == before
    assert refusal(poll(sec, got["device_code"])) == "authorization_pending"


def test_bad_forms_are_refused_naming_the_field(sec: Secure) -> None:
    got = start(sec)
    form = form_of(sec, got["user_code"])
    wrong = sec.client.post("/auth/device", data={**form, "decision": "<b>maybe</b>"})
    assert wrong.status_code == 400 and "decision" in wrong.text and "<b>" not in wrong.text
    no_code = sec.client.post("/auth/device", data={"csrf": form["csrf"], "decision": "deny"})
    assert no_code.status_code == 400 and "user_code: missing" in no_code.text
    bad_code = sec.client.post("/auth/device", data={**form, "user_code": "AAAA-1111", "decision": "deny"})
    assert bad_code.status_code == 400 and "user_code" in bad_code.text
    twice = sec.client.post(
        "/auth/device",
        content=f"csrf={form['csrf']}&user_code=A&user_code=B".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400 and "user_code: given more than once" in twice.text
    huge = sec.client.post("/auth/device", data={**form, "decision": "deny", "pad": "x" * 5000})
    assert huge.status_code == 400 and "larger than 4096 bytes" in huge.text
    assert state(sec) == "pending"


def test_an_expired_login_cannot_be_confirmed(sec: Secure) -> None:
    got = start(sec)
    form = form_of(sec, got["user_code"])
    sec.clock.advance(seconds=600)
    late = sec.client.post("/auth/device", data={**form, "decision": "approve"})
    assert late.status_code == 409 and "expired" in late.text
    assert not re.search(r"<script", late.text)


def test_with_the_identity_provider_down_the_page_still_denies_and_approve_says_why(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    with socket.socket() as reserved:  # bound, never listening: connections to it are refused
        reserved.bind(("127.0.0.1", 0))
        issuer = f"http://127.0.0.1:{reserved.getsockname()[1]}"
        for s in secure_server(db, clock, tmp_path, oidc_issuer=issuer, device_rate=0):
            got = start(s)
            page = s.client.get("/auth/device", params={"user_code": got["user_code"]})
            assert page.status_code == 200 and "not reachable right now" in page.text, page.text
            assert issuer in page.text and "form-action 'self'" in page.headers["content-security-policy"]
            approved = confirm_login(s.client, got["verification_uri_complete"])
            assert approved.status_code == 503 and "unreachable" in approved.text, approved.text
            assert state(s) == "pending"  # nothing decided: the person may try again, or Deny
            denied = confirm_login(s.client, got["verification_uri_complete"], "deny")
            assert denied.status_code == 200 and "login refused" in denied.text
            assert refusal(poll(s, got["device_code"])) == "access_denied"
