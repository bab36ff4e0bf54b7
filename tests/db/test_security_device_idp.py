"""``panda login``'s browser half with an external identity provider (the suite's OIDC provider on
loopback), both back ends: the confirmation page's Approve redirects to the provider's authorize endpoint
with a PKCE challenge; the provider's redirect back is exchanged for its token, verified as federation does
(groups -> roles), and approves the device login once; a refusal at the provider is access_denied."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.conftest import FrozenClock
from tests.db.helpers import API, ok
from tests.db.security_helpers import Secure, secure_server
from tests.db.test_security_device import audited, poll, refusal, start
from tests.livesupport.browser import confirm_login, log_in_at_provider
from tests.livesupport.oidc_provider import ALICE, OidcProvider, User, oidc_provider

CALLBACK = "http://testserver/auth/device/complete"


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with oidc_provider() as p:
        p.register_client("pandawms", CALLBACK, secret="s3cret")
        p.users["alice"] = User(ALICE.password, ALICE.sub, ALICE.name, ("atlas", "/atlas/production"))
        yield p


@pytest.fixture
def sec(db: Database, provider: OidcProvider, tmp_path: Path) -> Iterator[Secure]:
    clock = FrozenClock(datetime.now(UTC).replace(tzinfo=None))  # the provider signs real times
    yield from secure_server(
        db,
        clock,
        tmp_path,
        oidc_issuer=provider.issuer,
        oidc_roles=("/atlas/production=production",),
        oidc_client_secret="s3cret",
        device_rate=0,
    )


def to_provider(sec: Secure, complete_uri: str) -> str:
    """Open the complete verification URI and Approve: the page redirects to the provider's login."""
    resp = confirm_login(sec.client, complete_uri)
    assert resp.status_code == 303, resp.text
    return str(resp.headers["location"])


def test_a_login_at_the_provider_approves_the_device_with_mapped_roles(
    sec: Secure, provider: OidcProvider
) -> None:
    got = start(sec)
    login_page = to_provider(sec, got["verification_uri_complete"])
    query = parse_qs(urlsplit(login_page).query)
    assert login_page.startswith(provider.issuer + "/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [CALLBACK]
    assert refusal(poll(sec, got["device_code"])) == "authorization_pending"
    back = log_in_at_provider(login_page, "alice", "alice-secret")
    assert back.status_code == 302, back.text
    done = sec.client.get(back.headers["location"])
    assert done.status_code == 200 and "login approved" in done.text and ALICE.sub in done.text
    sec.clock.advance(seconds=10)
    pair = ok(poll(sec, got["device_code"]))
    who = ok(
        sec.client.get(f"{API}/auth/whoami", headers={"Authorization": f"Bearer {pair['access_token']}"})
    )
    assert (who["sub"], who["name"]) == (ALICE.sub, "Alice Atlas")
    assert sorted(who["roles"]) == ["production", "user"] and who["issuer"] == sec.config.resolved_issuer
    assert audited(sec) == [(ALICE.sub, "production,user", "LOGIN", "/auth/device/complete", 200)]
    replayed = sec.client.get(back.headers["location"])  # the same redirect again: the state is spent
    assert replayed.status_code in (404, 409) and "login not possible" in replayed.text


def test_a_refusal_at_the_provider_is_access_denied(sec: Secure) -> None:
    got = start(sec)
    back = log_in_at_provider(to_provider(sec, got["verification_uri_complete"]), "alice", "", "deny")
    assert back.status_code == 302 and "error=access_denied" in back.headers["location"]
    page = sec.client.get(back.headers["location"])
    assert page.status_code == 200 and "login refused" in page.text
    assert refusal(poll(sec, got["device_code"])) == "access_denied"


def test_a_forged_code_or_state_approves_nothing(sec: Secure, provider: OidcProvider) -> None:
    got = start(sec)
    login_page = to_provider(sec, got["verification_uri_complete"])
    state = parse_qs(urlsplit(login_page).query)["state"][0]
    forged = sec.client.get("/auth/device/complete", params={"state": state, "code": "made-up"})
    assert forged.status_code == 401 and "invalid_grant" in forged.text
    stranger = sec.client.get("/auth/device/complete", params={"state": "not-ours", "code": "x"})
    assert stranger.status_code == 404 and "no such login" in stranger.text
    wrong = log_in_at_provider(login_page, "alice", "guess")
    assert wrong.status_code == 401
    assert refusal(poll(sec, got["device_code"])) == "authorization_pending"
    # the real login still works after the forgeries
    back = log_in_at_provider(login_page, "alice", "alice-secret")
    assert sec.client.get(back.headers["location"]).status_code == 200
    sec.clock.advance(seconds=10)
    assert ok(poll(sec, got["device_code"]))["refresh_token"]


def test_behind_a_proxy_the_provider_redirects_to_the_public_url(
    db: Database, provider: OidcProvider, tmp_path: Path
) -> None:
    public = "https://panda.example.org"
    provider.register_client("pandawms", public + "/auth/device/complete", secret="s3cret")
    clock = FrozenClock(datetime.now(UTC).replace(tzinfo=None))
    for s in secure_server(
        db, clock, tmp_path, oidc_issuer=provider.issuer, oidc_client_secret="s3cret", device_rate=0
    ):
        config = dataclasses.replace(s.config, public_url=public)
        # the proxy ends TLS; the browser speaks https, so the Secure CSRF cookie comes back
        with TestClient(create_app(config, db, clock=clock), base_url="https://testserver") as client:
            s.client = client
            got = start(s)
            assert got["verification_uri"] == public + "/auth/device"
            local = got["verification_uri_complete"].replace(public, "https://testserver")
            login_page = to_provider(s, local)
            assert parse_qs(urlsplit(login_page).query)["redirect_uri"] == [public + "/auth/device/complete"]
            back = log_in_at_provider(login_page, "alice", "alice-secret")
            location = urlsplit(back.headers["location"])
            assert f"{location.scheme}://{location.netloc}" == public
            done = client.get(f"{location.path}?{location.query}")  # what the proxy passes on
            assert done.status_code == 200 and "login approved" in done.text, done.text


def test_the_confirmation_page_lets_its_form_go_on_to_the_provider_only(
    sec: Secure, provider: OidcProvider
) -> None:
    got = start(sec)
    page = sec.client.get(got["verification_uri_complete"])
    assert page.status_code == 200
    origin = provider.issuer.split("/realms/")[0]
    (policy,) = [v for k, v in page.headers.multi_items() if k == "content-security-policy"]
    assert f"form-action 'self' {origin};" in policy and "script-src 'self';" in policy
    other = sec.client.get("/auth/device")  # every other page keeps the server's own policy
    assert "form-action 'self';" in other.headers["content-security-policy"]
