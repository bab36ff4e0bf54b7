"""Copy one file between any two storage URLs, verified: third-party copy where the back end can, else
streamed through this process (bounded memory), then the destination's size+adler32 must equal the
source's or the destination is removed and ChecksumMismatch raised. After a streamed copy the
destination's stat is the one the receiving back end returned (it verified the written file); after a
third-party copy it is asked for."""

from __future__ import annotations

import enum
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pandawms.core.checksums import FileStat
from pandawms.core.errors import InvalidInput
from pandawms.ddm import local
from pandawms.ddm.base import StorageBackend, remove_unless_matches
from pandawms.ddm.registry import BackendRegistry


class CopyMethod(enum.StrEnum):
    THIRD_PARTY = "third-party"  # storage to storage (xrdcp --tpc, S3 CopyObject, a local copy)
    STREAMED = "streamed"  # the bytes went through this process


@dataclass(frozen=True)
class CopyResult:
    src_url: str
    dst_url: str
    stat: FileStat  # the source's size and adler32, which the destination was verified to have
    seconds: float
    method: CopyMethod

    @property
    def bytes(self) -> int:
        return self.stat.size

    @property
    def mb_per_s(self) -> float:
        return self.stat.size / 1e6 / self.seconds if self.seconds > 0 else 0.0


def copy(
    registry: BackendRegistry,
    src_url: str,
    dst_url: str,
    *,
    expected: FileStat | None = None,
    spool_dir: Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CopyResult:
    """Copy ``src_url`` to ``dst_url`` (replacing it). Between two remote stores without a third-party
    path the file is spooled through a temporary file in ``spool_dir`` (default: the system temp dir).
    With ``expected`` (the catalog's size+adler32) the source is not stat'ed first (a full read on
    file:// and s3://): the destination must match ``expected``, else ChecksumMismatch."""
    if src_url == dst_url:
        raise InvalidInput(f"source and destination are the same URL: {src_url!r}", "dst_url")
    src, dst = registry.for_url(src_url), registry.for_url(dst_url)
    started = clock()
    source = expected if expected is not None else src.stat(src_url)
    if src is dst and src.third_party_copy(src_url, dst_url):
        method, arrived = CopyMethod.THIRD_PARTY, dst.stat(dst_url)
    else:
        method, arrived = CopyMethod.STREAMED, _stream(src, dst, src_url, dst_url, source, spool_dir)
    remove_unless_matches(dst, dst_url, source, arrived)
    return CopyResult(src_url, dst_url, source, clock() - started, method)


def _stream(
    src: StorageBackend, dst: StorageBackend, src_url: str, dst_url: str, source: FileStat, spool: Path | None
) -> FileStat:
    """Through this process: a local end is read or written in place; two remote ends meet in a spool
    file. Returns the destination's stat as the receiving back end verified it."""
    if isinstance(src, local.LocalBackend):
        return dst.upload(local.path_of(src_url), dst_url, expected=source)
    if isinstance(dst, local.LocalBackend):
        return src.download(src_url, local.path_of(dst_url), expected=source)
    spool_dir = Path(tempfile.mkdtemp(prefix="panda-copy-", dir=spool))
    try:
        spooled = spool_dir / "file"
        src.download(src_url, spooled, expected=source)
        return dst.upload(spooled, dst_url, expected=source)
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
