"""The issuer's endpoints: JWKS and discovery (at the root), token refresh and revocation, whoami, audit.

The token and revocation endpoints take the OAuth 2 form body (``application/x-www-form-urlencoded``)
as well as JSON, with the same validation and answers (server/oauth_bodies.py). URLs in the discovery
document start at ``public_url`` when it is set (a server behind a proxy), else at the asked URL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from pandawms.core.device import DEVICE_GRANT
from pandawms.core.errors import Unauthenticated
from pandawms.db import auth as auth_db
from pandawms.protocol import paths
from pandawms.protocol.auth import (
    AuditEntry,
    DeviceTokenRequest,
    Jwks,
    OidcConfiguration,
    RevokeRequest,
    TokenAnswer,
    TokenErrorAnswer,
    TokenRequest,
    WhoAmI,
)
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.envelope import Envelope
from pandawms.server.auth import bearer, issuer_settings
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.oauth_bodies import FormOrJsonRoute, ref, with_form
from pandawms.server.responses import envelope, oauth_error
from pandawms.server.routes_device import external_base
from pandawms.server.routes_device import poll as device_poll
from pandawms.services import tokens
from pandawms.services.tokens import ALGORITHM, KeyRing, TokenPair

Grant = Annotated[TokenRequest | DeviceTokenRequest, Body(discriminator="grant_type")]

router = APIRouter(tags=["auth"])
oauth = APIRouter(tags=["auth"], route_class=FormOrJsonRoute)  # form or JSON bodies; part of ``router``
well_known = APIRouter(tags=["auth"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


def _ring(ctx: ServerContext) -> KeyRing:
    if ctx.keys is None:
        raise Unauthenticated("issuer: keys not loaded yet")
    return ctx.keys


@well_known.get(paths.JWKS, response_model=Jwks)
def jwks(ctx: Ctx) -> Response:
    """The public keys that verify this server's tokens (every stored key: rotation keeps old ones).
    Read fresh: a key rotated by ``panda token rotate-keys`` is published at once."""
    ring = _ring(ctx)
    with ctx.db.read() as conn:
        ring.reload(conn)
    return JSONResponse(ring.jwks())


@well_known.get(paths.OIDC_CONFIGURATION, response_model=OidcConfiguration)
def discovery(request: Request, ctx: Ctx) -> Response:
    """OIDC discovery: the issuer, where its keys and token endpoint are (under ``public_url``, else at
    the URL this was asked at)."""
    base = external_base(request, ctx)
    doc = OidcConfiguration(
        issuer=ctx.config.resolved_issuer,
        jwks_uri=base + paths.JWKS,
        token_endpoint=base + paths.API_PREFIX + paths.AUTH_TOKEN,
        id_token_signing_alg_values_supported=[ALGORITHM],
        grant_types_supported=["refresh_token", DEVICE_GRANT],
        device_authorization_endpoint=base + paths.API_PREFIX + paths.AUTH_DEVICE,
    )
    return JSONResponse(doc.model_dump())


def _answer(pair: TokenPair) -> TokenAnswer:
    return TokenAnswer(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


TOKEN_400: dict[int | str, dict[str, Any]] = {
    400: {"model": TokenErrorAnswer, "description": "bad input, or a device poll's RFC 8628 answer"}
}


GRANT_SCHEMA = {
    "oneOf": [ref(TokenRequest), ref(DeviceTokenRequest)],
    "discriminator": {
        "propertyName": "grant_type",
        "mapping": {
            "refresh_token": ref(TokenRequest)["$ref"],
            DEVICE_GRANT: ref(DeviceTokenRequest)["$ref"],
        },
    },
}


@oauth.post(
    paths.AUTH_TOKEN,
    response_model=Envelope[TokenAnswer],
    responses=TOKEN_400,
    openapi_extra=with_form(GRANT_SCHEMA),
)
def token(body: Grant, ctx: Ctx) -> Response:
    """Refresh: the presented refresh token is revoked and a new pair issued. A revoked one presented
    again revokes every refresh token of its subject (401). Device code (RFC 8628, ``panda login``): the
    pair once the login is approved, else 400 with ``error`` authorization_pending, slow_down,
    expired_token, access_denied or invalid_grant. The body is JSON or the RFC's form
    (``grant_type=...&device_code=...``), the same fields either way."""
    if isinstance(body, DeviceTokenRequest):
        answer = device_poll(ctx, body)
        if isinstance(answer, TokenPair):
            return envelope(_answer(answer), message="logged in")
        return answer
    now = ctx.clock()
    try:
        with ctx.db.write() as conn:
            pair = tokens.refresh(conn, _ring(ctx), issuer_settings(ctx), body.refresh_token, now)
    except tokens.RefreshReused:
        with ctx.db.write() as conn:  # the refresh transaction rolled back: revoke in a committed one
            tokens.revoke_reused(conn, body.refresh_token, now)
        raise
    return envelope(_answer(pair), message="token refreshed")


@oauth.post(paths.AUTH_REVOKE, response_model=Envelope[bool], openapi_extra=with_form(ref(RevokeRequest)))
def revoke(body: RevokeRequest, ctx: Ctx) -> Response:
    """Log out (RFC 7009): revoke one refresh token; answers whether it was live (an unknown token
    answers false, with 200 as the RFC wants). An access token (a JWT) is 400 ``unsupported_token_type``:
    it is not stored, and expires within minutes. JSON or form body."""
    token = body.presented
    if token.count(".") == 2:  # a JWS compact token: ours are access tokens, refresh tokens are opaque
        lifetime = ctx.config.auth.access_lifetime
        why = f"access tokens are not revocable (they expire within {lifetime} s): revoke the refresh token"
        return oauth_error("unsupported_token_type", why)
    with ctx.db.write() as conn:
        done = tokens.revoke(conn, token, ctx.clock())
    return envelope(done, message="revoked" if done else "not a live refresh token")


router.include_router(oauth)


@router.get(paths.AUTH_WHOAMI, response_model=Envelope[WhoAmI])
def whoami(request: Request, ctx: Ctx) -> Response:
    """Who the Bearer token says the caller is (verified as the gate would, also when auth is off)."""
    caller = get_caller(request)
    if caller is None:
        token = bearer(request.scope)
        if token is None:
            raise Unauthenticated("whoami: send Authorization: Bearer <token>")
        caller = _ring(ctx).verify(token, issuer_settings(ctx), ctx.clock())
    i = caller.identity
    return envelope(
        WhoAmI(
            sub=i.sub,
            name=i.name,
            vo=i.vo,
            groups=list(i.groups),
            roles=sorted(r.value for r in caller.roles),
            queue=i.queue,
            expires=caller.expires,
            issuer=caller.issuer,
        )
    )


@router.get(paths.AUDIT_LIST, response_model=Envelope[list[AuditEntry]])
def audit_list(
    ctx: Ctx,
    sub: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
) -> Response:
    """State-changing calls, newest first (admins only); ``before`` = the last audit_id seen."""
    with ctx.db.read() as conn:
        rows = auth_db.audit_rows(conn, sub, limit, before)
    return envelope([AuditEntry.model_validate(r, from_attributes=True) for r in rows])
