"""XRootD storage, ``root://host:port//path``, through the XRootD client's Python bindings (XrdCl).

Copies are XrdCl copy jobs with end-to-end adler32 (the server computes the remote side, ``xrootd.chksum
adler32``); they write ``.NAME.part-XXXX`` and are renamed on the server after the check. A
third-party copy between two XRootD servers is ``xrdcp --tpc only`` (the servers need ``ofs.tpc``).
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from XRootD import client as xrd
from XRootD.client.flags import QueryCode

from pandawms.core.checksums import Adler32, FileStat
from pandawms.core.errors import InvalidInput
from pandawms.ddm import base
from pandawms.ddm.base import ChecksumMismatch, StorageError, check, landing, os_errors, temporary_name

SCHEMES = ("root", "xroot")
log = logging.getLogger(__name__)

# XProtocol server error numbers (XProtocol.hh) -> what the caller should do (anything else: StorageError)
_ERRNO_ERRORS: dict[int, type[StorageError]] = {
    3011: base.NotFound,  # kXR_NotFound
    3010: base.PermissionDenied,  # kXR_NotAuthorized
    3025: base.PermissionDenied,  # kXR_fsReadOnly
    3030: base.PermissionDenied,  # kXR_AuthFailed
    3009: base.StorageUnavailable,  # kXR_NoSpace
    3012: base.StorageUnavailable,  # kXR_ServerError
    3021: base.StorageUnavailable,  # kXR_overQuota
    3024: base.StorageUnavailable,  # kXR_Overloaded
}
_NOT_FOUND = 3011
_SERVER_RESPONSE = 400  # XrdCl errErrorResponse: the server answered with an error number
_CHECKSUM_ERROR = 305  # XrdCl errCheckSumError


@dataclass(frozen=True)
class XRootDConfig:
    """XrdCl settings: how long to try to connect and to wait for an answer (process-wide in XrdCl), and
    the copy buffers (a copy holds about chunk_size x parallel_chunks bytes: 32 MiB by default)."""

    connection_window: int = field(default=10, metadata={"min": 1})
    connection_retry: int = field(default=2, metadata={"min": 1})
    request_timeout: int = field(default=300, metadata={"min": 1})
    tpc_timeout: int = field(default=1800, metadata={"min": 1})
    chunk_size: int = field(default=8 * 1024 * 1024, metadata={"min": 1})
    parallel_chunks: int = field(default=4, metadata={"min": 1})

    def __post_init__(self) -> None:
        for name in (f.name for f in fields(self)):
            if getattr(self, name) < 1:
                raise InvalidInput(f"xrootd {name} must be at least 1, got {getattr(self, name)}", name)


@dataclass(frozen=True)
class _Location:
    endpoint: str  # root://host:port
    path: str  # /absolute/path

    def url(self, path: str | None = None) -> str:
        return f"{self.endpoint}/{path or self.path}"

    def sibling(self, name: str) -> _Location:
        return _Location(self.endpoint, posixpath.join(posixpath.dirname(self.path), name))


def _locate(url: str) -> _Location:
    parts = urlsplit(url)
    path = "/" + parts.path.lstrip("/")
    if parts.scheme not in SCHEMES or not parts.netloc or path == "/" or parts.query or parts.fragment:
        raise InvalidInput(f"not an XRootD file URL: {url!r} (want root://host:port//path/file)", "url")
    return _Location(f"{parts.scheme}://{parts.netloc}", posixpath.normpath(path))


def _raise_for(status: Any, url: str, action: str) -> None:
    """XrdCl status -> nothing if it is ok, else the storage error a caller can act on."""
    if status.ok:
        return
    message = f"cannot {action} {url}: {status.message.strip()}"
    if status.code == _SERVER_RESPONSE:
        raise _ERRNO_ERRORS.get(status.errno, StorageError)(message, url)
    if status.code == _CHECKSUM_ERROR:
        raise ChecksumMismatch(message, url)
    raise base.StorageUnavailable(message, url)  # connection, timeout, socket: the client could not talk


class XRootDBackend:
    """``root://`` (and ``xroot://``) URLs on any XRootD server."""

    def __init__(self, config: XRootDConfig | None = None) -> None:
        self.config = config or XRootDConfig()
        xrd.EnvPutInt("ConnectionWindow", self.config.connection_window)
        xrd.EnvPutInt("ConnectionRetry", self.config.connection_retry)
        xrd.EnvPutInt("RequestTimeout", self.config.request_timeout)
        self._filesystems: dict[str, Any] = {}

    def _fs(self, loc: _Location) -> Any:
        if loc.endpoint not in self._filesystems:
            self._filesystems[loc.endpoint] = xrd.FileSystem(loc.endpoint)
        return self._filesystems[loc.endpoint]

    def stat(self, url: str) -> FileStat:
        loc = _locate(url)
        status, info = self._fs(loc).stat(loc.path)
        _raise_for(status, url, "stat")
        return FileStat(int(info.size), self._checksum(loc, url))

    def checksum(self, url: str) -> Adler32:
        loc = _locate(url)
        return self._checksum(loc, url)

    def _checksum(self, loc: _Location, url: str) -> Adler32:
        status, answer = self._fs(loc).query(QueryCode.CHECKSUM, loc.path)
        _raise_for(status, url, "checksum")
        text = answer.decode(errors="replace").strip("\x00 \n")  # b"adler32 aa0f2de1\x00"
        kind, _, value = text.partition(" ")
        if kind != "adler32":
            raise StorageError(f"{url}: server answers checksum {text!r}, not adler32", url)
        return Adler32.parse(value)

    def upload(self, local_path: Path, url: str, expected: FileStat | None = None) -> FileStat:
        dst = _locate(url)
        with os_errors(local_path.absolute().as_uri()):
            local_path.stat()  # a missing source is NotFound, not a copy error
        return self._via_temporary(dst, url, lambda tmp: self._copy(str(local_path), tmp, expected, url))

    def download(self, url: str, local_path: Path, expected: FileStat | None = None) -> FileStat:
        src = _locate(url)
        want = expected or self.stat(url)
        with landing(local_path) as tmp:
            got = self._copy(src.url(), str(tmp), want, url)
            check(want, got, url)
        return got

    def delete(self, url: str) -> None:
        loc = _locate(url)
        status, _ = self._fs(loc).rm(loc.path)
        if status.ok or (status.code == _SERVER_RESPONSE and status.errno == _NOT_FOUND):
            return
        _raise_for(status, url, "delete")

    def third_party_copy(self, src_url: str, dst_url: str) -> bool:
        if urlsplit(src_url).scheme not in SCHEMES or urlsplit(dst_url).scheme not in SCHEMES:
            return False
        want = self.stat(src_url)  # NotFound here is the caller's error, not a refusal
        dst = _locate(dst_url)
        try:
            self._via_temporary(dst, dst_url, lambda tmp: self._copy(src_url, tmp, want, dst_url, tpc=True))
        except ChecksumMismatch:
            raise
        except StorageError as exc:
            log.warning("third-party copy %s -> %s refused, falling back: %s", src_url, dst_url, exc)
            return False
        return True

    def _via_temporary(self, dst: _Location, url: str, write: Callable[[str], FileStat]) -> FileStat:
        """Write a temporary sibling (`write` returns what arrived), then rename it on the server."""
        tmp = dst.sibling(temporary_name(posixpath.basename(dst.path)))
        fs = self._fs(dst)
        try:
            got = write(tmp.url())
            size_status, info = fs.stat(tmp.path)
            _raise_for(size_status, url, "stat")
            check(got, FileStat(int(info.size), got.adler32), url)
            _raise_for(fs.mv(tmp.path, dst.path)[0], url, "rename into")
        except BaseException:
            fs.rm(tmp.path)
            raise
        return got

    def _copy(
        self, source: str, target: str, expected: FileStat | None, named: str, *, tpc: bool = False
    ) -> FileStat:
        """One XrdCl copy job with end-to-end adler32 (against ``expected`` when given); what arrived.
        Errors name ``named``, the URL the caller asked for (not the temporary one)."""
        process = xrd.CopyProcess()
        process.add_job(
            source,
            target,
            force=True,
            mkdir=True,
            thirdparty="only" if tpc else "none",
            checksummode="end2end",
            checksumtype="adler32",
            checksumpreset=str(expected.adler32) if expected else "",
            tpctimeout=self.config.tpc_timeout,
            chunksize=self.config.chunk_size,
            parallelchunks=self.config.parallel_chunks,
        )
        _raise_for(process.prepare(), named, "copy to")
        status, results = process.run()
        job = results[0] if results else {}
        job_status = job.get("status", status)
        if job_status.code == _CHECKSUM_ERROR:
            got, want = job.get("targetCheckSum", "?"), job.get("sourceCheckSum", "?")
            raise ChecksumMismatch(f"{named}: adler32 {got}, expected {want}", named)
        _raise_for(job_status, named, "copy to")
        got = FileStat(int(job["size"]), Adler32.parse(str(job["targetCheckSum"])))
        if expected is not None:
            check(expected, got, named)
        return got
