"""Overview pages: errors, sites (queues) and users, each a list and a detail page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Connection

from pandawms.core.errors import NotFound
from pandawms.core.specs import QueueSpec
from pandawms.core.states import JobStatus
from pandawms.db import monitor as mdb
from pandawms.db import monitor_queues as mqdb
from pandawms.db import queues as queues_db
from pandawms.monitor import summaries as sm
from pandawms.monitor.common import (
    error_entries,
    histograms,
    link,
    selection_out,
    state_counts,
    time_charts,
    window_params,
    with_samples,
)
from pandawms.monitor.diagnosis import diagnose
from pandawms.monitor.gather import gather
from pandawms.monitor.models import (
    BatchErrorOut,
    ErrorsPage,
    GroupErrors,
    RejectionOut,
    SitePage,
    SiteRow,
    SitesPage,
    UserPage,
    UserRow,
    UsersPage,
)
from pandawms.monitor.pages_jobs import describe_selection
from pandawms.monitor.params import (
    DEFAULT_HOURS,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Window,
    parse_int,
    parse_selection,
    parse_window,
)

# one default window on every job page (issue 13: 12 h home, 24 h users and 7 d a user page confused)
ERRORS_HOURS = SITES_HOURS = USERS_HOURS = USER_HOURS = DEFAULT_HOURS
TOP_GROUPS = 50
ALL_STATES = tuple(s.value for s in JobStatus)


def _groups(
    conn: Connection,
    facts: list[mdb.Fact],
    errors: list[mdb.ErrorFact],
    key: str,
    params: Mapping[str, str],
    param: str,
    page: str,
) -> list[GroupErrors]:
    counts = sm.state_counts(facts, lambda f: getattr(f, key) or "")
    by_key: dict[str, list[sm.ErrorGroup]] = {}
    for g in sm.error_groups(errors, lambda f: getattr(f, key) or ""):
        by_key.setdefault(g.key, []).append(g)
    ranked = sorted(by_key, key=lambda k: (-sum(g.count for g in by_key[k]), k))[:TOP_GROUPS]
    shown = with_samples(conn, [g for k in ranked for g in by_key[k][:5]])
    by_key = {}
    for g in shown:
        by_key.setdefault(g.key, []).append(g)
    return [
        GroupErrors(
            name=k or "Not specified",
            url=link(page + quote(k, safe="") + "/", window_params(params))
            if k
            else link("/jobs/", params, **{param: "Not specified"}),
            finished=counts.get(k, Counter())["finished"],
            failed=counts.get(k, Counter())["failed"],
            failure_rate=sm.failure_rate(
                counts.get(k, Counter())["finished"], counts.get(k, Counter())["failed"]
            ),
            errors=error_entries(by_key[k], params, param),
        )
        for k in ranked
    ]


def errors_page(conn: Connection, params: Mapping[str, str], now: datetime) -> ErrorsPage:
    sel, window = parse_selection(params, now, ERRORS_HOURS)
    limit = parse_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    g = gather(conn, sel, limit, now)
    facts, errors = g.facts, g.errors
    if g.counts is not None:
        counts = Counter(g.counts)
    elif sel.status_only:
        counts = Counter(mdb.count_by_status(conn, sel))
    else:
        counts = sm.state_counts(facts, lambda f: "").get("", Counter())
    return ErrorsPage(
        selection=selection_out(params, window, describe_selection(params, "errors of jobs"), limit),
        job_summary=state_counts(counts, params),
        failure_rate=sm.failure_rate(counts["finished"], counts["failed"]),
        errs_by_count=error_entries(with_samples(conn, sm.error_groups(errors)), params),
        errs_by_site=_groups(conn, facts, errors, "site", params, "computingsite", "/site/"),
        errs_by_user=_groups(conn, facts, errors, "user", params, "produsername", "/user/"),
        charts=time_charts(g, window, now)[::-1],
    )


# -- sites ---------------------------------------------------------------------------------------------


def _site_row(
    spec: QueueSpec, counts: Counter[str], workers: Counter[str], params: Mapping[str, str]
) -> SiteRow:
    return SiteRow(
        name=spec.name,
        status=spec.status.value,
        site=spec.site,
        url=link(f"/site/{quote(spec.name, safe='')}/", window_params(params)),
        counts=dict(counts),
        failure_rate=sm.failure_rate(counts["finished"], counts["failed"]),
        workers=dict(workers),
        cores=spec.cores,
        max_memory_per_core=spec.max_memory_per_core,
        max_walltime=spec.max_walltime,
        max_running=spec.max_running,
        max_queued=spec.max_queued,
    )


def _by_key(rows: list[tuple[str | None, str, int, int]]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for key, state, n, _cpu in rows:
        out.setdefault(key or "", Counter())[state] += n
    return out


def _workers(rows: list[tuple[str, str, int]]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for queue, status, n in rows:
        out.setdefault(queue, Counter())[status] += n
    return out


def _since(window: Window, now: datetime) -> datetime:
    return window.since if window.since is not None else now


def sites_page(conn: Connection, params: Mapping[str, str], now: datetime) -> SitesPage:
    window = parse_window(params, now, SITES_HOURS)
    counts = _by_key(mqdb.counts_by(conn, "computing_site", _since(window, now), window.until, now))
    workers = _workers(mqdb.worker_counts(conn, _since(window, now)))
    rows = [
        _site_row(q, counts.get(q.name, Counter()), workers.get(q.name, Counter()), params)
        for q in queues_db.list_all(conn)
    ]
    return SitesPage(selection=selection_out(params, window, "queues"), sites=rows)


def site_page(conn: Connection, name: str, params: Mapping[str, str], now: datetime) -> SitePage:
    spec = queues_db.get(conn, name)
    if spec is None:
        raise NotFound(f"queue {name!r} not found")
    window = parse_window(params, now, SITES_HOURS)
    since = _since(window, now)
    counts = _by_key(mqdb.counts_by(conn, "computing_site", since, window.until, now, only=name)).get(
        name, Counter()
    )
    workers = _workers(mqdb.worker_counts(conn, since, queue=name)).get(name, Counter())
    rejections = mqdb.queue_rejections(conn, name)
    batch_live, batch_ended = mqdb.batch_state_counts(conn, name, since)
    site_term = mdb.Match("computing_site", ((mdb.Term(name),),))
    sel = mdb.Selection(ALL_STATES, (site_term,), since=window.since, until=window.until)
    g = gather(conn, sel, DEFAULT_LIMIT, now)
    jobs_params = {**window_params(params), "computingsite": name}
    row = _site_row(spec, counts, workers, params)
    return SitePage(
        selection=selection_out(params, window, f"queue {name}"),
        site=row,
        description=spec.description,
        storage_element=spec.storage_element,
        copy_tool=spec.copy_tool,
        diagnosis=diagnose(spec, counts, workers, rejections, row.failure_rate),
        rejections=[
            RejectionOut(panda_id=r.panda_id, time=r.time, reason=r.reason, permanent=r.permanent)
            for r in rejections
        ],
        waiting=[
            RejectionOut(panda_id=pid, time=now, reason=diag, permanent=False)
            for pid, diag in mqdb.unbrokered(conn, name)
        ],
        errs_by_count=error_entries(with_samples(conn, sm.error_groups(g.errors)), jobs_params),
        charts=[*time_charts(g, window, now), *histograms(g)],
        batch_states=batch_live,
        batch_states_ended=batch_ended,
        batch_errors=[BatchErrorOut.model_validate(asdict(e)) for e in mqdb.last_batch_errors(conn, name)],
    )


# -- users ---------------------------------------------------------------------------------------------


def _user_rows(rows: list[tuple[str | None, str, int, int]], params: Mapping[str, str]) -> list[UserRow]:
    counts = _by_key(rows)
    cpu: Counter[str] = Counter()
    for key, _state, _n, seconds in rows:
        cpu[key or ""] += seconds
    return [
        UserRow(
            name=u or "Not specified",
            url=link(f"/user/{quote(u, safe='')}/", window_params(params))
            if u
            else "/jobs/?produsername=Not+specified",
            counts=dict(c),
            failure_rate=sm.failure_rate(c["finished"], c["failed"]),
            cpu_hours=round(cpu[u] / 3600, 1),
        )
        for u, c in sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    ]


def users_page(conn: Connection, params: Mapping[str, str], now: datetime) -> UsersPage:
    window = parse_window(params, now, USERS_HOURS)
    rows = mqdb.counts_by(conn, "prod_user_name", _since(window, now), window.until, now)
    return UsersPage(selection=selection_out(params, window, "users"), users=_user_rows(rows, params))


def user_page(conn: Connection, name: str, params: Mapping[str, str], now: datetime) -> UserPage:
    window = parse_window(params, now, USER_HOURS)
    rows = mqdb.counts_by(conn, "prod_user_name", _since(window, now), window.until, now, only=name)
    users = _user_rows(rows, params)
    user = (
        users[0]
        if users
        else UserRow(
            name=name, url=f"/user/{quote(name, safe='')}/", counts={}, failure_rate=None, cpu_hours=0
        )
    )
    sel = mdb.Selection(
        ALL_STATES,
        (mdb.Match("prod_user_name", ((mdb.Term(name),),)),),
        since=window.since,
        until=window.until,
    )
    g = gather(conn, sel, DEFAULT_LIMIT, now)
    jobs_params = {**window_params(params), "produsername": name}
    return UserPage(
        selection=selection_out(params, window, f"user {name}"),
        user=user,
        errs_by_count=error_entries(with_samples(conn, sm.error_groups(g.errors)), jobs_params),
        charts=[*time_charts(g, window, now), *histograms(g)],
    )
