"""``panda login``: the OAuth 2.0 device authorization grant (RFC 8628) in the terminal.

The command asks the server for a device login, prints where to go and the code to type (and the
complete URI), then polls the token endpoint at the server's interval - slower on every slow_down -
until the login is approved, refused or expired. The tokens go to the login file (cli/auth.py, mode
0600) that every other command sends and refreshes; the command ends by saying who you are. It opens a
browser only when asked (``--browser``): the default suits a terminal on another machine.
"""

from __future__ import annotations

import os
import time
import webbrowser
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer

from pandawms.cli.auth import login_path, save_login
from pandawms.cli.client import resolve_server
from pandawms.cli.common import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, Server, fail
from pandawms.core.device import DEVICE_GRANT, SLOW_DOWN_S
from pandawms.protocol import paths
from pandawms.protocol.auth import DeviceAnswer
from pandawms.protocol.http import response_message

EXIT_INTERRUPTED = 130
MAX_UNREACHABLE = 5  # polls in a row that reach no server before giving up


class LoginFailed(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def start(http: httpx.Client, api: str, client_id: str, scope: str) -> DeviceAnswer:
    try:
        resp = http.post(api + paths.AUTH_DEVICE, json={"client_id": client_id, "scope": scope})
    except httpx.HTTPError as exc:
        raise LoginFailed(f"server not reached: {exc}", EXIT_UNREACHABLE) from None
    if resp.status_code != 200:
        raise LoginFailed(response_message(resp), EXIT_USAGE if resp.status_code < 500 else EXIT_FAILED)
    return DeviceAnswer.model_validate(resp.json()["data"])


def wait(
    http: httpx.Client,
    api: str,
    started: DeviceAnswer,
    client_id: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll until the token pair comes (its ``data``); LoginFailed says why it will not."""
    interval = started.interval
    deadline = monotonic() + started.expires_in + 2 * interval  # the server's expired_token comes first
    body = {"grant_type": DEVICE_GRANT, "device_code": started.device_code, "client_id": client_id}
    unreachable = 0
    while monotonic() < deadline:
        sleep(interval)
        try:
            resp = http.post(api + paths.AUTH_TOKEN, data=body)  # RFC 8628 §3.4: a form
        except httpx.HTTPError as exc:
            unreachable += 1
            if unreachable >= MAX_UNREACHABLE:
                raise LoginFailed(f"server not reached: {exc}", EXIT_UNREACHABLE) from None
            continue
        unreachable = 0
        if resp.status_code == 200:
            data: dict[str, Any] = resp.json()["data"]
            return data
        answer = _json(resp)
        error = answer.get("error")
        if error == "authorization_pending" or resp.status_code >= 500:
            continue
        if error == "slow_down":
            interval = max(interval + SLOW_DOWN_S, int(answer.get("data", {}).get("interval") or 0))
            continue
        raise LoginFailed(_refusal(str(error), started, resp))
    raise LoginFailed(f"the code {started.user_code} expired before it was approved: run panda login again")


def _refusal(error: str, started: DeviceAnswer, resp: httpx.Response) -> str:
    if error == "expired_token":
        return f"the code {started.user_code} expired before it was approved: run panda login again"
    if error == "access_denied":
        return "the login was refused (access_denied at the identity provider): run panda login again"
    return f"the server refused the login: {response_message(resp)}"


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        doc = resp.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _whoami(http: httpx.Client, api: str, access: str) -> str:
    resp = http.get(api + paths.AUTH_WHOAMI, headers={"Authorization": f"Bearer {access}"})
    if resp.status_code != 200:
        return f"(whoami failed: {response_message(resp)})"
    w = resp.json()["data"]
    name = f"{w['name']}, " if w.get("name") else ""
    return f"{w['sub']} ({name}roles: {', '.join(w['roles']) or 'none'})"


def login(
    server: Server = None,
    client_id: Annotated[str, typer.Option(help="The OAuth client id this login names.")] = "panda-cli",
    scope: Annotated[str, typer.Option(help="Requested scope (space-separated).")] = "",
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the verification page in a browser.")
    ] = False,
) -> None:
    """Log in with a code shown here and approved in a browser (RFC 8628 device flow)."""
    try:
        api = resolve_server(server, os.environ)
    except ValueError as exc:
        fail("login", str(exc), EXIT_USAGE)
    with httpx.Client(verify=os.environ.get("PANDA_CA_FILE") or True, timeout=30) as http:
        try:
            started = start(http, api, client_id, scope)
            typer.echo(
                f"To log in, open {started.verification_uri} in a browser and enter the code "
                f"{started.user_code}\n(or open {started.verification_uri_complete})\n"
                f"Waiting for approval (the code expires in {_minutes(started.expires_in)}; Ctrl-C stops)..."
            )
            if browser:
                webbrowser.open(started.verification_uri_complete)
            data = wait(http, api, started, client_id)
        except LoginFailed as exc:
            fail("login", str(exc), exc.code)
        except KeyboardInterrupt:
            fail("login", "cancelled; the code was not used and expires by itself", EXIT_INTERRUPTED)
        path = login_path(os.environ)
        save_login(path, api, data["access_token"], int(data["expires_in"]), data.get("refresh_token"))
        typer.echo(f"logged in as {_whoami(http, api, data['access_token'])}; token stored in {path}")
    if os.environ.get("PANDA_TOKEN_FILE"):
        typer.echo("note: PANDA_TOKEN_FILE is set, so commands send that token, not this login", err=True)


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"


def register(app: typer.Typer) -> None:
    app.command()(login)
