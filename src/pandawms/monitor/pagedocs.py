"""What the OpenAPI spec says of the monitor's pages: their query parameters, and that every page answers
HTML or, asked for JSON, its JSON twin, in success and refusal alike.

A parameter's value may not be empty (BigPanDA answers 400 to ``?hours=``), so the spec says
``minLength: 1``; only the flags (``json``, ``timestamp``) are read by presence and may be empty.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse

from pandawms.monitor import models

PARAM_DOCS: dict[str, str] = {
    "jobstatus": "job states; | ORs, , ANDs, ! negates, * is a wildcard (e.g. run*|fail*)",
    "computingsite": "queue name pattern",
    "produsername": "user name pattern (alias: user)",
    "prodsourcelabel": "managed, user, test, ... (jobtype=analysis|production|test is a shortcut)",
    "errorcode": "component:code, | ORs (e.g. pilot:1099|exe:65)",
    "pandaid": "PanDA ids, comma separated (lifts the default time window)",
    "hours": "time window on last modification: last N hours, decimals allowed (0.5 = 30 min); default 12",
    "days": "time window: last N days",
    "date_from": "window start (UTC) YYYY-MM-DD[THH:MM[:SS]], Z or an offset allowed (as in the JSON)",
    "date_to": "window end, the same forms as date_from",
    "limit": "at most this many jobs (the newest of the selection): the summaries read them and the list"
    " shows at most them (default 10,000)",
    "display_limit": "rows listed per page (default 100, never more than limit)",
    "sortby": "time-descending (default), time-ascending, pandaid-descending, pandaid-ascending",
    "cursor": "keyset position of the next page (from nextUrl)",
    "scope": "datasets of this scope",
    "name": "dataset/container name pattern (* is a wildcard)",
    "state": "open, closed, frozen; | ORs",
    "type": "dataset or container; | ORs",
    "status": "task states; | ORs, ! negates, * is a wildcard (e.g. running|scouting)",
    "username": "task owner pattern",
    "taskname": "task name pattern (* is a wildcard)",
    "workinggroup": "working group pattern",
    "processingtype": "processing type pattern",
    "tasktype": "task type pattern",
    "jeditaskid": "jediTaskIDs, comma separated (lifts the default time window)",
    "json": "answer with the JSON twin (same as Accept: application/json)",
    "timestamp": "any value: build the page now instead of taking it from the few-seconds page cache",
    "q": "a PanDA id, a scope:name DID, a queue name or a user name",
    "queue": "a queue name",
    "user": "a user name",
}
FLAGS = frozenset({"json", "timestamp"})  # read by presence: an empty value is the usual one
HTML = {"text/html": {"schema": {"type": "string"}}}


def query_params(names: frozenset[str], required: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``openapi_extra`` documenting the query parameters ``names`` (with the flags every page takes)."""
    return {
        "parameters": [
            {
                "name": n,
                "in": "query",
                "required": n in required,
                "schema": {"type": "string"} if n in FLAGS else {"type": "string", "minLength": 1},
                "description": PARAM_DOCS[n],
            }
            for n in sorted(names | FLAGS)
            if n in PARAM_DOCS
        ]
    }


def page_responses() -> dict[int | str, dict[str, Any]]:
    """A page's answers besides 200: its refusals, in JSON or HTML like the page itself."""
    return {
        200: {"content": HTML},
        400: {
            "model": models.ErrorBody,
            "content": HTML,
            "description": "a bad parameter, named in the message",
        },
        404: {
            "model": models.ErrorBody,
            "content": HTML,
            "description": "no such job, task, queue, user, dataset or RSE",
        },
    }


def redirect_doc(
    target: str, params: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """The route arguments of a redirecting page (``/job/?pandaid=N``, ``/search/?q=``): a 302 to
    ``target`` or a refusal, and its query parameters."""
    return {
        "status_code": 302,
        "response_class": RedirectResponse,
        "responses": {
            302: {
                "description": f"found: redirects to {target}",
                "headers": {"Location": {"schema": {"type": "string"}, "description": "the page"}},
            },
            400: page_responses()[400],
        },
        "openapi_extra": query_params(frozenset(params), frozenset(required)),
    }
