"""Federation (issue 11, point 2): tokens of an external OIDC issuer - the suite's own provider on
loopback, serving discovery, JWKS and RS256 tokens as INDIGO IAM does - are verified with the issuer's
published keys (fetched through its discovery document, cached, fetched again for a new key id), checked
for iss/aud/exp, and given roles from the configured group mapping only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from pandawms.config import load_config
from pandawms.db.engine import Database
from pandawms.server import federation
from tests.conftest import FrozenClock
from tests.db.helpers import API
from tests.db.security_helpers import Secure, secure_server, snapshot
from tests.livesupport.dbtemplate import migrated_sqlite_url
from tests.livesupport.oidc_provider import OidcProvider, oidc_provider

JOB = {"transformation": "/bin/true", "computingSite": "SMALL"}


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with oidc_provider() as p:
        yield p


@pytest.fixture
def secure(provider: OidcProvider, tmp_path: Path) -> Iterator[Secure]:
    db = Database(migrated_sqlite_url(tmp_path / "panda.db"))
    clock = FrozenClock(datetime.now(UTC).replace(tzinfo=None))  # the provider signs real times
    try:
        yield from secure_server(
            db,
            clock,
            tmp_path,
            oidc_issuer=provider.issuer,
            oidc_roles=("/atlas/production=production", "/atlas/admins=admin"),
        )
    finally:
        db.dispose()


def call(s: Secure, token: str, method: str = "GET", path: str = "/auth/whoami", **kw: Any) -> Any:
    return s.client.request(method, f"{API}{path}", headers={"Authorization": f"Bearer {token}"}, **kw)


def test_a_token_of_the_configured_issuer_is_accepted_with_its_mapped_roles(
    secure: Secure, provider: OidcProvider
) -> None:
    plain = call(secure, provider.token())
    assert plain.status_code == 200, plain.text
    who = plain.json()["data"]
    assert who["sub"] == "7dee38a3-6ab8-4fe2-9e4c-58039c21d817" and who["roles"] == ["user"]
    prod = call(secure, provider.token(groups=["atlas", "/atlas/production"])).json()["data"]
    assert sorted(prod["roles"]) == ["production", "user"]
    wlcg = provider.token(groups="atlas /atlas/production")  # one space-separated string (WLCG profile)
    assert "production" in call(secure, wlcg).json()["data"]["roles"]
    submitted = call(secure, provider.token(), "POST", "/job/submit", json={"jobs": [JOB]})
    assert submitted.status_code == 200, submitted.text
    # discovery and the key set were fetched once for all of these
    assert provider.requests.count("/realms/atlas/jwks") == 1


def test_the_issuers_own_roles_claim_grants_nothing(secure: Secure, provider: OidcProvider) -> None:
    token = provider.token(roles=["admin"], groups=["atlas"])
    assert call(secure, token).json()["data"]["roles"] == ["user"]
    refused = call(secure, token, "POST", "/queue/set_status", json={"name": "SMALL", "status": "offline"})
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "another-service"}, "audience"),
        ({"lifetime": -3600}, "expired"),
        ({"sub": ""}, "sub"),
    ],
)
def test_bad_claims_are_refused_with_the_reason_and_change_nothing(
    secure: Secure, provider: OidcProvider, claims: dict[str, Any], why: str
) -> None:
    before = snapshot(secure.db)
    refused = call(secure, provider.token(**claims), "POST", "/job/submit", json={"jobs": [JOB]})
    assert refused.status_code == 401 and why in refused.json()["message"], refused.text
    assert snapshot(secure.db) == before


def test_a_token_signed_by_another_key_under_a_known_kid_does_not_verify(
    secure: Secure, provider: OidcProvider
) -> None:
    forger = RSAKey.generate_key(2048, parameters={"kid": str(provider.keys[-1].kid), "alg": "RS256"})
    refused = call(secure, provider.token(key=forger))
    assert refused.status_code == 401 and "does not verify" in refused.json()["message"], refused.text


def test_a_rotated_key_is_fetched_when_a_token_names_it(
    secure: Secure, provider: OidcProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert call(secure, provider.token()).status_code == 200
    provider.rotate()
    early = call(secure, provider.token())  # within REFETCH_EVERY_S of the last fetch: not fetched again
    assert early.status_code == 401 and provider.requests.count("/realms/atlas/jwks") == 1
    monkeypatch.setattr(federation, "REFETCH_EVERY_S", 0.0)
    rotated = call(secure, provider.token())
    assert rotated.status_code == 200, rotated.text
    assert provider.requests.count("/realms/atlas/jwks") == 2


def test_an_unconfigured_issuer_and_our_own_tokens_keep_their_rules(
    secure: Secure, provider: OidcProvider
) -> None:
    stranger = provider.token(iss="https://evil.example/realms/atlas")
    assert call(secure, stranger).status_code == 401
    ours = secure.client.get(f"{API}/auth/whoami", headers=secure.headers("alice"))
    assert ours.status_code == 200 and ours.json()["data"]["sub"] == "sub-alice"


def test_an_unreachable_issuer_is_a_503_to_retry(tmp_path: Path, provider: OidcProvider) -> None:
    token = provider.token()
    provider.server.shutdown()
    provider.server.server_close()
    db = Database(migrated_sqlite_url(tmp_path / "panda.db"))
    clock = FrozenClock(datetime.now(UTC).replace(tzinfo=None))
    try:
        for s in secure_server(db, clock, tmp_path, oidc_issuer=provider.issuer):
            answer = call(s, token)
            assert answer.status_code == 503 and "unreachable" in answer.json()["message"], answer.text
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("PANDA_AUTH_OIDC_ISSUER", "iam.example", "must be the issuer's URL"),
        ("PANDA_AUTH_OIDC_ROLES", "/atlas/pilots=pilot", "is not GROUP=ROLE"),
        ("PANDA_AUTH_OIDC_ROLES", "production", "is not GROUP=ROLE"),
        ("PANDA_AUTH_OIDC_DEFAULT_ROLES", "root", "is not one of"),
    ],
)
def test_bad_federation_settings_are_refused_at_start(key: str, value: str, message: str) -> None:
    env = {"PANDA_AUTH_OIDC_ISSUER": "https://iam.example/", key: value}
    with pytest.raises(ValueError, match=message):
        load_config(env=env)
