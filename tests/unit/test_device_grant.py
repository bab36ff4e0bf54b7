"""The device grant's pure half (core/device.py): user codes typed back by a person, and the answer of a
poll by the stored state of its code and the time, as a table."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.core.device import (
    ALPHABET,
    DeviceState,
    PollError,
    PollView,
    decide_poll,
    new_user_code,
    parse_user_code,
    show_user_code,
)
from pandawms.core.errors import InvalidInput

T0 = datetime(2026, 1, 1, 12, 0, 0)
END = T0 + timedelta(minutes=10)


def test_user_codes_are_8_unambiguous_letters_shown_in_two_halves() -> None:
    codes = {new_user_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)
    assert not set(ALPHABET) & set("AEIOU01")
    assert show_user_code("BCDFGHJK") == "BCDF-GHJK"


@pytest.mark.parametrize("typed", ["BCDF-GHJK", "bcdf-ghjk", " bcdf ghjk ", "BCDFGHJK"])
def test_a_typed_code_is_read_back_whatever_its_case_and_separators(typed: str) -> None:
    assert parse_user_code(typed) == "BCDFGHJK"


@pytest.mark.parametrize("typed", ["", "BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "BCDF_GHJK"])
def test_anything_else_is_invalid_input_naming_user_code(typed: str) -> None:
    with pytest.raises(InvalidInput, match="user_code") as err:
        parse_user_code(typed)
    assert err.value.field == "user_code"


P, A, D, U = DeviceState.PENDING, DeviceState.APPROVED, DeviceState.DENIED, DeviceState.USED
CASES = [
    # state, last poll (s after T0), now (s after T0), answer, interval after
    (P, None, 5, PollError.AUTHORIZATION_PENDING, 5),
    (P, 0, 5, PollError.AUTHORIZATION_PENDING, 5),  # exactly the interval later: fine
    (P, 0, 4, PollError.SLOW_DOWN, 10),  # sooner: slow down by 5 s
    (P, 0, 600, PollError.EXPIRED_TOKEN, 5),
    (A, 0, 1, None, 5),  # approved: the tokens, even if polled early
    (A, 0, 600, PollError.EXPIRED_TOKEN, 5),  # too late
    (D, None, 5, PollError.ACCESS_DENIED, 5),
    (D, None, 600, PollError.EXPIRED_TOKEN, 5),
    (U, 0, 5, PollError.INVALID_GRANT, 5),
    (U, 0, 900, PollError.INVALID_GRANT, 5),  # spent stays spent
]


@pytest.mark.parametrize(("state", "last", "at", "error", "interval"), CASES)
def test_a_poll_answers_by_state_and_time(
    state: DeviceState, last: int | None, at: int, error: PollError | None, interval: int
) -> None:
    polled = T0 + timedelta(seconds=last) if last is not None else None
    outcome = decide_poll(PollView(state, END, 5, polled), T0 + timedelta(seconds=at))
    assert (outcome.error, outcome.interval) == (error, interval)
