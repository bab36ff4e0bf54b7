"""The real storage servers of the suite (XRootD and moto's S3), started once per session on private
ports, and their clients: fixtures for tests/ddm and tests/pilot (registered in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from mypy_boto3_s3.client import S3Client

from pandawms.bench.storageservers import S3Server, XRootDServer
from pandawms.ddm.s3 import S3Config

BUCKET = "panda-test"


@pytest.fixture(scope="session")
def xrootd_server() -> Iterator[XRootDServer]:
    with XRootDServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        s3_client(server).create_bucket(Bucket=BUCKET)
        yield server


def s3_client(server: S3Server) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.writer.access_key,
        aws_secret_access_key=server.writer.secret_key,
        region_name="us-east-1",
    )


def s3_config(server: S3Server, reader: bool = False) -> S3Config:
    creds = server.reader if reader else server.writer
    return S3Config(server.endpoint_url, creds.access_key, creds.secret_key)
