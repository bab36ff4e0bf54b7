"""OAuth 2 endpoints that take a form body as well as JSON (RFC 6749 §4.1.3 and §6, RFC 8628 §3.4,
RFC 7009 §2.1 send ``application/x-www-form-urlencoded``).

``FormOrJsonRoute`` hands a form body to the route as the JSON object of its parameters, so both
shapes meet the same pydantic model, the same validation (422 naming the field) and the same answers;
a form that is not one (a repeated or NUL-carrying parameter, bad UTF-8) is a 400 naming the field,
any other content type a 415. ``with_form`` declares the form shape in the OpenAPI spec beside JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from pandawms.protocol.forms import FORM, JSON, media_type, parse_form

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class FormOrJsonRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def form_or_json(request: Request) -> Response:
            kind = media_type(request.headers.get("content-type"))
            if kind == FORM:
                request = await _as_json(request)
            elif kind and kind != JSON and not kind.endswith("+json"):
                raise HTTPException(415, f"Content-Type: {kind!r} is not supported (use {FORM} or {JSON})")
            return await handler(request)

        return form_or_json


async def _as_json(request: Request) -> Request:
    body = json.dumps(parse_form(await request.body())).encode()
    headers = [(k, v) for k, v in request.scope["headers"] if k not in (b"content-type", b"content-length")]
    headers += [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({**request.scope, "headers": headers}, receive)


def with_form(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` adding the form media type with ``schema`` (the JSON body's) to a route."""
    return {"requestBody": {"content": {FORM: {"schema": schema}}}}


def ref(model: type) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}
