"""The storage servers of the ddm tests, started once per session on private ports, and one `Store`
per back end: the back end, a fresh URL prefix per test, and raw access to the server for corrupting
files and listing leftovers behind the back end's back."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pandawms.bench.storageservers import S3Server, XRootDServer
from pandawms.ddm.base import StorageBackend
from pandawms.ddm.registry import BackendRegistry, StorageConfig, build_registry
from pandawms.ddm.s3 import S3Backend
from tests.storageservers import BUCKET, s3_client, s3_config

KINDS = ("file", "root", "s3")
_counter = itertools.count()


@dataclass
class Store:
    """One back end under test."""

    kind: str
    backend: StorageBackend
    prefix: str  # URL "directory" of this test, ends with "/"
    corrupt: Callable[[str, bytes], None]  # overwrite a file's bytes behind the back end (keeps S3 metadata)
    names: Callable[[], list[str]]  # every name stored under prefix, temporary ones included
    unwritable: tuple[StorageBackend, str]  # a back end and a URL it may not write

    def url(self, name: str) -> str:
        return self.prefix + name


@pytest.fixture(scope="session")
def registry(xrootd_server: XRootDServer, s3_server: S3Server) -> BackendRegistry:
    return build_registry(StorageConfig(s3=s3_config(s3_server)))


@pytest.fixture(scope="session")
def local_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="panda-ddm-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _local_store(registry: BackendRegistry, base: Path) -> Store:
    root = base / f"t{next(_counter)}"
    root.mkdir()

    def corrupt(url: str, data: bytes) -> None:
        (root / url.removeprefix(root.as_uri() + "/")).write_bytes(data)

    unwritable = Path("/sys/pandawms-unwritable") if os.geteuid() == 0 else base / "read-only"
    if os.geteuid() != 0:
        unwritable.mkdir(exist_ok=True)
        unwritable.chmod(0o555)
    return Store(
        "file",
        registry.for_url("file:///"),
        root.as_uri() + "/",
        corrupt,
        lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()),
        (registry.for_url("file:///"), (unwritable / "x").as_uri()),
    )


def _root_store(registry: BackendRegistry, server: XRootDServer) -> Store:
    name = f"t{next(_counter)}"
    root = server.data_dir / name
    read_only = server.data_dir / f"read-only-{name}"
    read_only.mkdir(mode=0o555)  # ours (root or the test user), not the server's: it may not write here

    def corrupt(url: str, data: bytes) -> None:
        (root / url.rsplit(f"/{name}/", 1)[1]).write_bytes(data)

    return Store(
        "root",
        registry.for_url("root://"),
        f"{server.url}/{name}/",
        corrupt,
        lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()),
        (registry.for_url("root://"), f"{server.url}/{read_only.name}/x"),
    )


def _s3_store(registry: BackendRegistry, server: S3Server) -> Store:
    name = f"t{next(_counter)}-{uuid.uuid4().hex[:6]}"
    client = s3_client(server)

    def corrupt(url: str, data: bytes) -> None:
        key = url.removeprefix(f"s3://{BUCKET}/")
        meta = client.head_object(Bucket=BUCKET, Key=key)["Metadata"]
        client.put_object(Bucket=BUCKET, Key=key, Body=data, Metadata=meta)

    def names() -> list[str]:
        listing = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{name}/")
        uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{name}/").get("Uploads", [])
        objects = [o["Key"] for o in listing.get("Contents", [])]
        return sorted(k.removeprefix(f"{name}/") for k in objects + [u["Key"] + " (upload)" for u in uploads])

    return Store(
        "s3",
        registry.for_url("s3://"),
        f"s3://{BUCKET}/{name}/",
        corrupt,
        names,
        (S3Backend(s3_config(server, reader=True)), f"s3://{BUCKET}/{name}/read-only/x"),
    )


def make_store(kind: str, request: pytest.FixtureRequest) -> Store:
    registry: BackendRegistry = request.getfixturevalue("registry")
    if kind == "file":
        return _local_store(registry, request.getfixturevalue("local_root"))
    if kind == "root":
        return _root_store(registry, request.getfixturevalue("xrootd_server"))
    return _s3_store(registry, request.getfixturevalue("s3_server"))


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest) -> Store:
    return make_store(request.param, request)
