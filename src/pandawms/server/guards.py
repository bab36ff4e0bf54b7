"""Guards around every route, so no request ends in a 500 page, a dropped connection or a body read whole
into memory.

``RequestGuard``: a body larger than ``max_body`` bytes (declared or streamed; gzip bodies are decoded and
bounded before, in server/bodies.py) gets a 413 as soon as the limit is passed. A NUL character is refused
in one place, the same way on both back ends (PostgreSQL cannot store one in text; SQLite can, so without
this the two would disagree): query strings and paths with ``%00`` get a 400 naming the parameter (on a
monitor page in the page's own shape, JSON ``{"error": ...}`` or HTML, as its spec says); a JSON
body that carries ``\\u0000`` gets a 400 naming the field, except in the free-text reports a pilot or
factory sends (diagnostics, logs, metadata), where each NUL becomes U+FFFD: a payload's stderr may hold
one, and refusing it would keep the job from ever finishing.

``ErrorEnvelope``: an exception no route handled is answered with the envelope (503 with ``Retry-After``
when the database is unreachable, locked, full or read-only, so clients back off and resend; else 500) and
logged with its traceback; the connection stays open.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pandawms.db.engine import unavailable_reason
from pandawms.server.bodies import MAX_DECODED_BODY, plain_scope, replay
from pandawms.server.responses import envelope

log = logging.getLogger("pandawms.server")
NUL = "\x00"
JSON_NUL = b"\\u0000"
REPLACEMENT = "\ufffd"
# Free text written by pilots and factories: a NUL there is replaced, not refused.
FREE_TEXT_FIELDS = frozenset(
    {"pilot_error_diag", "exe_error_diag", "pilot_log", "meta_data", "job_metrics", "diag", "message"}
)
RETRY_AFTER_S = 5
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body: larger than {limit} bytes (the limit)")


# A refusal in another shape for some paths (the monitor's pages answer in their own): None = the envelope.
Refusal = Callable[[Scope, int, str], Response | None]


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body: int = MAX_DECODED_BODY, pages: Refusal | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = _url_problem(scope)
        if problem is not None:
            page = self.pages(scope, 400, problem) if self.pages is not None else None
            await (page or envelope(success=False, message=problem, status_code=400))(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            message = str(BodyTooLarge(self.max_body))
            await envelope(success=False, message=message, status_code=413)(scope, receive, send)
            return
        if not _is_json(scope):
            await self.app(scope, _bounded(receive, self.max_body), send)
            return
        try:
            body, ended = await _read(receive, self.max_body)
        except BodyTooLarge as exc:
            await envelope(success=False, message=str(exc), status_code=413)(scope, receive, send)
            return
        if ended and JSON_NUL in body:
            cleaned, problems = clean_json(body)
            if problems:
                message = "; ".join(problems)
                await envelope(success=False, message=message, status_code=400)(scope, receive, send)
                return
            body = cleaned
        await self.app(plain_scope(scope, len(body)), replay(body, receive), send)


def _url_problem(scope: Scope) -> str | None:
    if NUL in scope.get("path", ""):
        return "path: NUL character (%00) not allowed"
    query = bytes(scope.get("query_string", b""))
    if b"%00" not in query.lower():
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            return f"{name.replace(NUL, '')}: NUL character (%00) not allowed"
    return "query: NUL character (%00) not allowed"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _is_json(scope: Scope) -> bool:
    return b"json" in (_header(scope, b"content-type") or b"").lower()


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _bounded(receive: Receive, limit: int) -> Receive:
    """A receive that stops a streamed body at ``limit`` bytes (ErrorEnvelope answers 413)."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise BodyTooLarge(limit)
        return message

    return counted


def clean_json(body: bytes) -> tuple[bytes, list[str]]:
    """The body with NULs replaced in free-text fields, and one problem per other field holding one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body, []  # not JSON after all: the route's own parser names the error
    problems = [f"{where}: NUL character (\\u0000) not allowed" for where in _nul_paths(doc, "")]
    if problems:
        return body, problems
    return json.dumps(_replace_free_text(doc, None)).encode(), []


def _nul_paths(value: Any, where: str, key: str | None = None) -> Iterator[str]:
    if key in FREE_TEXT_FIELDS:
        return
    if isinstance(value, str):
        if NUL in value:
            yield where or "body"
    elif isinstance(value, dict):
        for k, v in value.items():
            name = str(k)
            if NUL in name:
                yield f"{where}.{name.replace(NUL, '')}".lstrip(".") + " (field name)"
            yield from _nul_paths(v, f"{where}.{name}".lstrip("."), name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nul_paths(item, f"{where}[{i}]", None)


def _replace_free_text(value: Any, key: str | None) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, dict):
        return {k: _replace_free_text(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_free_text(v, key) for v in value]
    return value


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            return b"".join(chunks), True


class ErrorEnvelope:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the last line of defence: every other error is answered in the routes
            if started:
                raise  # half a response is out: only closing the connection can tell the client
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            status, message = describe_failure(exc)
            resp = envelope(success=False, message=message, status_code=status)
            if status == 503:
                resp.headers["Retry-After"] = str(RETRY_AFTER_S)
            await resp(scope, receive, send)


def describe_failure(exc: Exception) -> tuple[int, str]:
    """413 for a streamed body over the limit, 503 for a database or disk that cannot take it now (down,
    locked, full, read-only), 500 for the rest."""
    if isinstance(exc, BodyTooLarge):
        return 413, str(exc)
    reason = unavailable_reason(exc)
    if reason is not None:
        return 503, f"database unavailable: {reason}"
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return 503, f"storage unavailable: {exc.strerror}"
    return 500, f"internal error ({type(exc).__name__}); the server log has the details"
