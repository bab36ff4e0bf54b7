"""ddm.copy between every pair of back ends on their real servers: third-party within a protocol,
streamed across, the destination verified against the source's size and adler32."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from pandawms.bench.storageservers import XRootDServer
from pandawms.core.checksums import FileStat, adler32_of
from pandawms.core.errors import InvalidInput
from pandawms.ddm.base import NotFound, PermissionDenied
from pandawms.ddm.copy import CopyMethod, copy
from pandawms.ddm.registry import BackendRegistry
from tests.ddm.conftest import KINDS, Store, make_store

PAIRS = list(itertools.product(KINDS, KINDS))


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_between_back_ends_verifies_adler32(
    src_kind: str, dst_kind: str, registry: BackendRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src, dst = make_store(src_kind, request), make_store(dst_kind, request)
    data = os.urandom(3_000_000)
    (tmp_path / "in").write_bytes(data)
    src_url, dst_url = src.url("a/in.dat"), dst.url("b/copy.dat")
    src.backend.upload(tmp_path / "in", src_url)

    result = copy(registry, src_url, dst_url)

    want = FileStat(len(data), adler32_of(data))
    assert result.stat == want and result.bytes == len(data) and result.seconds > 0
    assert result.method == (CopyMethod.THIRD_PARTY if src_kind == dst_kind else CopyMethod.STREAMED)
    assert dst.backend.stat(dst_url) == want
    assert dst.names() == ["b/copy.dat"]
    dst.backend.download(dst_url, tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == data


def test_copy_of_a_missing_source_is_not_found(store: Store, registry: BackendRegistry) -> None:
    with pytest.raises(NotFound):
        copy(registry, store.url("missing"), store.url("dst"))
    assert store.names() == []


def test_copy_to_an_unwritable_destination_is_permission_denied(
    registry: BackendRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dst = make_store("root", request)
    _, unwritable = dst.unwritable
    (tmp_path / "in").write_bytes(b"payload")

    with pytest.raises(PermissionDenied, match="read-only"):
        copy(registry, (tmp_path / "in").as_uri(), unwritable)


def test_copy_onto_itself_is_refused(registry: BackendRegistry) -> None:
    with pytest.raises(InvalidInput, match="same URL"):
        copy(registry, "file:///tmp/x", "file:///tmp/x")


def test_the_clock_gives_the_seconds(registry: BackendRegistry, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"x" * 1000)
    ticks = iter([100.0, 102.5])

    result = copy(
        registry, (tmp_path / "in").as_uri(), (tmp_path / "out").as_uri(), clock=lambda: next(ticks)
    )

    assert result.seconds == 2.5 and result.mb_per_s == pytest.approx(0.0004)


def test_refused_third_party_copy_falls_back_to_a_streamed_copy(
    registry: BackendRegistry, xrootd_server: XRootDServer, tmp_path: Path
) -> None:
    data = os.urandom(500_000)
    (tmp_path / "in").write_bytes(data)
    src_url = f"{xrootd_server.url}/fallback/in.dat"
    registry.for_url(src_url).upload(tmp_path / "in", src_url)

    with XRootDServer(tpc=False) as plain:  # no ofs.tpc: it cannot pull from another server
        dst_url = f"{plain.url}/fallback/out.dat"
        result = copy(registry, src_url, dst_url)
        arrived = registry.for_url(dst_url).stat(dst_url)

    assert result.method == CopyMethod.STREAMED
    assert arrived == result.stat == FileStat(len(data), adler32_of(data))
