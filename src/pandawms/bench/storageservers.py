"""Private storage servers for tests and benchmarks: an XRootD server exporting a temporary directory and
an S3 protocol server (moto's standalone server), each on a free 127.0.0.1 port, stopped by PID.

* ``XRootDServer``: Debian's ``xrootd`` (``scripts/test-deps.sh`` installs ``xrootd-server``) with a
  generated config: the run directory's ``data/`` exported as ``/``, adler32 checksums, third-party copy
  (``ofs.tpc ... pgm xrdcp --server``; ``tpc=False`` for a server without it). XrdCl checks a running
  third-party copy every 2.5 s (xrdcp -d 2), so one TPC takes at least that long. xrootd refuses to run
  as root ("Security reasons prohibit running as superuser"): as root it runs with ``-R xrootd`` (the
  Debian package's system user), its run directory made in /tmp, chowned to that user and 0755 (as
  bench/pgserver.py does for PostgreSQL).
* ``S3Server``: ``moto_server`` (PyPI ``moto[s3]`` + Flask), in-memory. ``start()`` creates two IAM users,
  ``writer`` (all of S3) and ``reader`` (get/list/head only), then switches IAM authorisation on
  (``/moto-api/reset-auth``), so a reader's upload is really refused.
* Both wait until the port answers (bounded by ``timeout``) and fail with the server's log tail.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import boto3

__all__ = ["S3Credentials", "S3Server", "StorageServerError", "XRootDServer"]

XROOTD_USER = "xrootd"


class StorageServerError(RuntimeError):
    """A private storage server could not be found, started or stopped."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


class _Process:
    """A server process we started: wait for its port, stop it by PID (TERM, then KILL)."""

    def __init__(self, name: str, log_file: Path, timeout: float) -> None:
        self.name, self.log_file, self.timeout = name, log_file, timeout
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, cmd: list[str], port: int) -> None:
        exe = shutil.which(cmd[0])
        if exe is None:
            raise StorageServerError(f"{cmd[0]} not found on PATH: {self._hint()}")
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [exe, *cmd[1:]], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + self.timeout
        while not _answers(port):
            if self.proc.poll() is not None:
                raise self.error(f"{self.name} exited with {self.proc.returncode} before answering")
            if time.monotonic() > deadline:
                self.stop()
                raise self.error(
                    f"{self.name} did not answer on 127.0.0.1:{port} within {self.timeout:.0f} s"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def error(self, message: str) -> StorageServerError:
        try:
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-25:])
        except OSError:
            tail = ""
        return StorageServerError(f"{message}\n--- {self.log_file} (tail) ---\n{tail}")

    def _hint(self) -> str:
        return (
            "run scripts/test-deps.sh (installs Debian's xrootd-server)"
            if self.name == "xrootd"
            else "pip install -e '.[test]' (moto[s3], flask, flask-cors)"
        )


class _Server:
    """``with Server() as server:`` starts it and stops it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        atexit.register(self.stop)  # a test run that dies without teardown still stops its servers
        try:
            return self.start()
        except BaseException:
            self.__exit__(None, None, None)  # a half-started server leaves no process and no files
            raise

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        atexit.unregister(self.stop)


class XRootDServer(_Server):
    """A private XRootD data server; ``url`` is ``root://127.0.0.1:PORT/`` and ``data_dir`` its export."""

    def __init__(self, *, tpc: bool = True, timeout: float = 30.0, keep_files: bool = False) -> None:
        self.port = free_port()
        self.tpc = tpc
        self.keep_files = keep_files
        self.timeout = timeout
        self.run_dir = Path()
        self._process: _Process | None = None

    @property
    def url(self) -> str:
        return f"root://127.0.0.1:{self.port}/"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> Self:
        owner = _xrootd_owner()
        self.run_dir = Path(tempfile.mkdtemp(prefix="panda-xrd-", dir="/tmp" if owner else None))
        self.data_dir.mkdir()
        config = self.run_dir / "xrootd.cfg"
        config.write_text(self._config())
        if owner is not None:
            for path in (self.run_dir, self.data_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            self.run_dir.chmod(0o755)
        run_as = ["-R", XROOTD_USER] if owner else []
        self._process = _Process("xrootd", self.run_dir / "xrootd.out", self.timeout)
        cmd = ["xrootd", *run_as, "-c", str(config), "-l", str(self.run_dir / "xrootd.log"), "-n", "panda"]
        self._process.start(cmd, self.port)
        return self

    def _config(self) -> str:
        xrdcp = shutil.which("xrdcp") or "/usr/bin/xrdcp"
        return "\n".join(
            [
                "all.export /",
                f"oss.localroot {self.data_dir}",
                f"xrd.port {self.port}",
                f"all.adminpath {self.run_dir / 'admin'}",
                f"all.pidpath {self.run_dir}",
                "xrootd.chksum adler32",
                f"ofs.tpc ttl 60 70 xfr 8 pgm {xrdcp} --server" if self.tpc else "",
                "",
            ]
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        if not self.keep_files and self.run_dir != Path():
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _xrootd_owner() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(XROOTD_USER)
    except KeyError:
        raise StorageServerError(
            f"xrootd refuses to run as root and there is no '{XROOTD_USER}' user to run it as; "
            "it comes with Debian's xrootd-server: run scripts/test-deps.sh"
        ) from None


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str


_READ_ONLY = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:HeadObject"]


class S3Server(_Server):
    """A private moto S3 server with IAM authorisation; ``writer`` and ``reader`` are its users."""

    def __init__(self, *, timeout: float = 30.0) -> None:
        self.port = free_port()
        self.timeout = timeout
        self.log_dir = Path(tempfile.mkdtemp(prefix="panda-s3-"))
        self._process = _Process("moto_server", self.log_dir / "moto.log", timeout)
        self.writer = S3Credentials("", "")
        self.reader = S3Credentials("", "")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> Self:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self._process.start(cmd, self.port)
        try:
            self._enable_auth()
        except BaseException:
            self._process.stop()
            raise
        return self

    def _enable_auth(self) -> None:
        self.writer = self._user("writer", ["s3:*"])
        self.reader = self._user("reader", _READ_ONLY)
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset-auth", b"0", {"Content-Type": "text/plain"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # from now on, keys and policies count
            json.load(answer)

    def _user(self, name: str, actions: list[str]) -> S3Credentials:
        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint_url,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
            region_name="us-east-1",
        )
        iam.create_user(UserName=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return S3Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def stop(self) -> None:
        self._process.stop()
        shutil.rmtree(self.log_dir, ignore_errors=True)
