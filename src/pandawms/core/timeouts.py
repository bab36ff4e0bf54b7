"""Watchdog timeout rules as data (reference states.md §6.1): which stale jobs end, how, with what error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pandawms.core.specs import ErrorComponent
from pandawms.core.states import JobStatus

S = JobStatus


@dataclass(frozen=True, slots=True)
class TimeoutRule:
    name: str
    statuses: tuple[JobStatus, ...]
    after: timedelta
    target: JobStatus
    component: ErrorComponent
    code: int
    diag: str

    def cutoff(self, now: datetime) -> datetime:
        return now - self.after


def default_rules(
    *,
    lost_heartbeat: int,
    sent_timeout: int,
    holding_timeout: int,
    transferring_timeout: int,
    activated_expiry: int,
    defined_timeout: int,
    assigned_timeout: int,
    waiting_timeout: int,
) -> tuple[TimeoutRule, ...]:
    """The rule table, thresholds in seconds from configuration.

    Jobs waiting for data are given PanDA's long limit for the jobsDefined4 states (7 d, states.md §6.1):
    ``assigned`` while its ``_dis`` rule (7-day lifetime) copies, ``waiting`` while another job produces
    an input; the clock is the last change of the job (the agents re-checking them do not touch it)."""
    jd, tb = ErrorComponent.JOBDISPATCHER, ErrorComponent.TASKBUFFER
    return (
        TimeoutRule(
            "lost_heartbeat",
            (S.STARTING, S.RUNNING),
            timedelta(seconds=lost_heartbeat),
            S.FAILED,
            jd,
            100,
            f"lost heartbeat: no update for {lost_heartbeat} s",
        ),
        TimeoutRule(
            "sent_timeout",
            (S.SENT,),
            timedelta(seconds=sent_timeout),
            S.FAILED,
            jd,
            102,
            f"sent to a pilot but no update within {sent_timeout} s",
        ),
        TimeoutRule(
            "holding_timeout",
            (S.HOLDING,),
            timedelta(seconds=holding_timeout),
            S.FAILED,
            jd,
            103,
            f"timeout in holding after {holding_timeout} s",
        ),
        TimeoutRule(
            "transferring_timeout",
            (S.TRANSFERRING,),
            timedelta(seconds=transferring_timeout),
            S.FAILED,
            jd,
            104,
            f"timeout in transferring after {transferring_timeout} s",
        ),
        TimeoutRule(
            "activated_expiry",
            (S.ACTIVATED,),
            timedelta(seconds=activated_expiry),
            S.CLOSED,
            tb,
            102,
            f"expired: activated for more than {activated_expiry} s without a pilot",
        ),
        TimeoutRule(
            "assigned_expiry",
            (S.ASSIGNED,),
            timedelta(seconds=assigned_timeout),
            S.CLOSED,
            tb,
            102,
            f"expired: inputs not at the queue within {assigned_timeout} s",
        ),
        TimeoutRule(
            "waiting_expiry",
            (S.WAITING,),
            timedelta(seconds=waiting_timeout),
            S.CLOSED,
            tb,
            102,
            f"expired: inputs not produced within {waiting_timeout} s",
        ),
        TimeoutRule(
            "defined_expiry",
            (S.DEFINED,),
            timedelta(seconds=defined_timeout),
            S.CLOSED,
            tb,
            102,
            f"expired: not brokered/activated within {defined_timeout} s",
        ),
    )
