"""The storage contract every back end keeps (file://, root://, s3://), and its errors.

Invariants: an upload or download writes to a temporary name beside the destination and renames it only
after size and adler32 were checked, so no reader ever sees half a file or a wrong one; a failed check
leaves nothing at the destination. ``delete`` of a missing file is not an error.
"""

from __future__ import annotations

import contextlib
import errno
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from pandawms.core.checksums import Adler32, FileStat
from pandawms.core.errors import NotFound as _CoreNotFound
from pandawms.core.errors import PandaError, Transient

CHUNK_SIZE = 8 * 1024 * 1024  # one read/write/part: bounds a copy's memory


class StorageError(PandaError):
    """A storage operation failed; ``url`` names the file or directory concerned."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class NotFound(StorageError, _CoreNotFound):
    """The file (or its bucket) does not exist."""


class ChecksumMismatch(StorageError):
    """What arrived is not the expected file (size or adler32 differ); nothing was left at the destination."""


class StorageUnavailable(StorageError, Transient):
    """The storage cannot be reached or is overloaded: retry later with backoff."""


class PermissionDenied(StorageError):
    """The storage refuses the operation (read-only, no write permission, bad credentials)."""


class StorageBackend(Protocol):
    """One storage protocol. URLs are absolute (``scheme://...``); the registry picks a back end by scheme."""

    def stat(self, url: str) -> FileStat:
        """Size and adler32 of the file at ``url``; NotFound if there is none."""
        ...

    def checksum(self, url: str) -> Adler32:
        """The adler32 of the file at ``url``, as the storage computes or records it."""
        ...

    def upload(self, local_path: Path, url: str, expected: FileStat | None = None) -> FileStat:
        """Copy a local file to ``url`` (replacing what is there). The destination must match ``expected``
        (the catalogue's size+adler32; by default the local file's), else ChecksumMismatch. Returns it."""
        ...

    def download(self, url: str, local_path: Path, expected: FileStat | None = None) -> FileStat:
        """Copy ``url`` to a local file; what arrives must match ``expected`` (by default the storage's own
        stat), else ChecksumMismatch and no local file."""
        ...

    def delete(self, url: str) -> None:
        """Remove the file at ``url``; nothing happens if it is already gone."""
        ...

    def third_party_copy(self, src_url: str, dst_url: str) -> bool:
        """Copy storage to storage without the bytes passing through this process: True when done and
        verified, False when this pair of URLs cannot (other protocol, other endpoint, refused)."""
        ...


def remove_unless_matches(backend: StorageBackend, url: str, expected: FileStat, actual: FileStat) -> None:
    """A wrong file that is already visible at ``url`` is deleted, then ChecksumMismatch raised."""
    if expected.mismatch(actual) is not None:
        backend.delete(url)
        check(expected, actual, url)


def temporary_name(name: str) -> str:
    """A hidden, unique sibling name for a file being written (``.NAME.part-<8 hex>``)."""
    return f".{name}.part-{uuid.uuid4().hex[:8]}"


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` is one of temporary_name's: left behind only by a killed writer, safe to sweep."""
    return _TEMPORARY.fullmatch(name) is not None


_TEMPORARY = re.compile(r"\..+\.part-[0-9a-f]{8}")


def check(expected: FileStat, actual: FileStat, url: str) -> None:
    """Raise ChecksumMismatch naming ``url`` unless ``actual`` matches ``expected``."""
    problem = expected.mismatch(actual)
    if problem is not None:
        raise ChecksumMismatch(f"{url}: {problem}", url)


# local file system errno -> what the caller should do (anything else: StorageUnavailable)
OS_ERRORS: dict[int, type[StorageError]] = {
    errno.ENOENT: NotFound,
    errno.ENOTDIR: NotFound,
    errno.EISDIR: StorageError,
    errno.EACCES: PermissionDenied,
    errno.EPERM: PermissionDenied,
    errno.EROFS: PermissionDenied,
}


@contextlib.contextmanager
def os_errors(url: str, action: str = "read") -> Iterator[None]:
    """A local OSError -> the storage error for ``url`` (OS_ERRORS)."""
    try:
        yield
    except OSError as exc:
        error = OS_ERRORS.get(exc.errno or 0, StorageUnavailable)
        raise error(f"cannot {action} {url}: {exc.strerror or exc}", url) from exc


@contextlib.contextmanager
def landing(path: Path, url: str | None = None) -> Iterator[Path]:
    """A new empty temporary file beside local ``path`` (parents created) for the block to fill: renamed
    to ``path`` when the block ends normally, removed when it raises. Errors name ``url`` (or the path's)."""
    url = url or path.absolute().as_uri()
    tmp = path.with_name(temporary_name(path.name))
    with os_errors(url, "write"):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch(exist_ok=False)
    try:
        yield tmp
        with os_errors(url, "write"):
            tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
