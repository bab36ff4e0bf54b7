"""Page routes at BigPanDA's paths: HTML, or the JSON twin with ``?json`` / ``Accept: application/json``.

Bad parameters answer 400 (``{"error": msg}`` in JSON) naming the parameter; unknown objects 404.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel
from sqlalchemy import Connection
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from pandawms.core.errors import InvalidInput, NotFound
from pandawms.db import queues as queues_db
from pandawms.db.engine import Database
from pandawms.monitor import (
    models,
    models_data,
    models_tasks,
    pages_data,
    pages_jobs,
    pages_overview,
    pages_task,
    pages_tasks,
)
from pandawms.monitor.cache import PageCache
from pandawms.monitor.pagedocs import page_responses, query_params, redirect_doc
from pandawms.monitor.params import FILTER_PARAMS, LIST_PARAMS, MAX_DB_INT, WINDOW_PARAMS, query_dict
from pandawms.monitor.refusals import error_page, wants_json
from pandawms.monitor.render import render
from pandawms.services.logstore import LogStore

Builder = Callable[[Connection, Mapping[str, str], datetime], BaseModel]
DIGITS = "^[1-9][0-9]{0,17}$"  # ids up to 10**18 (the database's integers end a little past 9 * 10**18)
_UNCACHED = frozenset({"json", "_", "timestamp"})  # parameters that do not change the page's data


class MonitorContext(Protocol):
    """What the monitor needs from the server context (ServerContext satisfies it)."""

    @property
    def db(self) -> Database: ...

    @property
    def logs(self) -> LogStore: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...


def serve(
    request: Request,
    ctx: MonitorContext,
    cache: PageCache,
    template: str,
    allowed: frozenset[str],
    build: Builder,
) -> Response:
    """Parse the query, build the page model in one read transaction (or take it from the page cache,
    keyed by path and parameters, so HTML and JSON share it), answer HTML or JSON."""
    try:
        params = query_dict(request.query_params.multi_items(), allowed)

        def fresh() -> BaseModel:
            with ctx.db.read() as conn:
                return build(conn, params, ctx.clock())

        if "timestamp" in params:  # BigPanDA's convention: bypass the cache
            page = fresh()
        else:
            key = (request.url.path, tuple(sorted((k, v) for k, v in params.items() if k not in _UNCACHED)))
            page = cache.get_or_build(key, fresh)
    except InvalidInput as exc:
        return error_page(request, 400, str(exc))
    except NotFound as exc:
        return error_page(request, 404, str(exc))
    headers = {"Cache-Control": "no-store"}
    if wants_json(request):
        body = page.model_dump_json(by_alias=True)
        return Response(body, media_type="application/json", headers=headers)
    html = render(template, page=page, params=params, path=request.url.path)
    return HTMLResponse(html, headers=headers)


def _db_id(raw: str, name: str, what: str) -> int:
    """A positive database id written in ASCII digits (what the spec's pattern says), else a 400."""
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DB_INT:
        raise InvalidInput(f"{name}: {raw!r} is not {what}", name)
    return int(raw)


def _pid(raw: str) -> int:
    return _db_id(raw, "pandaid", "a PanDA job id")


def _task_id(raw: str) -> int:
    return _db_id(raw, "jeditaskid", "a task id")


# documented, not validated by FastAPI (its 422 would not be the page's 400 naming the parameter)
JobId = Annotated[str, PathParam(description="a PanDA job id", json_schema_extra={"pattern": DIGITS})]
TaskId = Annotated[str, PathParam(description="a jediTaskID", json_schema_extra={"pattern": DIGITS})]


def build_router(ctx: MonitorContext, cache: PageCache) -> APIRouter:
    """The monitor's page routes (tag "monitor" in the OpenAPI spec)."""
    router = APIRouter(tags=["monitor"])
    page_routes: list[tuple[str, type[BaseModel], str, frozenset[str], Builder, str]] = [
        ("/", models.HomePage, "home.html", WINDOW_PARAMS, pages_jobs.home_page, "Home: jobs by state."),
        (
            "/jobs/",
            models.JobsPage,
            "jobs.html",
            LIST_PARAMS,
            pages_jobs.jobs_page,
            "Job list with summaries.",
        ),
        (
            "/errors/",
            models.ErrorsPage,
            "errors.html",
            FILTER_PARAMS | WINDOW_PARAMS | {"limit"},
            pages_overview.errors_page,
            "Error summary: by code, per queue, per user; failure rate failed/(failed+finished).",
        ),
        ("/sites/", models.SitesPage, "sites.html", WINDOW_PARAMS, pages_overview.sites_page, "Queues."),
        ("/users/", models.UsersPage, "users.html", WINDOW_PARAMS, pages_overview.users_page, "Users."),
        (
            "/datasets/",
            models_data.DatasetsPage,
            "datasets.html",
            pages_data.DATASET_PARAMS,
            pages_data.datasets_page,
            "Datasets and containers: files, bytes, replica completeness per RSE.",
        ),
        ("/rses/", models_data.RSEsPage, "rses.html", frozenset(), pages_data.rses_page, "Storage elements."),
        (
            "/tasks/",
            models_tasks.TasksPage,
            "tasks.html",
            pages_tasks.TASK_PARAMS,
            pages_tasks.tasks_page,
            "Tasks: progress in input files, jobs running/queued, counts by state, the global shares.",
        ),
    ]
    for path, model, template, allowed, build, summary in page_routes:
        _add(router, ctx, cache, path, model, template, frozenset(allowed), build, summary)

    @router.get(
        "/job/{pandaid}/",
        response_model=models.JobPage,
        responses=page_responses(),
        openapi_extra=query_params(frozenset()),
    )
    def job(request: Request, pandaid: JobId) -> Response:
        """One job: every attribute, history, resources, files, errors with advice, retries and log files."""

        def build(conn: Connection, _p: Mapping[str, str], _now: datetime) -> BaseModel:
            return pages_jobs.job_page(conn, _pid(pandaid), ctx.logs)

        return serve(request, ctx, cache, "job.html", frozenset(), build)

    @router.get(
        "/site/{name}/",
        response_model=models.SitePage,
        responses=page_responses(),
        openapi_extra=query_params(WINDOW_PARAMS),
    )
    def site(request: Request, name: str) -> Response:
        """One queue: job counts, failure %, workers, limits, brokerage rejections and a diagnosis."""
        return serve(
            request,
            ctx,
            cache,
            "site.html",
            WINDOW_PARAMS,
            lambda c, p, n: pages_overview.site_page(c, name, p, n),
        )

    @router.get(
        "/user/{name:path}/",
        response_model=models.UserPage,
        responses=page_responses(),
        openapi_extra=query_params(WINDOW_PARAMS),
    )
    def user(request: Request, name: str) -> Response:
        """One user: jobs by state, failure %, CPU hours, errors and plots."""
        return serve(
            request,
            ctx,
            cache,
            "user.html",
            WINDOW_PARAMS,
            lambda c, p, n: pages_overview.user_page(c, name, p, n),
        )

    _data_routes(router, ctx, cache)

    @router.get("/job", include_in_schema=False)
    @router.get("/job/", summary="Job by id", **redirect_doc("/job/N/", {"pandaid"}, required={"pandaid"}))
    def job_by_id(request: Request) -> Response:
        """``/job?pandaid=N`` redirects to ``/job/N/`` (keeps ``json``)."""
        return _job_by_id(request)

    @router.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return FileResponse(Path(__file__).parent / "static" / "favicon.svg", media_type="image/svg+xml")

    @router.get(
        "/search/",
        summary="Quick search",
        **redirect_doc("the job, dataset, queue or user page", {"q", "pandaid", "queue", "user"}),
    )
    def search(request: Request) -> Response:
        """``q`` (or ``pandaid``, ``queue``, ``user``): a job id, a scope:name DID, a queue, else a user."""
        return _search(request, ctx)

    return router


def _data_routes(router: APIRouter, ctx: MonitorContext, cache: PageCache) -> None:
    """The pages of one dataset and one RSE (their lists are in build_router's table)."""

    @router.get(
        "/dataset/{did}/",
        response_model=models_data.DatasetPage,
        responses=page_responses(),
        openapi_extra=query_params(pages_data.DATASET_PAGE_PARAMS),
    )
    def dataset(request: Request, did: str) -> Response:
        """One dataset or container (scope:name): state, files, replicas per RSE, jobs, contents."""
        return serve(
            request,
            ctx,
            cache,
            "dataset.html",
            pages_data.DATASET_PAGE_PARAMS,
            lambda c, p, n: pages_data.dataset_page(c, did, p, n),
        )

    @router.get(
        "/task/{jeditaskid}/",
        response_model=models_tasks.TaskPage,
        responses=page_responses(),
        openapi_extra=query_params(frozenset()),
    )
    def task(request: Request, jeditaskid: TaskId) -> Response:
        """One task: parameters, datasets with file counts, jobs, scouts, retries, errors, progress."""
        return serve(
            request,
            ctx,
            cache,
            "task.html",
            frozenset(),
            lambda c, p, n: pages_task.task_page(c, _task_id(jeditaskid), p, n),
        )

    @router.get(
        "/rse/{name}/",
        response_model=models_data.RSEPage,
        responses=page_responses(),
        openapi_extra=query_params(frozenset()),
    )
    def rse(request: Request, name: str) -> Response:
        """One RSE: space, availability, replicas per state, the queues that use it."""
        return serve(
            request, ctx, cache, "rse.html", frozenset(), lambda c, p, n: pages_data.rse_page(c, name, p, n)
        )


def _add(
    router: APIRouter,
    ctx: MonitorContext,
    cache: PageCache,
    path: str,
    model: type[BaseModel],
    template: str,
    allowed: frozenset[str],
    build: Builder,
    summary: str,
) -> None:
    def endpoint(request: Request) -> Response:
        return serve(request, ctx, cache, template, allowed, build)

    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        response_model=model,
        summary=summary,
        description=summary + " HTML by default; the JSON twin with ?json or Accept: application/json.",
        responses=page_responses(),
        openapi_extra=query_params(allowed),
        name=f"monitor{path.replace('/', '_')}",
    )


