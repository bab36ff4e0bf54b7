"""The monitor's hourly aggregates of final jobs, kept by triggers on jobs

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 19:00:00

``job_stats`` holds, per hour of modification time and (queue, user, label, state, attempt), the number of
jobs in a final state, their CPU seconds and their walltime and memory-per-core histograms;
``job_error_stats`` the failed jobs per (hour, queue, user, label, component, code) with the latest
occurrence; ``job_stats_daily`` and ``job_error_stats_daily`` the same per day (multi-day windows read
a week in a seventh of the rows).

Triggers on ``jobs`` append signed deltas (+1 when a row enters or is inserted in a final state, -1 for
its old values when a final row changes or leaves) to ``job_stats_delta`` and ``job_error_stats_delta``:
insert-only, so concurrent writers never wait on, or deadlock over, a shared aggregate row. The
``job_stats`` agent folds the deltas into the aggregates (db/job_stats.fold); readers add the pending
deltas, so a page is exact whether or not the fold has run.

The upgrade fills the aggregates from the final jobs already stored (one grouped pass per table).
A later migration that rebuilds ``jobs`` (SQLite batch mode copies the table) must recreate the triggers.
The trigger SQL is frozen here on purpose: a later change of the aggregates is a new migration.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

FINAL = ("finished", "failed", "cancelled", "closed")
COMPONENTS = ("pilot", "exe", "ddm", "jobdispatcher", "taskbuffer", "brokerage", "sup")
WALLTIME_EDGES = (0, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400)  # seconds
MEMORY_EDGES = (0, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 6000, 8000)  # MB per core
WALL = tuple(f"w{i}" for i in range(len(WALLTIME_EDGES)))
MEM = tuple(f"m{i}" for i in range(len(MEMORY_EDGES)))
# columns whose change moves a final job between aggregate rows
WATCHED = (
    "job_status",
    "modification_time",
    "computing_site",
    "prod_user_name",
    "prod_source_label",
    "attempt_nr",
    "cpu_consumption_time",
    "start_time",
    "end_time",
    "max_pss",
    "core_count",
    *(f"{c}_error_code" for c in COMPONENTS),
)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _key_columns(time: str) -> list[sa.Column[Any]]:
    return [
        sa.Column(time, sa.BigInteger(), nullable=False),
        sa.Column("computing_site", sa.String(length=128), nullable=False),
        sa.Column("prod_user_name", sa.String(length=128), nullable=False),
        sa.Column("prod_source_label", sa.String(length=20), nullable=False),
    ]


def _stats_columns(time: str = "hour") -> list[sa.Column[Any]]:
    return [
        *_key_columns(time),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempt_nr", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.Column("cpu_seconds", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in WALL + MEM),
    ]


def _error_columns(time: str = "hour") -> list[sa.Column[Any]]:
    return [
        *_key_columns(time),
        sa.Column("component", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.Column("latest", sa.BigInteger(), nullable=False),
        sa.Column("sample_panda_id", sa.BigInteger(), nullable=False),
    ]


# -- trigger SQL ---------------------------------------------------------------------------------------


def _epoch(pg: bool, col: str) -> str:
    if pg:
        return f"floor(extract(epoch from {col}))::bigint"
    return f"CAST(strftime('%s', {col}) AS INTEGER)"


def _buckets(value: str, edges: tuple[int, ...]) -> str:
    whens = " ".join(f"WHEN {value} < {edges[i + 1]} THEN {i}" for i in range(len(edges) - 1))
    return f"CASE WHEN {value} IS NULL OR {value} < 0 THEN NULL {whens} ELSE {len(edges) - 1} END"


def _keys(pg: bool, rec: str) -> str:
    return (
        f"({_epoch(pg, f'{rec}.modification_time')} / 3600) * 3600 AS hour, "
        f"coalesce({rec}.computing_site, '') AS site, {rec}.prod_user_name AS usr, "
        f"{rec}.prod_source_label AS label"
    )


_STATS_KEYS = ("hour", "computing_site", "prod_user_name", "prod_source_label", "state", "attempt_nr")
_STATS_COLUMNS = (*_STATS_KEYS, "jobs", "cpu_seconds", *WALL, *MEM)
_ERROR_KEYS = ("hour", "computing_site", "prod_user_name", "prod_source_label", "component", "code")
_ERROR_COLUMNS = (*_ERROR_KEYS, "jobs", "latest", "sample_panda_id")


def _stats_rows(pg: bool, rec: str, sign: int, table: str = "", *, fence: bool = False) -> str:
    """SELECT of one signed row (columns _STATS_COLUMNS) for the final job ``rec`` (NEW, OLD or jobs).

    ``fence`` (PostgreSQL, migration 0023): ``OFFSET 0`` keeps the inner SELECT from being pulled up, so
    the walltime and memory buckets are computed once; pulled up, each of the 22 histogram columns
    repeated their whole CASE (0.4-0.5 ms of the database's CPU per final update).
    """
    wall = (
        f"CASE WHEN {rec}.start_time IS NULL OR {rec}.end_time IS NULL THEN NULL ELSE "
        f"{_epoch(pg, f'{rec}.end_time')} - {_epoch(pg, f'{rec}.start_time')} END"
    )
    greatest = "greatest" if pg else "max"
    mem = (
        f"CASE WHEN coalesce({rec}.max_pss, 0) = 0 THEN NULL ELSE "
        f"{rec}.max_pss / 1024.0 / {greatest}({rec}.core_count, 1) END"
    )
    hist = ", ".join(
        [f"CASE WHEN wb = {i} THEN {sign} ELSE 0 END AS w{i}" for i in range(len(WALL))]
        + [f"CASE WHEN mb = {i} THEN {sign} ELSE 0 END AS m{i}" for i in range(len(MEM))]
    )
    source = f"FROM {table}" if table else ""
    inner = (
        f"SELECT {_keys(pg, rec)}, {rec}.job_status AS st, {rec}.attempt_nr AS att, "
        f"coalesce({rec}.cpu_consumption_time, 0) AS cpu, {_buckets(f'({wall})', WALLTIME_EDGES)} AS wb, "
        f"{_buckets(f'({mem})', MEMORY_EDGES)} AS mb {source} WHERE {_final(rec)}"
        f"{' OFFSET 0' if fence else ''}"
    )
    return (
        f"SELECT hour, site AS computing_site, usr AS prod_user_name, label AS prod_source_label, "
        f"st AS state, att AS attempt_nr, {sign} AS jobs, {sign} * cpu AS cpu_seconds, {hist} "
        f"FROM ({inner}) AS k"
    )


def _error_rows(pg: bool, rec: str, sign: int, table: str = "") -> str:
    """SELECT of one signed row (columns _ERROR_COLUMNS) per error code of the failed job ``rec``."""
    codes = " UNION ALL ".join(f"SELECT '{c}' AS comp" for c in COMPONENTS)
    code = "CASE " + " ".join(f"WHEN c.comp = '{c}' THEN {rec}.{c}_error_code" for c in COMPONENTS) + " END"
    inner = (
        f"SELECT {_keys(pg, rec)}, c.comp, {code} AS code, {_epoch(pg, f'{rec}.modification_time')} AS t, "
        f"{rec}.panda_id AS pid FROM ({codes}) AS c{', ' + table if table else ''} "
        f"WHERE {rec}.job_status = 'failed'"
    )
    return (
        "SELECT hour, site AS computing_site, usr AS prod_user_name, label AS prod_source_label, "
        f"comp AS component, code, {sign} AS jobs, t AS latest, pid AS sample_panda_id FROM ({inner}) AS k "
        "WHERE code <> 0"
    )


def _into(table: str, columns: tuple[str, ...], rows: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) {rows}"


def _final(rec: str) -> str:
    return f"{rec}.job_status IN ({', '.join(repr(s) for s in FINAL)})"


def _changed(pg: bool) -> str:
    op_ = "IS DISTINCT FROM" if pg else "IS NOT"
    return " OR ".join(f"OLD.{c} {op_} NEW.{c}" for c in WATCHED)


def _deltas(pg: bool, rec: str, sign: int) -> str:
    return (
        f"{_into('job_stats_delta', _STATS_COLUMNS, _stats_rows(pg, rec, sign))}; "
        f"{_into('job_error_stats_delta', _ERROR_COLUMNS, _error_rows(pg, rec, sign))};"
    )


def _sqlite_triggers() -> list[str]:
    when_update = f"({_final('OLD')} OR {_final('NEW')}) AND ({_changed(False)})"
    new, old = _deltas(False, "NEW", 1), _deltas(False, "OLD", -1)
    return [
        f"CREATE TRIGGER job_stats_insert AFTER INSERT ON jobs WHEN {_final('NEW')} BEGIN {new} END",
        f"CREATE TRIGGER job_stats_update AFTER UPDATE ON jobs WHEN {when_update} BEGIN {old} {new} END",
        f"CREATE TRIGGER job_stats_delete AFTER DELETE ON jobs WHEN {_final('OLD')} BEGIN {old} END",
    ]


def _pg_deltas(rec: str, sign: int, fence: bool = False) -> str:
    """The PL/pgSQL statements: the error rows only for a failed job with a code (most jobs finish)."""
    coded = " OR ".join(f"{rec}.{c}_error_code <> 0" for c in COMPONENTS)
    return (
        f"{_into('job_stats_delta', _STATS_COLUMNS, _stats_rows(True, rec, sign, fence=fence))}; "
        f"IF {rec}.job_status = 'failed' AND ({coded}) THEN "
        f"{_into('job_error_stats_delta', _ERROR_COLUMNS, _error_rows(True, rec, sign))}; END IF;"
    )


def pg_function(*, fence: bool = False, test_inside: bool = False, replace: bool = False) -> str:
    """The trigger function; ``fence`` and ``test_inside`` as migration 0023 replaces it (``test_inside``:
    an UPDATE that changed none of ``WATCHED`` returns at once, the test having left the trigger's WHEN);
    ``replace``: CREATE OR REPLACE."""
    new, old = _pg_deltas("NEW", 1, fence), _pg_deltas("OLD", -1, fence)
    test = f"IF TG_OP = 'UPDATE' THEN IF NOT ({_changed(True)}) THEN RETURN NULL; END IF; END IF; "
    return (
        f"CREATE {'OR REPLACE ' if replace else ''}FUNCTION job_stats_delta() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN {test if test_inside else ''}"
        f"IF TG_OP <> 'INSERT' THEN IF {_final('OLD')} THEN {old} END IF; END IF; "
        f"IF TG_OP <> 'DELETE' THEN IF {_final('NEW')} THEN {new} END IF; END IF; "
        "RETURN NULL; END $$"
    )


def pg_update_trigger(*, test_inside: bool = False) -> str:
    """The UPDATE trigger; ``test_inside`` (0023): its WHEN only asks whether the row was or is final."""
    finals = f"{_final('OLD')} OR {_final('NEW')}"
    when = finals if test_inside else f"({finals}) AND ({_changed(True)})"
    return f"CREATE TRIGGER job_stats_update AFTER UPDATE ON jobs {_RUN.format(when)}"


_RUN = "FOR EACH ROW WHEN ({}) EXECUTE FUNCTION job_stats_delta()"


def _pg_triggers() -> list[str]:
    return [
        pg_function(),
        f"CREATE TRIGGER job_stats_insert AFTER INSERT ON jobs {_RUN.format(_final('NEW'))}",
        pg_update_trigger(),
        f"CREATE TRIGGER job_stats_delete AFTER DELETE ON jobs {_RUN.format(_final('OLD'))}",
    ]


# -- backfill ------------------------------------------------------------------------------------------


def _backfill(pg: bool) -> None:
    """Aggregate the final jobs already stored, one grouped pass per table."""
    sums = ", ".join(f"sum({c})" for c in ("jobs", "cpu_seconds", *WALL, *MEM))
    rows = _stats_rows(pg, "jobs", 1, "jobs")
    keys = ", ".join(_STATS_KEYS)
    op.execute(
        _into("job_stats", _STATS_COLUMNS, f"SELECT {keys}, {sums} FROM ({rows}) AS r GROUP BY {keys}")
    )
    rows = _error_rows(pg, "jobs", 1, "jobs")
    keys = ", ".join(_ERROR_KEYS)
    # the sample is the job of the latest occurrence (SQLite: the bare column of max())
    sample = (
        "(array_agg(sample_panda_id ORDER BY latest DESC, sample_panda_id DESC))[1]"
        if pg
        else "sample_panda_id"
    )
    select = f"SELECT {keys}, sum(jobs), max(latest), {sample} FROM ({rows}) AS r GROUP BY {keys}"
    op.execute(_into("job_error_stats", _ERROR_COLUMNS, select))
    # the daily rollups from the hourly rows
    day = "(hour / 86400) * 86400"
    rest = ", ".join(_STATS_KEYS[1:])
    op.execute(
        f"INSERT INTO job_stats_daily (day, {rest}, {', '.join(_STATS_COLUMNS[len(_STATS_KEYS) :])}) "
        f"SELECT {day}, {rest}, {sums} FROM job_stats GROUP BY {day}, {rest}"
    )
    rest = ", ".join(_ERROR_KEYS[1:])
    op.execute(
        f"INSERT INTO job_error_stats_daily (day, {rest}, jobs, latest, sample_panda_id) "
        f"SELECT {day}, {rest}, sum(jobs), max(latest), {sample} FROM job_error_stats GROUP BY {day}, {rest}"
    )


def upgrade() -> None:
    for name, columns, tail in (
        ("job_stats", _stats_columns, ("state", "attempt_nr")),
        ("job_error_stats", _error_columns, ("component", "code")),
    ):
        for suffix, time in (("", "hour"), ("_daily", "day")):
            key = (time, "computing_site", "prod_user_name", "prod_source_label", *tail)
            op.create_table(name + suffix, *columns(time), sa.PrimaryKeyConstraint(*key))
        op.create_table(
            name + "_delta",
            sa.Column("row_id", _ID, autoincrement=True, nullable=False),
            *columns("hour"),
            sa.PrimaryKeyConstraint("row_id"),
        )
    # the charts' per-hour reads, index-only
    op.create_index("ix_job_stats_hour_state", "job_stats", ["hour", "state", "jobs"])
    op.create_index("ix_job_error_stats_hour_code", "job_error_stats", ["hour", "component", "code", "jobs"])
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in _pg_triggers() if pg else _sqlite_triggers():
        op.execute(statement)
    _backfill(pg)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name in ("job_stats_insert", "job_stats_update", "job_stats_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON jobs" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS job_stats_delta()")
    for table in ("job_error_stats_delta", "job_error_stats_daily", "job_error_stats", "job_stats_delta"):
        op.drop_table(table)
    for table in ("job_stats_daily", "job_stats"):
        op.drop_table(table)
