"""The token issuer: Ed25519 signing keys (rotated, old ones keep verifying), access tokens, refresh tokens.

Access tokens are self-contained JWTs (``kid`` in the header; claims in core/auth.py) verified with any
stored key. Refresh tokens are opaque random strings stored by their SHA-256: each use revokes it and
issues a new one of the same family; presenting a revoked one again (a stolen copy, or the thief's
after the owner's) revokes every refresh token of that subject (DiracX's rule).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey
from joserfc.jws import extract_compact
from sqlalchemy import Connection

from pandawms.core.auth import Caller, Identity, access_claims, caller_from_claims, check_claims
from pandawms.core.errors import Unauthenticated
from pandawms.db import auth as auth_db

ALGORITHM = "Ed25519"  # RFC 9864's name for EdDSA over Ed25519
CACHE_SIZE = 20_000  # verified access tokens kept (a token is verified once, then looked up)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    issuer: str
    audience: str
    access_lifetime: timedelta = timedelta(minutes=20)
    refresh_lifetime: timedelta = timedelta(days=7)


def new_key(now: datetime, serial: int) -> auth_db.KeyRow:
    """Key ``serial`` (1, 2, ...): the kid sorts after the older ones' even when the clock stands still."""
    kid = f"{now:%Y%m%d%H%M%S}-{serial:04d}-{secrets.token_hex(4)}"
    key = OKPKey.generate_key("Ed25519", parameters={"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return auth_db.KeyRow(
        kid=kid,
        private_jwk=json.dumps(key.as_dict(private=True)),
        public_jwk=json.dumps(key.as_dict(private=False)),
        created_at=now,
    )


def rotate_keys(conn: Connection, now: datetime) -> str:
    """Add a new signing key (it signs from now on; every older key keeps verifying); its kid."""
    row = new_key(now, len(auth_db.signing_key_rows(conn)) + 1)
    auth_db.insert_signing_key(conn, row)
    return row.kid


class KeyRing:
    """The stored keys in memory, and the access tokens already verified (thread-safe)."""

    def __init__(self, rows: Iterable[auth_db.KeyRow] = ()) -> None:
        self._lock = threading.Lock()
        self._verified: dict[str, Caller] = {}
        self._set_rows(list(rows))

    def _set_rows(self, rows: list[auth_db.KeyRow]) -> None:
        keys = [OKPKey.import_key(json.loads(r.private_jwk)) for r in rows]
        self.public = [json.loads(r.public_jwk) for r in rows]
        self.keyset = KeySet(keys)  # type: ignore[arg-type]
        self.kids = frozenset(r.kid for r in rows)
        self.signing: OKPKey | None = keys[-1] if keys else None

    @classmethod
    def load(cls, conn: Connection, now: datetime, *, create: bool = True) -> KeyRing:
        """The stored keys; the first key is made when there is none and ``create``."""
        rows = auth_db.signing_key_rows(conn)
        if not rows and create:
            rotate_keys(conn, now)
            rows = auth_db.signing_key_rows(conn)
        return cls(rows)

    def reload(self, conn: Connection) -> None:
        with self._lock:
            self._set_rows(auth_db.signing_key_rows(conn))

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self.public)}

    def sign(self, claims: dict[str, Any]) -> str:
        if self.signing is None:
            raise Unauthenticated("issuer: no signing key (run `panda token rotate-keys`)")
        header = {"alg": ALGORITHM, "kid": self.signing.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.signing, algorithms=[ALGORITHM])

    def knows(self, token: str) -> bool:
        """Whether the token's ``kid`` is one of ours (else a reload may find a newer key)."""
        return token in self._verified or _kid(token) in self.kids

    def verify(self, token: str, settings: IssuerSettings, now: datetime) -> Caller:
        """The caller of a valid access token; Unauthenticated says why not (signature, iss, aud, exp)."""
        caller = self._verified.get(token)
        if caller is not None:
            if caller.expires + timedelta(seconds=30) < now:
                raise Unauthenticated("token: expired")
            return caller
        try:
            decoded = jwt.decode(token, self.keyset, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise Unauthenticated(f"token: does not verify ({type(exc).__name__})") from None
        claims = check_claims(decoded.claims, issuer=settings.issuer, audiences=(settings.audience,), now=now)
        caller = caller_from_claims(claims)
        if len(self._verified) >= CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = caller
        return caller


def _kid(token: str) -> str:
    try:
        kid = extract_compact(token.encode()).protected.get("kid")
    except (JoseError, ValueError):
        return ""
    return str(kid or "")


def access_token(
    ring: KeyRing,
    settings: IssuerSettings,
    identity: Identity,
    now: datetime,
    lifetime: timedelta | None = None,
) -> TokenPair:
    """A signed access token alone (pilot and factory tokens: ``panda token create``)."""
    life = lifetime or settings.access_lifetime
    claims = access_claims(
        identity,
        issuer=settings.issuer,
        audience=settings.audience,
        now=now,
        lifetime=life,
        jti=secrets.token_hex(16),
    )
    return TokenPair(access_token=ring.sign(claims), expires_in=int(life.total_seconds()))


def issue(
    conn: Connection,
    ring: KeyRing,
    settings: IssuerSettings,
    identity: Identity,
    now: datetime,
    family: str | None = None,
) -> TokenPair:
    """An access token and a new stored refresh token (a new family unless one is given)."""
    refresh = secrets.token_urlsafe(32)
    auth_db.insert_refresh(
        conn, _hash(refresh), family or secrets.token_hex(16), identity, now, now + settings.refresh_lifetime
    )
    pair = access_token(ring, settings, identity, now)
    return TokenPair(access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=refresh)


class RefreshReused(Unauthenticated):
    """A revoked refresh token was presented again: the subject's tokens were revoked (commit, then raise)."""


def refresh(
    conn: Connection, ring: KeyRing, settings: IssuerSettings, token: str, now: datetime
) -> TokenPair:
    """Rotate: the presented refresh token is revoked and a new pair issued.

    A revoked token presented again raises RefreshReused: the caller then revokes all of its subject's
    refresh tokens with ``revoke_reused`` in a transaction that commits (this one rolls back).
    """
    row = auth_db.lock_refresh(conn, _hash(token))
    if row is None:
        raise Unauthenticated("refresh_token: unknown")
    if row.revoked_at is not None:
        raise RefreshReused("refresh_token: already used or revoked; every token of this identity is revoked")
    if row.expires_at < now:
        raise Unauthenticated("refresh_token: expired")
    pair = issue(conn, ring, settings, row.identity, now, family=row.family)
    assert pair.refresh_token is not None
    auth_db.revoke_refresh(conn, row.token_hash, now, replaced_by=_hash(pair.refresh_token))
    return pair


def revoke_reused(conn: Connection, token: str, now: datetime) -> int:
    """Revoke every refresh token of the subject of a reused one (after RefreshReused rolled back)."""
    row = auth_db.lock_refresh(conn, _hash(token))
    return auth_db.revoke_subject(conn, row.identity.sub, now) if row is not None else 0


def revoke(conn: Connection, token: str, now: datetime) -> bool:
    """Log out: revoke one refresh token (True when it was live)."""
    return auth_db.revoke_refresh(conn, _hash(token), now)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
