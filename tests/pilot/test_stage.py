"""Stage-in / stage-out against directory storage, adler32 checksums and the log tarball."""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import pytest

from pandawms.pilot.stage import (
    StageError,
    adler32_of,
    create_log_tarball,
    expected_adler32,
    stage_in,
    stage_out,
)
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import PilotFile


def _file(lfn: str, type_: str = "input", checksum: str = "", guid: str = "") -> PilotFile:
    return PilotFile(
        lfn=lfn,
        type=type_,
        scope="user",
        dataset="ds",
        guid=guid,
        fsize=0,
        checksum=checksum,
        destination_se="",
    )


def test_adler32_matches_zlib_and_is_zero_padded(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    assert adler32_of(f) == f"{zlib.adler32(b'hello'):08x}" == "062c0215"
    f.write_bytes(b"")
    assert adler32_of(f) == "00000001"


@pytest.mark.parametrize(
    ("checksum", "expected"),
    [("ad:062c0215", "062c0215"), ("62c0215", "062c0215"), ("md5:abc", None), ("", None), ("zz", None)],
)
def test_expected_adler32(checksum: str, expected: str | None) -> None:
    assert expected_adler32(checksum) == expected


def test_stage_in_copies_from_storage_and_checks_the_checksum(tmp_path: Path) -> None:
    storage, work = tmp_path / "storage", tmp_path / "work"
    (storage / "123").mkdir(parents=True)
    (storage / "123" / "in.txt").write_bytes(b"hello")  # an earlier job's output
    work.mkdir()
    staged = stage_in([_file("in.txt", checksum="ad:062c0215")], storage, work)
    assert staged == [work / "in.txt"] and (work / "in.txt").read_bytes() == b"hello"


def test_stage_in_missing_input_is_1103_and_bad_checksum_1171(tmp_path: Path) -> None:
    storage, work = tmp_path / "storage", tmp_path / "work"
    storage.mkdir()
    work.mkdir()
    with pytest.raises(StageError) as err:
        stage_in([_file("nope.txt")], storage, work)
    assert err.value.code == ec.PilotCode.NOSUCHFILE and ec.PilotCode.NOSUCHFILE.value == 1103
    (storage / "in.txt").write_bytes(b"hello")
    with pytest.raises(StageError) as err:
        stage_in([_file("in.txt", checksum="ad:00000001")], storage, work)
    assert err.value.code == ec.PilotCode.GETADMISMATCH


def test_stage_out_reports_size_checksum_surl(tmp_path: Path) -> None:
    work, dest = tmp_path / "work", tmp_path / "storage" / "42"
    work.mkdir()
    (work / "out.root").write_bytes(b"hello")
    report = stage_out([_file("out.root", "output", guid="g-1")], work, dest, "LOCAL_SE")
    entry = report["out.root"]
    assert (entry.guid, entry.fsize, entry.adler32, entry.endpoint) == ("g-1", 5, "062c0215", "LOCAL_SE")
    assert entry.surl == (dest / "out.root").resolve().as_uri()
    assert (dest / "out.root").read_bytes() == b"hello"
    assert not list(dest.glob(".*"))  # no temporary file left behind


def test_stage_out_missing_output_is_1165(tmp_path: Path) -> None:
    with pytest.raises(StageError) as err:
        stage_out([_file("missing.root", "output")], tmp_path, tmp_path / "dest", "SE")
    assert err.value.code == ec.PilotCode.MISSINGOUTPUTFILE
    assert ec.PilotCode.MISSINGOUTPUTFILE.value == 1165


def test_stage_out_generates_a_guid_when_the_job_has_none(tmp_path: Path) -> None:
    (tmp_path / "o").write_bytes(b"x")
    report = stage_out([_file("o", "output")], tmp_path, tmp_path / "dest", "SE")
    assert len(report["o"].guid) == 36


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
