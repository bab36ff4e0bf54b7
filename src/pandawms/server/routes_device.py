"""``panda login``'s server side (RFC 8628 device authorization grant, after DiracX's device flow).

``POST /api/v1/auth/device`` starts a login: a device code for the CLI and a user code for the person.
The person opens ``/auth/device`` (the verification page, at the root) and types the code, or follows
the complete URI, and gets a confirmation page: what asks (the client, the code, when it started,
what it will be able to do) with Approve and Deny, POSTed back to ``/auth/device`` with a CSRF token
(server/device_pages.py). Deny refuses the login (the device's poll gets access_denied). Approve, with
an external OIDC issuer configured, redirects to the issuer's login (authorization code + PKCE); its
redirect back to ``/auth/device/complete`` exchanges the code, verifies the access token as every
federated token is verified (groups -> roles) and approves the login for that identity. Without one,
Approve tells the person to ask an admin (``panda token approve``). The CLI meanwhile polls the token
endpoint (routes_auth.token with the device grant): ``poll`` answers. Links start at ``public_url``
when it is set (a server behind a proxy), else at the URL the request came to. The start and the
pages are public, limited per client address (``[server.auth] device_rate``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import RedirectResponse, Response

from pandawms.core.auth import Caller
from pandawms.core.device import PollError, PollOutcome, parse_user_code, show_user_code
from pandawms.core.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    PandaError,
    RateLimited,
    Transient,
    Unauthenticated,
)
from pandawms.db.device_codes import DeviceRow
from pandawms.protocol import paths
from pandawms.protocol.auth import DeviceAnswer, DeviceError, DeviceRequest, DeviceTokenRequest
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.forms import parse_form
from pandawms.server import device_pages as pages_html
from pandawms.server.auth import WriteLimiter, federated_issuer, issuer_settings
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.federation import FederatedIssuer
from pandawms.server.headers import with_form_action
from pandawms.server.oidc_login import OidcClient
from pandawms.server.responses import envelope, oauth_error
from pandawms.services import device as device_service
from pandawms.services.device import DeviceSettings
from pandawms.services.tokens import TokenPair

router = APIRouter(tags=["auth"])
pages = APIRouter(tags=["auth"], include_in_schema=False)
Ctx = Annotated[ServerContext, Depends(get_ctx)]
UserCode = Annotated[str | None, Query(max_length=32)]
Param = Annotated[str | None, Query(max_length=2048)]


def device_settings(ctx: ServerContext) -> DeviceSettings:
    a = ctx.config.auth
    return DeviceSettings(lifetime=timedelta(seconds=a.device_lifetime), interval=a.device_interval)


def _limit(request: Request, ctx: ServerContext) -> None:
    state = request.app.state
    limiter: WriteLimiter | None = getattr(state, "device_limiter", None)
    if limiter is None:
        a = ctx.config.auth
        limiter = state.device_limiter = WriteLimiter(a.device_rate, a.write_burst)
    wait = limiter.wait_for(request.client.host if request.client else "")
    if wait > 0:
        raise RateLimited(wait)


def _federation(request: Request, ctx: ServerContext) -> tuple[OidcClient, FederatedIssuer] | None:
    """The external issuer as a login client and as the verifier of its tokens (None: not configured)."""
    state = request.app.state
    if not hasattr(state, "device_federation"):
        issuer = federated_issuer(ctx)
        a = ctx.config.auth
        client = OidcClient(a.oidc_issuer, a.oidc_client_id, a.oidc_client_secret)
        state.device_federation = (client, issuer) if issuer is not None else None
    found: tuple[OidcClient, FederatedIssuer] | None = state.device_federation
    return found


def external_base(request: Request, ctx: ServerContext) -> str:
    """Where users reach this server: ``public_url``, else the URL this request came to (no slash)."""
    return ctx.config.public_url or str(request.base_url).rstrip("/")


def _page_url(request: Request, ctx: ServerContext, path: str) -> str:
    return external_base(request, ctx) + path


@router.post(paths.AUTH_DEVICE, response_model=Envelope[DeviceAnswer])
def device(body: DeviceRequest, request: Request, ctx: Ctx) -> Response:
    """Start a device login: show the user ``user_code`` and ``verification_uri``, then poll the token
    endpoint with ``device_code`` every ``interval`` s (grant_type urn:ietf:params:oauth:grant-type:
    device_code) until it answers tokens or expired_token / access_denied."""
    _limit(request, ctx)
    with ctx.db.write() as conn:
        started = device_service.start(conn, device_settings(ctx), body.client_id, body.scope, ctx.clock())
    page = _page_url(request, ctx, paths.DEVICE_PAGE)
    answer = DeviceAnswer(
        device_code=started.device_code,
        user_code=started.user_code,
        verification_uri=page,
        verification_uri_complete=f"{page}?user_code={started.user_code}",
        expires_in=started.expires_in,
        interval=started.interval,
    )
    return envelope(answer, message=f"open {page} and enter the code {started.user_code}")


def poll(ctx: ServerContext, body: DeviceTokenRequest) -> TokenPair | Response:
    """The token endpoint's device grant: the pair, or RFC 8628's 400 answer (after the poll committed)."""
    if ctx.keys is None:
        raise Unauthenticated("issuer: keys not loaded yet")
    with ctx.db.write() as conn:
        result = device_service.poll(conn, ctx.keys, issuer_settings(ctx), body.device_code, ctx.clock())
    if isinstance(result, TokenPair):
        return result
    return _poll_refusal(result)


def _poll_refusal(outcome: PollOutcome) -> Response:
    assert outcome.error is not None
    waiting = outcome.error in (PollError.AUTHORIZATION_PENDING, PollError.SLOW_DOWN)
    interval = outcome.interval if waiting else None  # the interval from now on, for a device still waiting
    err = DeviceError(error=outcome.error.value, error_description=outcome.message, interval=interval)
    return oauth_error(err.error, err.error_description, err.model_dump())  # RFC 8628 §3.5


MAX_FORM_BYTES = 4096  # the confirmation form: a code, a token and a decision


@pages.get(paths.DEVICE_PAGE)
def device_page(request: Request, ctx: Ctx, user_code: UserCode = None) -> Response:
    """The verification page: type the code, then confirm what asks (Approve / Deny); nothing changes."""
    try:
        _limit(request, ctx)
        if not user_code:
            return pages_html.page("log in to pandawms", pages_html.CODE_FORM)
        now = ctx.clock()
        with ctx.db.read() as conn:
            row = device_service.pending(conn, user_code, now)
        consent = _consent(ctx, user_code, row, now)
        federation = _federation(request, ctx)
        idp = None
        if federation is not None:
            try:
                idp = federation[0].authorization_origin()
            except Transient as exc:  # the page still lets the person Deny; Approve says it again
                consent = dataclasses.replace(consent, provider_down=str(exc))
    except PandaError as exc:
        return pages_html.error_page(exc)
    token = pages_html.csrf_token(request.cookies.get(pages_html.CSRF_COOKIE))
    resp = pages_html.page("confirm the login", pages_html.confirm_body(consent, token))
    if idp is not None:  # Approve is a POST redirected to the provider: the form's policy must allow it
        resp.headers["Content-Security-Policy"] = with_form_action(idp)
    secure = external_base(request, ctx).startswith("https://")
    life = max(ctx.config.auth.device_lifetime, 60)
    # no Path: the browser scopes it to this page's directory, whatever prefix a proxy adds
    resp.set_cookie(
        pages_html.CSRF_COOKIE, token, max_age=life, path=None, secure=secure, httponly=True, samesite="lax"
    )
    return resp


def _consent(ctx: ServerContext, user_code: str, row: DeviceRow, now: datetime) -> pages_html.Consent:
    return pages_html.Consent(
        user_code=show_user_code(parse_user_code(user_code)),
        client_id=row.client_id,
        scope=row.scope,
        created_at=row.created_at,
        expires_at=row.poll.expires_at,
        now=now,
        refresh_lifetime=ctx.config.auth.refresh_lifetime,
        identity_provider=ctx.config.auth.oidc_issuer,
    )


async def _form_body(request: Request) -> bytes | None:
    """The POSTed form, None when it is larger than any confirmation form."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@pages.post(paths.DEVICE_PAGE)
