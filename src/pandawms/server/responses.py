"""Envelope responses and the table mapping domain errors to HTTP status codes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pydantic_core
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pandawms.core.errors import (
    Conflict,
    Fatal,
    Forbidden,
    InvalidInput,
    NotFound,
    PandaError,
    RateLimited,
    Transient,
    Unauthenticated,
)
from pandawms.protocol.suggest import did_you_mean

ERROR_STATUS: dict[type[PandaError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    NotFound: 404,
    Conflict: 409,
    Transient: 503,
    Fatal: 500,
}


def envelope(
    data: Any = None, *, success: bool = True, message: str = "", status_code: int = 200
) -> Response:
    body = pydantic_core.to_json({"success": success, "message": message, "data": data}, by_alias=True)
    return Response(content=body, status_code=status_code, media_type="application/json")


async def panda_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PandaError)
    return error_response(exc)


def validation_message(errors: Sequence[Any], model: type[BaseModel] | None = None) -> str:
    """One line naming every bad field: ``jobs.0.coreCount: Input should be greater than 0``; an unknown
    field of ``model`` (the request body's) gets the close known names: ``- did you mean coreCount?``."""
    problems = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query")]
        skip = 1 if tuple(err.get("loc", ()))[:1] == ("body",) else 0
        hint = did_you_mean(model, err, skip=skip)
        problems.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}{hint}")
    return "; ".join(problems)


def body_model(request: Request) -> type[BaseModel] | None:
    """The pydantic model of the matched route's request body, if it has one."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def oauth_error(error: str, description: str, data: Any = None) -> Response:
    """An OAuth 2 error (RFC 6749 §5.2, a 400): ``error`` and ``error_description`` at the top level, where
    OAuth clients read them, inside this API's envelope; never cached."""
    doc = {
        "success": False,
        "message": f"{error}: {description}",
        "data": data,
        "error": error,
        "error_description": description,
    }
    headers = {"Cache-Control": "no-store"}
    return Response(pydantic_core.to_json(doc), 400, media_type="application/json", headers=headers)


def error_response(exc: PandaError) -> Response:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    resp = envelope(success=False, message=str(exc), status_code=status)
    if isinstance(exc, Transient):
        resp.headers["Retry-After"] = "1"
    if isinstance(exc, RateLimited):
        resp.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, Unauthenticated):
        resp.headers["WWW-Authenticate"] = 'Bearer realm="pandawms"'
    return resp


async def http_error_handler(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (an unparsable body, a wrong method) in the envelope too."""
    assert isinstance(exc, StarletteHTTPException)
    resp = envelope(success=False, message=str(exc.detail), status_code=exc.status_code)
    for name, value in (exc.headers or {}).items():
        resp.headers[name] = value
    return resp


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    message = validation_message(exc.errors(), body_model(request))
    return envelope(success=False, message=message, status_code=422)
