"""Job log tarballs: the pilot uploads one per attempt; the CLI and monitor download it.

Stored as ``<data_dir>/logs/<PandaID>/attempt-<N>/<filename>``, N the job's attempt when the log came:
readers get the log of the job's current attempt, the newest upload of it, whatever the file names (a
``zzzz.tgz`` cannot shadow it by sorting last). Writes go to a temp file then rename, so a reader never
sees half a tarball, and a failed write (disk full) leaves no partial file. ``check`` needs the
database, ``write`` only the disk: the server runs the check in a short transaction and the (up to
50 MB) write after it, so the writer lock is not held for disk I/O. (The data service will move this
behind the storage interface.)
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput, NotFound
from pandawms.db import jobs as jobs_db

MAX_LOG_BYTES = 50 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


class LogStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(
        self, conn: Connection, panda_id: int, attempt_nr: int | None, filename: str, data: bytes
    ) -> Path:
        attempt = self.check(conn, panda_id, attempt_nr, filename, len(data))
        return self.write(panda_id, attempt, filename, data)

    def check(self, conn: Connection, panda_id: int, attempt_nr: int | None, filename: str, size: int) -> int:
        """Refuse a bad name, size, job or attempt before anything is written; the job's attempt."""
        if not _SAFE_NAME.fullmatch(filename) or filename.startswith("."):
            raise InvalidInput(f"filename: {filename!r} is not a plain file name", "filename")
        if size > MAX_LOG_BYTES:
            raise InvalidInput(f"body: log of {size} bytes exceeds {MAX_LOG_BYTES}", "body")
        if not size:
            raise InvalidInput("body: empty log upload", "body")
        row = jobs_db.lock_status(conn, panda_id)
        if row is None:
            raise NotFound(f"job {panda_id} not found")
        if attempt_nr is not None and attempt_nr != row.attempt_nr:
            raise InvalidInput(
                f"attempt_nr: {attempt_nr} is not the job's attempt {row.attempt_nr}", "attempt_nr"
            )
        return int(row.attempt_nr)

    def write(self, panda_id: int, attempt: int, filename: str, data: bytes) -> Path:
        """Store the tarball (call after ``check``): temp file, then an atomic rename; on failure the
        temp file is removed and the error goes on (a full disk is the caller's 503, not a 0-byte file)."""
        target_dir = self.root / str(panda_id) / f"attempt-{attempt}"
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / filename
        tmp = target_dir / f".{filename}.{os.getpid()}.part"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return target

    def find(self, conn: Connection, panda_id: int) -> Path:
        """The newest log of the job's current attempt; NotFound says whether the job or its log is
        missing. (Logs stored before attempts had folders are read from the job's folder itself.)"""
        jobs = jobs_db.get_jobs(conn, [panda_id])
        if not jobs:
            raise NotFound(f"job {panda_id} not found")
        attempt = jobs[0].attempt_nr
        folder = self.root / str(panda_id)
        newest = _newest(folder / f"attempt-{attempt}") or _newest(folder)
        if newest is None:
            raise NotFound(f"job {panda_id} has no log uploaded for attempt {attempt}")
        return newest


def _newest(folder: Path) -> Path | None:
    """The file written last in ``folder`` (by modification time, then name), hidden temp files aside."""
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name), default=None)
