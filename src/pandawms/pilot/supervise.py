"""Watches a running payload until it ends: samples it every monitor interval, checks the limits (pure
``limits.check_limits``), and kills it when a limit breaks or someone (server, signal) asked for a kill.
Wakes at once on payload exit or a kill request, and exactly at the walltime deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pandawms.pilot.limits import (
    JobLimits,
    LimitKind,
    ResourceSample,
    Violation,
    check_limits,
    check_walltime,
)
from pandawms.pilot.monitor import PayloadMonitor
from pandawms.pilot.payload import Payload, PayloadExit
from pandawms.pilot.report import Usage
from pandawms.pilot.state import JobState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Supervised:
    exit: PayloadExit | None
    killed: bool  # the pilot killed it (limit, server or signal)
    violation: Violation | None


def usage_of(monitor: PayloadMonitor, sample: ResourceSample, final: PayloadExit | None = None) -> Usage:
    t = monitor.tracker
    cpu = max(t.cpu_time_s, final.cpu_time_s if final else 0.0)
    return Usage(
        max_rss_kb=t.max_rss_kb,
        max_pss_kb=t.max_pss_kb,
        max_vmem_kb=t.max_vmem_kb,
        avg_rss_kb=t.avg_rss_kb,
        avg_pss_kb=t.avg_pss_kb,
        cpu_time_s=cpu,
        max_processes=t.max_processes,
        workdir_mb=sample.workdir_bytes // (1024 * 1024),
    )


class Supervisor:
    """One payload's watch loop; ``usage`` is the latest snapshot (read by the heartbeat thread)."""

    def __init__(
        self,
        payload: Payload,
        monitor: PayloadMonitor,
        state: JobState,
        limits: JobLimits,
        *,
        interval: float,
        grace: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.payload = payload
        self.monitor = monitor
        self.state = state
        self.limits = limits
        self.interval = interval
        self.grace = grace
        self.clock = clock
        self.usage: Usage | None = None
        self._last = ResourceSample()

    def _deadline(self, job_started: float) -> float | None:
        ends = [job_started + self.limits.walltime_s] if self.limits.walltime_s > 0 else []
        if self.limits.pilot_deadline is not None:
            ends.append(self.limits.pilot_deadline)
        return min(ends) if ends else None

    def run(self, job_started: float, payload_started: float) -> Supervised:
        deadline = self._deadline(job_started)
        next_sample = self.clock()
        violation: Violation | None = None
        while True:
            now = self.clock()
            if self.payload.exit is not None or self.state.kill_requested.is_set():
                break
            if now >= next_sample:
                violation = self._sample(job_started, payload_started, now)
                next_sample = now + self.interval
            else:
                violation = check_walltime(self.limits, job_started, now)
            if violation is not None:
                self.state.request_kill(violation.code, violation.diag)
                break
            wake_at = min(next_sample, deadline + 0.01) if deadline is not None else next_sample
            self.state.wakeup.wait(max(wake_at - self.clock(), 0.01))
            self.state.wakeup.clear()
        return self._finish(violation)

    def _sample(self, job_started: float, payload_started: float, now: float) -> Violation | None:
        sample = self.monitor.sample()
        if sample.n_processes:
            self._last = sample
        self.usage = usage_of(self.monitor, self._last)
        return check_limits(sample, self.limits, job_started, payload_started, now)

    def _finish(self, violation: Violation | None) -> Supervised:
        killed = False
        if self.payload.exit is None:
            error = self.state.first_error
            log.warning("killing payload pid %d: %s", self.payload.pid, error.diag if error else "?")
            self.payload.kill(self.grace)
            killed = True
        final = self.payload.wait(timeout=5.0)
        self.payload.cleanup()
        self.usage = usage_of(self.monitor, self._last, final)
        return Supervised(final, killed, violation)


def is_lifetime(violation: Violation | None) -> bool:
    return violation is not None and violation.kind is LimitKind.LIFETIME
