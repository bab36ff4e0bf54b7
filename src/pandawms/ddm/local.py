"""Local POSIX storage, ``file:///absolute/path``: chunked copies that sum adler32 as the bytes pass,
written to a hidden temporary sibling and renamed into place once size and adler32 match."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pandawms.core.checksums import Adler32, Adler32Sum, FileStat
from pandawms.core.errors import InvalidInput
from pandawms.ddm.base import CHUNK_SIZE, check, is_temporary_name, landing, os_errors

SCHEME = "file"


def path_of(url: str) -> Path:
    """The absolute path of a ``file://`` URL (``file:///data/x`` or ``file://localhost/data/x``)."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME or parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise InvalidInput(f"not a local file URL: {url!r} (want file:///absolute/path)", "url")
    if parts.query or parts.fragment:
        raise InvalidInput(f"local file URL {url!r} has a query or fragment", "url")
    return Path(unquote(parts.path))


def url_of(path: Path) -> str:
    """The ``file://`` URL of a local path."""
    return path.resolve().as_uri()


def file_stat(path: Path, url: str | None = None) -> FileStat:
    """Size and adler32 of a local file, read in chunks; NotFound / PermissionDenied name ``url``."""
    running = Adler32Sum()
    with os_errors(url or url_of(path)), path.open("rb") as fh:
        while chunk := fh.read(CHUNK_SIZE):
            running.update(chunk)
    return running.stat


def copy_file(src: Path, dst: Path, src_url: str, dst_url: str, expected: FileStat | None) -> FileStat:
    """Stream ``src`` to a temporary sibling of ``dst``, check, rename; nothing is left on failure."""
    running = Adler32Sum()
    with landing(dst, dst_url) as tmp:
        with os_errors(src_url), src.open("rb") as fin, os_errors(dst_url, "write"), tmp.open("wb") as fout:
            while chunk := fin.read(CHUNK_SIZE):
                running.update(chunk)
                fout.write(chunk)
            fout.flush()
            written = os.fstat(fout.fileno()).st_size
        check(running.stat, FileStat(written, running.adler32), dst_url)  # short write: disk full
        check(expected or running.stat, running.stat, dst_url)
    return running.stat


def sweep_temporary(directory: Path, older_than: float, now: float, name: str | None = None) -> list[Path]:
    """Remove the temporary names (base.temporary_name) under ``directory`` last written more than
    ``older_than`` seconds before ``now`` (epoch s): what killed writers left. ``name``: only those of
    that file. Returns what was removed; a directory that does not exist has nothing to sweep."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for path in directory.rglob(".*.part-*"):
        if not is_temporary_name(path.name) or (
            name is not None and not path.name.startswith(f".{name}.part-")
        ):
            continue
        try:
            if now - path.stat().st_mtime >= older_than and path.is_file():
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
    return removed


class LocalBackend:
    """``file://`` URLs on this machine's file systems."""

    def stat(self, url: str) -> FileStat:
        return file_stat(path_of(url), url)

    def checksum(self, url: str) -> Adler32:
        return self.stat(url).adler32

    def upload(self, local_path: Path, url: str, expected: FileStat | None = None) -> FileStat:
        return copy_file(local_path, path_of(url), url_of(local_path), url, expected)

    def download(self, url: str, local_path: Path, expected: FileStat | None = None) -> FileStat:
        return copy_file(path_of(url), local_path, url, url_of(local_path), expected)

    def delete(self, url: str) -> None:
        with os_errors(url, "delete"):
            path_of(url).unlink(missing_ok=True)

    def third_party_copy(self, src_url: str, dst_url: str) -> bool:
        """Within one machine a "third-party" copy is a local copy: the bytes never leave the host."""
        if urlsplit(src_url).scheme != SCHEME or urlsplit(dst_url).scheme != SCHEME:
            return False
        copy_file(path_of(src_url), path_of(dst_url), src_url, dst_url, None)
        return True
