"""Job log tarballs: the pilot uploads one per attempt; the CLI and monitor download it.

Stored as ``<data_dir>/logs/<PandaID>/<filename>``; writes go to a temp file then rename, so a reader
never sees half a tarball. ``check`` needs the database, ``write`` only the disk: the server runs the
check in a short transaction and the (up to 50 MB) write after it, so the writer lock is not held for
disk I/O. (The data service will move this behind the storage interface.)
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
        self.check(conn, panda_id, attempt_nr, filename, len(data))
        return self.write(panda_id, filename, data)

    def check(
        self, conn: Connection, panda_id: int, attempt_nr: int | None, filename: str, size: int
    ) -> None:
        """Refuse a bad name, size, job or attempt before anything is written."""
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

    def write(self, panda_id: int, filename: str, data: bytes) -> Path:
        """Store the tarball (call after ``check``): temp file, then an atomic rename."""
        target_dir = self.root / str(panda_id)
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / filename
        tmp = target_dir / f".{filename}.part"
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return target

    def find(self, conn: Connection, panda_id: int) -> Path:
        """The newest log of the job; NotFound says whether the job or only its log is missing."""
        if not jobs_db.exists(conn, panda_id):
            raise NotFound(f"job {panda_id} not found")
        folder = self.root / str(panda_id)
        files = (
            sorted(p for p in folder.glob("*") if p.is_file() and not p.name.startswith("."))
            if folder.is_dir()
            else []
        )
        if not files:
            raise NotFound(f"job {panda_id} has no log uploaded")
        return files[-1]
