"""``panda login`` end to end: a real ``panda server`` process, the suite's OIDC provider, and ``panda
login`` run as the person would, with the test playing the person's browser through httpx (follow the
verification URI, Approve on the confirmation page, log in at the provider) or, on a server without a
provider, Approve and then the admin's ``panda token approve``; then ``panda whoami`` shows the
federated identity and the stored login refreshes."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import PANDA, Server, serving
from tests.livesupport.browser import confirm_login, log_in_at_provider
from tests.livesupport.login_process import login_process
from tests.livesupport.oidc_provider import ALICE, OidcProvider, User, oidc_provider

CLIENT = "pandawms-e2e"


def user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PANDA_TOKEN_FILE", "PANDA_URL")}
    return {**env, "XDG_CONFIG_HOME": str(home)}


def panda(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PANDA, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with oidc_provider() as p:
        p.users["alice"] = User(ALICE.password, ALICE.sub, ALICE.name, ("atlas", "/atlas/production"))
        yield p


def test_panda_login_through_the_identity_provider_then_whoami_and_a_refresh(
    tmp_path: Path, provider: OidcProvider
) -> None:
    env = {
        "PANDA_AUTH_OIDC_ISSUER": provider.issuer,
        "PANDA_AUTH_OIDC_ROLES": "/atlas/production=production",
        "PANDA_AUTH_OIDC_CLIENT_ID": CLIENT,
        "PANDA_AUTH_DEVICE_INTERVAL": "1",
    }
    with serving(tmp_path / "server", ["--auth"], env) as srv:
        provider.register_client(CLIENT, srv.root + "/auth/device/complete")
        home = tmp_path / "home"
        with login_process(["--server", srv.root], user_env(home)) as login:
            first = login.expect("enter the code")
            code = re.search(r"enter the code ([A-Z]{4}-[A-Z]{4})", first)
            assert code is not None and f"{srv.root}/auth/device " in first, first
            complete = login.expect("(or open").strip().removeprefix("(or open ").removesuffix(")")
            assert complete == f"{srv.root}/auth/device?user_code={code.group(1)}"
            # the person's browser: the confirmation page's Approve sends it to the provider's login
            with httpx.Client(timeout=30) as browser:
                page = confirm_login(browser, complete)
            assert page.status_code == 303 and page.headers["location"].startswith(provider.issuer)
            back = log_in_at_provider(page.headers["location"], "alice", "alice-secret")
            done = httpx.get(back.headers["location"], timeout=30)
            assert done.status_code == 200 and "login approved" in done.text, done.text
            rc, out, err = login.finish(60)
        assert rc == 0, out + err
        stored = home / "pandawms" / "token.json"
        assert (
            f"logged in as {ALICE.sub} (Alice Atlas, roles: production, user); token stored in {stored}"
            in out
        )
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        _whoami_refresh_then_logout(srv, home, stored)


def _whoami_refresh_then_logout(srv: Server, home: Path, stored: Path) -> None:
    who = panda("whoami", "--server", srv.root, env=user_env(home))
    assert who.returncode == 0, who.stderr
    data = json.loads(who.stdout)
    assert (data["sub"], sorted(data["roles"])) == (ALICE.sub, ["production", "user"])
    before = json.loads(stored.read_text())
    stored.write_text(json.dumps({**before, "expires_at": 0}))  # the access token is due: refresh first
    again = panda("whoami", "--server", srv.root, env=user_env(home))
    assert again.returncode == 0 and json.loads(again.stdout)["sub"] == ALICE.sub, again.stderr
    after = json.loads(stored.read_text())
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    out = panda("logout", env=user_env(home))  # RFC 7009's form: token and token_type_hint
    assert out.returncode == 0 and "logged out" in out.stdout, out.stderr
    assert not stored.exists()
    again_revoked = httpx.post(srv.api + "/auth/revoke", data={"token": after["refresh_token"]}, timeout=30)
    assert again_revoked.status_code == 200 and again_revoked.json()["data"] is False  # not live any more


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with auth on and no identity provider: an admin approves logins."""
    data = tmp_path_factory.mktemp("plain") / "server"
    with serving(data, ["--auth"], {"PANDA_AUTH_DEVICE_INTERVAL": "1"}) as srv:
        yield srv


def _approve(srv: Server, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    db = f"sqlite:///{srv.data_dir / 'panda.db'}"
    return panda("token", "approve", code, "--db", db, *args, env=dict(os.environ))


def _code(line: str) -> str:
    found = re.search(r"enter the code ([A-Z]{4}-[A-Z]{4})", line)
    assert found is not None, line
    return found.group(1)


def test_without_a_provider_an_admin_approves_the_login(plain_server: Server, tmp_path: Path) -> None:
    env = {**user_env(tmp_path), "PANDA_TOKEN_FILE": str(tmp_path / "pilot.token")}  # it wins: say so
    with login_process(["--server", plain_server.root], env) as login:
        code = _code(login.expect("enter the code"))
        with httpx.Client(timeout=30) as browser:
            page = confirm_login(browser, f"{plain_server.root}/auth/device", user_code=code)
        assert page.status_code == 200 and f"panda token approve {code}" in page.text
        approved = _approve(plain_server, code, "--sub", "bob", "--role", "user", "--name", "Bob")
        assert approved.returncode == 0 and f"login {code} approved for bob" in approved.stdout, (
            approved.stderr
        )
        rc, out, err = login.finish(60)
    assert rc == 0 and "logged in as bob (Bob, roles: user)" in out, out + err
    assert "PANDA_TOKEN_FILE is set" in err


def test_a_refused_login_says_so(plain_server: Server, tmp_path: Path) -> None:
    with login_process(["--server", plain_server.root], user_env(tmp_path)) as login:
        code = _code(login.expect("enter the code"))
        assert _approve(plain_server, code, "--deny").returncode == 0
        rc, out, err = login.finish(60)
    assert rc == 1 and "panda login: the login was refused" in err, out + err
    assert not (tmp_path / "pandawms" / "token.json").exists()


def test_ctrl_c_stops_the_wait_with_a_message(plain_server: Server, tmp_path: Path) -> None:
    with login_process(["--server", plain_server.root], user_env(tmp_path)) as login:
        login.expect("Waiting for approval")
        login.proc.send_signal(signal.SIGINT)
        rc, out, err = login.finish(30)
    assert rc == 130 and "panda login: cancelled" in err, out + err
    assert "Traceback" not in err


def test_a_bad_public_url_stops_the_server_at_start_naming_the_setting(tmp_path: Path) -> None:
    env = {**os.environ, "PANDA_PUBLIC_URL": "https://panda.example.org/?next=1"}
    run = panda("server", "--data-dir", str(tmp_path), "--port", "1", env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "panda server: public_url (PANDA_PUBLIC_URL): must have no query" in run.stderr
