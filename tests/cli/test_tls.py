"""TLS: a real ``panda server --auth --ssl-certfile/--ssl-keyfile`` process with a certificate this test
makes (its own CA); clients verify the server certificate by default and accept it with the CA file."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pandawms.protocol import paths
from pandawms.protocol.http import EnvelopeClient, FileToken, HttpRetry, ServerRejected, ServerUnreachable
from tests.livesupport.live_server import free_port

SRC = Path(__file__).resolve().parents[2] / "src"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
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
    return ca_key, ca


def _pem_pair(key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def client_certificate(
    out: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, cn: str, org: str = "Site A"
) -> Path:
    """A client certificate (and its key, in one PEM file, as a grid proxy is) for CN=cn,O=org."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    path = out / f"{cn}.pem"
    path.write_bytes(_pem_pair(key, cert))
    return path


def make_certificates(out: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.pem, server.pem, server.key)."""
    return _make_certificates(out)[:3]


def _make_certificates(
    out: Path,
) -> tuple[Path, Path, Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    now = dt.datetime.now(dt.UTC)
    ca_key, ca = _ca("pandawms test CA")
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
    return (*paths_, ca_key, ca)


def _panda(*args: str) -> list[str]:
    return [sys.executable, "-c", "from pandawms.cli.main import main; main()", *args]


@contextmanager
def _server(tmp_path: Path, cert: Path, key: Path, ca: Path, *extra: str) -> Iterator[str]:
    """A real ``panda server --auth`` on TLS (``extra``: more options); its https URL once it answers."""
    port = free_port()
    args = ["server", "--auth", "--no-agents", "--port", str(port), "--db", _db(tmp_path)]
    args += ["--data-dir", str(tmp_path), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), *extra]
    log = (tmp_path / "server.log").open("wb")  # a file, not a pipe nobody reads (it would fill and block)
    proc = subprocess.Popen(_panda(*args), env=_env(), stdout=log, stderr=subprocess.STDOUT)
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
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'panda.db'}"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    tmp_path = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certificates(tmp_path)
    token_file = tmp_path / "pilot.token"
    subprocess.run(
        _panda(
            "token",
            "create",
            "--role",
            "pilot",
            "--queue",
            "SMALL",
            "--out",
            str(token_file),
            "--db",
            _db(tmp_path),
        ),
        env=_env(),
        check=True,
        capture_output=True,
    )
    with _server(tmp_path, cert, key, ca) as url:
        yield url, ca, token_file


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


@dataclass(frozen=True)
class CertServer:
    url: str
    ca: Path
    tmp: Path
    pilot: Path  # CN=pilot-01,O=Site A: pilot@SMALL
    admin: Path  # CN=ops,O=Site A: admin
    stranger: Path  # CN=visitor,O=Site A: signed by the CA, no role
    foreign: Path  # CN=pilot-01,O=Site A again, from another CA


@pytest.fixture(scope="module")
def cert_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertServer]:
    """``panda server --ssl-ca-certs`` with ``[server.auth] cert_roles``: identities from certificates."""
    tmp = tmp_path_factory.mktemp("certs")
    ca, cert, key, ca_key, ca_cert = _make_certificates(tmp)
    other_key, other_ca = _ca("another CA")
    (tmp / "other").mkdir()
    config = tmp / "server.toml"
    config.write_text(
        '[server.auth]\ncert_roles = ["CN=pilot-01,O=Site A=pilot@SMALL", "CN=ops,O=Site A=admin"]\n'
    )
    certs = CertServer(
        "",
        ca,
        tmp,
        client_certificate(tmp, ca_key, ca_cert, "pilot-01"),
        client_certificate(tmp, ca_key, ca_cert, "ops"),
        client_certificate(tmp, ca_key, ca_cert, "visitor"),
        client_certificate(tmp / "other", other_key, other_ca, "pilot-01"),
    )
    queues = tmp / "queues.toml"
    queues.write_text('[[queue]]\nname = "SMALL"\n\n[[queue]]\nname = "OTHER"\n')
    extra = ("--ssl-ca-certs", str(ca), "--config", str(config), "--queues", str(queues))
    with _server(tmp, cert, key, ca, *extra) as url:
        yield dataclasses.replace(certs, url=url)


def _client(srv: CertServer, cert: Path | None, token: Path | None = None) -> EnvelopeClient:
    auth = FileToken(token) if token else None
    return EnvelopeClient(
        srv.url, HttpRetry(attempts=1), auth=auth, verify=str(srv.ca), client_cert=str(cert) if cert else None
    )


def test_a_mapped_client_certificate_is_its_identity(cert_server: CertServer) -> None:
    with _client(cert_server, cert_server.pilot) as client:
        me = client.request("GET", paths.AUTH_WHOAMI)
        assert (me["sub"], me["roles"], me["queue"]) == ("x509:CN=pilot-01,O=Site A", ["pilot"], "SMALL")
        got = client.request("POST", paths.PILOT_ACQUIRE_JOBS, json={"site_name": "SMALL", "node": "n1"})
        assert got["jobs"] == []
        with pytest.raises(ServerRejected) as refused:  # the certificate's queue binds like a token's
            client.request("POST", paths.PILOT_ACQUIRE_JOBS, json={"site_name": "OTHER", "node": "n1"})
        assert refused.value.status_code == 403
        with pytest.raises(ServerRejected) as not_admin:
            client.request("GET", paths.AUDIT_LIST)
        assert not_admin.value.status_code == 403
    with _client(cert_server, cert_server.admin) as client:
        assert client.request("GET", paths.AUTH_WHOAMI)["roles"] == ["admin"]
        client.request("GET", paths.AUDIT_LIST)


def test_an_unmapped_certificate_and_no_certificate_get_401(cert_server: CertServer) -> None:
    for cert in (cert_server.stranger, None):
        with _client(cert_server, cert) as client, pytest.raises(ServerRejected) as refused:
            client.request("GET", paths.AUTH_WHOAMI)
        assert refused.value.status_code == 401
    with _client(cert_server, cert_server.stranger) as client, pytest.raises(ServerRejected) as why:
        client.request("GET", paths.AUTH_WHOAMI)
    assert "CN=visitor,O=Site A" in str(why.value) and "cert_roles" in str(why.value)


def test_a_certificate_from_another_ca_fails_the_handshake(cert_server: CertServer) -> None:
    with _client(cert_server, cert_server.foreign) as client, pytest.raises(ServerUnreachable):
        client.request("GET", paths.AUTH_WHOAMI)


def test_a_token_wins_over_the_certificate(cert_server: CertServer) -> None:
    token = cert_server.tmp / "user.token"
    subprocess.run(
        _panda(
            "token",
            "create",
            "--role",
            "user",
            "--sub",
            "jane",
            "--out",
            str(token),
            "--db",
            _db(cert_server.tmp),
        ),
        env=_env(),
        check=True,
        capture_output=True,
    )
    with _client(cert_server, cert_server.admin, token) as client:
        me = client.request("GET", paths.AUTH_WHOAMI)
    assert (me["sub"], me["roles"]) == ("jane", ["user"])


def test_a_bad_client_certificate_file_is_named() -> None:
    with pytest.raises(ValueError, match=r"client certificate /nonexistent\.pem"):
        EnvelopeClient("https://127.0.0.1:1", client_cert="/nonexistent.pem")


def test_a_pilot_with_a_certificate_runs_a_job(cert_server: CertServer) -> None:
    """``panda pilot --cert-file``: the certificate is the pilot's identity, from acquire to final update."""
    with _client(cert_server, cert_server.admin) as admin:
        job = {"transformation": "/bin/true", "computingSite": "SMALL", "prodUserName": "ops"}
        (panda_id,) = (j["PandaID"] for j in admin.request("POST", paths.JOB_SUBMIT, json={"jobs": [job]}))
    workdir = cert_server.tmp / "pilot"
    args = [
        "pilot",
        "--server",
        cert_server.url,
        "--queue",
        "SMALL",
        "--workdir",
        str(workdir),
        "--max-empty",
        "1",
    ]
    args += ["--cert-file", str(cert_server.pilot), "--ca-file", str(cert_server.ca), "--heartbeat", "1"]
    done = subprocess.run(_panda(*args), env=_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with _client(cert_server, cert_server.admin) as admin:
        (status,) = admin.request("GET", paths.JOB_GET_STATUS, params={"job_ids": str(panda_id)})
    assert status["jobStatus"] == "finished"


def test_behind_a_proxy_the_public_url_option_starts_every_login_link(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    public = "https://panda.example.org/wms"
    with _server(tmp_path, cert, key, ca, "--public-url", public + "/") as url:
        tls = ssl.create_default_context(cafile=str(ca))
        resp = httpx.post(
            url + paths.API_PREFIX + paths.AUTH_DEVICE,
            json={"client_id": "panda-cli"},
            verify=tls,
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        links = resp.json()["data"]
        assert links["verification_uri"] == public + paths.DEVICE_PAGE
        assert links["verification_uri_complete"].startswith(public + paths.DEVICE_PAGE + "?user_code=")
