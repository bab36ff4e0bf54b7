"""Back end selection by URL scheme and the URL and configuration checks (no servers)."""

from __future__ import annotations

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.ddm import base, local, s3, xrootd
from pandawms.ddm.registry import StorageConfig, build_registry


def test_each_scheme_has_its_back_end() -> None:
    registry = build_registry(StorageConfig(s3=s3.S3Config("http://127.0.0.1:1", "key", "secret")))

    assert registry.schemes == ("file", "root", "s3", "xroot")
    assert isinstance(registry.for_url("file:///data/x"), local.LocalBackend)
    assert isinstance(registry.for_url("root://host:1094//data/x"), xrootd.XRootDBackend)
    assert registry.for_url("xroot://host//x") is registry.for_url("root://host//x")
    assert isinstance(registry.for_url("s3://bucket/key"), s3.S3Backend)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "gsiftp://host/x",
            r"no storage back end for gsiftp:// in 'gsiftp://host/x' \(known: file, root, xroot\)",
        ),
        ("s3://bucket/key", "no S3 endpoint is configured"),
        ("/data/x", "has no scheme"),
    ],
)
def test_unknown_scheme_names_the_url(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_registry(StorageConfig()).for_url(url)


@pytest.mark.parametrize("url", ["file://otherhost/x", "file:relative", "file:///x?y=1", "root:///x"])
def test_malformed_local_and_root_urls(url: str) -> None:
    with pytest.raises(InvalidInput, match="URL"):
        if url.startswith("file"):
            local.path_of(url)
        else:
            xrootd.XRootDBackend().stat(url)


@pytest.mark.parametrize("url", ["s3://bucket", "s3://bucket/", "s3://bucket/dir/", "s3:///key"])
def test_malformed_s3_urls(url: str) -> None:
    backend = s3.S3Backend(s3.S3Config("http://127.0.0.1:1", "key", "secret"))
    with pytest.raises(InvalidInput, match="s3://bucket/key"):
        backend.stat(url)


def test_s3_config_is_checked_and_hides_the_secret() -> None:
    with pytest.raises(InvalidInput, match="endpoint_url"):
        s3.S3Config("127.0.0.1:9000", "key", "secret")
    with pytest.raises(InvalidInput, match="secret_key"):
        s3.S3Config("http://127.0.0.1:9000", "key", "")
    assert "secret" not in repr(s3.S3Config("http://127.0.0.1:9000", "key", "secret"))


def test_xrootd_config_is_checked() -> None:
    with pytest.raises(InvalidInput, match="connection_window"):
        xrootd.XRootDConfig(connection_window=0)


def test_local_urls_round_trip() -> None:
    assert local.path_of("file:///data/a%20b") == local.path_of("file://localhost/data/a b")


def test_temporary_names_are_hidden_unique_and_recognised() -> None:
    first, second = base.temporary_name("EVNT.01234._000001.pool.root.1"), base.temporary_name("x")

    assert first.startswith(".EVNT.01234._000001.pool.root.1.part-")
    assert base.temporary_name("x") != base.temporary_name("x")
    assert base.is_temporary_name(first) and base.is_temporary_name(second)
    assert not base.is_temporary_name("EVNT.01234._000001.pool.root.1")
    assert not base.is_temporary_name(".hidden.part-notahex")
