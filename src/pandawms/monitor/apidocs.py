"""/api/v1/docs that works offline: Swagger UI's files come from the swagger-ui-py package (PyPI; it ships
Swagger UI 5, which reads FastAPI's OpenAPI 3.1 - swagger-ui-bundle's 4.15 cannot) and are served under
/static/swagger-ui/; the page is started by static/swagger-init.js, so it needs
no CDN and no inline script (a Content-Security-Policy may forbid those)."""

from __future__ import annotations

from html import escape
from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_URL = "/static/swagger-ui"


def assets() -> Path:
    """Swagger UI's folder in swagger-ui-py (located, not imported: only its static files are used)."""
    spec = find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise RuntimeError("swagger-ui-py is missing (a dependency in pyproject.toml): pip install -e .")
    return Path(spec.origin).parent / "static"


def docs_page(title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API docs</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{ASSETS_URL}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{ASSETS_URL}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""


def mount_api_docs(app: FastAPI, docs_url: str) -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``docs_url`` (mount before the monitor's /static)."""
    openapi_url = app.openapi_url or ""
    page = docs_page(app.title, openapi_url)
    app.mount(ASSETS_URL, StaticFiles(directory=assets()), name="swagger-ui")

    @app.get(docs_url, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(page)
