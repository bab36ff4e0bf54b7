"""TLS: a real ``panda server --auth --ssl-certfile/--ssl-keyfile`` process with a certificate this test
makes (its own CA); clients verify the server certificate by default and accept it with the CA file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pandawms.protocol import paths
from pandawms.protocol.http import EnvelopeClient, FileToken, HttpRetry, ServerUnreachable
from tests.livesupport.live_server import free_port

SRC = Path(__file__).resolve().parents[2] / "src"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certificates(out: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, server.pem, server.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("pandawms test CA"))
        .issuer_name(_name("pandawms test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    paths_ = (out / "ca.pem", out / "server.pem", out / "server.key")
    paths_[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths_[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths_[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths_


def _panda(*args: str) -> list[str]:
    return [sys.executable, "-c", "from pandawms.cli.main import main; main()", *args]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    tmp_path = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certificates(tmp_path)
    port = free_port()
    db = f"sqlite:///{tmp_path / 'panda.db'}"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    token_file = tmp_path / "pilot.token"
    subprocess.run(
        _panda(
            "token", "create", "--role", "pilot", "--queue", "SMALL", "--out", str(token_file), "--db", db
        ),
        env=env,
        check=True,
        capture_output=True,
    )
    args = ["server", "--auth", "--no-agents", "--port", str(port), "--db", db, "--data-dir", str(tmp_path)]
    log = (tmp_path / "server.log").open("wb")  # a file, not a pipe nobody reads (it would fill and block)
    proc = subprocess.Popen(
        _panda(*args, "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        tls = ssl.create_default_context(cafile=str(ca))
        while True:
            try:
                if httpx.get(url + paths.API_PREFIX + paths.HEALTH, verify=tls, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((tmp_path / "server.log").read_text()[-2000:]) from None
                time.sleep(0.1)
        yield url, ca, token_file
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_clients_verify_the_server_certificate(tls_server: tuple[str, Path, Path]) -> None:
    url, ca, token_file = tls_server
    once = HttpRetry(attempts=1)
    with EnvelopeClient(url, once, auth=FileToken(token_file), verify=str(ca)) as client:
        me = client.request("GET", paths.AUTH_WHOAMI)
    assert (me["sub"], me["roles"], me["queue"]) == ("pilot-SMALL", ["pilot"], "SMALL")
    client = EnvelopeClient(url, once, auth=FileToken(token_file))  # default: verify with the system's CAs
    with client, pytest.raises(ServerUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        client.request("GET", paths.AUTH_WHOAMI)


def test_a_tls_server_still_requires_the_token(tls_server: tuple[str, Path, Path]) -> None:
    url, ca, _ = tls_server
    resp = httpx.get(url + paths.API_PREFIX + "/job/list", verify=ssl.create_default_context(cafile=str(ca)))
    assert resp.status_code == 401
    with pytest.raises(httpx.HTTPError):  # plain http to the TLS port gets no answer
        httpx.get(url.replace("https", "http") + paths.API_PREFIX + paths.HEALTH, timeout=5)
