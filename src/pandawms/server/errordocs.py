"""The error answers every API route can give, declared in the OpenAPI spec (one table, given to every
router as it is included).

Each is the envelope with ``success: false`` and a message naming what is wrong: 400 bad input, 401/403
no or not enough rights (when tokens are on), 404 an unknown object, 409 a conflict with the stored
state, 413 a body over the limit, 415 an unsupported body encoding, 429 a write rate over the limit, 500 an
unexpected error, 503 the database cannot answer now (``Retry-After`` says when to resend).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

ERROR_ANSWERS: dict[int, str] = {
    400: "bad input: the message names the field or parameter",
    401: "no token, or one that is expired, revoked or not for this server (with [server.auth] enabled)",
    403: "the token's roles or ownership do not allow this action on these ids",
    404: "no such object (job, task, queue, dataset, rule, ...)",
    409: "conflicts with the stored state (e.g. a duplicate task name)",
    413: "the body is larger than the limit",
    415: "unsupported Content-Encoding",
    429: "too many writes from this identity; resend after Retry-After seconds",
    500: "unexpected server error (logged); the envelope says no more",
    503: "the database cannot answer now; resend after Retry-After seconds",
}


class ErrorAnswer(BaseModel):
    success: bool = Field(False, description="always false")
    message: str
    data: None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer, "description": description}
    for status, description in ERROR_ANSWERS.items()
}
