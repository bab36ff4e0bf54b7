"""Tokens on the command line: ``panda token create|rotate-keys`` (the operator, on the server's database),
``panda whoami`` and ``panda logout``, and the login the other commands send.

The login lives in the user's config dir (``$XDG_CONFIG_HOME/pandawms/token.json``, mode 0600): an
access token, its expiry and a refresh token; ``LoginToken`` refreshes it through the server's token
endpoint shortly before it expires (the refresh token rotates each time). ``PANDA_TOKEN_FILE`` names a
plain token file instead (a pilot or factory token).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from pandawms.protocol import paths
from pandawms.protocol.http import ClientError, FileToken, TokenSource, api_base

REFRESH_MARGIN_S = 60  # refresh this long before the access token expires


def login_path(env: Mapping[str, str]) -> Path:
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "pandawms" / "token.json"


def write_private(path: Path, text: str) -> None:
    """Write a secret: created 0600 from the start (never world-readable, even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def save_login(path: Path, server: str, access: str, expires_in: int, refresh: str | None) -> None:
    doc = {"server": server, "access_token": access, "expires_at": time.time() + expires_in}
    if refresh:
        doc["refresh_token"] = refresh
    write_private(path, json.dumps(doc))


class LoginToken:
    """The stored login, refreshed when it is about to expire."""

    def __init__(self, path: Path, transport: httpx.BaseTransport | None = None) -> None:
        self.path = path
        self.transport = transport

    def token(self) -> str | None:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        if float(doc.get("expires_at", 0)) - REFRESH_MARGIN_S > time.time() or not doc.get("refresh_token"):
            return str(doc.get("access_token") or "") or None
        return self._refresh(doc)

    def _refresh(self, doc: dict[str, object]) -> str:
        body = {"grant_type": "refresh_token", "refresh_token": doc["refresh_token"]}
        url = api_base(str(doc["server"])) + paths.AUTH_TOKEN
        with httpx.Client(transport=self.transport, timeout=30) as http:
            resp = http.post(url, data=body)  # RFC 6749 §6: a form
        if resp.status_code != 200:
            raise ClientError(
                f"login expired ({resp.json().get('message', resp.status_code)}): panda login again"
            )
        data = resp.json()["data"]
        save_login(
            self.path, str(doc["server"]), data["access_token"], data["expires_in"], data["refresh_token"]
        )
        return str(data["access_token"])


def token_source(env: Mapping[str, str]) -> TokenSource | None:
    """The CLI's token: PANDA_TOKEN_FILE, else the stored login, else none (a server with auth off)."""
    if env.get("PANDA_TOKEN_FILE"):
        return FileToken(Path(env["PANDA_TOKEN_FILE"]))
    path = login_path(env)
    return LoginToken(path) if path.exists() else None


token_app = typer.Typer(help="Tokens of this server's issuer (run where the server's database is).")


@token_app.command("create")
def create(
    role: Annotated[list[str], typer.Option(help="user, production, pilot, factory or admin (repeatable).")],
    sub: Annotated[str | None, typer.Option(help="Subject (default: <role>-<queue> or the role).")] = None,
    name: Annotated[str, typer.Option(help="Display name (prodUserName).")] = "",
    queue: Annotated[str, typer.Option(help="A pilot token's queue.")] = "",
    vo: Annotated[str, typer.Option(help="Virtual organisation.")] = "atlas",
    lifetime: Annotated[str, typer.Option(help="Access token lifetime: 90s, 20m, 12h, 4d.")] = "4d",
    out: Annotated[Path | None, typer.Option(help="Write the token to this file (0600), not stdout.")] = None,
    login: Annotated[
        bool, typer.Option("--login", help="Store an access+refresh pair as this user's CLI login.")
    ] = False,
    server: Annotated[
        str, typer.Option(help="The server URL stored with --login.")
    ] = "http://127.0.0.1:25080",
    config: Annotated[Path | None, typer.Option(help="Server config file (TOML, [server] table).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the server's database.")] = None,
) -> None:
    """Issue a token, e.g. ``panda token create --role pilot --queue Q --lifetime 4d --out pilot.token``."""
    from pandawms.config import load_config
    from pandawms.core.auth import Identity, parse_lifetime, parse_roles
    from pandawms.core.errors import InvalidInput
    from pandawms.server.issuer import create_token

    try:
        cfg = load_config(config, overrides={"db_url": db})
        roles = parse_roles(role, "--role")
        subject = sub or "-".join(filter(None, ("-".join(sorted(r.value for r in roles)), queue)))
        identity = Identity(sub=subject, name=name, vo=vo, roles=roles, queue=queue)
        pair = create_token(
            cfg, identity, datetime.utcnow(), lifetime=parse_lifetime(lifetime), refresh=login
        )
    except (ValueError, InvalidInput) as exc:
        typer.echo(f"panda token create: {exc}", err=True)
        raise typer.Exit(2) from None
    if login:
        path = login_path(os.environ)
        save_login(path, server, pair.access_token, pair.expires_in, pair.refresh_token)
        typer.echo(f"logged in as {identity.sub} ({path})")
    elif out is not None:
        write_private(out, pair.access_token + "\n")
        typer.echo(f"token for {identity.sub} written to {out} (expires in {pair.expires_in} s)")
    else:
        typer.echo(pair.access_token)


@token_app.command("approve")
def approve(
    user_code: Annotated[str, typer.Argument(help="The code `panda login` shows (XXXX-XXXX).")],
    sub: Annotated[str | None, typer.Option(help="Subject of the login (unless --deny).")] = None,
    role: Annotated[list[str] | None, typer.Option(help="Role(s): user, production, admin.")] = None,
    name: Annotated[str, typer.Option(help="Display name (prodUserName).")] = "",
    vo: Annotated[str, typer.Option(help="Virtual organisation.")] = "atlas",
    deny: Annotated[bool, typer.Option("--deny", help="Refuse the login instead.")] = False,
    config: Annotated[Path | None, typer.Option(help="Server config file (TOML, [server] table).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the server's database.")] = None,
) -> None:
    """Approve a pending ``panda login`` for a named subject (a site without an identity provider)."""
    from pandawms.config import load_config
    from pandawms.core.auth import Identity, Role, parse_roles
    from pandawms.core.errors import PandaError
    from pandawms.server.issuer import decide_device

    try:
        cfg = load_config(config, overrides={"db_url": db})
        identity = None
        if not deny:
            if not sub:
                raise ValueError("--sub: name the subject the login is for")
            roles = parse_roles(role or ["user"], "--role")
            if Role.PILOT in roles or Role.FACTORY in roles:
                raise ValueError("--role: pilot and factory tokens come from panda token create")
            identity = Identity(sub=sub, name=name, vo=vo, roles=roles)
        decide_device(cfg, user_code, identity, datetime.utcnow())
    except (ValueError, PandaError) as exc:
        typer.echo(f"panda token approve: {exc}", err=True)
        raise typer.Exit(2) from None
    if identity is None:
        typer.echo(f"login {user_code} refused")
    else:
        typer.echo(f"login {user_code} approved for {identity.sub} ({', '.join(sorted(identity.roles))})")


@token_app.command("rotate-keys")
def rotate(
    config: Annotated[Path | None, typer.Option(help="Server config file (TOML, [server] table).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL of the server's database.")] = None,
) -> None:
    """Add a signing key: new tokens are signed with it; tokens signed before keep verifying."""
    from pandawms.config import load_config
    from pandawms.server.issuer import rotate_keys

    kid = rotate_keys(load_config(config, overrides={"db_url": db}), datetime.utcnow())
    typer.echo(f"new signing key {kid}")


def whoami(
    server: Annotated[str | None, typer.Option(help="Server URL (default $PANDA_URL).")] = None,
) -> None:
    """Who the server says your token is."""
    from pandawms.cli.common import EXIT_FAILED, emit_json, fail, session

    with session("whoami", server) as client:
        try:
            emit_json(client.request("GET", paths.AUTH_WHOAMI))
        except ClientError as exc:
            fail("whoami", str(exc), EXIT_FAILED)


def logout() -> None:
    """Revoke the stored login's refresh token at the server and delete the login file."""
    path = login_path(os.environ)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        typer.echo("not logged in")
        return
    if doc.get("refresh_token"):
        url = api_base(str(doc["server"])) + paths.AUTH_REVOKE
        try:
            form = {"token": doc["refresh_token"], "token_type_hint": "refresh_token"}  # RFC 7009 §2.1
            httpx.post(url, data=form, timeout=30)
        except httpx.HTTPError as exc:
            typer.echo(f"server not reached ({exc}); the login file is removed anyway", err=True)
    path.unlink()
    typer.echo("logged out")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
    app.command()(whoami)
    app.command()(logout)
