"""A server with auth on, its tokens per role, and a snapshot of the task buffer ("nothing changed")."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from pandawms.config import AuthConfig, ServerConfig
from pandawms.core.auth import Identity, Role
from pandawms.db.engine import Database
from pandawms.db.schema import metadata
from pandawms.server.app import create_app
from pandawms.server.issuer import create_token
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues

IDENTITIES: dict[str, Identity] = {
    "alice": Identity(sub="sub-alice", name="alice", vo="atlas", roles=frozenset({Role.USER})),
    "bob": Identity(sub="sub-bob", name="bob", vo="atlas", roles=frozenset({Role.USER})),
    "production": Identity(sub="sub-prod", name="prodsys", roles=frozenset({Role.PRODUCTION})),
    "pilot": Identity(sub="pilot-small", roles=frozenset({Role.PILOT}), queue="SMALL"),
    "factory": Identity(sub="factory-1", roles=frozenset({Role.FACTORY})),
    "admin": Identity(sub="sub-admin", name="root", roles=frozenset({Role.ADMIN})),
}
ROLE_OF = {"alice": Role.USER, "production": Role.PRODUCTION, "pilot": Role.PILOT, "factory": Role.FACTORY}
ROLE_OF["admin"] = Role.ADMIN


@dataclass
class Secure:
    client: TestClient
    config: ServerConfig
    db: Database
    clock: FrozenClock
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def token(self, identity: Identity, lifetime: timedelta | None = None) -> str:
        return create_token(self.config, identity, self.clock(), lifetime=lifetime, db=self.db).access_token


def secure_config(db: Database, tmp_path: Path, **auth: Any) -> ServerConfig:
    return ServerConfig(
        agents=False,
        db_url=db.url,
        data_dir=tmp_path / "data",
        auth=AuthConfig(enabled=True, **auth),
    )


def secure_server(
    db: Database, clock: FrozenClock, tmp_path: Path, *, fast_path: bool = True, **auth: Any
) -> Iterator[Secure]:
    """``fast_path=False``: the pilot's hot calls go to the FastAPI routes, checked by the gate alone."""
    add_queues(db, DEFAULT_QUEUES, clock())
    config = secure_config(db, tmp_path, **auth)
    app = create_app(config, db, clock=clock, fast_path=fast_path)
    with TestClient(app) as client:
        s = Secure(client, config, db, clock)
        s.tokens = {who: s.token(i) for who, i in IDENTITIES.items()}
        yield s


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log (refusals must leave all of it as it was)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.read() as conn:
        for name, table in metadata.tables.items():
            if name != "audit_log":
                out[name] = sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
    return out
