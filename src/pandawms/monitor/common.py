"""Builders shared by the pages: links that add a filter, error entries, state counts, job rows, charts."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from pandawms.core.specs import Job
from pandawms.db.monitor import Fact, error_diags
from pandawms.db.rows import row_to_job
from pandawms.monitor import summaries as sm
from pandawms.monitor.error_style import category_style, code_colours
from pandawms.monitor.models import (
    Chart,
    ChartSeries,
    ErrorEntry,
    JobRow,
    SelectionOut,
    StateCount,
    WindowOut,
)
from pandawms.monitor.params import WINDOW_PARAMS, Window
from pandawms.monitor.style import STATE_ORDER, chart_color
from pandawms.protocol.errorcodes import describe

if TYPE_CHECKING:
    from pandawms.monitor.gather import Gathered


def link(path: str, params: Mapping[str, str], **changes: str | None) -> str:
    """``path`` with ``params`` where ``changes`` set (a value) or drop (None) parameters."""
    merged = {k: v for k, v in params.items() if k not in ("json", "cursor", "_", "timestamp")}
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return path + ("?" + urlencode(merged) if merged else "")


def window_params(params: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k in WINDOW_PARAMS}


def epoch(t: datetime) -> int:
    return calendar.timegm(t.timetuple())


def from_epoch(t: int | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).replace(tzinfo=None)


def selection_out(
    params: Mapping[str, str], window: Window, description: str, limit: int = 0
) -> SelectionOut:
    shown = {k: v for k, v in params.items() if k not in ("json", "_", "timestamp")}
    return SelectionOut(
        params=shown,
        window=WindowOut(since=window.since, until=window.until, label=window.label),
        description=description,
        limit=limit,
    )


def error_entry(component: str, code: int, **extra: Any) -> ErrorEntry:
    info = describe(component, code)
    cat = category_style(info.category)
    return ErrorEntry(
        component=component,
        code=code,
        acronym=info.acronym,
        description=info.description,
        category=int(info.category),
        category_name=cat.name,
        fill=cat.fill,
        strong=cat.strong,
        advice=cat.advice,
        **extra,
    )


def with_samples(conn: Connection, groups: Sequence[sm.ErrorGroup]) -> list[sm.ErrorGroup]:
    """The groups with the diagnostic of their latest occurrence (one query for all of them)."""
    diags = error_diags(conn, [g.sample_pid for g in groups])
    return [replace(g, sample_diag=diags.get((g.sample_pid, g.component), "")) for g in groups]


def error_entries(
    groups: Iterable[sm.ErrorGroup], params: Mapping[str, str], key_param: str | None = None
) -> list[ErrorEntry]:
    """Entries whose links list the failed jobs with that code (and the group's queue or user)."""
    out = []
    for g in groups:
        changes: dict[str, str | None] = {
            "jobstatus": "failed|holding",
            "errorcode": f"{g.component}:{g.code}",
        }
        if key_param is not None:
            changes[key_param] = g.key or "Not specified"
        url = link("/jobs/", params, **changes)
        latest = from_epoch(g.latest)
        out.append(
            error_entry(g.component, g.code, count=g.count, latest=latest, sample_diag=g.sample_diag, url=url)
        )
    return out


def state_counts(
    counts: Mapping[str, int],
    params: Mapping[str, str],
    path: str = "/jobs/",
    *,
    order: Sequence[str] = STATE_ORDER,
    key: str = "jobstatus",
) -> list[StateCount]:
    """Non-zero counts in ``order``, each linking to ``path`` filtered by ``key`` (jobstatus, status)."""
    return [
        StateCount(state=s, count=counts[s], url=link(path, params, **{key: s}))
        for s in order
        if counts.get(s)
    ]


def job_row(row: Mapping[str, Any] | Job) -> JobRow:
    job = row if isinstance(row, Job) else row_to_job(row)
    rec = JobRow.from_job(job)
    assert isinstance(rec, JobRow)
    first = job.errors.first()
    code_text, diag = "", ""
    if first is not None:
        comp, code, diag = first
        code_text = f"{comp.value}:{code} {describe(comp, code).acronym}".strip()
    to_start = (job.start_time - job.creation_time).total_seconds() if job.start_time else None
    dur = (job.end_time - job.start_time).total_seconds() if job.start_time and job.end_time else None
    return rec.model_copy(
        update={
            "time_to_start": int(to_start) if to_start is not None else None,
            "duration": int(dur) if dur is not None else None,
            "error": f"{code_text} {diag}".strip(),
            "error_code": code_text,
            "error_diag": diag,
        }
    )


# -- charts --------------------------------------------------------------------------------------------


def time_chart(
    name: str,
    title: str,
    bins: sm.Bins,
    data: Mapping[str, list[int]],
    colours: Mapping[str, str] | None = None,
) -> Chart:
    if bins.width < 60:
        fmt = "%H:%M:%S"
    elif bins.width * bins.count <= 86400:
        fmt = "%H:%M"
    else:
        fmt = "%m-%d %H:%M" if bins.width < 86400 else "%Y-%m-%d"
    labels = [f"{from_epoch(t):{fmt}}" for t in bins.starts()]
    colours = colours or {}
    series = [
        ChartSeries(name=n, color=colours.get(n) or chart_color(n, i), values=v)
        for i, (n, v) in enumerate(data.items())
    ]
    return Chart(name=name, title=title, kind="stacked", labels=labels, series=series)


def _state_order(data: Mapping[str, list[int]]) -> dict[str, list[int]]:
    return {s: data[s] for s in STATE_ORDER if s in data} | {
        k: v for k, v in data.items() if k not in STATE_ORDER
    }


def time_charts(g: Gathered, window: Window, now: datetime) -> list[Chart]:
    """Jobs by state over time and failures by code over time (by last modification); bins of an hour
    or more when the summaries come from the hourly aggregates."""
    facts = g.facts if g.chart_facts is None else g.chart_facts
    errors = g.errors if g.chart_errors is None else g.chart_errors
    end = epoch(window.until) if window.until else epoch(now)
    times = [f.modified for f in facts]
    since = epoch(window.since) if window.since else min(times, default=end - 3600)
    start = sm.data_start(since, end, times)
    bins = sm.make_bins(start, end, min_width=3600 if g.hourly else 0)
    by_state = _state_order(sm.series(facts, bins, lambda f: (f.status,), top=20))
    failures = sm.series(errors, bins, sm.failure_labels, top=8)
    note = f" · since {from_epoch(start):%H:%M:%S}, when the data begins" if start > since else ""
    note += " · hourly totals" if g.hourly else ""
    colours = code_colours(list(failures))
    return [
        time_chart("states", f"Jobs by state over time (last modification){note}", bins, by_state),
        time_chart("failures", f"Failures over time by error code{note}", bins, failures, colours),
    ]


def histograms(g: Gathered) -> list[Chart]:
    """Walltime and max PSS per core of ended jobs, finished vs failed (live facts plus aggregates)."""
    out = []
    specs: tuple[tuple[str, str, Sequence[float], Sequence[str], _Values], ...] = (
        ("walltime", "Walltime of ended jobs", sm.WALLTIME_EDGES, sm.WALLTIME_LABELS, sm.walltimes),
        (
            "memory",
            "Max PSS per core of ended jobs (MB)",
            sm.MEMORY_EDGES,
            sm.MEMORY_LABELS,
            sm.memory_per_core_mb,
        ),
    )
    for name, title, edges, labels, values in specs:
        series = []
        for st in ("finished", "failed"):
            counts = sm.histogram(values(g.facts, st), edges)
            extra = g.hists.get((name, st), ())
            counts = [a + b for a, b in zip(counts, extra, strict=True)] if extra else counts
            series.append(ChartSeries(name=st, color=chart_color(st, 0), values=counts))
        out.append(Chart(name=name, title=title, kind="bars", labels=list(labels), series=series))
    return out


_Values = Callable[[Sequence[Fact], str], Sequence[float]]
