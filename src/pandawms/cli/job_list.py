"""The job list of `panda jobs`, fitted to the terminal: columns are chosen by width (80, 120, ...) and
the PandaID, status and error code are never cut (issue 13: `d...`, `L...` at 80 columns). Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from pandawms.cli.render import first_error, fmt_time, status_text
from pandawms.protocol.jobs import JobRecord


@dataclass(frozen=True)
class _Column:
    name: str
    rank: int  # 0: always shown; otherwise kept in this order while the terminal has room
    cell: Callable[[JobRecord], str | Text]


_JOB_COLUMNS = (
    _Column("PandaID", 0, lambda r: str(r.panda_id)),
    _Column("name", 7, lambda r: r.job_name or "-"),
    _Column("status", 0, lambda r: status_text(r.job_status)),
    _Column("site", 1, lambda r: r.computing_site or "-"),
    _Column("user", 4, lambda r: r.prod_user_name or "-"),
    _Column("label", 5, lambda r: r.prod_source_label),
    _Column("attempt", 2, lambda r: f"{r.attempt_nr}/{r.max_attempt}"),
    _Column("prio", 6, lambda r: str(r.current_priority)),
    _Column("modified", 3, lambda r: fmt_time(r.modification_time)),
    _Column("error", 0, first_error),
)
_CELL_EXTRA = 3  # a column's border and its padding on each side (rich's default box)
MIN_NAME = 16  # a job name narrower than this is left out rather than cut


def _cell_len(value: str | Text) -> int:
    return value.cell_len if isinstance(value, Text) else len(value)


def _fit_columns(natural: Mapping[str, int], width: int) -> tuple[list[str], dict[str, int]]:
    """The columns to show at ``width`` and the width of the name column when it is squeezed.

    id, status and error are always shown whole; the others join by rank while they fit; the job name
    takes what is left (folded, never cut) when that is at least MIN_NAME.
    """
    used = 1 + sum(natural[c.name] + _CELL_EXTRA for c in _JOB_COLUMNS if c.rank == 0)
    shown = {c.name for c in _JOB_COLUMNS if c.rank == 0}
    squeeze: dict[str, int] = {}
    for col in sorted((c for c in _JOB_COLUMNS if c.rank), key=lambda c: c.rank):
        need = natural[col.name] + _CELL_EXTRA
        if used + need <= width:
            shown.add(col.name)
            used += need
        elif col.name == "name" and width - used - _CELL_EXTRA >= MIN_NAME:
            shown.add(col.name)
            squeeze[col.name] = width - used - _CELL_EXTRA
            used = width
    return [c.name for c in _JOB_COLUMNS if c.name in shown], squeeze


def jobs_table_at(records: Sequence[JobRecord], width: int) -> Table:
    """The job list for a terminal ``width`` columns wide: columns chosen by width, id/status/error whole."""
    cells = [{c.name: c.cell(r) for c in _JOB_COLUMNS} for r in records]
    natural = {c.name: max([len(c.name), *(_cell_len(row[c.name]) for row in cells)]) for c in _JOB_COLUMNS}
    shown, squeeze = _fit_columns(natural, width)
    hidden = [c.name for c in _JOB_COLUMNS if c.name not in shown]
    caption = f"not shown at {width} columns: {', '.join(hidden)} (--json has all)" if hidden else None
    table = Table(title=f"{len(records)} job(s)", title_justify="left", caption=caption)
    table.caption_justify = "left"
    for name in shown:
        if name in squeeze:
            table.add_column(name, overflow="fold", max_width=squeeze[name])
        else:
            table.add_column(name, no_wrap=True, min_width=natural[name])
    for row in cells:
        table.add_row(*(row[name] for name in shown))
    return table


class _FittedJobs:
    """Renders as jobs_table_at for the width of the console it is printed on."""

    def __init__(self, records: Sequence[JobRecord]) -> None:
        self.records = records

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield jobs_table_at(self.records, options.max_width)


def jobs_table(records: Sequence[JobRecord]) -> RenderableType:
    return _FittedJobs(records)
