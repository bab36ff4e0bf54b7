"""``run_factory``: cycles until the stop event (or SIGTERM/SIGINT), then cancels live pilots, reports them.

A cycle that raises is logged and the next one runs on schedule: one bad answer never stops provisioning.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType

from pandawms.factory.backends import BackendConfig, BatchBackend, make_backend
from pandawms.factory.client import FactoryClient, HttpRetry, Stopped
from pandawms.factory.config import FactoryConfig, FactoryQueue
from pandawms.factory.factory import Factory
from pandawms.protocol.http import FileToken

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """In the main thread, SIGTERM and SIGINT set ``stop``; elsewhere signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after this step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def build_backends(queues: Sequence[FactoryQueue]) -> dict[str, BatchBackend]:
    """Each queue's backend, by queue name; queues with equal backend configs share one instance."""
    built: dict[BackendConfig, BatchBackend] = {}
    for queue in queues:
        if queue.backend not in built:
            built[queue.backend] = make_backend(queue.backend)
    return {queue.name: built[queue.backend] for queue in queues}


def run_factory(config: FactoryConfig, *, stop: threading.Event | None = None) -> int:
    """Run the factory until ``stop`` is set or a signal arrives; returns the exit status (0)."""
    stop = stop or threading.Event()
    config.workdir.mkdir(parents=True, exist_ok=True)
    backends = build_backends(config.queues)
    retry = HttpRetry(config.retry_base, config.retry_cap, config.retry_budget)
    with FactoryClient(
        config.server_url,
        retry,
        timeout=config.http_timeout,
        auth=FileToken(config.token_file) if config.token_file else None,
        verify=str(config.ca_file) if config.ca_file else True,
        client_cert=str(config.cert_file) if config.cert_file else None,
    ) as client:
        factory = Factory(config, client, backends, stop=stop)
        log.info(
            "factory %s serving %s on %s, cycle %.1f s",
            config.harvester_id,
            ", ".join(f"{q.name} ({q.backend.type})" for q in config.queues),
            client.base_url,
            config.cycle_interval,
        )
        with _stop_on_signals(stop):
            try:
                _loop(factory, config.cycle_interval, stop)
            finally:
                factory.shutdown()
    return 0


def _loop(factory: Factory, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            factory.cycle()
        except Stopped:
            break
        except Exception:  # error isolation: log, then try again next cycle
            log.exception("factory cycle %d failed", factory.cycles - 1)
        stop.wait(max(0.0, interval - (time.monotonic() - started)))
