"""The one loop that runs agents: interval with jitter, stop signal, error isolation and counters.

Agents are ``Agent(name, interval, run_once)`` where ``run_once(now) -> int`` returns how many objects
it acted on; the runner owns the clock, so agents are tested by calling run_once with any ``now``.
With a ``lease`` (agents/lease.py) agents run only while this process holds it: every server runs a
runner, one of them runs the agents.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pandawms.core.errors import Transient

if TYPE_CHECKING:
    from pandawms.agents.lease import LeaseKeeper

log = logging.getLogger("pandawms.agents")


def utcnow() -> datetime:
    """Naive UTC, the task buffer's time convention."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class AgentStats:
    runs: int = 0
    errors: int = 0
    acted: int = 0
    last_run: datetime | None = None
    last_error: str = ""
    last_duration_s: float = 0.0


@dataclass
class Agent:
    name: str
    interval: float
    run_once: Callable[[datetime], int]
    stats: AgentStats = field(default_factory=AgentStats)
    next_due: float = 0.0


class AgentRunner:
    """Runs agents in one background thread until stop(); an agent's exception never stops the others."""

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        clock: Callable[[], datetime] = utcnow,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        lease: LeaseKeeper | None = None,
    ) -> None:
        self.agents = list(agents)
        self.lease = lease
        self.clock = clock
        self.jitter = jitter
        self.rng = rng or random.Random()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self, monotonic_now: float) -> None:
        for agent in self.agents:
            if self.lease is not None and not self.lease.held():
                return  # another process runs the agents (or we could not renew): start nothing
            if monotonic_now >= agent.next_due:
                self._run(agent)
                spread = agent.interval * self.jitter
                agent.next_due = monotonic_now + agent.interval + self.rng.uniform(-spread, spread)

    def _run(self, agent: Agent) -> None:
        started = time.monotonic()
        now = self.clock()
        try:
            agent.stats.acted += agent.run_once(now)
        except Transient as exc:
            agent.stats.errors += 1
            agent.stats.last_error = str(exc)
            log.warning("agent %s: transient error, will retry: %s", agent.name, exc)
        except Exception as exc:  # error isolation: log and keep the other agents running
            agent.stats.errors += 1
            agent.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("agent %s failed", agent.name)
        agent.stats.runs += 1
        agent.stats.last_run = now
        agent.stats.last_duration_s = time.monotonic() - started

    def start(self) -> None:
        if self.lease is not None:
            self.lease.start()
        self._thread = threading.Thread(target=self._loop, name="panda-agents", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due(time.monotonic())
            self._stop.wait(min((a.interval for a in self.agents), default=1.0) / 4)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.lease is not None:  # after the last run: release, so the next holder starts at once
            self.lease.stop(timeout)
