"""What happens to a job's files and texts after creation: output file rows (the pilot's report, each
row's state) and job reports.

``update_file_outputs`` is the Adder's write of the output file report (lfn -> guid, size, checksum,
surl); ``save_report_texts`` keeps the payload's job report (metadata) and the pilot-log tail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from pandawms.core.specs import FileSpec
from pandawms.db.direct import Direct
from pandawms.db.rows import row_to_file
from pandawms.db.schema import job_files, job_reports


def update_file_outputs(
    conn: Connection,
    panda_id: int,
    report: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, str] | None = None,
) -> None:
    """Store the pilot's output file report (lfn -> guid, fsize, checksum, surl, endpoint) and each
    row's state (``states`` by lfn: the Adder's; ``ready`` for a file it does not name)."""
    for lfn, meta in report.items():
        values = {
            "guid": str(meta.get("guid", ""))[:64],
            "fsize": int(meta.get("fsize", 0) or 0),
            "checksum": _checksum(meta),
            "surl": str(meta.get("surl", "")),
            "destination_se": str(meta.get("endpoint", ""))[:128],
            "status": (states or {}).get(lfn, "ready"),
        }
        stmt = (
            update(job_files).where(job_files.c.panda_id == panda_id, job_files.c.lfn == lfn).values(**values)
        )
        if conn.execute(stmt).rowcount == 0:
            kind = "log" if lfn.endswith((".tgz", ".tar.gz")) and "log" in lfn else "output"
            conn.execute(insert(job_files).values(panda_id=panda_id, type=kind, lfn=lfn[:256], **values))
    _unreported_states(conn, panda_id, {lfn: st for lfn, st in (states or {}).items() if lfn not in report})


def _unreported_states(conn: Connection, panda_id: int, states: Mapping[str, str]) -> None:
    """The state of output rows the pilot did not report (a failed job's outputs that never came)."""
    for lfn, state in states.items():
        where = (job_files.c.panda_id == panda_id, job_files.c.lfn == lfn, job_files.c.type != "input")
        conn.execute(update(job_files).where(*where).values(status=state))


_WRITE_FILE_STATE = (
    update(job_files)
    .where(
        job_files.c.panda_id == bindparam("b_id"),
        job_files.c.lfn == bindparam("b_lfn"),
        job_files.c.type == bindparam("b_type"),
    )
    .values(status=bindparam("b_status"))
)


def write_file_states(conn: Connection, panda_id: int, states: Sequence[tuple[str, str, str]]) -> None:
    """Set the status of a job's file rows, (lfn, type, status) each (status writer: lifecycle only)."""
    rows = [{"b_id": panda_id, "b_lfn": lfn, "b_type": t, "b_status": st} for lfn, t, st in states]
    if rows:
        conn.execute(_WRITE_FILE_STATE, rows)


_OUTPUTS = (
    select(job_files)
    .where(job_files.c.panda_id == bindparam("b_id"), job_files.c.type != "input")
    .order_by(job_files.c.row_id)
)


_OUTPUTS_DIRECT = Direct(_OUTPUTS)
_FILE_KEYS = tuple(c.key for c in job_files.c)


def output_files(conn: Connection, panda_id: int) -> list[FileSpec]:
    """A job's output and log rows (built once, on the DBAPI: every final update reads them)."""
    rows, _ = _OUTPUTS_DIRECT.execute(conn, {"b_id": panda_id})
    return [row_to_file(dict(zip(_FILE_KEYS, r, strict=True))) for r in rows]


def _checksum(meta: Mapping[str, Any]) -> str:
    if meta.get("adler32"):
        return f"ad:{meta['adler32']}"
    return str(meta.get("checksum", ""))[:64]


def save_report_texts(
    conn: Connection, panda_id: int, now: datetime, meta_data: str | None, pilot_log: str | None
) -> None:
    """Keep the latest job report (metadata) and pilot log a pilot sent; None leaves a text as it is."""
    values: dict[str, Any] = {"modification_time": now}
    if meta_data is not None:
        values["meta_data"] = meta_data
    if pilot_log is not None:
        values["pilot_log"] = pilot_log
    where = job_reports.c.panda_id == panda_id
    if conn.execute(update(job_reports).where(where).values(**values)).rowcount == 0:
        conn.execute(insert(job_reports).values(panda_id=panda_id, **values))


@dataclass(frozen=True, slots=True)
class ReportTexts:
    meta_data: str
    pilot_log: str
    time: datetime


def report_texts(conn: Connection, panda_id: int) -> ReportTexts | None:
    r = job_reports.c
    row = conn.execute(
        select(r.meta_data, r.pilot_log, r.modification_time).where(r.panda_id == panda_id)
    ).first()
    return ReportTexts(row[0], row[1], row[2]) if row is not None else None
