"""How a monitor page refuses a request: ``{"error": msg}`` when JSON is asked for (``?json`` or an
``Accept`` naming JSON), else the HTML error page; both are what the spec documents for 400 and 404.

``page_refusal`` answers for the server's request guard too (a NUL in a page's URL), so a page never
answers in the API's envelope, which its spec does not document.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from pandawms.monitor import models
from pandawms.monitor.render import render

# the first path segment of every page (the home page is "/"); tests check it against the routes
PAGE_ROOTS = frozenset(
    {
        "jobs",
        "job",
        "errors",
        "sites",
        "site",
        "users",
        "user",
        "datasets",
        "dataset",
        "rses",
        "rse",
        "tasks",
        "task",
        "search",
    }
)


def wants_json(request: Request) -> bool:
    if "json" in request.query_params:
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept or "text/json" in accept


def error_page(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return Response(
            models.ErrorBody(error=message).model_dump_json(), status, media_type="application/json"
        )
    return HTMLResponse(render("error.html", status=status, message=message, params={}, path=""), status)


def is_page(path: str) -> bool:
    return path == "/" or path.split("/", 2)[1] in PAGE_ROOTS


def page_refusal(scope: Scope, status: int, message: str) -> Response | None:
    """The page's own refusal for a request to a monitor page; None for any other path."""
    if not is_page(str(scope.get("path", ""))):
        return None
    return error_page(Request(scope), status, message)
