"""Tokens on the wire: the token endpoint (OAuth 2 names), whoami, the JWKS and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid")


class TokenRequest(BaseModel):
    """RFC 6749 §6: a refresh token for a new pair (the old one is revoked)."""

    model_config = _STRICT
    grant_type: Literal["refresh_token"]
    refresh_token: str = Field(min_length=16, max_length=256)


class DeviceTokenRequest(BaseModel):
    """RFC 8628 §3.4: the device's poll with its device code."""

    model_config = _STRICT
    grant_type: Literal["urn:ietf:params:oauth:grant-type:device_code"]
    device_code: str = Field(min_length=16, max_length=256)
    client_id: str = Field(default="", max_length=64)


class DeviceRequest(BaseModel):
    """RFC 8628 §3.1: start a device login."""

    model_config = _STRICT
    client_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    scope: str = Field(default="", max_length=256)


class DeviceAnswer(BaseModel):
    """RFC 8628 §3.2: what the device shows the user, and how it polls."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceError(BaseModel):
    """An RFC 8628 §3.5 answer to a poll (also in the envelope's ``data``): ``error`` is one of
    authorization_pending, slow_down, expired_token, access_denied, invalid_grant."""

    error: str
    error_description: str
    interval: int | None = None


class TokenErrorAnswer(BaseModel):
    """The token endpoint's 400: the error envelope, with a device poll's RFC 8628 answer in ``data``
    and (for RFC clients) ``error``/``error_description`` at the top level too; other bad input has none."""

    success: bool = False
    message: str
    data: DeviceError | None = None
    error: str | None = None
    error_description: str | None = None


class RevokeRequest(BaseModel):
    """RFC 7009 §2.1: the ``token`` to revoke and an optional ``token_type_hint`` (any value: only a hint,
    every type is searched). ``refresh_token`` is this API's older name for ``token``; give one of them."""

    model_config = _STRICT
    token: str | None = Field(None, min_length=16, max_length=8192)
    refresh_token: str | None = Field(None, min_length=16, max_length=256)
    token_type_hint: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _one_token(self) -> RevokeRequest:
        if (self.token is None) == (self.refresh_token is None):
            raise ValueError("token: give the token to revoke, as token (RFC 7009) or refresh_token")
        return self

    @property
    def presented(self) -> str:
        return self.token if self.token is not None else str(self.refresh_token)


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str | None = None


class WhoAmI(BaseModel):
    sub: str
    name: str
    vo: str
    groups: list[str]
    roles: list[str]
    queue: str
    expires: datetime
    issuer: str


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str = ""
    use: str = ""


class Jwks(BaseModel):
    keys: list[Jwk]


class OidcConfiguration(BaseModel):
    issuer: str
    jwks_uri: str
    token_endpoint: str
    id_token_signing_alg_values_supported: list[str]
    grant_types_supported: list[str]
    device_authorization_endpoint: str = ""


class AuditEntry(BaseModel):
    audit_id: int
    time: datetime
    sub: str
    roles: str
    method: str
    path: str
    ids: str
    status_code: int
