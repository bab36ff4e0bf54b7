"""Security headers on every answer: a Content-Security-Policy that forbids inline script (the monitor's
only script is /static/monitor.js), no MIME sniffing, no framing, no referrer leaks to other sites.
An answer that sets its own Content-Security-Policy keeps it: ``panda login``'s confirmation page widens
``form-action`` to the identity provider (its Approve is a form POST redirected there; browsers hold
the redirect to the form's policy), with everything else as here (``with_form_action``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
)
CSP_HEADER = (b"content-security-policy", CSP.encode())
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


def with_form_action(origin: str) -> str:
    """The policy above with forms also allowed to go to ``origin`` (scheme://host[:port])."""
    return CSP.replace("form-action 'self'", f"form-action 'self' {origin}")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                own = any(bytes(k).lower() == CSP_HEADER[0] for k, _ in headers)
                message["headers"] = [*headers, *HEADERS] if own else [*headers, CSP_HEADER, *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)
