"""The confirmation page of ``panda login`` (server/device_pages.py), pure: what it says, that every
value is escaped and no script is in it, and the CSRF decision on its Approve/Deny POST."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.server import device_pages as pages
from pandawms.server.headers import CSP, with_form_action

NOW = datetime(2026, 12, 3, 20, 0, 0)


def consent(**changes: object) -> pages.Consent:
    base: dict[str, object] = {
        "user_code": "BCDF-GHJK",
        "client_id": "panda-cli",
        "scope": "",
        "created_at": NOW - timedelta(seconds=30),
        "expires_at": NOW + timedelta(minutes=9, seconds=30),
        "now": NOW,
        "refresh_lifetime": 7 * 86400,
        "identity_provider": "",
    }
    return pages.Consent(**{**base, **changes})  # type: ignore[arg-type]


def test_the_confirmation_says_who_asks_since_when_and_what_it_may_do() -> None:
    body = pages.confirm_body(consent(), "t" * 43)
    assert "<strong>BCDF-GHJK</strong>" in body and "<code>panda-cli</code>" in body
    assert (
        "Started: 2026-12-03 19:59:30 UTC (30 s ago)" in body and "expires at 2026-12-03 20:09:30 UTC" in body
    )
    assert "for up to 7 days" in body and "administrator approves" in body and "Scope" not in body
    assert "<input type='hidden' name='csrf' value='" + "t" * 43 + "'>" in body
    assert "<form method='post' action='device'>" in body and "<script" not in body
    with_idp = pages.confirm_body(consent(identity_provider="https://iam.example", scope="openid"), "x")
    assert "identity provider <code>https://iam.example</code>" in with_idp
    assert "Scope asked for: <code>openid</code>" in with_idp


def test_every_value_on_the_pages_is_escaped() -> None:
    evil = "<script>x</script>'\""
    body = pages.confirm_body(
        consent(scope=evil, client_id=evil, user_code=evil, identity_provider=evil), evil
    )
    assert "<script>" not in body and "'\"" not in body and "&lt;script&gt;" in body
    assert "<script>" not in pages.admin_body(evil) and "<script>" not in pages.refused_body(evil)
    assert "<script>" not in bytes(pages.page(evil, "").body).decode()


def test_the_csrf_token_is_kept_when_well_formed() -> None:
    kept = "A" * 43
    assert pages.csrf_token(kept) == kept
    for bad in (None, "", "short", "A" * 42 + "!", "A" * 44):
        fresh = pages.csrf_token(bad)
        assert fresh != bad and len(fresh) == 43


TOKEN = "k" * 43


@pytest.mark.parametrize(
    ("cookie", "field", "origin", "fetch_site", "why"),
    [
        (TOKEN, TOKEN, None, None, None),
        (TOKEN, TOKEN, "https://panda.example.org", "same-origin", None),
        (TOKEN, TOKEN, "http://PANDA.example.org", None, None),  # host only: a proxy may end TLS
        (TOKEN, TOKEN, "https://evil.example", None, "another site (Origin https://evil.example)"),
        (TOKEN, TOKEN, "https://panda.example.org:444", None, "another site"),
        (TOKEN, TOKEN, "null", None, "another site"),
        (TOKEN, TOKEN, None, "cross-site", "Sec-Fetch-Site"),
        (None, TOKEN, None, None, "cookie is missing"),
        (TOKEN, None, None, None, "not this browser"),
        (TOKEN, "j" * 43, None, None, "not this browser"),
    ],
)
def test_only_the_confirmation_pages_own_post_passes(
    cookie: str | None, field: str | None, origin: str | None, fetch_site: str | None, why: str | None
) -> None:
    problem = pages.csrf_problem(cookie, field, origin, fetch_site, "panda.example.org")
    assert problem == why if why is None else (problem is not None and why in problem)


def test_only_the_form_action_is_widened() -> None:
    widened = with_form_action("https://iam.example:8443")
    assert widened == CSP.replace("form-action 'self'", "form-action 'self' https://iam.example:8443")
    assert "script-src 'self';" in widened
