"""Stage-in and stage-out through real storage: file:// and a real XRootD server (started by the suite),
an S3 endpoint that is down or never answers; every failure mapped to PanDA's pilot error code."""

from __future__ import annotations

import socket
import tarfile
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pandawms.bench.storageservers import S3Server, XRootDServer, free_port
from pandawms.ddm.registry import BackendRegistry, StorageConfig, build_registry
from pandawms.ddm.s3 import S3Config
from pandawms.pilot.stage import StageError, Stager, StageRetry, create_log_tarball
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import PilotFile
from tests.storageservers import BUCKET, s3_config

DATA = b"payload input bytes\n" * 100
ADLER = f"ad:{zlib.adler32(DATA):08x}"
P = ec.PilotCode


def _file(
    lfn: str, type_: str = "input", *, turl: str = "", rse: str = "", checksum: str = ADLER
) -> PilotFile:
    return PilotFile(
        lfn=lfn,
        type=type_,
        scope="user.alice",
        dataset="user.alice:data",
        guid=str(uuid.uuid4()) if type_ == "input" else "",
        fsize=len(DATA) if type_ == "input" else 0,
        checksum=checksum if type_ == "input" else "",
        destination_se="",
        turl=turl,
        ddm_endpoint=rse,
    )


@pytest.fixture(scope="module")
def registry() -> BackendRegistry:
    return build_registry(StorageConfig())


@pytest.fixture
def root_prefix(xrootd_server: XRootDServer) -> str:
    """A fresh directory of the real XRootD server (it creates it on the first upload), as a URL ending
    with '/'."""
    name = f"stage-{uuid.uuid4().hex[:8]}"
    return f"{xrootd_server.url}/{name}/"


def _stager(registry: BackendRegistry, tmp_path: Path, **kw: object) -> Stager:
    return Stager(registry, tmp_path / "storage", queue_rse="LOCAL_DISK", **kw)  # type: ignore[arg-type]


def _work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return work


def _recorder(pauses: list[float]) -> Callable[[float], bool]:
    """A pause between stage-out tries that only records its length (and never asks to stop)."""

    def wait(seconds: float) -> bool:
        pauses.append(seconds)
        return False

    return wait


def _code(err: pytest.ExceptionInfo[StageError]) -> ec.PilotCode:
    return ec.PilotCode(err.value.code)


