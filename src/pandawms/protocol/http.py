"""Client side of the v1 envelope, shared by every HTTP client (pilot, factory): unwrap an answer into its
``data`` or one error class per thing the caller should do, and the base URL rule.

ServerUnreachable: transient failures outlasted the retry budget (try later). ServerRejected: the server
refused (4xx or success=false; resending will not help). BadResponse: the answer does not match the protocol
(a version mismatch). Cancelled: the caller's stop event was set while waiting to retry. TransientAnswer is
raised by ``unwrap`` for answers worth retrying (5xx, 408/425/429, non-JSON) and never leaves a client.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Self

import httpx

from pandawms.core.backoff import RandomSource
from pandawms.protocol import paths

TRANSIENT_STATUS = frozenset({408, 425, 429})


class ClientError(Exception):
    """Base of the HTTP clients' errors."""


class ServerUnreachable(ClientError):
    """Transient failures (network, 5xx) lasted longer than the retry budget."""


class ServerRejected(ClientError):
    """The server refused the request (4xx or success=false): retrying the same request will not help."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class BadResponse(ClientError):
    """The answer does not match the protocol models (a version mismatch, not a passing problem)."""


class Cancelled(ClientError):
    """The caller's stop event was set while waiting to retry."""


class TransientAnswer(Exception):
    """An answer worth retrying (5xx, 408/425/429, not JSON)."""


def api_base(url: str) -> str:
    """Accept the server root or the /api/v1 URL."""
    url = url.rstrip("/")
    return url if url.endswith(paths.API_PREFIX) else url + paths.API_PREFIX


def response_message(resp: httpx.Response) -> str:
    """The server's message in an error answer (envelope ``message``, FastAPI ``detail``, or the text)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500] or resp.reason_phrase
    if isinstance(body, dict):
        msg = body.get("message") or body.get("detail") or body
        return str(msg)[:500]
    return str(body)[:500]


def unwrap(resp: httpx.Response) -> Any:
    """The envelope's ``data``; raises TransientAnswer, ServerRejected or BadResponse for unusable answers."""
    if resp.status_code >= 500 or resp.status_code in TRANSIENT_STATUS:
        raise TransientAnswer(f"HTTP {resp.status_code}: {response_message(resp)}")
    if resp.status_code >= 400:
        raise ServerRejected(resp.status_code, response_message(resp))
    try:
        body = resp.json()
    except ValueError:
        raise TransientAnswer(f"HTTP {resp.status_code}: answer is not JSON: {resp.text[:200]!r}") from None
    if not isinstance(body, dict) or "data" not in body:
        raise BadResponse(f"answer is not a v1 envelope: {str(body)[:200]}")
    if body.get("success") is False:
        raise ServerRejected(resp.status_code, str(body.get("message", "")))
    return body["data"]


class EnvelopeClient:
    """The connection half of a v1 client: base URL, httpx client, clock and jitter source, closing."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
        rng: RandomSource | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = api_base(url)
        self._rng: RandomSource = rng or random.Random()
        self._clock = clock
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
