"""The gate in front of every route: authenticate the Bearer token, apply the route's policy, limit, audit.

One ASGI middleware (outside the pilot fast path, so the hot calls pass the same gate) and the policy
table of server/policies.py: routes themselves only read ``request.state.caller`` where they stamp an
owner. Order per request: policy of the path (public: straight through) -> token (401 naming why) ->
role (403) -> write rate per identity (429 + Retry-After) -> the resource check on the body's ids in one
query (403 naming the refused ids; the body is replayed to the route) -> the route -> the audit row of a
state-changing call. The pilot's hot calls (``deferred``: the paths server/fastpath.py answers) stop after
the rate limit: the fast path makes their policy's ``parsed`` check on the request it validates, so the
body is read and parsed once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pandawms.core.access import Action, Resource
from pandawms.core.auth import Caller, parse_roles
from pandawms.core.certs import cert_caller, parse_cert_roles
from pandawms.core.errors import Forbidden, InvalidInput, PandaError, RateLimited, Unauthenticated
from pandawms.db import auth as auth_db
from pandawms.server.bodies import replay
from pandawms.server.context import ServerContext
from pandawms.server.fastpath import _read_body as read_body
from pandawms.server.federation import FederatedIssuer, FederationSettings, parse_role_mapping, token_issuer
from pandawms.server.issuer import settings_of
from pandawms.server.policies import Check, RoutePolicy, policy_for
from pandawms.server.responses import error_response
from pandawms.server.tls import client_certificate
from pandawms.services.tokens import IssuerSettings, KeyRing

log = logging.getLogger("pandawms.server.auth")
MAX_CHECKED_BODY = 16 * 1024 * 1024
INLINE_CHECK_BYTES = 8192  # on SQLite, checks of bodies up to this size read on the event loop
RELOAD_EVERY_S = 10.0  # an unknown kid reloads the keys at most this often (rotation by another process)
COOKIE = "panda_token"
UNAUDITED = frozenset({(Resource.JOBS, Action.ACQUIRE), (Resource.JOBS, Action.UPDATE)})  # in job history


def issuer_settings(ctx: ServerContext) -> IssuerSettings:
    return settings_of(ctx.config)


class WriteLimiter:
    """Token bucket per identity: ``rate`` writes/s, bursts of ``burst``; 0 = no limit."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_for(self, sub: str) -> float:
        """0 when a write may go now (and it is counted), else the seconds until one may."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(sub, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[sub] = (tokens - 1.0, now)
                return 0.0
            self._buckets[sub] = (tokens, now)
            return (1.0 - tokens) / self.rate


def federated_issuer(ctx: ServerContext) -> FederatedIssuer | None:
    """The external OIDC issuer of ``[server.auth] oidc_issuer``, or None when none is configured."""
    a = ctx.config.auth
    if not a.oidc_issuer:
        return None
    settings = FederationSettings(
        issuer=a.oidc_issuer,
        audience=a.oidc_audience or a.audience,
        groups_claim=a.oidc_groups_claim,
        roles=parse_role_mapping(a.oidc_roles),
        default_roles=parse_roles(a.oidc_default_roles, "auth.oidc_default_roles"),
        jwks_cache_s=float(a.oidc_jwks_cache),
    )
    return FederatedIssuer(settings)


def bearer(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer``, else the monitor's cookie."""
    cookie = ""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = value.decode("latin-1")
            kind, _, token = text.partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"cookie":
            cookie = str(value.decode("latin-1"))
    for part in cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE and value:
            return value
    return None


