"""Times on the wire are UTC with an explicit ``Z`` (RFC 3339, as ``format: date-time`` requires).

The task buffer keeps naive UTC datetimes; ``UtcDateTime`` writes them with ``Z`` and reads any offset back
into naive UTC, so code on either side of the wire compares them with its naive-UTC clock unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema


def naive_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def wire_time(value: datetime) -> str:
    return naive_utc(value).isoformat() + "Z"


def not_a_number(value: object) -> object:
    """A query time is an RFC 3339 date-time; pydantic would also read ``0.5`` as seconds since 1970."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError(f"expected a date-time (YYYY-MM-DDTHH:MM:SS[Z]), got {value!r}")
    return value


def a_time_text(value: object) -> object:
    """A time in a request body is RFC 3339 text (the spec's ``format: date-time``), not a number."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a date-time string (YYYY-MM-DDTHH:MM:SS[Z]), got {type(value).__name__}")
    return not_a_number(value)


QueryTime = Annotated[datetime, BeforeValidator(not_a_number), AfterValidator(naive_utc)]
BodyTime = Annotated[
    datetime,
    BeforeValidator(a_time_text),
    AfterValidator(naive_utc),
    PlainSerializer(wire_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
UtcDateTime = Annotated[
    datetime,
    AfterValidator(naive_utc),
    PlainSerializer(wire_time, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
