"""`panda upload` and `panda download` against a live server with real storage: a file:// RSE in a temp dir
and a root:// RSE on the private xrootd server the ddm tests start (tests/ddm/conftest.py). Every copy is
checked by size and adler32; the failure cases write nothing to the catalog or leave no file behind."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from pandawms.bench.storageservers import S3Server, XRootDServer
from pandawms.cli.data import register as register_data
from pandawms.cli.transfer_data import register as register_transfers
from tests.livesupport.live_server import LiveServer, live_server
from tests.storageservers import BUCKET

SCOPE = "user.alice"
UNWRITABLE = "file:///sys/pandawms-unwritable"  # no one may create files here, root included


class Panda:
    def __init__(self, srv: LiveServer) -> None:
        self.srv = srv
        self.app = typer.Typer()
        register_data(self.app)
        register_transfers(self.app)
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(self.app, [*args, "--server", self.srv.url], env={"COLUMNS": "200"})

    def get(self, path: str, **params: str | list[str]) -> httpx.Response:
        return httpx.get(self.srv.api + path, params=params, timeout=10)


@pytest.fixture
def world(tmp_path: Path, xrootd_server: XRootDServer) -> Iterator[tuple[Panda, Path, Path]]:
    """A server with the scope and RSEs LOCAL_DISK (site A, file://), ROOT_DISK (site B, root://),
    BROKEN_DISK (site B, a file:// prefix nobody can write) and RO_DISK (read-only); A-B distance 1."""
    local = tmp_path / "local-rse"
    root_dir = f"cli-{tmp_path.name}"
    with live_server(tmp_path / "srv") as srv:
        panda = Panda(srv)
        _ok(panda("scope", "add", SCOPE))
        rses = [
            ("LOCAL_DISK", "A", local.as_uri()),
            ("ROOT_DISK", "B", f"{xrootd_server.url}/{root_dir}"),
            ("BROKEN_DISK", "B", UNWRITABLE),
        ]
        for name, site, prefix in rses:
            _ok(panda("rse", "add", name, "--site", site, "--prefix", prefix))
        _ok(panda("rse", "add", "RO_DISK", "--site", "A", "--prefix", local.as_uri(), "--no-write"))
        httpx.post(srv.api + "/rse/set_distances", json={"distances": {"A": {"B": 1}}}).raise_for_status()
        yield panda, local, xrootd_server.data_dir / root_dir


def _ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.stderr if result.stderr_bytes else "")
    return result.stdout


def _files(tmp_path: Path, n: int, size: int = 300_000) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / "in" / f"evt.{i:03d}.root"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(bytes((i * 7 + j) % 251 for j in range(size)))
        out.append(p)
    return out


def _adler(data: bytes) -> str:
    return f"{zlib.adler32(data):08x}"


def test_upload_to_a_dataset_then_repeat_and_conflict(
    world: tuple[Panda, Path, Path], tmp_path: Path
) -> None:
    panda, local, _root = world
    paths = _files(tmp_path, 3)
    # when three files are uploaded to a new dataset on the file:// RSE
    out = _ok(
        panda(
            "upload", *map(str, paths), "--rse", "LOCAL_DISK", "--scope", SCOPE, "--dataset", f"{SCOPE}:ds.1"
        )
    )
    # then they are on the storage with their bytes, registered with size and adler32, replicas available
    assert out.count("uploaded to LOCAL_DISK") == 3
    for p in paths:
        assert (local / SCOPE / p.name).read_bytes() == p.read_bytes()
    listing = json.loads(_ok(panda("dataset", "ls", f"{SCOPE}:ds.1", "--json")))
    assert {c["name"]: c["adler32"] for c in listing["contents"]} == {
        p.name: _adler(p.read_bytes()) for p in paths
    }
    reps = json.loads(_ok(panda("replicas", f"{SCOPE}:ds.1", "--json")))
    assert {(r["rse"], r["state"]) for r in reps} == {("LOCAL_DISK", "available")}
    # when uploaded again: a no-op
    again = _ok(panda("upload", str(paths[0]), "--rse", "LOCAL_DISK", "--scope", SCOPE))
    assert "already registered and at LOCAL_DISK, skipped" in again
    # and with another dataset: not copied again, but attached there
    _ok(panda("upload", str(paths[0]), "--rse", "LOCAL_DISK", "--scope", SCOPE, "--dataset", f"{SCOPE}:ds.b"))
    other = json.loads(_ok(panda("dataset", "ls", f"{SCOPE}:ds.b", "--json")))
    assert [c["name"] for c in other["contents"]] == [paths[0].name]
    # when the same LFN comes with other content: refused before any copy, the stored file unchanged
    before = (local / SCOPE / paths[1].name).read_bytes()
    paths[1].write_bytes(b"other content")
    clash = panda("upload", str(paths[1]), "--rse", "LOCAL_DISK", "--scope", SCOPE)
    assert clash.exit_code == 2 and "already registered with 300000 bytes" in clash.stderr
    assert "nothing was uploaded" in clash.stderr
    assert (local / SCOPE / paths[1].name).read_bytes() == before


def test_upload_to_root_without_dataset_and_download_twice(
    world: tuple[Panda, Path, Path], tmp_path: Path
) -> None:
    panda, _local, root = world
    [path] = _files(tmp_path, 1, size=2_000_000)
    _ok(panda("upload", str(path), "--rse", "ROOT_DISK", "--scope", SCOPE))
    assert (root / SCOPE / path.name).read_bytes() == path.read_bytes()
    [entry] = panda.get("/did/get_files", dids=[f"{SCOPE}:{path.name}"]).json()["data"]
    assert (entry["bytes"], entry["adler32"]) == (2_000_000, _adler(path.read_bytes()))
    # when downloaded
    dest = tmp_path / "dest"
    out = _ok(panda("download", f"{SCOPE}:{path.name}", "--dest", str(dest)))
    # then the bytes arrive verified, under DEST/scope/name, and a second download skips it
    assert f"downloaded from ROOT_DISK\t{dest / SCOPE / path.name}" in out
    assert (dest / SCOPE / path.name).read_bytes() == path.read_bytes()
    assert "already present with the right checksum, skipped" in _ok(
        panda("download", f"{SCOPE}:{path.name}", "--dest", str(dest))
    )
    assert sorted(p.name for p in (dest / SCOPE).iterdir()) == [path.name]


def test_download_a_dataset_from_the_nearest_replica(world: tuple[Panda, Path, Path], tmp_path: Path) -> None:
    panda, _local, _root = world
    paths = _files(tmp_path, 2)
    ds = f"{SCOPE}:ds.2"
    for rse in ("LOCAL_DISK", "ROOT_DISK"):
        _ok(panda("upload", *map(str, paths), "--rse", rse, "--scope", SCOPE, "--dataset", ds))
    # at site B the root:// replica is nearest; at site A the file:// one; as JSON
    at_b = _ok(panda("download", ds, "--dest", str(tmp_path / "b"), "--site", "B"))
    assert at_b.count("downloaded from ROOT_DISK") == 2
    at_a = json.loads(_ok(panda("download", ds, "--dest", str(tmp_path / "a"), "--site", "A", "--json")))
    assert at_a == {"downloaded": sorted(f"{SCOPE}:{p.name}" for p in paths), "skipped": [], "failed": {}}
    for where in ("a", "b"):
        assert [(tmp_path / where / SCOPE / p.name).read_bytes() for p in paths] == [
            p.read_bytes() for p in paths
        ]


def test_bad_uploads_register_nothing(world: tuple[Panda, Path, Path], tmp_path: Path) -> None:
    panda, local, _root = world
    [path] = _files(tmp_path, 1)
    did = f"{SCOPE}:{path.name}"
    unknown = panda("upload", str(path), "--rse", "NOPE", "--scope", SCOPE)
    assert unknown.exit_code == 2 and "--rse: unknown RSE 'NOPE'" in unknown.stderr
    read_only = panda("upload", str(path), "--rse", "RO_DISK", "--scope", SCOPE)
    assert read_only.exit_code == 2 and "not available for writing" in read_only.stderr
    no_scope = panda("upload", str(path), "--rse", "LOCAL_DISK", "--scope", "nobody")
    assert no_scope.exit_code == 2 and "--scope: unknown scope(s) nobody" in no_scope.stderr
    assert not local.exists()  # refused before any copy
    missing = panda("upload", str(tmp_path / "nothing.root"), "--rse", "LOCAL_DISK", "--scope", SCOPE)
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    # a copy the storage refuses: exit 1, and neither the file nor the dataset is registered
    broken = panda(
        "upload", str(path), "--rse", "BROKEN_DISK", "--scope", SCOPE, "--dataset", f"{SCOPE}:ds.x"
    )
    assert broken.exit_code == 1 and "1 of 1 not uploaded" in broken.stderr and "BROKEN" not in broken.stdout
    assert panda.get("/did/get_files", dids=[did]).json()["data"] == []
    assert panda.get("/did/get", did=f"{SCOPE}:ds.x").status_code == 404
    closed = f"{SCOPE}:ds.closed"
    _ok(panda("dataset", "create", closed))
    _ok(panda("dataset", "close", closed))
    refused = panda("upload", str(path), "--rse", "LOCAL_DISK", "--scope", SCOPE, "--dataset", closed)
    assert refused.exit_code == 2 and "is a closed dataset" in refused.stderr
    assert panda.get("/did/get_files", dids=[did]).json()["data"] == []


def test_download_failures_leave_no_file(world: tuple[Panda, Path, Path], tmp_path: Path) -> None:
    panda, local, root = world
    paths = _files(tmp_path, 2)
    ds = f"{SCOPE}:ds.3"
    _ok(panda("upload", *map(str, paths), "--rse", "LOCAL_DISK", "--scope", SCOPE, "--dataset", ds))
    _ok(panda("upload", str(paths[0]), "--rse", "ROOT_DISK", "--scope", SCOPE))
    # the file:// copies are corrupted behind the catalog's back; the root:// copy of file 0 is good
    for p in paths:
        (local / SCOPE / p.name).write_bytes(b"x" * p.stat().st_size)
    dest = tmp_path / "dest"
    stale = dest / SCOPE / paths[0].name
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an old wrong copy")
    result = panda("download", ds, "--dest", str(dest), "--site", "A")
    # file 0 comes from the good replica after the bad one; file 1 has no good replica
    assert result.exit_code == 1
    assert f"{SCOPE}:{paths[0].name}\tdownloaded from ROOT_DISK" in result.stdout
    assert "1 of 2 file(s) not downloaded" in result.stderr and "checksum mismatch" in result.stderr
    assert "the partial file was removed" in result.stderr
    assert stale.read_bytes() == paths[0].read_bytes()
    assert sorted(p.name for p in (dest / SCOPE).iterdir()) == [paths[0].name]  # no partial, no temp
    # a file without replicas, and a DID that does not exist
    _ok(panda("dataset", "create", f"{SCOPE}:ds.empty"))
    norep = tmp_path / "in" / "lonely.root"
    norep.write_bytes(b"lonely")
    _ok(panda("dataset", "add", f"{SCOPE}:ds.empty", str(norep)))
    none = panda("download", f"{SCOPE}:lonely.root", "--dest", str(dest))
    assert none.exit_code == 1 and "no usable replica of user.alice:lonely.root" in none.stderr
    ghost = panda("download", f"{SCOPE}:ghost", "--dest", str(dest))
    assert ghost.exit_code == 2 and "no file, dataset or container user.alice:ghost" in ghost.stderr
    assert root.is_dir()


def test_storage_config_errors_name_the_field(world: tuple[Panda, Path, Path], tmp_path: Path) -> None:
    panda, _local, _root = world
    bad = tmp_path / "storage.toml"
    bad.write_text('[s3]\nendpoint_url = "http://127.0.0.1:1"\naccess_key = 3\n')
    result = panda("download", f"{SCOPE}:x", "--storage-config", str(bad))
    assert result.exit_code == 2 and "--storage-config:" in result.stderr and "access_key" in result.stderr


def test_s3_upload_and_download_with_a_storage_config(
    world: tuple[Panda, Path, Path],
    tmp_path: Path,
    s3_server: S3Server,
) -> None:
    # given an s3:// RSE on the private moto server and the settings to reach it
    panda, _local, _root = world
    prefix = f"s3://{BUCKET}/cli-{tmp_path.name}"
    _ok(panda("rse", "add", "S3_DISK", "--site", "C", "--prefix", prefix, "--kind", "object_store"))
    config = tmp_path / "storage.toml"
    creds = s3_server.writer
    config.write_text(
        f'[s3]\nendpoint_url = "{s3_server.endpoint_url}"\n'
        f'access_key = "{creds.access_key}"\nsecret_key = "{creds.secret_key}"\n'
    )
    [path] = _files(tmp_path, 1, size=1_500_000)
    # without the settings there is no s3 back end: the copy fails, nothing is registered
    bare = panda("upload", str(path), "--rse", "S3_DISK", "--scope", SCOPE)
    assert bare.exit_code == 1 and "no S3 endpoint is configured" in bare.stderr
    assert panda.get("/did/get_files", dids=[f"{SCOPE}:{path.name}"]).json()["data"] == []
    # with them: uploaded, registered, and downloaded back byte for byte
    _ok(panda("upload", str(path), "--rse", "S3_DISK", "--scope", SCOPE, "--storage-config", str(config)))
    dest = tmp_path / "dest"
    out = _ok(panda("download", f"{SCOPE}:{path.name}", "--dest", str(dest), "--storage-config", str(config)))
    assert "downloaded from S3_DISK" in out
    assert (dest / SCOPE / path.name).read_bytes() == path.read_bytes()


def test_download_never_reads_an_unreadable_rse(world: tuple[Panda, Path, Path], tmp_path: Path) -> None:
    panda, local, _root = world
    [path] = _files(tmp_path, 1)
    _ok(panda("upload", str(path), "--rse", "LOCAL_DISK", "--scope", SCOPE))
    _ok(panda("rse", "add", "LOCAL_DISK", "--site", "A", "--prefix", local.as_uri(), "--no-read"))
    result = panda("download", f"{SCOPE}:{path.name}", "--dest", str(tmp_path / "dest"))
    assert result.exit_code == 1 and "LOCAL_DISK: RSE not available for reading" in result.stderr
    assert not (tmp_path / "dest" / SCOPE / path.name).exists()
