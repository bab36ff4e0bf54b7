"""The pages of ``panda login``'s browser half (routes_device.py serves them): type the code, confirm
what is asking, then the outcome. Pure: every value is escaped here, no page carries a script (the
server's CSP forbids inline script), and ``csrf_problem`` decides whether an Approve/Deny POST came
from this server's own confirmation page.

CSRF: the confirmation page sets a random ``panda_device_csrf`` cookie (HttpOnly, SameSite=Lax, Secure
on https) and repeats it in a hidden field; a POST must carry both, equal (double submit), and a
browser's ``Origin``/``Sec-Fetch-Site`` must not name another site. A cross-site form cannot read the
cookie and a Lax cookie is not sent with a cross-site POST, so another site cannot approve a code.
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

from pandawms.core.auth import Caller
from pandawms.core.errors import PandaError
from pandawms.server.responses import ERROR_STATUS

CSRF_COOKIE = "panda_device_csrf"
CSRF_FIELD = "csrf"
APPROVE, DENY = "approve", "deny"
_TOKEN_LENGTH = 43  # secrets.token_urlsafe(32)
_URLSAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    doc = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>pandawms login: {e(title)}</title></head>"
        f"<body><h1>{e(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(exc: PandaError) -> HTMLResponse:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    return page("login not possible", f"<p class='error'>{e(exc)}</p>", status)


# relative action: the page's own URL whatever host or path prefix the browser reached it at
CODE_FORM = (
    "<form method='get' action='device'><label>Code shown by <code>panda login</code>: "
    "<input name='user_code' autocomplete='off' autofocus placeholder='XXXX-XXXX'></label> "
    "<button type='submit'>Continue</button></form>"
)


@dataclass(frozen=True, slots=True)
class Consent:
    """What the confirmation page tells the person about one pending login."""

    user_code: str  # as shown, XXXX-XXXX
    client_id: str  # as the device named itself (not verified)
    scope: str
    created_at: datetime  # naive UTC
    expires_at: datetime
    now: datetime
    refresh_lifetime: int  # s: how long the login lasts without panda logout
    identity_provider: str  # the issuer's URL, "" when an admin approves
    provider_down: str = ""  # why the identity provider is not reachable now ("" when it is, or none)


def _ago(delta: timedelta) -> str:
    s = max(0, int(delta.total_seconds()))
    return f"{s} s" if s < 120 else f"{s // 60} min"


def _lasting(seconds: int) -> str:
    days, hours = seconds // 86400, seconds // 3600
    return f"{days} days" if days >= 2 else f"{hours} hours" if hours >= 2 else f"{seconds // 60} min"


def _utc(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def confirm_body(c: Consent, csrf: str) -> str:
    """Who asks, since when, what approving gives it, and the Approve/Deny form."""
    scope = f"<li>Scope asked for: <code>{e(c.scope)}</code></li>" if c.scope else ""
    then = (
        f"Next you log in at the identity provider <code>{e(c.identity_provider)}</code>; its account"
        if c.identity_provider
        else "This server has no identity provider: after you approve, an administrator approves the"
        " code for your name, and that"
    )
    return (
        "<p>A program asks to log in to this pandawms server <strong>as you</strong>.</p><ul>"
        f"<li>Code: <strong>{e(c.user_code)}</strong> (it must be the one your terminal shows)</li>"
        f"<li>Program: <code>{e(c.client_id)}</code> (the name it gave itself)</li>{scope}"
        f"<li>Started: {e(_utc(c.created_at))} ({e(_ago(c.now - c.created_at))} ago); the code expires "
        f"at {e(_utc(c.expires_at))}</li></ul>"
        "<p>If you approve, that program gets tokens that act as you on this server: everything your "
        "roles allow (submit, follow, retry and kill your jobs and tasks, register and move your data) "
        f"for up to {e(_lasting(c.refresh_lifetime))}, or until you run <code>panda logout</code>. "
        f"{then} is the one it acts as.</p>{_down(c)}"
        "<p><strong>Approve only if you started this yourself</strong> by running <code>panda login</code>"
        " just now. If someone sent you this link or the code, press Deny.</p>"
        "<form method='post' action='device'>"
        f"<input type='hidden' name='user_code' value='{e(c.user_code)}'>"
        f"<input type='hidden' name='{CSRF_FIELD}' value='{e(csrf)}'>"
        f"<button type='submit' name='decision' value='{APPROVE}'>Approve</button> "
        f"<button type='submit' name='decision' value='{DENY}'>Deny</button></form>"
    )


def _down(c: Consent) -> str:
    if not c.provider_down:
        return ""
    return (
        "<p><strong>The identity provider is not reachable right now</strong> "
        f"(<code>{e(c.provider_down)}</code>): Approve fails until it is back; Deny works now.</p>"
    )


def admin_body(user_code: str) -> str:
    code = e(user_code.strip().upper())
    return (
        f"<p>This server has no identity provider. Ask an administrator to approve the code "
        f"<strong>{code}</strong>:</p><pre>panda token approve {code} --sub YOUR-NAME --role user</pre>"
        "<p>then return to your terminal.</p>"
    )


DENIED_BODY = (
    "<p>The login was refused: nothing was given to the program. <code>panda login</code> in the "
    "terminal stops with access_denied.</p>"
)


def approved_body(caller: Caller) -> str:
    roles = ", ".join(sorted(r.value for r in caller.roles))
    return (
        f"<p>You are <strong>{e(caller.display_name)}</strong> ({e(caller.sub)}; roles: {e(roles)}).</p>"
        "<p>Return to your terminal: <code>panda login</code> finishes by itself.</p>"
    )


def refused_body(error: str) -> str:
    return f"<p>The identity provider answered {e(error)}.</p>"


def csrf_token(cookie: str | None) -> str:
    """The browser's token when it has a well-formed one (two tabs share it), else a new one."""
    if cookie is not None and len(cookie) == _TOKEN_LENGTH and set(cookie) <= _URLSAFE:
        return cookie
    return secrets.token_urlsafe(32)


def csrf_problem(
    cookie: str | None, field: str | None, origin: str | None, fetch_site: str | None, host: str
) -> str | None:
    """Why an Approve/Deny POST is not from this server's confirmation page (None: it is). ``host`` is
    the host[:port] the browser reaches this server at (``public_url``'s, else the request's)."""
    if fetch_site is not None and fetch_site.lower() == "cross-site":
        return "the form was sent from another site (Sec-Fetch-Site: cross-site)"
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
        return f"the form was sent from another site (Origin {origin[:100]})"
    if not cookie:
        return "the confirmation cookie is missing (cookies off, or another browser): open the link again"
    if not field or not secrets.compare_digest(cookie.encode(), field.encode()):
        return "the confirmation form is not this browser's (or is too old): open the link again"
    return None
