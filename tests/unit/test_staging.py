"""The pure parts of staging: which replica a queue reads, the legacy file lists of a job description,
the per-file time limit, checksums and error codes of the pilot, and the storage config file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from pandawms import examples
from pandawms.core.data import FileLocation, pick_replica
from pandawms.core.errors import InvalidInput
from pandawms.core.ids import PandaID
from pandawms.core.specs import FileSpec, FileType, Job, JobErrors, JobMetrics, JobSpec
from pandawms.core.states import JobStatus
from pandawms.ddm import base
from pandawms.ddm.config import load_storage_config, storage_config
from pandawms.pilot.stage import (
    GET_CODES,
    PUT_CODES,
    TransferTimeout,
    code_for,
    expected_adler32,
    transfer_timeout,
    with_turls,
)
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import PilotJob

URLS = {"A_DISK": "root://a//x", "B_DISK": "file:///b/x", "C_DISK": "s3://c/x"}


@pytest.mark.parametrize(
    ("preferred", "nearby", "expected"),
    [
        ("A_DISK", ["B_DISK"], FileLocation("root://a//x", "A_DISK")),  # the queue's own RSE first
        ("Z_DISK", ["C_DISK", "B_DISK"], FileLocation("s3://c/x", "C_DISK")),  # else the closest nearby
        ("Z_DISK", ["Y_DISK"], None),  # neither: no URL
        ("", [], None),
    ],
)
def test_pick_replica(preferred: str, nearby: list[str], expected: FileLocation | None) -> None:
    assert pick_replica(URLS, preferred, nearby) == expected


def test_transfer_timeout_is_pandas_per_file_limit() -> None:
    assert transfer_timeout(0) == 400
    assert transfer_timeout(1_000_000_000) == 1400  # 1 GB at 1 MB/s
    assert transfer_timeout(10**13) == 3 * 3600  # capped at 3 h


@pytest.mark.parametrize(
    ("checksum", "expected"),
    [
        *[("ad:062c0215", "062c0215"), ("62c0215", "062c0215"), ("adler32:062C0215", "062c0215")],
        *[("md5:abc", None), ("", None), ("zz", None)],
    ],
)
def test_expected_adler32(checksum: str, expected: str | None) -> None:
    got = expected_adler32(checksum)
    assert (str(got) if got is not None else None) == expected


def test_with_turls_replaces_whole_lfns_only() -> None:
    argv = ["run", "in.root", "--in=in.root,in.root.1", "xin.root", "in.roots"]
    assert with_turls(argv, {"in.root": r"root://h//d/in.root\1"}) == [
        "run",
        r"root://h//d/in.root\1",
        r"--in=root://h//d/in.root\1,in.root.1",
        "xin.root",
        "in.roots",
    ]


@pytest.mark.parametrize(
    ("error", "get", "put"),
    [
        (base.NotFound("x", "u"), ec.PilotCode.NOSUCHFILE, ec.PilotCode.STAGEOUTFAILED),
        (base.ChecksumMismatch("x", "u"), ec.PilotCode.GETADMISMATCH, ec.PilotCode.PUTADMISMATCH),
        (base.StorageUnavailable("x", "u"), ec.PilotCode.UNREACHABLENETWORK, ec.PilotCode.STAGEOUTFAILED),
        (
            base.PermissionDenied("x", "u"),
            ec.PilotCode.STAGEINAUTHENTICATIONFAILURE,
            ec.PilotCode.STAGEOUTFAILED,
        ),
        (TransferTimeout("x"), ec.PilotCode.STAGEINTIMEOUT, ec.PilotCode.STAGEOUTTIMEOUT),
        (InvalidInput("no back end"), ec.PilotCode.NOSTORAGEPROTOCOL, ec.PilotCode.STAGEOUTFAILED),
        (base.StorageError("x", "u"), ec.PilotCode.STAGEINFAILED, ec.PilotCode.STAGEOUTFAILED),
    ],
)
def test_storage_errors_map_to_pandas_pilot_codes(
    error: Exception, get: ec.PilotCode, put: ec.PilotCode
) -> None:
    assert (code_for(error, GET_CODES), code_for(error, PUT_CODES)) == (get, put)


def _job(files: tuple[FileSpec, ...]) -> Job:
    t = datetime(2026, 1, 1)
    spec = JobSpec(transformation="/bin/true", files=files)
    return Job(
        *(PandaID(1), spec, JobStatus.SENT, 1, None, "", None, "", "", t, t, t, None, None),
        *("", "", "", JobErrors(), JobMetrics(), None),
        files=files,
    )


def test_pilot_job_carries_the_turls_and_pandas_comma_joined_lists() -> None:
    files = (
        FileSpec("a.root", FileType.INPUT, "s", "s:in", "g-a", 10, "ad:00000001"),
        FileSpec("b.root", FileType.INPUT, "s", "s:in", "g-b", 20, "ad:00000002"),
        FileSpec("o.root", FileType.OUTPUT, "s", "s:out"),
        FileSpec("j.log.tgz", FileType.LOG, "t", "s:out"),
    )
    located = {
        "a.root": FileLocation("root://h//s/a.root", "A_DISK"),
        "o.root": FileLocation("root://h//s/o.root", "A_DISK"),
    }
    job = PilotJob.from_job(_job(files), located)
    wire = job.model_dump(by_alias=True)
    assert [(f["turl"], f["ddmEndPoint"]) for f in wire["files"]] == [
        ("root://h//s/a.root", "A_DISK"),
        ("", ""),
        ("root://h//s/o.root", "A_DISK"),
        ("", ""),
    ]
    assert (wire["inFiles"], wire["GUID"], wire["fsize"], wire["checksum"]) == (
        "a.root,b.root",
        "g-a,g-b",
        "10,20",
        "ad:00000001,ad:00000002",
    )
    assert (wire["scopeIn"], wire["ddmEndPointIn"], wire["realDatasetsIn"]) == ("s,s", "A_DISK,", "s:in,s:in")
    assert (wire["outFiles"], wire["scopeOut"], wire["scopeLog"]) == ("o.root,j.log.tgz", "s", "t")
    assert (wire["realDatasets"], wire["ddmEndPointOut"]) == ("s:out,s:out", "A_DISK,")


def test_a_description_from_before_staging_still_parses() -> None:
    wire = PilotJob.from_job(_job((FileSpec("a.root", FileType.INPUT),))).model_dump(by_alias=True)
    for key in ("GUID", "fsize", "checksum", "scopeIn", "scopeOut", "scopeLog", "realDatasets"):
        del wire[key]
    for f in wire["files"]:
        del f["turl"], f["ddmEndPoint"]
    job = PilotJob.model_validate(wire)
    assert (job.files[0].turl, job.files[0].ddm_endpoint, job.guids) == ("", "", "")


def test_storage_config_file(tmp_path: Path) -> None:
    path = tmp_path / "storage.toml"
    path.write_text(
        '[s3]\nendpoint_url = "http://127.0.0.1:9000"\naccess_key = "k"\nsecret_key = "s"\nread_timeout = 5\n'
        "[xrootd]\nrequest_timeout = 30\n"
    )
    config = load_storage_config(path)
    assert config.s3 is not None and (config.s3.endpoint_url, config.s3.read_timeout) == (
        "http://127.0.0.1:9000",
        5,
    )
    assert config.xrootd.request_timeout == 30
    assert storage_config({}, "x").s3 is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"ftp": {}}, "f: unknown table [ftp]"),
        ({"s3": {"endpoint_url": "http://h", "access_key": "k"}}, "f: [s3] secret_key: missing"),
        (
            {"s3": {"endpoint_url": "http://h", "access_key": "k", "secret_key": "s", "rgn": "x"}},
            "[s3] rgn: unknown",
        ),
        ({"xrootd": {"request_timeout": "30"}}, "[xrootd] request_timeout: must be int, got '30'"),
        ({"xrootd": {"request_timeout": True}}, "[xrootd] request_timeout: must be int"),
        ({"xrootd": {"request_timeout": 0}}, "[xrootd] request_timeout: must be at least 1, got 0"),
        (
            {"s3": {"endpoint_url": "ftp://h", "access_key": "k", "secret_key": "s"}},
            "f: [s3]: S3 endpoint_url",
        ),
        ({"s3": "http://h"}, "f: [s3] must be a table"),
    ],
)
def test_a_bad_storage_config_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("[", r"\[")):
        storage_config(data, "f")


def test_an_unreadable_storage_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[s3")
    with pytest.raises(InvalidInput, match=r"cannot read storage config .*bad\.toml"):
        load_storage_config(tmp_path / "bad.toml")


def test_the_example_storage_config_parses() -> None:
    config = load_storage_config(Path(examples.__file__).parent / "storage.toml")
    assert config.s3 is not None and config.s3.endpoint_url == "http://127.0.0.1:9000"
    assert config.xrootd.request_timeout == 300
