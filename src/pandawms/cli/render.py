"""Rich renderings for the user commands: job and queue tables, one job's details, the watch frame.

Status cells use the monitor's state fills (reference monitor-and-client.md A9) so the terminal and the
web pages colour a state the same way. Pure functions of the data: no I/O, no clock reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from pandawms.cli.client import QueueSummary
from pandawms.protocol import errorcodes
from pandawms.protocol.display import STATE_FILL, STATE_ORDER, format_duration
from pandawms.protocol.jobs import (
    BrokerageInfo,
    ErrorOut,
    JobActionResult,
    JobDescription,
    JobRecord,
    StatusChange,
    SubmittedJob,
)

OUTCOME_STYLE = {
    "done": "green",
    "requested": "cyan",
    "noop": "yellow",
    "rejected": "bold red",
    "notfound": "bold red",
}
MAX_WATCH_ROWS = 50
UNKNOWN_ACRONYM = "UNKNOWN"  # what errorcodes.describe answers for a code it does not list


def status_text(status: str | None) -> Text:
    if status is None:
        return Text("unknown", style="bold red")
    fill = STATE_FILL.get(status)
    return Text(status, style=f"black on {fill}" if fill else "")


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def fmt_duration(seconds: float | None) -> str:
    """The monitor's duration format (protocol.display), "-" for unknown."""
    return format_duration(seconds) or "-"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _kb_to_mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024:.0f} MB"


def catalog_entry(err: ErrorOut) -> errorcodes.ErrorInfo | None:
    """The error catalog's entry (an UNKNOWN one for an uncatalogued code; None for an unknown component)."""
    try:
        return errorcodes.describe(err.component, err.code)
    except ValueError:
        return None


def error_label(err: ErrorOut) -> str:
    """``component:code ACRONYM``, the monitor's way of naming an error."""
    info = catalog_entry(err)
    known = info is not None and err.code and info.acronym != UNKNOWN_ACRONYM
    acronym = f" {info.acronym}" if info is not None and known else ""
    return f"{err.component}:{err.code}{acronym}"


def first_error(record: JobRecord) -> str:
    nonzero = [e for e in record.errors if e.code]
    return error_label(nonzero[0]) if nonzero else ""


def count_states(statuses: Iterable[str | None]) -> dict[str, int]:
    return dict(Counter(s or "unknown" for s in statuses))


def counts_line(counts: Mapping[str, int]) -> Text:
    """``state N`` pairs in lifecycle order, each state in its colour."""
    counts = {s: n for s, n in counts.items() if n}
    line = Text()
    ordered = [s for s in STATE_ORDER if s in counts] + sorted(set(counts) - set(STATE_ORDER))
    for i, state in enumerate(ordered):
        if i:
            line.append("  ")
        line.append_text(status_text(state if state != "unknown" else None))
        line.append(f" {counts[state]}")
    return line if ordered else Text("no jobs")


# --- listings ----------------------------------------------------------------------------------------


