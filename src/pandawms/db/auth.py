"""Security repository: the issuer's signing keys, refresh tokens (by SHA-256 only) and the audit log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from pandawms.core.auth import Identity, parse_roles
from pandawms.db.schema import audit_log, refresh_tokens, signing_keys


@dataclass(frozen=True, slots=True)
class KeyRow:
    kid: str
    private_jwk: str
    public_jwk: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshRow:
    token_hash: str
    family: str
    identity: Identity
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    audit_id: int
    time: datetime
    sub: str
    roles: str
    method: str
    path: str
    ids: str
    status_code: int


def signing_key_rows(conn: Connection) -> list[KeyRow]:
    """Every key, oldest first (the last one signs)."""
    stmt = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
    return [KeyRow(r.kid, r.private_jwk, r.public_jwk, r.created_at) for r in conn.execute(stmt)]


def insert_signing_key(conn: Connection, row: KeyRow) -> None:
    conn.execute(
        insert(signing_keys).values(
            kid=row.kid, private_jwk=row.private_jwk, public_jwk=row.public_jwk, created_at=row.created_at
        )
    )


def insert_refresh(
    conn: Connection, token_hash: str, family: str, identity: Identity, now: datetime, expires_at: datetime
) -> None:
    conn.execute(
        insert(refresh_tokens).values(
            token_hash=token_hash,
            family=family,
            sub=identity.sub,
            identity=identity_json(identity),
            created_at=now,
            expires_at=expires_at,
        )
    )


def lock_refresh(conn: Connection, token_hash: str) -> RefreshRow | None:
    stmt = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update()
    r = conn.execute(stmt).first()
    if r is None:
        return None
    identity = identity_from_json(r.sub, r.identity)
    return RefreshRow(r.token_hash, r.family, identity, r.expires_at, r.revoked_at)


def revoke_refresh(conn: Connection, token_hash: str, now: datetime, replaced_by: str | None = None) -> bool:
    """Revoke one token (compare-and-set: False when it was already revoked)."""
    stmt = (
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now, replaced_by=replaced_by)
    )
    return conn.execute(stmt).rowcount == 1


def revoke_subject(conn: Connection, sub: str, now: datetime) -> int:
    """Revoke every live refresh token of a subject; how many."""
    stmt = (
        update(refresh_tokens)
        .where(refresh_tokens.c.sub == sub, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(conn.execute(stmt).rowcount)


def insert_audit(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        conn.execute(insert(audit_log), list(rows))


def audit_rows(conn: Connection, sub: str | None, limit: int, before: int | None = None) -> list[AuditRow]:
    """Newest first, keyset on audit_id."""
    stmt = select(audit_log).order_by(audit_log.c.audit_id.desc()).limit(limit)
    if sub is not None:
        stmt = stmt.where(audit_log.c.sub == sub)
    if before is not None:
        stmt = stmt.where(audit_log.c.audit_id < before)
    return [
        AuditRow(r.audit_id, r.time, r.sub, r.roles, r.method, r.path, r.ids, r.status_code)
        for r in conn.execute(stmt)
    ]


def identity_json(identity: Identity) -> str:
    return json.dumps(
        {
            "name": identity.name,
            "vo": identity.vo,
            "groups": list(identity.groups),
            "roles": sorted(r.value for r in identity.roles),
            "queue": identity.queue,
        }
    )


def identity_from_json(sub: str, text: str) -> Identity:
    d = json.loads(text)
    return Identity(
        sub=sub,
        name=d.get("name", ""),
        vo=d.get("vo", ""),
        groups=tuple(d.get("groups", ())),
        roles=parse_roles(d.get("roles", ())),
        queue=d.get("queue", ""),
    )