def _job_by_id(request: Request) -> Response:
    raw = request.query_params.get("pandaid", "").strip()
    try:
        if not raw:
            raise InvalidInput("pandaid: required (/job?pandaid=N)", "pandaid")
        pid = _pid(raw)
    except InvalidInput as exc:
        return error_page(request, 400, str(exc))
    return RedirectResponse(f"/job/{pid}/" + ("?json" if "json" in request.query_params else ""), 302)


def _search(request: Request, ctx: MonitorContext) -> Response:
    qp = request.query_params
    pandaid, queue, user = (
        qp.get("pandaid", "").strip(),
        qp.get("queue", "").strip(),
        qp.get("user", "").strip(),
    )
    text = qp.get("q", "").strip()
    if text.isdigit():
        pandaid = text
    if ":" in text and not pandaid:  # scope:name
        return RedirectResponse(f"/dataset/{quote(text, safe=':')}/", 302)
    if pandaid:
        try:
            return RedirectResponse(f"/job/{_pid(pandaid)}/", 302)
        except InvalidInput as exc:
            return error_page(request, 400, str(exc))
    if text and not queue and not user:
        with ctx.db.read() as conn:
            is_queue = queues_db.get(conn, text) is not None
        queue, user = (text, "") if is_queue else ("", text)
    if queue:
        return RedirectResponse(f"/site/{quote(queue, safe='')}/", 302)
    if user:
        return RedirectResponse(f"/user/{quote(user, safe='')}/", 302)
    return error_page(request, 400, "q: give a PanDA id, a queue or a user name")