def device_decision(
    request: Request, ctx: Ctx, raw: Annotated[bytes | None, Depends(_form_body)]
) -> Response:
    """The confirmation page's Approve or Deny (CSRF-checked): Deny refuses the login; Approve goes to
    the identity provider's login (or, without one, says how an admin approves)."""
    try:
        _limit(request, ctx)
        if raw is None:
            raise InvalidInput(f"body: larger than {MAX_FORM_BYTES} bytes", "body")
        fields = parse_form(raw)
        _check_csrf(request, ctx, fields)
        user_code = fields.get("user_code")
        if not user_code:
            raise InvalidInput("user_code: missing from the form", "user_code")
        return _decision(request, ctx, user_code, fields.get("decision", ""))
    except PandaError as exc:
        return pages_html.error_page(exc)


def _check_csrf(request: Request, ctx: ServerContext, fields: dict[str, str]) -> None:
    host = urlsplit(ctx.config.public_url).netloc if ctx.config.public_url else request.url.netloc
    problem = pages_html.csrf_problem(
        request.cookies.get(pages_html.CSRF_COOKIE),
        fields.get(pages_html.CSRF_FIELD),
        request.headers.get("origin"),
        request.headers.get("sec-fetch-site"),
        host,
    )
    if problem is not None:
        raise Forbidden(f"login not confirmed: {problem}")


