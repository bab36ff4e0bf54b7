"""Form-urlencoded request bodies, as OAuth 2 clients send them (RFC 6749 §3.2 and §4.1.3, RFC 8628
§3.4, RFC 7009 §2.1): ``application/x-www-form-urlencoded`` UTF-8 ``name=value`` pairs.

RFC 6749 §3.1: a parameter sent without a value is treated as omitted, and one sent more than once is
refused. A NUL character is refused as the JSON bodies' is (server/guards.py), naming the field.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from pandawms.core.errors import InvalidInput

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
NUL = "\x00"


def media_type(content_type: str | None) -> str:
    """``application/x-www-form-urlencoded; charset=utf-8`` -> ``application/x-www-form-urlencoded``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_form(raw: bytes) -> dict[str, str]:
    """The parameters of a form body; InvalidInput naming the field (or ``body``) when it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("body: form parameters must be UTF-8 text", "body") from None
    if not text.strip():
        return {}
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidInput("body: expected form-urlencoded name=value pairs joined by &", "body") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if NUL in name or NUL in value:
            shown = name.replace(NUL, "") or "body"
            raise InvalidInput(f"{shown}: NUL character (%00) not allowed", shown)
        if name in fields:
            raise InvalidInput(f"{name}: given more than once (RFC 6749 §3.1)", name)
        fields[name] = value
    return {name: value for name, value in fields.items() if value != ""}
