"""This server as a client of the external OIDC issuer, for the device flow's browser login: the
authorization-code grant with PKCE (RFC 7636, S256). The issuer's endpoints come from its discovery
document (whose ``issuer`` must be the configured one); the code is exchanged for tokens here, and the
access token is then verified exactly as any federated token is (server/federation.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from pandawms.core.errors import Transient, Unauthenticated
from pandawms.server.federation import FETCH_TIMEOUT_S, get_json

SCOPE = "openid profile"
ORIGIN_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")  # safe in a CSP


@dataclass(frozen=True, slots=True)
class OidcClient:
    issuer: str
    client_id: str
    client_secret: str = ""

    def _endpoint(self, name: str) -> str:
        doc = get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if not isinstance(doc, dict) or doc.get("issuer") != self.issuer:
            raise Unauthenticated(f"issuer {self.issuer}: its discovery document names another issuer")
        url = doc.get(name)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise Unauthenticated(f"issuer {self.issuer}: its discovery document has no {name}")
        return url

    def authorization_origin(self) -> str:
        """scheme://host[:port] of the issuer's authorization endpoint (where the login form goes)."""
        parts = urlsplit(self._endpoint("authorization_endpoint"))
        if not ORIGIN_HOST.fullmatch(parts.netloc):
            raise Unauthenticated(f"issuer {self.issuer}: its authorization_endpoint has an odd host")
        return f"{parts.scheme}://{parts.netloc}"

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": SCOPE,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return self._endpoint("authorization_endpoint") + "?" + urlencode(query)

    def exchange(self, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The access token the issuer gives for an authorization code (Unauthenticated when refused)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": code_verifier,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        url = self._endpoint("token_endpoint")
        try:
            resp = httpx.post(url, data=form, timeout=FETCH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise Transient(f"OIDC issuer unreachable: {url}: {exc}") from None
        answer: Any = _json(resp)
        if resp.status_code != 200 or not isinstance(answer, dict):
            why = answer.get("error", resp.status_code) if isinstance(answer, dict) else resp.status_code
            raise Unauthenticated(f"issuer {self.issuer}: the authorization code was refused ({why})")
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise Unauthenticated(f"issuer {self.issuer}: its token answer has no access_token")
        return token


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
