"""Stage-in and stage-out against a local storage directory (the stand-in for the queue's storage element),
with adler32 checksums, plus the job's log tarball. Copies go to a temporary name and are renamed, so
storage never holds half a file. Failures raise StageError carrying the pilot error code (errors.md §3.2/3.4).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
import zlib
from collections.abc import Iterable
from pathlib import Path

from pandawms.pilot.state import StepError
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import OutputFileReport, PilotFile

_BLOCK = 4 * 1024 * 1024


class StageError(StepError):
    """A stage-in, stage-out or log-tarball failure with its pilot error code."""


def adler32_of(path: Path) -> str:
    """The file's adler32 as 8 lowercase hex digits (PanDA's format)."""
    value = 1
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            value = zlib.adler32(block, value)
    return f"{value & 0xFFFFFFFF:08x}"


def expected_adler32(checksum: str) -> str | None:
    """The adler32 a catalogue checksum asks for ("ad:xxxxxxxx" or bare 8 hex digits); None otherwise."""
    value = checksum.strip().lower()
    if value.startswith("ad:"):
        value = value[3:]
    elif ":" in value:
        return None
    return (
        value.zfill(8) if value and all(c in "0123456789abcdef" for c in value) and len(value) <= 8 else None
    )


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def find_input(storage: Path, lfn: str, scope: str = "") -> Path | None:
    """An input in storage: ``<storage>/<lfn>``, ``<storage>/<scope>/<lfn>``, or an earlier job's output
    ``<storage>/<PandaID>/<lfn>`` (newest first)."""
    for candidate in (storage / lfn, storage / scope / lfn if scope else None):
        if candidate is not None and candidate.is_file():
            return candidate
    found = sorted(storage.glob(f"*/{lfn}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


def stage_in(files: Iterable[PilotFile], storage: Path, workdir: Path) -> list[Path]:
    """Copy the job's inputs into its work dir, checking adler32 where the catalogue gives one."""
    staged: list[Path] = []
    for f in files:
        src = find_input(storage, f.lfn, f.scope)
        if src is None:
            raise StageError(ec.PilotCode.NOSUCHFILE, f"input {f.lfn} not found in storage {storage}")
        dest = workdir / f.lfn
        try:
            _copy(src, dest)
        except OSError as exc:
            raise StageError(ec.PilotCode.STAGEINFAILED, f"stage-in of {f.lfn} failed: {exc}") from None
        want = expected_adler32(f.checksum)
        if want is not None and (got := adler32_of(dest)) != want:
            raise StageError(ec.PilotCode.GETADMISMATCH, f"input {f.lfn}: adler32 {got} != catalogue {want}")
        staged.append(dest)
    return staged


def stage_out_file(src: Path, lfn: str, guid: str, dest_dir: Path, endpoint: str) -> OutputFileReport:
    """Copy one file to ``dest_dir``, verify the copy's checksum and describe it for the job output report."""
    checksum = adler32_of(src)
    dest = dest_dir / lfn
    try:
        _copy(src, dest)
    except OSError as exc:
        raise StageError(ec.PilotCode.STAGEOUTFAILED, f"stage-out of {lfn} failed: {exc}") from None
    if (copied := adler32_of(dest)) != checksum:
        raise StageError(ec.PilotCode.PUTADMISMATCH, f"output {lfn}: stored adler32 {copied} != {checksum}")
    return OutputFileReport(
        guid=guid or str(uuid.uuid4()),
        fsize=dest.stat().st_size,
        adler32=checksum,
        surl=dest.resolve().as_uri(),
        endpoint=endpoint,
    )


def stage_out(
    files: Iterable[PilotFile], workdir: Path, dest_dir: Path, endpoint: str
) -> dict[str, OutputFileReport]:
    """Copy every output to ``dest_dir``; a missing output is error 1165 MISSINGOUTPUTFILE."""
    report: dict[str, OutputFileReport] = {}
    for f in files:
        src = workdir / f.lfn
        if not src.is_file():
            raise StageError(ec.PilotCode.MISSINGOUTPUTFILE, f"expected output {f.lfn} was not produced")
        report[f.lfn] = stage_out_file(src, f.lfn, f.guid, dest_dir, endpoint)
    return report


def create_log_tarball(dest: Path, folder_name: str, members: Iterable[Path]) -> Path:
    """A gzipped tarball of ``members`` (those that exist) under ``folder_name/``."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest, "w:gz") as tar:
            for path in members:
                if path.exists():
                    tar.add(path, arcname=f"{folder_name}/{path.name}")
    except OSError as exc:
        raise StageError(ec.PilotCode.LOGFILECREATIONFAILURE, f"log tarball {dest.name}: {exc}") from None
    return dest
