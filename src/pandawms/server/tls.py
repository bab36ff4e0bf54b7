"""The TLS client certificate of a connection, in each request's ASGI ``tls`` extension.

uvicorn verifies a client certificate against ``--ssl-ca-certs`` but does not tell the application about
it. ``ClientCertProtocol`` (uvicorn's httptools protocol, used when a CA bundle is configured) reads the
verified peer certificate once per connection and adds the ASGI TLS extension
(``scope["extensions"]["tls"]``: ``client_cert_name`` as RFC 4514 and ``client_cert_chain`` as PEM)
to every request on it, plus the parsed common name and expiry the auth gate needs
(``pandawms_cn``, ``pandawms_not_after``).
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from starlette.types import Scope
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    """The ASGI tls extension of a connection (None when it is not TLS)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    ext: dict[str, Any] = {"client_cert_name": None, "client_cert_chain": [], "client_cert_error": None}
    if der:  # only a certificate the CA bundle verified gets here (the handshake fails otherwise)
        cert = x509.load_der_x509_certificate(der)
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ext.update(
            client_cert_name=cert.subject.rfc4514_string(),
            client_cert_chain=[cert.public_bytes(Encoding.PEM).decode()],
            pandawms_cn=str(cns[0].value) if cns else "",
            pandawms_not_after=cert.not_valid_after_utc,
        )
    return ext


def client_certificate(scope: Scope) -> tuple[str, str, datetime] | None:
    """(subject, common name, expiry) of the request's verified client certificate, or None."""
    tls = scope.get("extensions", {}).get("tls")
    if not tls or not tls.get("client_cert_name"):
        return None
    expires: datetime = tls.get("pandawms_not_after") or datetime.max.replace(tzinfo=UTC)
    return str(tls["client_cert_name"]), str(tls.get("pandawms_cn", "")), expires


class ClientCertProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the connection's client certificate in each request's scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport.get_extra_info("ssl_object"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": cast(dict[object, object], self._tls)}
