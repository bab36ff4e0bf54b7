"""Device-login repository (RFC 8628): codes stored by SHA-256 only, looked up by device code, user code or
the identity provider's login state; every change is a compare-and-set on the row's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from pandawms.core.auth import Identity
from pandawms.core.device import DeviceState, PollView
from pandawms.db.auth import identity_from_json, identity_json
from pandawms.db.schema import device_codes


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device_hash: str
    client_id: str
    scope: str
    created_at: datetime
    poll: PollView
    code_verifier: str | None
    identity: Identity | None


def _row(r: object) -> DeviceRow:
    m = r._mapping  # type: ignore[attr-defined]
    poll = PollView(DeviceState(m["state"]), m["expires_at"], m["interval"], m["last_polled_at"])
    identity = identity_from_json(m["sub"], m["identity"]) if m["sub"] is not None else None
    return DeviceRow(
        m["device_hash"], m["client_id"], m["scope"], m["created_at"], poll, m["code_verifier"], identity
    )


def insert_code(
    conn: Connection,
    *,
    device_hash: str,
    user_hash: str,
    client_id: str,
    scope: str,
    now: datetime,
    expires_at: datetime,
    interval: int,
) -> None:
    conn.execute(
        insert(device_codes).values(
            device_hash=device_hash,
            user_hash=user_hash,
            client_id=client_id,
            scope=scope,
            state=DeviceState.PENDING.value,
            created_at=now,
            expires_at=expires_at,
            interval=interval,
        )
    )


def user_code_taken(conn: Connection, user_hash: str) -> bool:
    stmt = select(device_codes.c.device_hash).where(device_codes.c.user_hash == user_hash)
    return conn.execute(stmt).first() is not None


def prune(conn: Connection, before: datetime) -> int:
    """Delete codes that expired before ``before`` (spent or not); how many."""
    return int(conn.execute(delete(device_codes).where(device_codes.c.expires_at < before)).rowcount)


def lock_by_device(conn: Connection, device_hash: str) -> DeviceRow | None:
    stmt = select(device_codes).where(device_codes.c.device_hash == device_hash).with_for_update()
    r = conn.execute(stmt).first()
    return _row(r) if r is not None else None


def by_user(conn: Connection, user_hash: str) -> DeviceRow | None:
    r = conn.execute(select(device_codes).where(device_codes.c.user_hash == user_hash)).first()
    return _row(r) if r is not None else None


def by_login(conn: Connection, login_hash: str) -> DeviceRow | None:
    r = conn.execute(select(device_codes).where(device_codes.c.login_hash == login_hash)).first()
    return _row(r) if r is not None else None


def set_polled(conn: Connection, device_hash: str, now: datetime, interval: int) -> None:
    stmt = (
        update(device_codes)
        .where(device_codes.c.device_hash == device_hash)
        .values(last_polled_at=now, interval=interval)
    )
    conn.execute(stmt)


def set_login(conn: Connection, device_hash: str, login_hash: str, code_verifier: str) -> bool:
    """Start (or restart) the identity provider's login of a pending code."""
    stmt = (
        update(device_codes)
        .where(device_codes.c.device_hash == device_hash, device_codes.c.state == DeviceState.PENDING.value)
        .values(login_hash=login_hash, code_verifier=code_verifier)
    )
    return conn.execute(stmt).rowcount == 1


def decide(
    conn: Connection,
    device_hash: str,
    frm: DeviceState,
    to: DeviceState,
    identity: Identity | None = None,
) -> bool:
    """Move a code ``frm`` -> ``to`` (compare-and-set: False when it was no longer ``frm``); an approval
    stores ``identity``; every move forgets the login state and PKCE verifier (each is used once)."""
    values: dict[str, object] = {"state": to.value, "login_hash": None, "code_verifier": None}
    if identity is not None:
        values.update(sub=identity.sub, identity=identity_json(identity))
    stmt = (
        update(device_codes)
        .where(device_codes.c.device_hash == device_hash, device_codes.c.state == frm.value)
        .values(**values)
    )
    return conn.execute(stmt).rowcount == 1
