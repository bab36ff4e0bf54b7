"""Stage-in and stage-out through the ddm back ends (file://, root://, s3://), plus the job's log tarball.

Inputs come from their turl (filled by the server for catalog files; files without one are looked up in
the pilot's storage directory, as before); a replica at another RSE than the queue's own (a nearby one)
is read in place on file:// and root:// (PanDA's direct access: the payload gets the turl instead of the
LFN). Every copy is checked against the job description's size and adler32. Outputs and the log go to
their turl (or the storage directory); a failed upload is retried with backoff and the file stays in the
work dir. Each transfer is bounded by PanDA's per-file limit. Failures raise StageError with the pilot
error code of the table below (errors.md §3.2, §3.4).
"""

from __future__ import annotations

import random
import re
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from pandawms.core.backoff import RandomSource, compute_backoff
from pandawms.core.checksums import Adler32, FileStat
from pandawms.core.errors import InvalidInput
from pandawms.ddm import base, local
from pandawms.ddm.registry import BackendRegistry
from pandawms.pilot.state import StepError
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import OutputFileReport, PilotFile

T = TypeVar("T")
MAX_TRANSFER_TIME = 3 * 3600.0  # s: the per-file limit's ceiling (pilot.md §7.3)
DIRECT_SCHEMES = frozenset({"file", "root", "xroot"})  # read in place (PanDA's remote_io LAN schemas)
_P = ec.PilotCode


class StageError(StepError):
    """A stage-in, stage-out or log-tarball failure with its pilot error code."""


class TransferTimeout(Exception):
    """A transfer that did not end within its per-file limit."""


# what went wrong -> the pilot error code, per direction (looked up along the exception's classes)
GET_CODES: dict[type[Exception], ec.PilotCode] = {
    base.NotFound: _P.NOSUCHFILE,
    base.ChecksumMismatch: _P.GETADMISMATCH,
    base.PermissionDenied: _P.STAGEINAUTHENTICATIONFAILURE,
    base.StorageUnavailable: _P.UNREACHABLENETWORK,
    InvalidInput: _P.NOSTORAGEPROTOCOL,  # no back end for the turl's scheme
    TransferTimeout: _P.STAGEINTIMEOUT,
    base.StorageError: _P.STAGEINFAILED,
}
PUT_CODES: dict[type[Exception], ec.PilotCode] = {
    base.ChecksumMismatch: _P.PUTADMISMATCH,
    TransferTimeout: _P.STAGEOUTTIMEOUT,
    InvalidInput: _P.STAGEOUTFAILED,
    base.StorageError: _P.STAGEOUTFAILED,
}
# an upload failing so is tried again (the back end left nothing at the destination)
RETRYABLE_PUT = (base.StorageUnavailable, base.ChecksumMismatch, TransferTimeout)


def code_for(exc: Exception, table: Mapping[type[Exception], ec.PilotCode]) -> ec.PilotCode:
    """The code of the most specific class of ``exc`` in ``table``."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    raise KeyError(type(exc).__name__)


def transfer_timeout(size: int) -> float:
    """PanDA pilot's per-file limit: ``min(400 s + size / (1 MB/s), 3 h)``."""
    return min(400.0 + size / 1_000_000, MAX_TRANSFER_TIME)


def expected_adler32(checksum: str) -> Adler32 | None:
    """The adler32 a job description's checksum asks for (``ad:xxxxxxxx`` or bare hex); None for none or
    another algorithm (``md5:...``)."""
    if not checksum or (":" in checksum and not checksum.lower().startswith(("ad:", "adler32:"))):
        return None
    try:
        return Adler32.parse(checksum)
    except InvalidInput:
        return None


def with_turls(argv: list[str], turls: Mapping[str, str]) -> list[str]:
    """The payload's arguments with each directly read input's LFN replaced by its turl (PanDA's direct
    access: the LFN is replaced where it stands as a whole name, e.g. ``in.root`` or ``--in=in.root``)."""
    out = list(argv)
    for lfn, turl in turls.items():
        name = re.compile(rf"(?<![\w.\-]){re.escape(lfn)}(?![\w.\-])")
        out = [name.sub(_literal(turl), arg) for arg in out]
    return out


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: text


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def bounded(action: Callable[[], T], seconds: float, what: str) -> T:
    """``action()`` in a thread, given ``seconds``: TransferTimeout if it has not ended by then (the thread
    is left to finish; back ends write to temporary names, so it can never publish a half file)."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    # named after the caller's thread, so the job's own log (pilot/job.py) keeps its lines
    name = f"{threading.current_thread().name}/stage {what}"
    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TransferTimeout(f"{what}: not done after {seconds:.0f} s")
    if failure:
        raise failure[0]
    return result[0]


@dataclass(frozen=True, slots=True)
class StageRetry:
    """Stage-out tries per file and the full-jitter backoff between them (core/backoff.py)."""

    attempts: int = 3
    base: float = 2.0
    cap: float = 120.0


def find_input(storage: Path, lfn: str, scope: str = "") -> Path | None:
    """An input without turl in the storage directory: ``<storage>/<lfn>``, ``<storage>/<scope>/<lfn>``, or
    an earlier job's output ``<storage>/<PandaID>/<lfn>`` (newest first)."""
    for candidate in (storage / lfn, storage / scope / lfn if scope else None):
        if candidate is not None and candidate.is_file():
            return candidate
    found = sorted(storage.glob(f"*/{lfn}"), key=lambda p: p.stat().st_mtime, reverse=True)
    return found[0] if found else None


