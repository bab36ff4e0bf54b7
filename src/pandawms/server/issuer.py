"""The issuer as the operator drives it (``panda token create``, ``panda token rotate-keys``, the demo):
straight on the server's database, as DIRAC's admin commands are, with the server's own settings."""

from __future__ import annotations

from datetime import datetime, timedelta

from pandawms.config import ServerConfig
from pandawms.core.auth import Identity
from pandawms.db import migrate
from pandawms.db.engine import Database
from pandawms.services import device, tokens
from pandawms.services.tokens import IssuerSettings, KeyRing, TokenPair


def settings_of(config: ServerConfig) -> IssuerSettings:
    a = config.auth
    return IssuerSettings(
        issuer=config.resolved_issuer,
        audience=a.audience,
        access_lifetime=timedelta(seconds=a.access_lifetime),
        refresh_lifetime=timedelta(seconds=a.refresh_lifetime),
    )


def create_token(
    config: ServerConfig,
    identity: Identity,
    now: datetime,
    *,
    lifetime: timedelta | None = None,
    refresh: bool = False,
    db: Database | None = None,
) -> TokenPair:
    """An access token of ``lifetime`` (pilots, factories), or with ``refresh`` a pair for a person."""
    db = db or Database(config.resolved_db_url)
    migrate.upgrade(db)
    with db.write() as conn:
        ring = KeyRing.load(conn, now)
        if refresh:
            return tokens.issue(conn, ring, settings_of(config), identity, now)
        return tokens.access_token(ring, settings_of(config), identity, now, lifetime)


def rotate_keys(config: ServerConfig, now: datetime, db: Database | None = None) -> str:
    """A new signing key; servers pick it up when they first see a token it signed (old keys verify)."""
    db = db or Database(config.resolved_db_url)
    migrate.upgrade(db)
    with db.write() as conn:
        return tokens.rotate_keys(conn, now)


def decide_device(
    config: ServerConfig, user_code: str, identity: Identity | None, now: datetime, db: Database | None = None
) -> None:
    """``panda token approve``: approve a pending device login for ``identity`` (None: deny it)."""
    db = db or Database(config.resolved_db_url)
    migrate.upgrade(db)
    with db.write() as conn:
        if identity is None:
            device.deny(conn, user_code, now)
        else:
            device.approve(conn, user_code, identity, now)