def submitted_table(results: Sequence[SubmittedJob]) -> Table:
    table = Table(title=f"{len(results)} job(s) submitted", title_justify="left")
    table.add_column("PandaID", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("site")
    table.add_column("brokerage")
    for r in results:
        table.add_row(str(r.panda_id), status_text(r.job_status), r.computing_site or "-", r.brokerage_diag)
    return table


def actions_table(results: Sequence[JobActionResult]) -> Table:
    table = Table()
    for name in ("PandaID", "outcome", "status", "new PandaID", "message"):
        table.add_column(name, no_wrap=name != "message")
    for r in results:
        table.add_row(
            str(r.panda_id),
            Text(r.outcome, style=OUTCOME_STYLE.get(r.outcome, "")),
            status_text(r.job_status),
            _count(r.new_panda_id) if r.new_panda_id else "",
            r.message,
        )
    return table


def queues_table(queues: Sequence[QueueSummary]) -> Table:
    table = Table(title=f"{len(queues)} queue(s)", title_justify="left")
    table.caption = "ended: the last 12 h; the jobs: panda jobs --queue NAME --status finished,failed"
    table.caption_justify = "left"
    limits = ("cores", "MB/core", "walltime", "max run", "max queued")
    for name in ("queue", "status", *limits, "active jobs", "ended"):
        table.add_column(name, no_wrap=name not in ("active jobs", "ended"))
    for q in queues:
        table.add_row(
            q.name,
            status_text(q.status),
            str(q.cores),
            str(q.max_memory_per_core),
            fmt_duration(q.max_walltime),
            str(q.max_running or "-"),
            str(q.max_queued or "-"),
            counts_line(q.jobs) if any(q.jobs.values()) else Text("none", style="dim"),
            counts_line(q.recent) if any(q.recent.values()) else Text("none", style="dim"),
        )
    return table


# --- one job -----------------------------------------------------------------------------------------


def _grid(title: str) -> Table:
    grid = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    return grid


def _attributes(j: JobRecord) -> Table:
    grid = _grid(f"Job {j.panda_id}")
    status = status_text(j.job_status)
    if j.job_sub_status:
        status.append(f" ({j.job_sub_status})")
    rows: list[tuple[str, str | Text]] = [
        ("name", j.job_name or "-"),
        ("status", status),
        ("attempt", f"{j.attempt_nr} of {j.max_attempt}"),
        ("site", j.computing_site or "-"),
        ("user", j.prod_user_name or "-"),
        ("label", j.prod_source_label),
        ("priority", str(j.current_priority)),
        ("transformation", j.transformation),
        ("parameters", j.job_parameters or "-"),
        ("task / jobset", f"{_count(j.task_id)} / {_count(j.jobset_id)}"),
        ("created", fmt_time(j.creation_time)),
        ("started", fmt_time(j.start_time)),
        ("ended", fmt_time(j.end_time)),
        ("modified", f"{fmt_time(j.modification_time)} by {j.modification_host or '-'}"),
        ("pilot / batch", f"{j.pilot_id or '-'} / {j.batch_id or '-'}"),
        ("exit code", _count(j.trans_exit_code)),
    ]
    if j.destination_se:
        rows.append(("outputs to", j.destination_se))
    if j.command_to_pilot:
        rows.append(("command to pilot", j.command_to_pilot))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _resources(j: JobRecord) -> Table:
    wall = (j.end_time - j.start_time).total_seconds() if j.start_time and j.end_time else None
    table = Table(title="Resources", title_justify="left")
    for name in ("", "requested", "used"):
        table.add_column(name)
    table.add_row("memory", f"{j.min_ram_count} MB" if j.min_ram_count else "-", _memory_used(j))
    table.add_row("cores", str(j.core_count), _count(j.actual_core_count))
    table.add_row("walltime", fmt_duration(j.max_walltime) if j.max_walltime else "-", fmt_duration(wall))
    table.add_row("disk", f"{j.max_disk_count} MB" if j.max_disk_count else "-", "-")
    table.add_row("cpu time", "-", fmt_duration(j.cpu_consumption_time))
    table.add_row("events", "-", _count(j.n_events))
    return table


def _memory_used(j: JobRecord) -> str:
    if j.max_pss is None and j.max_rss is None:
        return "-"
    return f"max PSS {_kb_to_mb(j.max_pss)}, max RSS {_kb_to_mb(j.max_rss)}"


def _errors(errors: Sequence[ErrorOut]) -> Group:
    table = Table(title="Errors", title_justify="left")
    for name in ("error", "category", "description", "diagnostic"):
        table.add_column(name, no_wrap=name == "error")
    advice: dict[str, str] = {}
    for e in errors:
        info = catalog_entry(e)
        if info is None or not e.code:
            table.add_row(error_label(e), "-", "-", e.diag)
            continue
        category = errorcodes.category_info(info.category)
        advice[category.name] = category.advice
        table.add_row(error_label(e), category.name, info.description, e.diag)
    hints = [Text(f"{name}: {text}", style="italic") for name, text in advice.items() if text]
    return Group(table, *hints)


def _history(history: Sequence[StatusChange]) -> Table:
    table = Table(title="Status history", title_justify="left")
    for name in ("time", "from", "to", "host", "reason"):
        table.add_column(name, no_wrap=name != "reason")
    for h in history:
        table.add_row(fmt_time(h.time), h.previous or "-", status_text(h.status), h.host or "-", h.reason)
    return table


def _brokerage(b: BrokerageInfo) -> Group:
    heading = Text(f"Brokerage at {fmt_time(b.time)}: {b.summary}", style="italic")
    table = Table()
    table.add_column("queue", no_wrap=True)
    table.add_column("decision")
    if b.chosen:
        table.add_row(b.chosen, Text("chosen", style="green"))
    for queue, why in sorted(b.rejected.items()):
        kind = "permanent" if why.permanent else "temporary"
        table.add_row(queue, f"rejected ({kind}): {why.reason}")
    return Group(heading, table)


def _lineage(j: JobRecord, retries: Sequence[int]) -> Text:
    text = Text()
    if j.parent_id:
        text.append(f"parent: {j.parent_id} ({j.relation_type or 'retry'})\n")
    text.append(f"retries: {', '.join(map(str, retries)) if retries else 'none'}")
    return text


def job_detail(d: JobDescription) -> Group:
    j = d.job
    parts: list[RenderableType] = [_attributes(j), _resources(j)]
    errors = [e for e in j.errors if e.code or e.diag]
    if errors:
        parts.append(_errors(errors))
    parts.append(_history(d.history))
    if d.brokerage is not None:
        parts.append(_brokerage(d.brokerage))
    parts.append(_lineage(j, d.retries))
    return Group(*parts)


# --- watch -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchRow:
    """One watched job: its latest attempt (``origin`` is the ID the user asked for, if it differs)."""

    panda_id: int
    status: str | None
    attempt: int | None = None
    site: str | None = None
    origin: int | None = None
    error: str = ""

    def as_json(self) -> dict[str, object]:
        """PanDA field names, like every other JSON document the CLI prints."""
        return {
            "PandaID": self.panda_id,
            "jobStatus": self.status,
            "attemptNr": self.attempt,
            "computingSite": self.site,
            "originID": self.origin,
            "error": self.error,
        }


def watch_frame(rows: Sequence[WatchRow], header: str) -> Group:
    table = Table()
    for name in ("PandaID", "status", "attempt", "site", "error"):
        table.add_column(name, no_wrap=name != "error")
    if not rows:
        return Group(Text(header, style="bold"), Text("no jobs match the selection"))
    for r in rows[:MAX_WATCH_ROWS]:
        pid = f"{r.panda_id} (from {r.origin})" if r.origin else str(r.panda_id)
        table.add_row(pid, status_text(r.status), _count(r.attempt), r.site or "-", r.error)
    parts: list[RenderableType] = [
        Text(header, style="bold"),
        counts_line(count_states(r.status for r in rows)),
        table,
    ]
    if len(rows) > MAX_WATCH_ROWS:
        parts.append(Text(f"... and {len(rows) - MAX_WATCH_ROWS} more"))
    return Group(*parts)