class AuthGate:
    def __init__(self, app: ASGIApp, ctx: ServerContext, deferred: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.ctx = ctx
        self.monitor_login = ctx.config.auth.monitor == "login"
        # POSTs to these paths: the fast path makes their resource check (policy.parsed)
        self.hot = {path: policy_for(path, self.monitor_login) for path in deferred}
        unchecked = sorted(p for p, pol in self.hot.items() if pol.parsed is None or pol.public)
        if unchecked:  # the gate would skip their resource check and nobody would make it
            raise ValueError(f"fast-path routes without a parsed check in server/policies.py: {unchecked}")
        self.settings = issuer_settings(ctx)
        self.limiter = WriteLimiter(ctx.config.auth.write_rate, ctx.config.auth.write_burst)
        self._reloaded = 0.0
        self.federation = federated_issuer(ctx)
        self.certs = parse_cert_roles(ctx.config.auth.cert_roles, ctx.config.auth.cert_default_roles)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hot = self.hot.get(scope["path"]) if scope["method"] == "POST" else None
        if hot is not None:
            await self._pilot_call(hot, scope, receive, send)
            return
        policy = policy_for(scope["path"], self.monitor_login)
        if policy.public:
            await self.app(scope, receive, send)
            return
        try:
            caller = await self._admit(scope, policy)
            receive = await self._check(scope, receive, policy, caller)
        except PandaError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        if not self._audited(policy):
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, send_status)
        row = _audit_row(self.ctx, caller, scope, status[0] if status else 500)
        await anyio.to_thread.run_sync(self._audit, row)

    async def _pilot_call(self, policy: RoutePolicy, scope: Scope, receive: Receive, send: Send) -> None:
        """A call of the fast path: token, role and rate here, its resource check there (``parsed``, on
        the request it validates: the body is read once); not audited (it is in the job history)."""
        try:
            caller = await self._admit(scope, policy)
            self._limit(policy, caller)
        except PandaError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, policy: RoutePolicy) -> Caller:
        """The caller of a valid token (401 naming why not) holding one of the policy's roles (403)."""
        caller = await self._authenticate(scope)
        if policy.roles is not None and not caller.has(*policy.roles):
            raise Forbidden(f"{scope['path']}: needs one of the roles {_names(policy.roles)}")
        return caller

    def _limit(self, policy: RoutePolicy, caller: Caller) -> None:
        if policy.writes:
            wait = self.limiter.wait_for(caller.sub)
            if wait > 0:
                raise RateLimited(wait)

    async def _authenticate(self, scope: Scope) -> Caller:
        token = bearer(scope)
        if token is None and (cert := client_certificate(scope)) is not None:
            subject, common_name, expires = cert
            return cert_caller(self.certs, subject, common_name, expires)
        if token is None:
            raise Unauthenticated("Authorization: a Bearer token is required (panda login, or a token file)")
        if self.federation is not None and token_issuer(token) == self.federation.settings.issuer:
            return await anyio.to_thread.run_sync(self.federation.verify, token, self.ctx.clock())
        ring = self.ring
        if not ring.knows(token) and time.monotonic() - self._reloaded > RELOAD_EVERY_S:
            self._reloaded = time.monotonic()
            await anyio.to_thread.run_sync(self._reload)
        return ring.verify(token, self.settings, self.ctx.clock())

    @property
    def ring(self) -> KeyRing:
        if self.ctx.keys is None:
            raise Unauthenticated("issuer: keys not loaded yet")
        return self.ctx.keys

    def _reload(self) -> None:
        with self.ctx.db.read() as conn:
            self.ring.reload(conn)

    async def _check(self, scope: Scope, receive: Receive, policy: RoutePolicy, caller: Caller) -> Receive:
        """Rate limit, then the resource check; the receive to hand on (the body replayed if read).

        A pure check runs here on the event loop. A check that reads the database runs here too on
        SQLite when the body is small (a pilot's update: one indexed read in WAL mode, which never waits
        for a writer, costs less than the hop to a worker thread); on PostgreSQL, or for a batch that
        may name thousands of ids, it runs in a worker thread.
        """
        self._limit(policy, caller)
        if policy.check is None and policy.pure is None:
            return receive
        raw, body = b"", None
        if policy.body:
            raw, body = await _json_body(receive)
            receive = replay(raw, receive)
        if policy.pure is not None:
            policy.pure(caller, body)
        if policy.check is None:
            return receive
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self._audited(policy):
            scope.setdefault("state", {})["audit_ids"] = _ids_text(body, query)
        if policy.job_ids is not None and self.ctx.dispatched.allows(caller, policy.job_ids(body, query)):
            return receive  # a pilot's update of jobs already seen dispatched to its queue
        if self.ctx.db.is_sqlite and len(raw) <= INLINE_CHECK_BYTES:
            self._run_check(policy.check, caller, body, query)
        else:
            await anyio.to_thread.run_sync(self._run_check, policy.check, caller, body, query)
        return receive

    def _audited(self, policy: RoutePolicy) -> bool:
        """A state-changing call outside the job history (acquire and updates are in it)."""
        return (
            policy.writes and (policy.resource, policy.action) not in UNAUDITED and self.ctx.config.auth.audit
        )

    def _run_check(self, check: Check, caller: Caller, body: Any, query: Mapping[str, str]) -> None:
        with self.ctx.db.read() as conn:
            facts = check(conn, caller, body, query)
        if facts:
            self.ctx.dispatched.learn(facts)

    def _audit(self, row: dict[str, object]) -> None:
        try:
            with self.ctx.db.write() as conn:
                auth_db.insert_audit(conn, [row])
        except Exception:  # an audit failure must not turn a done call into an error
            log.exception("audit row not written: %s", row)


async def _json_body(receive: Receive) -> tuple[bytes, Any]:
    """The body and its JSON (None when it is not JSON: the route answers 422 for it)."""
    raw = await read_body(receive, MAX_CHECKED_BODY)
    if raw is None:
        raise InvalidInput(f"body: larger than {MAX_CHECKED_BODY} bytes")
    try:
        return raw, json.loads(raw) if raw else None
    except ValueError:
        return raw, None


def _names(roles: frozenset[Any]) -> str:
    return ", ".join(sorted(r.value for r in roles)) or "(none: no policy for this path)"


def _audit_row(ctx: ServerContext, caller: Caller, scope: Scope, status: int) -> dict[str, object]:
    return {
        "time": ctx.clock(),
        "sub": caller.sub,
        "roles": ",".join(sorted(r.value for r in caller.roles)),
        "method": scope["method"][:8],
        "path": scope["path"][:128],
        "ids": scope.get("state", {}).get("audit_ids", ""),
        "status_code": status,
    }


def _ids_text(body: Any, query: Mapping[str, str]) -> str:
    """The ids a call acted on, for its audit row (bounded)."""
    found: dict[str, object] = {k: v for k, v in query.items() if k in ("job_id", "task_id")}
    if isinstance(body, dict):
        found.update(
            {k: body[k] for k in ("job_ids", "jobId", "job_id", "jediTaskID", "site_name") if k in body}
        )
    return json.dumps(found)[:2000]
