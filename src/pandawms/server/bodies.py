"""Request bodies for every route, decoded in one place: gzip with bounded sizes.

PanDA's pilots gzip every body: with ``Content-Encoding: gzip``, and in their legacy calls without the
header but starting with the gzip magic bytes. Raw uploads (a log tarball is gzip data, not a gzip
*encoding* of the body) are sniffed never, only decoded when the header says so. The decoded body is
bounded (a gzip bomb gets 413 naming the limit before it can fill memory) and a corrupt one gets 400.
Downstream apps see a plain body with a correct Content-Length and no Content-Encoding.
"""

from __future__ import annotations

import zlib

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pandawms.server.responses import envelope

GZIP_MAGIC = b"\x1f\x8b"
MAX_DECODED_BODY = 64 * 1024 * 1024  # above the 50 MB log tarball limit
INLINE_DECODE_BYTES = 256 * 1024  # larger bodies are decoded in a worker thread, off the event loop
GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
RAW_TYPES = ("application/octet-stream", "application/gzip", "application/x-gzip", "application/x-tar")


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def gunzip(data: bytes, limit: int = MAX_DECODED_BODY) -> bytes:
    """Decode one or more concatenated gzip members into at most ``limit`` bytes, else BodyError."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = decoder.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise BodyError(400, f"body: corrupt gzip data ({exc})") from None
        size += len(part)
        if size > limit:
            raise BodyError(413, f"body: gzip body decodes to more than {limit} bytes (the limit)")
        if not decoder.eof:
            raise BodyError(400, "body: corrupt gzip data (truncated stream)")
        out.append(part)
        rest = decoder.unused_data
    return b"".join(out)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1").strip().lower()
    return ""


def _mode(scope: Scope) -> str:
    """'decode' (header says gzip), 'sniff' (decode if the magic bytes start the body) or 'pass'."""
    encoding = _header(scope, b"content-encoding")
    if encoding in GZIP_ENCODINGS:
        return "decode"
    if encoding not in ("", "identity"):
        return "unsupported"
    if _header(scope, b"content-type").startswith(RAW_TYPES):
        return "pass"
    return "sniff"


class GzipBodies:
    """ASGI middleware: decodes gzip request bodies (declared or sniffed) before any route sees them."""

    def __init__(self, app: ASGIApp, max_decoded: int = MAX_DECODED_BODY) -> None:
        self.app = app
        self.max_decoded = max_decoded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        mode = _mode(scope) if scope["type"] == "http" else "pass"
        if mode == "pass":
            await self.app(scope, receive, send)
            return
        try:
            if mode == "unsupported":
                encoding = _header(scope, b"content-encoding")
                raise BodyError(415, f"Content-Encoding: {encoding!r} is not supported (use gzip)")
            head, more = await self._peek(receive)
            if mode == "sniff" and not head.startswith(GZIP_MAGIC):
                await self.app(scope, replay(head, receive, more), send)
                return
            body = await self._decode(head if not more else head + await self._rest(receive, len(head)))
        except BodyError as exc:
            await envelope(success=False, message=str(exc), status_code=exc.status)(scope, receive, send)
            return
        await self.app(plain_scope(scope, len(body)), replay(body, receive), send)

    async def _peek(self, receive: Receive) -> tuple[bytes, bool]:
        """At least the first two bytes (or the whole body if shorter); whether more is to come."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise BodyError(400, "body: client disconnected before sending it")
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size >= len(GZIP_MAGIC) or not more:
                return b"".join(chunks), more

    async def _rest(self, receive: Receive, have: int) -> bytes:
        chunks: list[bytes] = []
        size = have
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise BodyError(400, "body: client disconnected before sending it")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_decoded:
                raise BodyError(413, f"body: gzip body larger than {self.max_decoded} bytes (the limit)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _decode(self, data: bytes) -> bytes:
        if len(data) <= INLINE_DECODE_BYTES:
            return gunzip(data, self.max_decoded)
        return await anyio.to_thread.run_sync(gunzip, data, self.max_decoded)


def replay(first: bytes, receive: Receive, more: bool = False) -> Receive:
    """A receive that hands out ``first`` as the first message, then defers to the real one (the one
    helper of every middleware here that reads a body before the app does)."""
    pending = [{"type": "http.request", "body": first, "more_body": more}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def plain_scope(scope: Scope, length: int) -> Scope:
    skip = (b"content-encoding", b"content-length")
    headers = [(k, v) for k, v in scope.get("headers", ()) if k not in skip]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}
