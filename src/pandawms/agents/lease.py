"""The agents' lease for this process: a thread that takes or renews it, and the gate the runner asks.

Every server (and ``panda agents``) runs an AgentRunner, but its agents run only while this process
holds the database lease ``agents`` (one lease for the whole runner: the agents share one thread and
one ordering, so they move between processes together). The keeper renews in its own thread, so a
long agent batch never lets the lease lapse; the gate closes ``renew_interval`` s before the expiry
others see (measured on this process's monotonic clock from the start of the last renewal), so a
holder cut off from the database stops starting runs before anyone else may take over. A run that
started before the gate closed may still finish after a take-over: agents are idempotent and write
through compare-and-set, so such an overlap repeats nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pandawms.config import LeaseConfig
from pandawms.core.leases import Lease, LeaseVerdict
from pandawms.db.engine import Database
from pandawms.services import leases

log = logging.getLogger("pandawms.agents.lease")
AGENTS_LEASE = "agents"


def holder_id() -> str:
    """This process among all servers: host, pid and a nonce (a restarted pid is a new holder)."""
    return f"{socket.gethostname()[:96]}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseKeeper:
    """Takes, renews and finally releases one lease; ``held()`` is the runner's gate."""

    def __init__(
        self,
        db: Database,
        config: LeaseConfig,
        *,
        clock: Callable[[], datetime],
        name: str = AGENTS_LEASE,
        holder: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder or holder_id()
        self.ttl = timedelta(seconds=config.ttl)
        self.renew_interval = config.renew_interval
        self.clock = clock
        self.monotonic = monotonic
        self._margin = config.ttl - config.renew_interval
        self._lock = threading.Lock()
        self._lease: Lease | None = None
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def lease(self) -> Lease | None:
        with self._lock:
            return self._lease

    def held(self) -> bool:
        with self._lock:
            return self._lease is not None and self.monotonic() < self._valid_until

    def step(self) -> bool:
        """One attempt to take or renew; whether we hold the lease after it. A database error keeps
        what we had (the gate closes by itself when renewals keep failing)."""
        started = self.monotonic()
        now = self.clock()
        try:
            with self.db.write() as conn:
                outcome = leases.hold(conn, self.name, self.holder, now, self.ttl)
        except Exception as exc:  # the database is away: retry next interval, the gate times out alone
            log.warning("lease %s: could not renew: %s", self.name, exc)
            return self.held()
        with self._lock:
            had = self._lease is not None
            self._lease = outcome.held
            self._valid_until = started + self._margin if outcome.held is not None else 0.0
        if outcome.held is not None and (not had or outcome.decision.verdict is LeaseVerdict.TAKE):
            log.info("lease %s: %s holds it (%s)", self.name, self.holder, outcome.decision.reason)
        elif outcome.held is None and had:
            log.warning("lease %s: lost (%s)", self.name, outcome.decision.reason)
        return outcome.held is not None

    def start(self) -> None:
        """Try once now (a lone server runs its agents at once), then keep trying in a thread."""
        self.step()
        self._thread = threading.Thread(target=self._loop, name="panda-lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.renew_interval):
            self.step()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop renewing and release the lease (the next process takes it at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            held, self._lease, self._valid_until = self._lease, None, 0.0
        if held is None:
            return
        try:
            with self.db.write() as conn:
                leases.release(conn, held, self.clock())
        except Exception as exc:  # it expires by itself
            log.warning("lease %s: could not release: %s", self.name, exc)
