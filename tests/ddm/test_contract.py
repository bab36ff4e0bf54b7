"""The storage contract, run against every back end's real server (file://, root:// on Debian's xrootd,
s3:// on moto): round trip, missing files, verification failures that leave nothing behind, idempotent
delete, a large file in bounded memory, refused writes."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from pandawms.core.checksums import Adler32, FileStat, adler32_of
from pandawms.ddm.base import CHUNK_SIZE, ChecksumMismatch, NotFound, PermissionDenied
from pandawms.ddm.local import file_stat
from pandawms.ddm.local import path_of as local_path_of
from tests.ddm.conftest import Store

LARGE = 50 * 1024 * 1024


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_round_trip_keeps_size_and_adler32(store: Store, tmp_path: Path) -> None:
    data = os.urandom(1_234_567)
    source = _file(tmp_path / "in.dat", data)
    url = store.url("dir/sub/in.dat")

    uploaded = store.backend.upload(source, url)
    downloaded = store.backend.download(url, tmp_path / "back" / "out.dat")

    want = FileStat(len(data), adler32_of(data))
    assert uploaded == want and downloaded == want
    assert store.backend.stat(url) == want
    assert store.backend.checksum(url) == want.adler32
    assert (tmp_path / "back" / "out.dat").read_bytes() == data
    assert store.names() == ["dir/sub/in.dat"]  # no temporary file left beside it


def test_upload_replaces_an_existing_file(store: Store, tmp_path: Path) -> None:
    url = store.url("again.dat")
    store.backend.upload(_file(tmp_path / "a", b"first version"), url)

    store.backend.upload(_file(tmp_path / "b", b"second, longer version"), url)

    assert store.backend.stat(url) == FileStat(22, adler32_of(b"second, longer version"))


def test_empty_file(store: Store, tmp_path: Path) -> None:
    url = store.url("empty")
    assert store.backend.upload(_file(tmp_path / "e", b""), url) == FileStat(0, Adler32(1))
    assert store.backend.stat(url) == FileStat(0, Adler32(1))


def test_missing_file_is_not_found_naming_the_url(store: Store, tmp_path: Path) -> None:
    url = store.url("no/such/file")
    for call in (store.backend.stat, store.backend.checksum):
        with pytest.raises(NotFound, match="no/such/file") as info:
            call(url)
        assert info.value.url == url
    with pytest.raises(NotFound):
        store.backend.download(url, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_upload_not_matching_the_expected_checksum_leaves_nothing(store: Store, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    source = _file(tmp_path / "in.dat", data)
    url = store.url("bad.dat")
    claimed = FileStat(len(data), Adler32(adler32_of(data).value ^ 1))  # the catalogue says otherwise

    with pytest.raises(ChecksumMismatch, match="adler32") as info:
        store.backend.upload(source, url, expected=claimed)

    assert info.value.url == url
    with pytest.raises(NotFound):
        store.backend.stat(url)
    assert store.names() == []


def test_upload_of_the_wrong_size_leaves_nothing(store: Store, tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE + 5)  # several parts on S3
    source = _file(tmp_path / "in.dat", data)
    url = store.url("short.dat")

    with pytest.raises(ChecksumMismatch):
        store.backend.upload(source, url, expected=FileStat(len(data) + 1, adler32_of(data)))

    assert store.names() == []


def test_download_of_a_corrupted_replica_is_refused_and_leaves_no_file(store: Store, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    url = store.url("replica.dat")
    good = store.backend.upload(_file(tmp_path / "in.dat", data), url)
    flipped = bytearray(data)
    flipped[1000] ^= 0xFF
    store.corrupt(url, bytes(flipped))  # same size, one byte differs: the catalogue still says `good`

    with pytest.raises(ChecksumMismatch, match=r"replica\.dat"):
        store.backend.download(url, tmp_path / "out" / "replica.dat", expected=good)

    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_delete_is_idempotent(store: Store, tmp_path: Path) -> None:
    url = store.url("gone.dat")
    store.backend.upload(_file(tmp_path / "in", b"x" * 10), url)

    store.backend.delete(url)
    store.backend.delete(url)

    with pytest.raises(NotFound):
        store.backend.stat(url)
    store.backend.delete(store.url("never/existed"))


def test_unwritable_destination_is_permission_denied_naming_the_url(store: Store, tmp_path: Path) -> None:
    backend, url = store.unwritable
    source = _file(tmp_path / "in", b"payload")

    with pytest.raises(PermissionDenied) as info:
        backend.upload(source, url)

    assert url in str(info.value) and info.value.url == url


def test_large_file_streams_in_bounded_memory(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "large.dat"
    with source.open("wb") as fh:
        for _ in range(LARGE // CHUNK_SIZE):
            fh.write(os.urandom(CHUNK_SIZE))
    want = file_stat(source)
    url = store.url("large.dat")

    tracemalloc.start()
    try:
        store.backend.upload(source, url, expected=want)
        got = store.backend.download(url, tmp_path / "large.back", expected=want)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert got == want and file_stat(tmp_path / "large.back") == want
    assert peak < 4 * CHUNK_SIZE, f"peak Python memory {peak / 2**20:.1f} MiB for a {LARGE // 2**20} MiB file"


def test_download_into_an_unwritable_directory_is_permission_denied(store: Store, tmp_path: Path) -> None:
    url = store.url("in.dat")
    store.backend.upload(_file(tmp_path / "in", b"payload"), url)
    local_backend, unwritable = store.unwritable if store.kind == "file" else (None, "")
    target = local_path_of(unwritable) if local_backend else _unwritable_local_dir(tmp_path) / "out"

    with pytest.raises(PermissionDenied, match="cannot write"):
        store.backend.download(url, target)


def _unwritable_local_dir(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/sys/pandawms-unwritable")  # root writes through mode bits, not into sysfs
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    return read_only


def test_upload_of_a_missing_local_file_is_not_found(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"missing\.dat"):
        store.backend.upload(tmp_path / "missing.dat", store.url("x"))
    assert store.names() == []
