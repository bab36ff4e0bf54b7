"""Identities and token claims (pure): roles, the caller a verified token stands for, and the claim checks.

A token's claims are checked here after its signature verified (services/tokens.py): ``iss`` and ``aud``
must be the configured ones, ``exp`` in the future, and ``sub``, ``jti`` and every role known. Ownership
is keyed on ``sub``; ``name`` is only for display (PanDA's prodUserName).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pandawms.core.errors import InvalidInput, Unauthenticated

CLOCK_LEEWAY_S = 30  # clock skew tolerated between issuer and server


class Role(StrEnum):
    """What a caller may do (reference protocol.md §9): users act on their own work, production on managed
    work, pilots for one queue, factories on workers, admins on everything."""

    USER = "user"
    PRODUCTION = "production"
    PILOT = "pilot"
    FACTORY = "factory"
    ADMIN = "admin"


def parse_roles(values: Iterable[str], where: str = "roles") -> frozenset[Role]:
    out = set()
    for v in values:
        try:
            out.add(Role(v))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise InvalidInput(f"{where}: unknown role {v!r} (known: {known})", where) from None
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token is issued to: the claims that survive a refresh."""

    sub: str
    name: str = ""
    vo: str = ""
    groups: tuple[str, ...] = ()
    roles: frozenset[Role] = frozenset({Role.USER})
    queue: str = ""  # a pilot token's queue (computingSite); "" = none

    def __post_init__(self) -> None:
        if not self.sub or len(self.sub) > 128:
            raise InvalidInput("sub: must be 1..128 characters", "sub")
        if Role.PILOT in self.roles and not self.queue:
            raise InvalidInput("queue: a pilot token names its queue", "queue")


@dataclass(frozen=True, slots=True)
class Caller:
    """The verified caller of one request."""

    identity: Identity
    jti: str
    expires: datetime
    issuer: str = ""

    @property
    def sub(self) -> str:
        return self.identity.sub

    @property
    def roles(self) -> frozenset[Role]:
        return self.identity.roles

    def has(self, *roles: Role) -> bool:
        return not self.identity.roles.isdisjoint(roles)

    @property
    def display_name(self) -> str:
        return self.identity.name or self.identity.sub


def access_claims(
    identity: Identity, *, issuer: str, audience: str, now: datetime, lifetime: timedelta, jti: str
) -> dict[str, Any]:
    """The claim set of an access token (times as UNIX seconds, as RFC 7519 wants)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": identity.sub,
        "name": identity.name,
        "vo": identity.vo,
        "groups": list(identity.groups),
        "roles": sorted(r.value for r in identity.roles),
        "iat": _epoch(now),
        "exp": _epoch(now + lifetime),
        "jti": jti,
    }
    if identity.queue:
        claims["queue"] = identity.queue
    return claims


def check_claims(
    claims: Mapping[str, Any], *, issuer: str, audiences: Iterable[str], now: datetime
) -> dict[str, Any]:
    """Raise Unauthenticated naming the first claim that fails: iss, aud, exp (leeway CLOCK_LEEWAY_S)."""
    if claims.get("iss") != issuer:
        raise Unauthenticated(f"token: issuer {claims.get('iss')!r} is not {issuer!r}")
    aud = claims.get("aud")
    given = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    if given.isdisjoint(audiences):
        raise Unauthenticated(f"token: audience {aud!r} is not accepted here")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise Unauthenticated("token: exp missing")
    if exp + CLOCK_LEEWAY_S < _epoch(now):
        raise Unauthenticated("token: expired")
    for name in ("sub", "jti"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise Unauthenticated(f"token: {name} missing")
    return dict(claims)


def caller_from_claims(claims: Mapping[str, Any], roles: frozenset[Role] | None = None) -> Caller:
    """The caller of checked claims; ``roles`` overrides the token's (a federated issuer's group mapping)."""
    try:
        identity = Identity(
            sub=str(claims["sub"]),
            name=str(claims.get("name") or ""),
            vo=str(claims.get("vo") or ""),
            groups=tuple(str(g) for g in claims.get("groups") or ()),
            roles=roles if roles is not None else parse_roles(claims.get("roles") or ()),
            queue=str(claims.get("queue") or ""),
        )
    except InvalidInput as exc:
        raise Unauthenticated(f"token: {exc}") from None
    expires = datetime(1970, 1, 1) + timedelta(seconds=float(claims["exp"]))
    return Caller(identity=identity, jti=str(claims["jti"]), expires=expires, issuer=str(claims.get("iss")))


def roles_from_groups(groups: Iterable[str], mapping: Mapping[str, Role]) -> frozenset[Role]:
    """A federated token's roles: each of its groups that the mapping names (IAM ``/atlas/production``)."""
    return frozenset(mapping[g] for g in groups if g in mapping)


def parse_lifetime(text: str) -> timedelta:
    """``90s``, ``20m``, ``12h``, ``4d`` (or plain seconds) -> timedelta; InvalidInput names the value."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in units else (raw, "s")
    try:
        seconds = float(number) * units[unit]
    except ValueError:
        raise InvalidInput(f"lifetime: {text!r} is not like 90s, 20m, 12h or 4d", "lifetime") from None
    if not 0 < seconds <= 400 * 86400:
        raise InvalidInput(f"lifetime: {text!r} must be more than 0 and at most 400d", "lifetime")
    return timedelta(seconds=seconds)


def _epoch(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1)).total_seconds())