@dataclass
class Stager:
    """One job's transfers: the back ends, the storage directory for files without turl, and the queue's
    own RSE (an input at another RSE is a nearby replica, read in place)."""

    registry: BackendRegistry
    storage: Path
    queue_rse: str = ""
    endpoint: str = "LOCAL"  # reported for outputs written to the storage directory
    retry: StageRetry = field(default_factory=StageRetry)
    wait: Callable[[float], bool] = _sleep  # the pause between tries; True: stop (the job is being killed)
    timeout: Callable[[int], float] = transfer_timeout
    rng: RandomSource = field(default_factory=random.Random)

    # -- stage-in ----------------------------------------------------------------------------------------
    def stage_in(self, files: Iterable[PilotFile], workdir: Path) -> dict[str, str]:
        """Copy the inputs into ``workdir`` (or check them in place); returns the turls read in place."""
        direct: dict[str, str] = {}
        for f in files:
            if self.reads_in_place(f):
                self._check_in_place(f)
                direct[f.lfn] = f.turl
            else:
                self._get(f, self._source(f), workdir / f.lfn)
        return direct

    def reads_in_place(self, f: PilotFile) -> bool:
        nearby = bool(f.turl) and f.ddm_endpoint != self.queue_rse
        return nearby and urlsplit(f.turl).scheme in DIRECT_SCHEMES

    def _source(self, f: PilotFile) -> str:
        if f.turl:
            return f.turl
        found = find_input(self.storage, f.lfn, f.scope)
        if found is None:
            code = _P.REPLICANOTFOUND if f.scope else _P.NOSUCHFILE
            raise StageError(code, f"input {f.lfn}: no replica given and none in storage {self.storage}")
        return local.url_of(found)

    def _get(self, f: PilotFile, url: str, dest: Path) -> None:
        want = expected_adler32(f.checksum)
        expected = FileStat(f.fsize, want) if want is not None and f.fsize > 0 else None
        backend = self._backend(url, GET_CODES, f.lfn)
        try:
            got = bounded(lambda: backend.download(url, dest, expected), self.timeout(f.fsize), url)
        except (base.StorageError, TransferTimeout) as exc:
            raise StageError(code_for(exc, GET_CODES), f"stage-in of {f.lfn} from {url}: {exc}") from None
        if want is not None and got.adler32 != want:
            dest.unlink(missing_ok=True)
            raise StageError(_P.GETADMISMATCH, f"input {f.lfn}: adler32 {got.adler32} != job's {want}")

    def _check_in_place(self, f: PilotFile) -> None:
        """A directly read input must be there and be the job's file (size and adler32 from the storage)."""
        backend = self._backend(f.turl, GET_CODES, f.lfn)
        try:
            got = bounded(lambda: backend.stat(f.turl), self.timeout(f.fsize), f.turl)
        except (base.StorageError, TransferTimeout) as exc:
            raise StageError(code_for(exc, GET_CODES), f"direct access to {f.lfn}: {exc}") from None
        want = expected_adler32(f.checksum)
        if (want is not None and got.adler32 != want) or (f.fsize > 0 and got.size != f.fsize):
            raise StageError(_P.GETADMISMATCH, f"input {f.lfn} at {f.turl}: {got}, job says {f.fsize} bytes")

    # -- stage-out ---------------------------------------------------------------------------------------
    def put(self, src: Path, f: PilotFile, panda_id: int) -> OutputFileReport:
        """Upload one output (or the log) to its turl, else ``<storage>/<PandaID>/<lfn>``; retried."""
        url = f.turl or local.url_of(self.storage / str(panda_id) / f.lfn)
        if not src.is_file():
            raise StageError(_P.MISSINGOUTPUTFILE, f"expected output {f.lfn} was not produced")
        try:
            stat = local.file_stat(src)
        except base.StorageError as exc:
            raise StageError(_P.STAGEOUTFAILED, f"cannot read output {f.lfn}: {exc}") from None
        got = self._upload(src, url, stat, f.lfn)
        return OutputFileReport(
            guid=f.guid or str(uuid.uuid4()),
            fsize=got.size,
            adler32=str(got.adler32),
            surl=url,
            endpoint=f.ddm_endpoint if f.turl else self.endpoint,
        )

    def _upload(self, src: Path, url: str, stat: FileStat, lfn: str) -> FileStat:
        backend = self._backend(url, PUT_CODES, lfn)
        for attempt in range(self.retry.attempts):
            try:
                return bounded(lambda: backend.upload(src, url, stat), self.timeout(stat.size), url)
            except (base.StorageError, TransferTimeout) as exc:
                code = code_for(exc, PUT_CODES)
                diag = f"stage-out of {lfn} to {url} (try {attempt + 1} of {self.retry.attempts}): {exc}"
                if not isinstance(exc, RETRYABLE_PUT) or attempt + 1 == self.retry.attempts:
                    raise StageError(code, diag) from None
            _sweep_own(url)
            if self.wait(compute_backoff(attempt, self.retry.base, self.retry.cap, self.rng)):
                raise StageError(code, f"{diag}; not retried: the job is being killed")
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _backend(
        self, url: str, table: Mapping[type[Exception], ec.PilotCode], lfn: str
    ) -> base.StorageBackend:
        try:
            return self.registry.for_url(url)
        except InvalidInput as exc:
            raise StageError(code_for(exc, table), f"{lfn}: {exc}") from None


def _sweep_own(url: str) -> None:
    """Before a retry, remove what an earlier (timed-out) try of this file left in a file:// directory."""
    if urlsplit(url).scheme == local.SCHEME:
        path = local.path_of(url)
        local.sweep_temporary(path.parent, older_than=0.0, now=time.time(), name=path.name)


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
