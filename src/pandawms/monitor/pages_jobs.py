"""The job pages: home (counts by state), the job list with its summaries, and one job."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.errors import NotFound
from pandawms.core.specs import ErrorComponent, Job
from pandawms.core.states import JobStatus
from pandawms.db import monitor as mdb
from pandawms.monitor import summaries as sm
from pandawms.monitor.common import (
    error_entries,
    error_entry,
    histograms,
    job_row,
    link,
    selection_out,
    state_counts,
    time_charts,
    with_samples,
)
from pandawms.monitor.gather import gather
from pandawms.monitor.logs import read_log
from pandawms.monitor.models import (
    Attribute,
    AttrValue,
    BrokerageOut,
    HistoryRow,
    HomePage,
    JobPage,
    JobsPage,
    QueueCounts,
    ResourceRow,
)
from pandawms.monitor.pages_transfers import job_blocks, job_stage
from pandawms.monitor.params import (
    DEFAULT_HOURS,
    DEFAULT_LIMIT,
    format_cursor,
    parse_cursor,
    parse_limits,
    parse_selection,
    parse_sort,
    parse_window,
)
from pandawms.monitor.style import duration, size
from pandawms.services import queries
from pandawms.services.logstore import LogStore

JOBS_HOURS = HOME_HOURS = DEFAULT_HOURS
RECENT_FAILURES = 10  # the home page's most recent failures
ATTRIBUTE_LABELS = {
    "jobstatus": "Status",
    "computingsite": "Queue",
    "produsername": "User",
    "prodsourcelabel": "Label",
    "attemptnr": "Attempt",
    "errorcode": "Error code",
}
MAX_VALUES = 40


def describe_selection(params: Mapping[str, str], what: str = "jobs") -> str:
    shown = [f"{k}={v}" for k, v in params.items() if k not in ("json", "_", "timestamp", "cursor")]
    return f"{what} " + (" ".join(shown) if shown else "(all)")


def home_page(conn: Connection, params: Mapping[str, str], now: datetime) -> HomePage:
    window = parse_window(params, now, HOME_HOURS)
    sel = mdb.Selection(tuple(s.value for s in JobStatus), since=window.since, until=window.until)
    g = gather(conn, sel, DEFAULT_LIMIT, now)
    counts = g.counts if g.counts is not None else mdb.count_by_status(conn, sel)
    failed = mdb.Selection(("failed",), since=window.since, until=window.until)
    recent = mdb.list_page(conn, failed, mdb.SortKey.TIME_DESC, None, RECENT_FAILURES)
    return HomePage(
        selection=selection_out(params, window, "all jobs", DEFAULT_LIMIT),
        state_counts=state_counts(counts, params),
        total=sum(counts.values()),
        failure_rate=sm.failure_rate(counts.get("finished", 0), counts.get("failed", 0)),
        charts=time_charts(g, window, now),
        queues=_queue_counts(g.facts, params),
        recent_failures=[job_row(r) for r in recent],
    )


def _queue_counts(facts: list[mdb.Fact], params: Mapping[str, str]) -> list[QueueCounts]:
    """Per queue of the summarised jobs, busiest first."""
    per_queue = sm.state_counts(facts, lambda f: f.site or "Not specified")
    return [
        QueueCounts(
            name=name,
            url=link("/jobs/", params, computingsite=name),
            counts=dict(c),
            failure_rate=sm.failure_rate(c.get("finished", 0), c.get("failed", 0)),
        )
        for name, c in sorted(per_queue.items(), key=lambda kv: (-kv[1].total(), kv[0]))
    ]


def _attributes(
    facts: list[mdb.Fact], errors: list[mdb.ErrorFact], params: Mapping[str, str]
) -> list[Attribute]:
    out = []
    for name, counter in sm.attribute_counts(facts, errors).items():
        values = [
            AttrValue(value=v, count=n, url=link("/jobs/", params, **{name: v}))
            for v, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_VALUES]
        ]
        if values:
            out.append(Attribute(name=name, label=ATTRIBUTE_LABELS[name], values=values))
    return out


def jobs_page(conn: Connection, params: Mapping[str, str], now: datetime) -> JobsPage:
    sel, window = parse_selection(params, now, JOBS_HOURS)
    limit, display = parse_limits(params)
    order = parse_sort(params)
    rows = mdb.list_page(conn, sel, order, parse_cursor(params), display + 1)
    page = [job_row(r) for r in rows[:display]]
    next_url = None
    if len(rows) > display:
        last = rows[display - 1]
        by_time = order in (mdb.SortKey.TIME_DESC, mdb.SortKey.TIME_ASC)
        cursor = format_cursor(last["modification_time"] if by_time else None, int(last["panda_id"]))
        next_url = link("/jobs/", params, cursor=cursor)
    g = gather(conn, sel, limit, now)
    if g.counts is not None:
        counts, total, exact = g.counts, sum(g.counts.values()), sel.status_only or g.exact
    elif sel.status_only:
        counts = mdb.count_by_status(conn, sel)
        total, exact = sum(counts.values()), True
    else:
        counts = dict(sm.state_counts(g.facts, lambda f: "").get("", {}))
        total, exact = g.summarised, g.exact
    return JobsPage(
        selection=selection_out(params, window, describe_selection(params), limit),
        total=total,
        total_exact=exact,
        summarised=g.summarised,
        hourly=g.hourly,
        state_counts=state_counts(counts, params),
        selectionsummary=_attributes(g.facts, g.errors, params),
        errs_by_count=error_entries(with_samples(conn, sm.error_groups(g.errors)), params),
        jobs=page,
        next_url=next_url,
        charts=[*time_charts(g, window, now), *histograms(g)],
    )


def _resources(job: Job) -> list[ResourceRow]:
    r, m = job.spec.resources, job.metrics
    wall = (job.end_time - job.start_time).total_seconds() if job.start_time and job.end_time else None
    cores_used = m.actual_core_count or r.cores
    eff = ""
    if wall and m.cpu_consumption_time is not None:
        eff = f"{100 * m.cpu_consumption_time / (wall * max(cores_used, 1)):.0f} % CPU efficiency"
    return [
        ResourceRow(name="cores", requested=str(r.cores), used=str(m.actual_core_count or "")),
        ResourceRow(
            name="memory",
            requested=f"{r.memory} MB" if r.memory else "any",
            used=f"max PSS {size(m.max_pss, 'kB')}, max RSS {size(m.max_rss, 'kB')}"
            if m.max_pss or m.max_rss
            else "",
        ),
        ResourceRow(
            name="walltime",
            requested=duration(r.walltime) if r.walltime else "queue limit",
            used=duration(wall),
        ),
        ResourceRow(name="CPU time", requested="", used=f"{duration(m.cpu_consumption_time)} {eff}".strip()),
        ResourceRow(name="disk", requested=f"{r.disk} MB" if r.disk else "any", used=""),
    ]


def job_page(conn: Connection, panda_id: int, logs: LogStore) -> JobPage:
    d = queries.describe(conn, panda_id)
    job = d.job
    errors = [
        error_entry(comp.value, code, sample_diag=job.errors.diags.get(comp, ""))
        for comp in ErrorComponent
        if (code := job.errors.codes.get(comp, 0))
    ]
    brokerage = None
    if d.brokerage is not None:
        b = d.brokerage
        brokerage = BrokerageOut(time=b.time, chosen=b.chosen, summary=b.summary, rejected=b.rejected)
    log, message = None, ""
    try:
        log = read_log(logs.find(conn, panda_id))
    except NotFound as exc:
        message = str(exc)
    row = job_row(job)
    stage, transfers = job_stage(conn, job)
    return JobPage(
        job=row,
        files=[f.model_dump(by_alias=True) for f in row.files],
        history=[
            HistoryRow(status=h.status, previous=h.previous, time=h.time, host=h.host, reason=h.reason)
            for h in d.history
        ],
        errors=errors,
        resources=_resources(job),
        brokerage=brokerage,
        parent=job.parent_id,
        retries=list(d.retries),
        log=log,
        log_message=message,
        pilot_log=d.report.pilot_log if d.report else "",
        meta_data=d.report.meta_data if d.report else "",
        stage=stage,
        transfers=transfers,
        blocks=job_blocks(conn, job),
    )
