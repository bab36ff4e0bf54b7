"""Form-urlencoded OAuth 2 bodies (protocol/forms.py): RFC 6749 §3.1's rules, each refusal naming
the field."""

from __future__ import annotations

import pytest

from pandawms.core.errors import InvalidInput
from pandawms.protocol.forms import media_type, parse_form


@pytest.mark.parametrize(
    ("raw", "fields"),
    [
        (b"", {}),
        (
            b"grant_type=refresh_token&refresh_token=abc",
            {"grant_type": "refresh_token", "refresh_token": "abc"},
        ),
        (b"a=x%20y+z&b=%C3%A9", {"a": "x y z", "b": "é"}),
        (b"a=1&client_id=", {"a": "1"}),  # a blank parameter counts as omitted
        (b"scope=openid%26profile", {"scope": "openid&profile"}),
    ],
)
def test_form_bodies_parse_into_their_parameters(raw: bytes, fields: dict[str, str]) -> None:
    assert parse_form(raw) == fields


@pytest.mark.parametrize(
    ("raw", "field", "why"),
    [
        (b"a=1&a=2", "a", "given more than once"),
        (b"a=&a=2", "a", "given more than once"),
        (b"device_code=x%00", "device_code", "NUL"),
        (b"dev%00ice=1", "device", "NUL"),
        (b"\xff\xfe=1", "body", "UTF-8"),
        (b"justtext", "body", "name=value"),
    ],
)
def test_bad_form_bodies_name_the_field(raw: bytes, field: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as refused:
        parse_form(raw)
    assert refused.value.field == field


def test_media_types_drop_their_parameters() -> None:
    assert (
        media_type("Application/X-WWW-Form-Urlencoded; charset=utf-8") == "application/x-www-form-urlencoded"
    )
    assert media_type(None) == ""
