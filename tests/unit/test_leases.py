"""The lease decision: take a free or expired lease, renew our own, wait for a live one (clock passed in)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pandawms.core.leases import Lease, LeaseVerdict, decide, released

NOW = datetime(2026, 1, 1, 12, 0, 0)
TTL = timedelta(seconds=45)


def lease(holder: str, expires_in: float) -> Lease:
    return Lease("agents", holder, 3, NOW - timedelta(minutes=5), NOW + timedelta(seconds=expires_in))


@pytest.mark.parametrize(
    ("current", "verdict", "reason"),
    [
        (None, LeaseVerdict.TAKE, "free"),
        (lease("me", 10), LeaseVerdict.RENEW, "held by us"),
        (lease("me", -1), LeaseVerdict.TAKE, "our lease lapsed"),
        (lease("other", 10), LeaseVerdict.WAIT, "held by other until 2026-01-01 12:00:10"),
        (lease("other", 0), LeaseVerdict.TAKE, "other let it expire at 2026-01-01 12:00:00"),
        (lease("other", -30), LeaseVerdict.TAKE, "other let it expire"),
    ],
)
def test_decision_table(current: Lease | None, verdict: LeaseVerdict, reason: str) -> None:
    decision = decide(current, "me", NOW, TTL)
    assert decision.verdict is verdict
    assert reason in decision.reason
    assert decision.writes == (verdict is not LeaseVerdict.WAIT)
    assert decision.expires_at == (NOW + TTL if decision.writes else None)


def test_a_live_lease_is_never_taken_however_close_to_its_expiry() -> None:
    # given another holder's lease expiring 1 microsecond from now, then exactly now
    almost = Lease("agents", "other", 1, NOW, NOW + timedelta(microseconds=1))
    assert decide(almost, "me", NOW, TTL).verdict is LeaseVerdict.WAIT
    assert decide(almost, "me", NOW + timedelta(microseconds=1), TTL).verdict is LeaseVerdict.TAKE


def test_a_released_lease_is_free_for_the_next_contender_at_once() -> None:
    gone = Lease("agents", "other", 4, NOW, released(NOW))
    assert decide(gone, "me", NOW, TTL).verdict is LeaseVerdict.TAKE


def test_a_ttl_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl must be > 0"):
        decide(None, "me", NOW, timedelta(0))
