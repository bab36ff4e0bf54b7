"""Read a job's log tarball for the job page: list its members and the text of small text files.

Nothing is extracted to disk. The tarball is read as a stream, once, and every bound counts what reading
costs, not only what is shown: entries of any kind (directories and links too), decompressed bytes walked
through (a skipped member is still decompressed), files listed, bytes per file and per page. So a small
upload that expands to gigabytes or holds 200,000 directory entries stops early instead of tying up the
server. Text is returned raw; templates escape it.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from pandawms.monitor.models import LogFile, LogOut

MAX_MEMBERS = 500
MAX_ENTRIES = 2000
MAX_SCANNED_BYTES = 64 * 1024 * 1024
MAX_FILE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 4 * 1024 * 1024


def _text(data: bytes) -> str | None:
    """The data as text, or None when it looks binary (NUL bytes or not UTF-8/Latin-1 printable)."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 4:  # a multi-byte character cut by the size cap
            return data[: exc.start].decode("utf-8")
        return None


def read_log(path: Path) -> LogOut:
    """Members of a .tgz/.tar.gz/.tar log (a plain text log is shown as one file)."""
    size = path.stat().st_size
    files: list[LogFile] = []
    error = ""
    try:
        tar = tarfile.open(path, "r|*")  # noqa: SIM115 - closed below; opening may fail on its own
    except (tarfile.TarError, OSError, EOFError):
        return _plain(path, size)
    budget = MAX_TOTAL_BYTES
    scanned = 0
    with tar:
        try:
            for entries, member in enumerate(tar, start=1):
                scanned += member.size
                if entries > MAX_ENTRIES or len(files) >= MAX_MEMBERS:
                    error = f"only the first {len(files)} files are listed (the tarball has more entries)"
                    break
                if scanned > MAX_SCANNED_BYTES:
                    mb = MAX_SCANNED_BYTES // 2**20
                    error = f"only the first {len(files)} files are listed (more than {mb} MB of content)"
                    break
                if not member.isfile():
                    continue
                files.append(_member(tar, member, budget))
                budget -= min(member.size, MAX_FILE_BYTES)
        except (tarfile.TarError, OSError, EOFError) as exc:
            error = f"the tarball is damaged after {len(files)} file(s): {exc}"
    return LogOut(filename=path.name, size=size, files=files, error=error)


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo, budget: int) -> LogFile:
    if budget <= 0:
        return LogFile(name=member.name, size=member.size, text=None, truncated=True, binary=False)
    stream = tar.extractfile(member)
    data = stream.read(min(MAX_FILE_BYTES, budget) + 1) if stream is not None else b""
    cap = min(MAX_FILE_BYTES, budget)
    truncated = len(data) > cap or member.size > cap
    text = _text(data[:cap])
    return LogFile(name=member.name, size=member.size, text=text, truncated=truncated, binary=text is None)


def _plain(path: Path, size: int) -> LogOut:
    with path.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    text = _text(data[:MAX_FILE_BYTES])
    entry = LogFile(
        name=path.name, size=size, text=text, truncated=size > MAX_FILE_BYTES, binary=text is None
    )
    return LogOut(filename=path.name, size=size, files=[entry], error="not a tar archive; shown as one file")
