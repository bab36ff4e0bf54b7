"""The read-only web monitor: BigPanDA's pages (/, /jobs/, /job/N/, /errors/, /sites/, /users/, ...).

Every page is server-rendered HTML whose JSON twin is the same URL with ``?json``. The API stays under
/api/v1; ``mount_monitor`` adds the pages and /static to the server's app.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from pandawms.monitor.apidocs import mount_api_docs
from pandawms.monitor.cache import PageCache
from pandawms.monitor.routes import MonitorContext, build_router
from pandawms.protocol import paths

STATIC = Path(__file__).parent / "static"

__all__ = ["MonitorContext", "mount_monitor"]


def mount_monitor(app: FastAPI, ctx: MonitorContext, *, cache_seconds: float = 5.0) -> PageCache:
    """Add the monitor's page routes, the offline API docs and its static files to ``app``; returns the
    page cache. The app is made with ``docs_url=None`` (FastAPI's own page loads Swagger UI from a CDN)."""
    cache = PageCache(cache_seconds)
    app.include_router(build_router(ctx, cache))
    mount_api_docs(app, paths.API_PREFIX + "/docs")
    app.mount("/static", StaticFiles(directory=STATIC), name="monitor-static")
    return cache
