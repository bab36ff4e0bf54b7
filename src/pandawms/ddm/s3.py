"""S3-compatible object storage, ``s3://bucket/key``, through boto3.

S3 has no adler32 of its own: an upload computes it and stores it as object metadata (``adler32``), the
convention stat and checksum read back (objects written by other tools are summed by reading them). An
upload is one PutObject for a small file, else a multipart upload of CHUNK_SIZE parts: the object appears
only at CompleteMultipartUpload, which is sent only after the streamed bytes matched the expected size
and adler32 (the S3 form of "temporary name, then rename"). Copies within one endpoint are server-side.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from pandawms.core.checksums import Adler32, Adler32Sum, FileStat, adler32_of_chunks
from pandawms.core.errors import InvalidInput
from pandawms.ddm import base
from pandawms.ddm.base import CHUNK_SIZE, StorageError, check, landing, os_errors, remove_unless_matches
from pandawms.ddm.local import file_stat

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

SCHEME = "s3"
META_ADLER32 = "adler32"
MAX_COPY_OBJECT = 5 * 1024**3  # CopyObject's limit; larger objects stream
MAX_PARTS = 10_000  # of one multipart upload: parts grow beyond CHUNK_SIZE for files over 80 GB
# S3 error codes and HTTP statuses -> what the caller should do (anything else: StorageError)
_ERRORS: dict[str, type[StorageError]] = {
    **dict.fromkeys(["404", "NoSuchKey", "NoSuchBucket", "NotFound"], base.NotFound),
    **dict.fromkeys(
        ["403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"],
        base.PermissionDenied,
    ),
    **dict.fromkeys(
        ["500", "503", "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"],
        base.StorageUnavailable,
    ),
}


@dataclass(frozen=True)
class S3Config:
    """One S3 endpoint and its credentials (typed, passed in; never read from the environment here)."""

    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    connect_timeout: float = field(default=10.0, metadata={"min": 0.1})
    read_timeout: float = field(default=300.0, metadata={"min": 0.1})
    max_attempts: int = field(default=3, metadata={"min": 1})

    def __post_init__(self) -> None:
        if urlsplit(self.endpoint_url).scheme not in ("http", "https"):
            raise InvalidInput(f"S3 endpoint_url must be http(s)://host[:port], got {self.endpoint_url!r}")
        if not self.access_key or not self.secret_key:
            raise InvalidInput("S3 access_key and secret_key must not be empty", "access_key")


def _locate(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme != SCHEME or not parts.netloc or not key or key.endswith("/") or parts.query:
        raise InvalidInput(f"not an S3 object URL: {url!r} (want s3://bucket/key)", "url")
    return parts.netloc, key


@contextlib.contextmanager
def _errors(url: str, action: str) -> Iterator[None]:
    """botocore errors -> the storage error a caller can act on."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = f"cannot {action} {url}: {code} {error.get('Message', '')}".rstrip()
        raise _ERRORS.get(code, StorageError)(message, url) from exc
    except (ConnectionError, HTTPClientError) as exc:  # refused, timed out, reset: try again later
        raise base.StorageUnavailable(f"cannot {action} {url}: {exc}", url) from exc
    except BotoCoreError as exc:
        raise StorageError(f"cannot {action} {url}: {exc}", url) from exc


class S3Backend:
    """``s3://bucket/key`` URLs on one S3 endpoint."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key,
            aws_secret_access_key=config.secret_key,
            region_name=config.region,
            config=Config(
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                retries={"max_attempts": config.max_attempts, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

    def stat(self, url: str) -> FileStat:
        bucket, key = _locate(url)
        with _errors(url, "stat"):
            head = self._client.head_object(Bucket=bucket, Key=key)
        recorded = head.get("Metadata", {}).get(META_ADLER32)
        if recorded is None:
            return self._summed(url)
        return FileStat(head["ContentLength"], Adler32.parse(recorded))

    def checksum(self, url: str) -> Adler32:
        return self.stat(url).adler32

    def _summed(self, url: str) -> FileStat:
        running = Adler32Sum()
        for chunk in self._chunks(url):
            running.update(chunk)
        return running.stat

    def _chunks(self, url: str) -> Iterator[bytes]:
        bucket, key = _locate(url)
        with _errors(url, "read"):
            body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
            try:
                yield from body.iter_chunks(CHUNK_SIZE)
            finally:
                body.close()

    def upload(self, local_path: Path, url: str, expected: FileStat | None = None) -> FileStat:
        bucket, key = _locate(url)
        want = expected or file_stat(local_path)  # the metadata must be known before the first byte goes
        meta = {META_ADLER32: str(want.adler32)}
        part_size = max(CHUNK_SIZE, -(-want.size // MAX_PARTS))
        with os_errors(local_path.absolute().as_uri()), local_path.open("rb") as fh:
            first = fh.read(part_size)
            if len(first) < part_size:
                check(want, adler32_of_chunks([first]), url)
                with _errors(url, "write"):
                    self._client.put_object(Bucket=bucket, Key=key, Body=first, Metadata=meta)
            else:
                self._multipart(fh, first, url, meta, want)  # parts of len(first) bytes
        got = self.stat(url)
        remove_unless_matches(self, url, want, got)
        return got

    def _multipart(self, fh: BinaryIO, first: bytes, url: str, meta: dict[str, str], want: FileStat) -> None:
        """Upload ``first`` and the rest of ``fh`` as parts; complete only if the bytes match ``want``."""
        bucket, key = _locate(url)
        with _errors(url, "write"):
            created = self._client.create_multipart_upload(Bucket=bucket, Key=key, Metadata=meta)
        upload_id = created["UploadId"]
        try:
            running, chunk = Adler32Sum(), first
            parts: list[CompletedPartTypeDef] = []
            while chunk:
                running.update(chunk)
                number = len(parts) + 1
                with _errors(url, "write"):
                    etag = self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                    )["ETag"]
                parts.append({"ETag": etag, "PartNumber": number})
                chunk = fh.read(len(first))
            check(want, running.stat, url)
            with _errors(url, "write"):
                self._client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError):  # keep the first error; S3 expires the rest
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    def download(self, url: str, local_path: Path, expected: FileStat | None = None) -> FileStat:
        want = expected or self.stat(url)
        running = Adler32Sum()
        with landing(local_path) as tmp:
            with os_errors(tmp.as_uri(), "write"), tmp.open("wb") as out:
                for chunk in self._chunks(url):
                    running.update(chunk)
                    out.write(chunk)
            check(want, running.stat, url)
        return running.stat

    def delete(self, url: str) -> None:
        bucket, key = _locate(url)
        with _errors(url, "delete"):
            self._client.delete_object(Bucket=bucket, Key=key)  # S3: deleting a missing key succeeds

    def third_party_copy(self, src_url: str, dst_url: str) -> bool:
        """Server-side CopyObject up to 5 GB; else False. The copy's bytes are summed afresh (its metadata
        is the source's, so comparing metadata would check nothing) and a mismatch is removed."""
        if urlsplit(src_url).scheme != SCHEME or urlsplit(dst_url).scheme != SCHEME:
            return False
        want = self.stat(src_url)
        if want.size > MAX_COPY_OBJECT:
            return False
        (src_bucket, src_key), (bucket, key) = _locate(src_url), _locate(dst_url)
        with _errors(dst_url, "copy to"):
            self._client.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": src_bucket, "Key": src_key},
                MetadataDirective="COPY",
            )
        remove_unless_matches(self, dst_url, want, self._summed(dst_url))
        return True
