"""``panda login``'s browser half in a real headless Chromium (Debian's /usr/bin/chromium, Playwright):
the confirmation page under the server's CSP, its Approve going on to the identity provider (a form
POST answered with a redirect to another origin, which the page's ``form-action`` must allow), the
login there, and the device's poll getting the tokens; Deny ending the login as access_denied.
Everything on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from pandawms.config import AuthConfig, ServerConfig
from pandawms.core.device import DEVICE_GRANT
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.conftest import FrozenClock
from tests.livesupport.dbtemplate import migrated_sqlite_url
from tests.livesupport.live_server import serve_in_thread
from tests.livesupport.oidc_provider import ALICE, OidcProvider, oidc_provider

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
pytestmark = pytest.mark.browser


@dataclass
class Live:
    url: str
    clock: FrozenClock
    provider: OidcProvider


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    db = Database(migrated_sqlite_url(tmp_path / "panda.db"))
    with oidc_provider() as provider:
        auth = AuthConfig(enabled=True, oidc_issuer=provider.issuer, device_rate=0, device_interval=1)
        config = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data", auth=auth)
        clock = FrozenClock(datetime.now(UTC).replace(tzinfo=None))  # the provider signs real times
        try:
            with serve_in_thread(create_app(config, db, clock=clock)) as url:
                provider.register_client("pandawms", url + "/auth/device/complete")
                yield Live(url, clock, provider)
        finally:
            db.dispose()


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context()
        pg = context.new_page()
        problems: list[str] = []
        pg.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        yield pg
        browser.close()
        # a CSP violation is reported on the console (a missing /favicon.ico is not our business)
        assert [m for m in problems if "favicon" not in m and "404 (Not Found)" not in m] == [], problems


def start(live: Live) -> dict[str, Any]:
    resp = httpx.post(f"{live.url}/api/v1/auth/device", json={"client_id": "panda-cli"}, timeout=30)
    data: dict[str, Any] = resp.raise_for_status().json()["data"]
    return data


def poll(live: Live, device_code: str) -> httpx.Response:
    live.clock.advance(seconds=10)
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code}
    return httpx.post(f"{live.url}/api/v1/auth/token", data=form, timeout=30)  # as RFC 8628 clients do


def test_approve_goes_on_to_the_provider_and_the_device_gets_its_tokens(live: Live, page: Page) -> None:
    got = start(live)
    page.goto(got["verification_uri"])
    page.fill("input[name=user_code]", got["user_code"].lower())
    page.click("button[type=submit]")
    assert "A program asks to log in" in page.content() and got["user_code"] in page.content()
    page.click("button[value=approve]")
    page.wait_for_url(live.provider.issuer + "/authorize?*")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", ALICE.password)
    page.click("button[value=login]")
    page.wait_for_url(f"{live.url}/auth/device/complete?*")
    assert "login approved" in page.content() and ALICE.sub in page.content()
    answer = poll(live, got["device_code"])
    assert answer.status_code == 200 and answer.json()["data"]["refresh_token"], answer.text


def test_deny_ends_the_login(live: Live, page: Page) -> None:
    got = start(live)
    page.goto(got["verification_uri_complete"])
    page.click("button[value=deny]")
    assert "login refused" in page.content()
    answer = poll(live, got["device_code"])
    assert answer.status_code == 400 and answer.json()["error"] == "access_denied"
