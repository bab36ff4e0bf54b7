"""Device logins (RFC 8628, after DiracX's device flow): start one, approve or deny it, and poll it.

A device code and its user code are random; only their SHA-256 is stored, so a database dump hands out
no login. The user confirms the user code in a browser (Approve or Deny) and then logs in at the external OIDC
issuer (its state and PKCE verifier are stored on the row and used once), or an admin approves
(``panda token approve``);
the device's next poll then gets an access + refresh token pair from the issuer, once: the code is
spent in the same transaction. A poll's refusal (pending, slow_down ...) is an answer, not an error:
the caller commits the recorded poll time before answering it. Every approval or refusal writes an
audit row in its transaction (the subject, how it was decided, the client).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.auth import Identity
from pandawms.core.device import (
    DeviceState,
    PollError,
    PollOutcome,
    decide_poll,
    new_user_code,
    parse_user_code,
    show_user_code,
)
from pandawms.core.errors import Conflict, NotFound, Transient
from pandawms.db import auth as auth_db
from pandawms.db import device_codes as codes_db
from pandawms.services import tokens
from pandawms.services.tokens import IssuerSettings, KeyRing, TokenPair

PRUNE_AFTER = timedelta(days=1)  # expired codes are kept this long (a late poll still reads expired_token)
USER_CODE_TRIES = 20


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    lifetime: timedelta = timedelta(minutes=10)
    interval: int = 5


@dataclass(frozen=True, slots=True)
class DeviceStart:
    device_code: str
    user_code: str  # as shown: XXXX-XXXX
    expires_in: int
    interval: int


@dataclass(frozen=True, slots=True)
class LoginStart:
    """The identity provider's authorization request for one pending code."""

    state: str
    code_challenge: str  # S256 of the verifier (RFC 7636)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def start(
    conn: Connection, settings: DeviceSettings, client_id: str, scope: str, now: datetime
) -> DeviceStart:
    codes_db.prune(conn, now - PRUNE_AFTER)
    for _ in range(USER_CODE_TRIES):
        user_code = new_user_code()
        if not codes_db.user_code_taken(conn, _hash(user_code)):
            break
    else:  # 20 collisions in 2.6e10 codes: the table is full of live logins
        raise Transient("user_code: no free code; try again")
    device_code = secrets.token_urlsafe(32)
    codes_db.insert_code(
        conn,
        device_hash=_hash(device_code),
        user_hash=_hash(user_code),
        client_id=client_id,
        scope=scope,
        now=now,
        expires_at=now + settings.lifetime,
        interval=settings.interval,
    )
    life = int(settings.lifetime.total_seconds())
    return DeviceStart(device_code, show_user_code(user_code), life, settings.interval)


def poll(
    conn: Connection, ring: KeyRing, issuer: IssuerSettings, device_code: str, now: datetime
) -> TokenPair | PollOutcome:
    """The token pair of an approved code (the code is spent), else the RFC 8628 answer to give."""
    row = codes_db.lock_by_device(conn, _hash(device_code))
    if row is None:
        return PollOutcome(PollError.INVALID_GRANT, 0, "device_code: unknown")
    outcome = decide_poll(row.poll, now)
    if outcome.error is None:
        assert row.identity is not None  # an approved row has its identity
        if not codes_db.decide(conn, row.device_hash, DeviceState.APPROVED, DeviceState.USED):
            return PollOutcome(PollError.INVALID_GRANT, row.poll.interval, "device_code: already used")
        return tokens.issue(conn, ring, issuer, row.identity, now)
    if outcome.error in (PollError.AUTHORIZATION_PENDING, PollError.SLOW_DOWN):
        codes_db.set_polled(conn, row.device_hash, now, outcome.interval)
    return outcome


def pending(conn: Connection, user_code: str, now: datetime) -> codes_db.DeviceRow:
    """The pending, unexpired login of a user code (as typed); NotFound / Conflict say why not."""
    row = codes_db.by_user(conn, _hash(parse_user_code(user_code)))
    return _check_pending(row, f"user_code {user_code.strip()[:16]}", now)


def _check_pending(row: codes_db.DeviceRow | None, what: str, now: datetime) -> codes_db.DeviceRow:
    if row is None:
        raise NotFound(f"{what}: no such login (check the code, or run panda login again)")
    if now >= row.poll.expires_at:
        raise Conflict(f"{what}: the login expired (run panda login again)")
    if row.poll.state is not DeviceState.PENDING:
        raise Conflict(f"{what}: the login was already {row.poll.state.value}")
    return row


ADMIN_VIA = "panda token approve"


def _decide(
    conn: Connection, row: codes_db.DeviceRow, identity: Identity | None, via: str, now: datetime
) -> None:
    """Approve (``identity``) or deny (None) a pending login, with its audit row."""
    to = DeviceState.APPROVED if identity is not None else DeviceState.DENIED
    if not codes_db.decide(conn, row.device_hash, DeviceState.PENDING, to, identity):
        raise Conflict("the login was decided meanwhile")
    audit = {
        "time": now,
        "sub": identity.sub if identity is not None else "",
        "roles": ",".join(sorted(r.value for r in identity.roles)) if identity is not None else "",
        "method": "LOGIN",
        "path": via[:128],
        "ids": json.dumps({"client_id": row.client_id, "login": to.value}),
        "status_code": 200 if identity is not None else 403,
    }
    auth_db.insert_audit(conn, [audit])


def approve(conn: Connection, user_code: str, identity: Identity, now: datetime) -> codes_db.DeviceRow:
    """An admin's approval of a user code for ``identity`` (a site without an identity provider)."""
    row = pending(conn, user_code, now)
    _decide(conn, row, identity, ADMIN_VIA, now)
    return row


def deny(conn: Connection, user_code: str, now: datetime, via: str = ADMIN_VIA) -> None:
    """Refuse a pending login (an admin's ``--deny``, or the person's Deny on the confirmation page:
    ``via`` its route); the device's next poll gets access_denied."""
    _decide(conn, pending(conn, user_code, now), None, via, now)


def begin_login(conn: Connection, user_code: str, now: datetime) -> LoginStart:
    """A fresh state and PKCE verifier for the identity provider's login of a pending code."""
    row = pending(conn, user_code, now)
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    if not codes_db.set_login(conn, row.device_hash, _hash(state), verifier):
        raise Conflict("user_code: the login was decided meanwhile")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return LoginStart(state, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


def login_of(conn: Connection, state: str, now: datetime) -> codes_db.DeviceRow:
    """The pending login the identity provider's callback ``state`` belongs to (with its verifier)."""
    row = _check_pending(codes_db.by_login(conn, _hash(state)), "state", now)
    if row.code_verifier is None:
        raise Conflict("state: this login step was already used")
    return row


def finish_login(conn: Connection, state: str, identity: Identity | None, via: str, now: datetime) -> None:
    """Approve (``identity``) or deny (None) the login of a callback ``state`` (``via``: its route)."""
    _decide(conn, login_of(conn, state, now), identity, via, now)
