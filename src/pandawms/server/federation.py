"""Tokens of an external OIDC issuer (issue 11, point 2: INDIGO IAM, as PanDA uses; any OIDC provider).

When ``[server.auth] oidc_issuer`` is set, a Bearer token whose ``iss`` is that issuer is verified with
the issuer's own keys: its discovery document (``<issuer>/.well-known/openid-configuration``, whose
``issuer`` must be the configured one) names the ``jwks_uri``; the key set is cached for
``oidc_jwks_cache`` seconds and fetched again (at most every ``REFETCH_EVERY_S``) when a token names a
key id it does not hold, so the issuer's key rotation needs no restart. The claims are checked as for
our own tokens (``iss``, ``aud`` = ``oidc_audience``, ``exp``, ``sub``, ``jti``); the roles are
``oidc_default_roles`` plus those that ``oidc_roles`` maps the token's groups to (``/atlas/production=
production``; the groups come from ``oidc_groups_claim``: a list, or one space-separated string as
WLCG profile tokens may carry). An issuer that cannot be reached answers 503 (try again), not 401.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from pandawms.core.auth import Caller, Role, caller_from_claims, check_claims, parse_roles, roles_from_groups
from pandawms.core.errors import InvalidInput, Transient, Unauthenticated

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "Ed25519", "EdDSA"]
REFETCH_EVERY_S = 10.0  # an unknown kid fetches the key set again at most this often
FETCH_TIMEOUT_S = 5.0
CACHE_SIZE = 20_000


def token_issuer(token: str) -> str:
    """The ``iss`` a token claims, unverified (to choose who verifies it); "" when unreadable."""
    try:
        claims = json.loads(extract_compact(token.encode()).payload)
    except (JoseError, ValueError, UnicodeDecodeError):
        return ""
    return str(claims.get("iss") or "") if isinstance(claims, dict) else ""


def parse_role_mapping(entries: tuple[str, ...]) -> dict[str, Role]:
    """``("/atlas/production=production", ...)`` -> {group: role}; InvalidInput names a bad entry."""
    out: dict[str, Role] = {}
    for entry in entries:
        group, sep, role = entry.rpartition("=")
        if not sep or not group.strip():
            raise InvalidInput(f"auth.oidc_roles: {entry!r} is not GROUP=ROLE", "oidc_roles")
        (out[group.strip()],) = parse_roles([role.strip()], "auth.oidc_roles")
    return out


@dataclass(frozen=True, slots=True)
class FederationSettings:
    issuer: str
    audience: str
    groups_claim: str = "groups"
    roles: Mapping[str, Role] | None = None
    default_roles: frozenset[Role] = frozenset({Role.USER})
    jwks_cache_s: float = 3600.0


def _groups(claims: Mapping[str, Any], claim: str) -> list[str]:
    value = claims.get(claim)
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(g) for g in value]
    return []


class FederatedIssuer:
    """Verifies one external issuer's tokens (thread-safe; fetches run in the caller's thread)."""

    def __init__(
        self,
        settings: FederationSettings,
        *,
        fetch: Callable[[str], Any] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._fetch = fetch or get_json
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched = float("-inf")
        self._verified: dict[str, Caller] = {}

    def verify(self, token: str, now: datetime) -> Caller:
        caller = self._verified.get(token)
        if caller is not None:
            if caller.expires + timedelta(seconds=30) < now:
                raise Unauthenticated("token: expired")
            return caller
        keys = self._key_set(_kid(token))
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            why = type(exc).__name__
            raise Unauthenticated(
                f"token: does not verify with {self.settings.issuer}'s keys ({why})"
            ) from None
        s = self.settings
        claims = check_claims(decoded.claims, issuer=s.issuer, audiences=(s.audience,), now=now)
        claims.setdefault("groups", _groups(claims, s.groups_claim))
        claims.pop("roles", None)  # an external issuer's own "roles" claim means nothing here
        roles = s.default_roles | roles_from_groups(_groups(claims, s.groups_claim), s.roles or {})
        if not roles:
            raise Unauthenticated(f"token: none of its groups is mapped to a role ({s.groups_claim})")
        if Role.PILOT in roles:
            raise Unauthenticated(
                "token: pilot tokens are issued by pandawms (panda token create --role pilot)"
            )
        caller = caller_from_claims(claims, roles)
        with self._lock:
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = caller
        return caller

    def _key_set(self, kid: str) -> KeySet:
        with self._lock:
            age = self._monotonic() - self._fetched
            stale = self._keys is None or age > self.settings.jwks_cache_s
            unknown = bool(kid) and kid not in self._kids and age > REFETCH_EVERY_S
            if stale or unknown:
                self._refresh()
            assert self._keys is not None
            return self._keys

    def _refresh(self) -> None:
        issuer = self.settings.issuer
        discovery = self._fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(discovery, dict) or discovery.get("issuer") != issuer:
            got = discovery.get("issuer") if isinstance(discovery, dict) else discovery
            raise Unauthenticated(f"issuer {issuer}: its discovery document names issuer {got!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise Unauthenticated(f"issuer {issuer}: its discovery document has no jwks_uri")
        jwks = self._fetch(jwks_uri)
        try:
            keys = KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise Transient(f"issuer {issuer}: unreadable key set at {jwks_uri} ({exc})") from None
        self._keys = keys
        self._kids = frozenset(str(k.kid) for k in keys.keys if k.kid)
        self._fetched = self._monotonic()


def get_json(url: str) -> Any:
    try:
        resp = httpx.get(url, timeout=FETCH_TIMEOUT_S, follow_redirects=True)
        resp.raise_for_status()
        return resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Transient(f"OIDC issuer unreachable: {url}: {exc}") from None


def _kid(token: str) -> str:
    try:
        return str(extract_compact(token.encode()).protected.get("kid") or "")
    except (JoseError, ValueError):
        return ""