def _decision(request: Request, ctx: ServerContext, user_code: str, decision: str) -> Response:
    now = ctx.clock()
    if decision == pages_html.DENY:
        with ctx.db.write() as conn:
            device_service.deny(conn, user_code, now, via=paths.DEVICE_PAGE)
        return pages_html.page("login refused", pages_html.DENIED_BODY)
    if decision != pages_html.APPROVE:
        raise InvalidInput(f"decision: expected approve or deny, got {decision[:16]!r}", "decision")
    federation = _federation(request, ctx)
    if federation is None:
        with ctx.db.read() as conn:
            device_service.pending(conn, user_code, now)
        return pages_html.page("waiting for an administrator", pages_html.admin_body(user_code))
    with ctx.db.write() as conn:
        login = device_service.begin_login(conn, user_code, now)
    back = _page_url(request, ctx, paths.DEVICE_COMPLETE)
    target = federation[0].authorize_url(back, login.state, login.code_challenge)
    return RedirectResponse(target, status_code=303)


@pages.get(paths.DEVICE_COMPLETE)
def device_complete(
    request: Request, ctx: Ctx, state: Param = None, code: Param = None, error: Param = None
) -> Response:
    """The identity provider's redirect back: exchange the code, verify its token, approve the login."""
    try:
        caller = _complete(request, ctx, state, code, error)
    except PandaError as exc:
        return pages_html.error_page(exc)
    if caller is None:
        return pages_html.page("login refused", pages_html.refused_body(str(error)))
    return pages_html.page("login approved", pages_html.approved_body(caller))


def _complete(
    request: Request, ctx: ServerContext, state: str | None, code: str | None, error: str | None
) -> Caller | None:
    federation = _federation(request, ctx)
    if federation is None:
        raise NotFound("no identity provider is configured on this server ([server.auth] oidc_issuer)")
    if not state:
        raise InvalidInput("state: missing from the identity provider's answer", "state")
    now = ctx.clock()
    if error:  # the user refused, or the provider did: the device's next poll gets access_denied
        with ctx.db.write() as conn:
            device_service.finish_login(conn, state, None, paths.DEVICE_COMPLETE, now)
        return None
    if not code:
        raise InvalidInput("code: missing from the identity provider's answer", "code")
    with ctx.db.read() as conn:
        row = device_service.login_of(conn, state, now)
    assert row.code_verifier is not None
    client, verifier = federation
    token = client.exchange(code, _page_url(request, ctx, paths.DEVICE_COMPLETE), row.code_verifier)
    caller = verifier.verify(token, now)
    with ctx.db.write() as conn:
        device_service.finish_login(conn, state, caller.identity, paths.DEVICE_COMPLETE, now)
    return caller
