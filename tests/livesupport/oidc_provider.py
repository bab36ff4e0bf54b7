"""The suite's own OIDC provider, like INDIGO IAM to a relying party: a real HTTP server on loopback that
serves the discovery document and the JWKS, and signs RS256 access tokens with its current key. Keys
rotate like an issuer's (``rotate``): the new one signs, the JWKS lists both.

It also logs people in as an IdP does for the authorization-code grant with PKCE (RFC 6749 §4.1, RFC
7636): ``/authorize`` checks the registered client and redirect URI and shows a login form; posting it
with a known user's password redirects back with a one-time code (or ``error=access_denied`` when the
user refuses); ``/token`` exchanges the code once, for the same client and redirect URI and only with
the verifier whose S256 is the challenge, for an access token and an ID token of that user."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass(frozen=True)
class User:
    password: str
    sub: str
    name: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    user: User


ALICE = User("alice-secret", "7dee38a3-6ab8-4fe2-9e4c-58039c21d817", "Alice Atlas", ("atlas",))


class OidcProvider:
    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.requests: list[str] = []
        self.users: dict[str, User] = {"alice": ALICE}
        self.clients: dict[str, tuple[str, str]] = {}  # client_id -> (redirect_uri, secret)
        self.codes: dict[str, Grant] = {}
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

    def register_client(self, client_id: str, redirect_uri: str, secret: str = "") -> None:
        self.clients[client_id] = (redirect_uri, secret)

    def _documents(self) -> dict[str, Any]:
        return {
            "/realms/atlas/.well-known/openid-configuration": {
                "issuer": self.issuer,
                "jwks_uri": self.issuer + "/jwks",
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "id_token_signing_alg_values_supported": ["RS256"],
            },
            "/realms/atlas/jwks": {"keys": [k.as_dict(private=False) for k in self.keys]},
        }

    def authorize_page(self, query: dict[str, str]) -> tuple[int, str]:
        """GET /authorize: the login form of a valid authorization request, else 400 saying why."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None or query.get("redirect_uri") != client[0]:
            return 400, "unknown client or redirect_uri"
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return 400, "response_type=code with code_challenge_method=S256 is required"
        if not query.get("code_challenge") or not query.get("state"):
            return 400, "code_challenge and state are required"
        hidden = "".join(
            f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
            for k, v in query.items()
        )
        return 200, (
            f"<form method='post' action='/realms/atlas/authorize'>{hidden}"
            "<input name='username'><input name='password' type='password'>"
            "<button name='action' value='login'>Log in</button>"
            "<button name='action' value='deny'>Deny</button></form>"
        )

    def authorize_post(self, form: dict[str, str]) -> tuple[int, str]:
        """POST /authorize: (status, redirect target or error text)."""
        status, why = self.authorize_page(form)
        if status != 200:
            return status, why
        back = form["redirect_uri"]
        if form.get("action") == "deny":
            return 302, back + "?" + urlencode({"error": "access_denied", "state": form["state"]})
        user = self.users.get(form.get("username", ""))
        if user is None or not secrets.compare_digest(user.password, form.get("password", "")):
            return 401, "wrong username or password"
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(form["client_id"], back, form["code_challenge"], user)
        return 302, back + "?" + urlencode({"code": code, "state": form["state"]})

    def exchange(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST /token (grant_type=authorization_code): the tokens of a code, once."""
        grant = self.codes.pop(form.get("code", ""), None)  # used once, whatever the outcome
        if form.get("grant_type") != "authorization_code" or grant is None:
            return 400, {"error": "invalid_grant"}
        client = self.clients.get(form.get("client_id", ""))
        if (
            client is None
            or form["client_id"] != grant.client_id
            or (client[1] and form.get("client_secret") != client[1])
        ):
            return 401, {"error": "invalid_client"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "code_verifier"}
        u = grant.user
        claims: dict[str, Any] = {"sub": u.sub, "name": u.name, "groups": list(u.groups)}
        return 200, {
            "access_token": self.token(**claims),
            "id_token": self.token(aud=grant.client_id, **claims),
            "token_type": "Bearer",
            "expires_in": 600,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests.append(self.path)
                url = urlsplit(self.path)
                if url.path == "/realms/atlas/authorize":
                    self._answer(*provider.authorize_page(dict(parse_qsl(url.query))))
                    return
                doc = provider._documents().get(self.path)
                self._json(
                    200 if doc is not None else 404, doc if doc is not None else {"error": "not found"}
                )

            def do_POST(self) -> None:
                provider.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if self.path == "/realms/atlas/authorize":
                    self._answer(*provider.authorize_post(form))
                elif self.path == "/realms/atlas/token":
                    self._json(*provider.exchange(form))
                else:
                    self._json(404, {"error": "not found"})

            def _answer(self, status: int, text: str) -> None:
                if status == 302:
                    self.send_response(302)
                    self.send_header("Location", text)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
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
