"""The suite's own OIDC provider, like INDIGO IAM to a relying party: a real HTTP server on loopback that
serves the discovery document and the JWKS, and signs RS256 access tokens with its current key. Keys
rotate like an issuer's (``rotate``): the new one signs, the JWKS lists both."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey


class OidcProvider:
    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.requests: list[str] = []
        self.rotate()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/realms/atlas"

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}-{secrets.token_hex(3)}"
        self.keys.append(RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}))
        return kid

    def token(self, *, key: RSAKey | None = None, lifetime: int = 600, **claims: Any) -> str:
        """An access token of the current key (or ``key``) with IAM-like claims, overridden by ``claims``."""
        signer = key or self.keys[-1]
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "sub": "7dee38a3-6ab8-4fe2-9e4c-58039c21d817",
            "aud": "pandawms",
            "exp": now + lifetime,
            "iat": now,
            "jti": secrets.token_hex(8),
            "name": "Alice Atlas",
            "groups": ["atlas"],
            **claims,
        }
        return jwt.encode({"alg": "RS256", "kid": signer.kid, "typ": "JWT"}, body, signer)

    def _documents(self) -> dict[str, Any]:
        return {
            "/realms/atlas/.well-known/openid-configuration": {
                "issuer": self.issuer,
                "jwks_uri": self.issuer + "/jwks",
                "token_endpoint": self.issuer + "/token",
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            "/realms/atlas/jwks": {"keys": [k.as_dict(private=False) for k in self.keys]},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests.append(self.path)
                doc = provider._documents().get(self.path)
                body = json.dumps(doc if doc is not None else {"error": "not found"}).encode()
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def oidc_provider() -> Iterator[OidcProvider]:
    provider = OidcProvider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()
