"""A real uvicorn server with the monitor mounted over a seeded SQLite history, for browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.monitor.seed import seed_jobs
from pandawms.server.app import create_app
from tests.livesupport.dbtemplate import migrated_sqlite_url
from tests.livesupport.live_server import serve_in_thread


@dataclass(frozen=True)
class LiveMonitor:
    url: str
    db: Database

    @property
    def api(self) -> str:
        return self.url + "/api/v1"


@contextmanager
def live_monitor(data_dir: Path, jobs: int = 3000) -> Iterator[LiveMonitor]:
    """Seed ``jobs`` jobs ending now (real clock), serve the app with the monitor on a free port."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(migrated_sqlite_url(data_dir / "panda.db"))
    seed_jobs(db, jobs, now=datetime.now(UTC).replace(tzinfo=None))
    config = ServerConfig(data_dir=data_dir, db_url=db.url, agents=False)
    try:
        with serve_in_thread(create_app(config, db)) as url:
            yield LiveMonitor(url, db)
    finally:
        db.dispose()
