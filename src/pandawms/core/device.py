"""The device authorization grant (RFC 8628), pure: user codes and what one poll of the token endpoint gets.

A user code is 8 characters of RFC 8628's base-20 consonant alphabet (no vowels: no words; no 0/O, 1/I)
shown as ``XXXX-XXXX`` (34 bits); it is read back case-, dash- and space-insensitively. A poll answers
by the stored state of its code and ``now``: expired, denied, already used, pending (``slow_down`` when
it came sooner than the interval after the previous one, which then grows by SLOW_DOWN_S) or approved.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pandawms.core.errors import InvalidInput

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_S = 5  # RFC 8628 §3.5: each slow_down adds 5 s to the interval
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceState(StrEnum):
    PENDING = "pending"  # waiting for the user
    APPROVED = "approved"  # the user (or an admin) approved: the next poll gets the tokens
    DENIED = "denied"  # the user refused at the identity provider
    USED = "used"  # the tokens were handed out: the code is spent


class PollError(StrEnum):
    """RFC 8628 §3.5's answers (and RFC 6749's invalid_grant for unknown or spent codes)."""

    AUTHORIZATION_PENDING = "authorization_pending"
    SLOW_DOWN = "slow_down"
    EXPIRED_TOKEN = "expired_token"
    ACCESS_DENIED = "access_denied"
    INVALID_GRANT = "invalid_grant"


def new_user_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(USER_CODE_LENGTH))


def show_user_code(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def parse_user_code(text: str) -> str:
    """``bcdf-ghjk`` -> ``BCDFGHJK``; InvalidInput naming ``user_code`` for anything else."""
    code = "".join(text.split()).replace("-", "").upper()
    if len(code) != USER_CODE_LENGTH or any(c not in ALPHABET for c in code):
        raise InvalidInput(
            f"user_code: expected {USER_CODE_LENGTH} letters of {ALPHABET} (XXXX-XXXX), got {text[:32]!r}",
            "user_code",
        )
    return code


@dataclass(frozen=True, slots=True)
class PollView:
    """What a poll needs of a stored code."""

    state: DeviceState
    expires_at: datetime
    interval: int
    last_polled_at: datetime | None


@dataclass(frozen=True, slots=True)
class PollOutcome:
    error: PollError | None  # None: hand out the tokens
    interval: int  # the interval from now on
    message: str


def decide_poll(code: PollView, now: datetime) -> PollOutcome:
    """The answer to one poll of a stored code at ``now``."""
    keep = code.interval
    if code.state is DeviceState.USED:
        return PollOutcome(PollError.INVALID_GRANT, keep, "device_code: already used")
    if now >= code.expires_at:
        return PollOutcome(PollError.EXPIRED_TOKEN, keep, "device_code: expired; start a new login")
    if code.state is DeviceState.DENIED:
        return PollOutcome(PollError.ACCESS_DENIED, keep, "device_code: the user refused the login")
    if code.state is DeviceState.APPROVED:
        return PollOutcome(None, keep, "approved")
    if code.last_polled_at is not None and now - code.last_polled_at < timedelta(seconds=code.interval):
        slower = code.interval + SLOW_DOWN_S
        return PollOutcome(PollError.SLOW_DOWN, slower, f"device_code: poll every {slower} s at most")
    return PollOutcome(PollError.AUTHORIZATION_PENDING, keep, "device_code: waiting for the user's approval")