@pytest.mark.parametrize("kind", ["file", "root"])
def test_stage_in_downloads_the_turl_and_checks_size_and_adler32(
    kind: str, registry: BackendRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # given a replica on real storage at the queue's RSE
    (tmp_path / "src").write_bytes(DATA)
    prefix = request.getfixturevalue("root_prefix") if kind == "root" else (tmp_path / "se").as_uri() + "/"
    registry.for_url(prefix).upload(tmp_path / "src", prefix + "in.root")
    work = _work(tmp_path)
    # when the pilot stages it in
    direct = _stager(registry, tmp_path).stage_in(
        [_file("in.root", turl=prefix + "in.root", rse="LOCAL_DISK")], work
    )
    # then it is copied into the work dir
    assert direct == {} and (work / "in.root").read_bytes() == DATA


@pytest.mark.parametrize("kind", ["file", "root"])
def test_a_corrupt_replica_is_1171_and_leaves_nothing_in_the_work_dir(
    kind: str,
    registry: BackendRegistry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    (tmp_path / "src").write_bytes(DATA[:-1] + b"X")  # same size, other adler32
    prefix = request.getfixturevalue("root_prefix") if kind == "root" else (tmp_path / "se").as_uri() + "/"
    registry.for_url(prefix).upload(tmp_path / "src", prefix + "in.root")
    work = _work(tmp_path)
    with pytest.raises(StageError) as err:
        _stager(registry, tmp_path).stage_in(
            [_file("in.root", turl=prefix + "in.root", rse="LOCAL_DISK")], work
        )
    assert _code(err) is P.GETADMISMATCH and "in.root" in err.value.diag
    assert list(work.iterdir()) == []


def test_a_missing_replica_is_1103_and_a_catalog_file_without_turl_1100(
    registry: BackendRegistry, tmp_path: Path, root_prefix: str
) -> None:
    work = _work(tmp_path)
    with pytest.raises(StageError) as err:
        _stager(registry, tmp_path).stage_in([_file("gone.root", turl=root_prefix + "gone.root")], work)
    assert _code(err) is P.NOSUCHFILE and root_prefix + "gone.root" in err.value.diag
    with pytest.raises(StageError) as err:
        _stager(registry, tmp_path).stage_in([_file("gone.root")], work)
    assert _code(err) is P.REPLICANOTFOUND


def test_an_input_without_turl_comes_from_the_storage_directory(
    registry: BackendRegistry, tmp_path: Path
) -> None:
    (tmp_path / "storage" / "123").mkdir(parents=True)
    (tmp_path / "storage" / "123" / "in.txt").write_bytes(DATA)  # an earlier job's output
    work = _work(tmp_path)
    _stager(registry, tmp_path).stage_in([_file("in.txt")], work)
    assert (work / "in.txt").read_bytes() == DATA


def test_unavailable_storage_is_1327(tmp_path: Path) -> None:
    down = S3Config(f"http://127.0.0.1:{free_port()}", "k", "s", connect_timeout=1, max_attempts=1)
    stager = _stager(build_registry(StorageConfig(s3=down)), tmp_path)
    with pytest.raises(StageError) as err:
        stager.stage_in([_file("in.root", turl="s3://bucket/in.root")], _work(tmp_path))
    assert _code(err) is P.UNREACHABLENETWORK


def test_a_turl_of_an_unknown_scheme_is_1313(registry: BackendRegistry, tmp_path: Path) -> None:
    with pytest.raises(StageError) as err:
        _stager(registry, tmp_path).stage_in([_file("in.root", turl="davs://host/in.root")], _work(tmp_path))
    assert _code(err) is P.NOSTORAGEPROTOCOL and "davs://" in err.value.diag


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung storage)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_a_transfer_past_its_limit_is_1151(tmp_path: Path, silent_endpoint: str) -> None:
    hung = S3Config(silent_endpoint, "k", "s", connect_timeout=1, read_timeout=5, max_attempts=1)
    stager = _stager(build_registry(StorageConfig(s3=hung)), tmp_path, timeout=lambda size: 0.5)
    with pytest.raises(StageError) as err:
        stager.stage_in([_file("in.root", turl="s3://bucket/in.root")], _work(tmp_path))
    assert _code(err) is P.STAGEINTIMEOUT and "not done after" in err.value.diag


def test_a_nearby_replica_is_read_in_place(
    registry: BackendRegistry, tmp_path: Path, root_prefix: str
) -> None:
    (tmp_path / "src").write_bytes(DATA)
    registry.for_url(root_prefix).upload(tmp_path / "src", root_prefix + "in.root")
    work = _work(tmp_path)
    f = _file("in.root", turl=root_prefix + "in.root", rse="NEARBY_DISK")
    assert _stager(registry, tmp_path).stage_in([f], work) == {"in.root": root_prefix + "in.root"}
    assert list(work.iterdir()) == []  # not copied
    bad = _file("in.root", turl=root_prefix + "in.root", rse="NEARBY_DISK", checksum="ad:00000001")
    with pytest.raises(StageError) as err:
        _stager(registry, tmp_path).stage_in([bad], work)
    assert _code(err) is P.GETADMISMATCH


def test_stage_out_to_xrootd_reports_guid_size_adler32_surl_endpoint(
    registry: BackendRegistry, tmp_path: Path, root_prefix: str, xrootd_server: XRootDServer
) -> None:
    work = _work(tmp_path)
    (work / "out.root").write_bytes(DATA)
    f = _file("out.root", "output", turl=root_prefix + "user.alice/out.root", rse="LOCAL_DISK")
    report = _stager(registry, tmp_path).put(work / "out.root", f, 42)
    assert (report.fsize, report.adler32) == (len(DATA), ADLER[3:])
    assert (report.surl, report.endpoint, len(report.guid)) == (f.turl, "LOCAL_DISK", 36)
    stored = xrootd_server.data_dir / root_prefix.rstrip("/").rsplit("/", 1)[1] / "user.alice" / "out.root"
    assert stored.read_bytes() == DATA
    assert sorted(p.name for p in stored.parent.iterdir()) == ["out.root"]  # no temporary name left


def test_stage_out_without_turl_goes_to_the_storage_directory(
    registry: BackendRegistry, tmp_path: Path
) -> None:
    work = _work(tmp_path)
    (work / "o").write_bytes(b"hello")
    report = _stager(registry, tmp_path, endpoint="LOCAL_SE").put(work / "o", _file("o", "output"), 42)
    dest = tmp_path / "storage" / "42" / "o"
    assert (report.surl, report.endpoint, report.adler32) == (dest.as_uri(), "LOCAL_SE", "062c0215")
    assert dest.read_bytes() == b"hello"


def test_a_missing_output_is_1165(registry: BackendRegistry, tmp_path: Path) -> None:
    with pytest.raises(StageError) as err:
        _stager(registry, tmp_path).put(tmp_path / "missing.root", _file("missing.root", "output"), 1)
    assert _code(err) is P.MISSINGOUTPUTFILE


def test_a_failed_stage_out_is_retried_with_backoff_and_then_succeeds(
    registry: BackendRegistry, tmp_path: Path
) -> None:
    # given an output RSE directory that cannot be created yet (a file is in the way: EEXIST, transient)
    work = _work(tmp_path)
    (work / "out.root").write_bytes(DATA)
    blocker = tmp_path / "se" / "user.alice"
    blocker.parent.mkdir()
    blocker.write_text("in the way")
    pauses: list[float] = []

    def wait(seconds: float) -> bool:  # the storage recovers during the pause
        pauses.append(seconds)
        blocker.unlink()
        return False

    f = _file("out.root", "output", turl=(blocker / "out.root").as_uri(), rse="LOCAL_DISK")
    stager = _stager(registry, tmp_path, retry=StageRetry(3, 0.01, 0.02), wait=wait)
    # when it is staged out
    report = stager.put(work / "out.root", f, 7)
    # then the second try stored it, after one pause within the backoff bounds
    assert len(pauses) == 1 and 0 <= pauses[0] <= 0.01
    assert (blocker / "out.root").read_bytes() == DATA and report.fsize == len(DATA)


def test_a_stage_out_that_keeps_failing_is_1137_after_the_retries_and_keeps_the_output(
    registry: BackendRegistry, tmp_path: Path
) -> None:
    work = _work(tmp_path)
    (work / "out.root").write_bytes(DATA)
    blocker = tmp_path / "se"
    blocker.write_text("in the way")
    pauses: list[float] = []
    stager = _stager(registry, tmp_path, retry=StageRetry(3, 0.01, 0.02), wait=_recorder(pauses))
    f = _file("out.root", "output", turl=(blocker / "out.root").as_uri())
    with pytest.raises(StageError) as err:
        stager.put(work / "out.root", f, 7)
    assert _code(err) is P.STAGEOUTFAILED and "try 3 of 3" in err.value.diag
    assert len(pauses) == 2 and (work / "out.root").read_bytes() == DATA


def test_a_refused_stage_out_is_1137_and_not_retried(tmp_path: Path, s3_server: S3Server) -> None:
    # given an S3 endpoint whose credentials may read but not write (PermissionDenied: retrying cannot help)
    work = _work(tmp_path)
    (work / "out.root").write_bytes(DATA)
    pauses: list[float] = []
    stager = _stager(
        build_registry(StorageConfig(s3=s3_config(s3_server, reader=True))),
        tmp_path,
        wait=_recorder(pauses),
    )
    f = _file("out.root", "output", turl=f"s3://{BUCKET}/stage-{uuid.uuid4().hex[:8]}/out.root")
    with pytest.raises(StageError) as err:
        stager.put(work / "out.root", f, 7)
    assert _code(err) is P.STAGEOUTFAILED and "try 1 of 3" in err.value.diag and pauses == []


def test_log_tarball_holds_the_existing_members_under_one_folder(tmp_path: Path) -> None:
    (tmp_path / "pilotlog.txt").write_text("log")
    (tmp_path / "payload.stdout").write_text("out")
    dest = create_log_tarball(
        tmp_path / "outbox" / "x.log.tgz",
        "tarball_PandaJob_1_Q",
        [tmp_path / "pilotlog.txt", tmp_path / "payload.stdout", tmp_path / "payload.stderr"],
    )
    with tarfile.open(dest) as tar:
        assert sorted(tar.getnames()) == [
            "tarball_PandaJob_1_Q/payload.stdout",
            "tarball_PandaJob_1_Q/pilotlog.txt",
        ]
