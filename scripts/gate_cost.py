"""The auth gate's own CPU per pilot call, in microseconds: resolves what the dispatch bench cannot.

`panda bench dispatch --auth` runs within a few per cent of itself at best on this machine; this drives
one server's AuthGate in process around a no-op app (a cached pilot token, realistic bodies, a job known
dispatched) and, where the code has them, the fast path's checks on the parsed request, 30,000 times
each. Multiply by the calls per cycle (one acquire, two updates in the bench) and divide by the bench's
server CPU per cycle with auth off for the share.

Usage: PYTHONPATH=SRC_DIR python scripts/gate_cost.py [N]   (SRC_DIR: a checkout's src/, to compare two)
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pandawms.config import AuthConfig, ServerConfig
from pandawms.core.access import JobFacts
from pandawms.core.auth import Identity, Role
from pandawms.core.states import JobStatus
from pandawms.db.engine import Database
from pandawms.protocol.pilot import AcquireRequest, UpdateRequest
from pandawms.server import fastpath
from pandawms.server.app import create_app
from pandawms.server.auth import AuthGate
from pandawms.server.issuer import create_token
from pandawms.server.policies import policy_for

UPDATE, ACQUIRE = "/api/v1/pilot/update_job", "/api/v1/pilot/acquire_jobs"
BODIES = {
    UPDATE: b'{"job_id": 7, "job_status": "running", "site_name": "SMALL", "node": "n1", "pilot_id": "p-1"}',
    ACQUIRE: b'{"site_name": "SMALL", "node": "n1", "pilot_id": "p-1", "n_jobs": 1}',
}
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def _noop(scope: dict[str, Any], receive: Any, send: Any) -> None:
    return None


async def _per_call(app: App, path: str, headers: list[tuple[bytes, bytes]], n: int) -> float:
    body = BODIES[path]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"", "headers": headers}
    start = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, None)
    return (time.process_time() - start) / n * 1e6


async def main(n: int) -> None:
    workdir = Path(tempfile.mkdtemp())
    db = Database(f"sqlite:///{workdir}/db.sqlite")
    auth = AuthConfig(enabled=True)
    config = ServerConfig(agents=False, db_url=db.url, data_dir=workdir / "data", auth=auth)
    now = datetime.now(UTC).replace(tzinfo=None)
    app = create_app(config, db)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
    )
    await outbox.get()
    ctx = app.state.ctx
    pilot = Identity(sub="pilot-small", roles=frozenset({Role.PILOT}), queue="SMALL")
    token = create_token(config, pilot, now, lifetime=timedelta(days=1), db=db).access_token
    headers = [
        (b"host", b"127.0.0.1"),
        (b"user-agent", b"python-httpx/0.28"),
        (b"accept", b"*/*"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + token.encode()),
        (b"content-length", b"90"),
    ]
    deferred = getattr(fastpath, "PATHS", None)  # older code: the gate made every check itself
    gate = AuthGate(_noop, ctx) if deferred is None else AuthGate(_noop, ctx, deferred=deferred)
    seen = getattr(ctx, "dispatched", None)
    if seen is None:  # older code: the gate's own cache
        seen = gate.dispatched  # type: ignore[attr-defined]
    seen.learn([JobFacts(7, "alice", "", "managed", "SMALL", JobStatus.RUNNING)])
    for path in (ACQUIRE, UPDATE):
        print(f"{await _per_call(gate, path, headers, n):7.2f} us  gate, {path}")
    caller = ctx.keys.verify(token, gate.settings, now)
    checks = (
        (UPDATE, UpdateRequest(job_id=7, job_status="running")),
        (ACQUIRE, AcquireRequest(site_name="SMALL")),
    )
    for path, request in checks:
        parsed = getattr(policy_for(path, False), "parsed", None)
        if parsed is not None:
            start = time.process_time()
            for _ in range(n):
                parsed(db.read, seen, caller, request)
            print(f"{(time.process_time() - start) / n * 1e6:7.2f} us  fast path's parsed check, {path}")
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30_000))
