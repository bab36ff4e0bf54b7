"""``panda login``'s polling and messages against a real server on loopback whose clock the test moves:
the CLI's sleeps advance the server's clock, so the interval, slow_down and expiry are exact and
nothing really waits. Usage and unreachable-server messages go through the command itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from pandawms.cli import login as login_cli
from pandawms.cli.login import LoginFailed, start, wait
from pandawms.config import AuthConfig, ServerConfig
from pandawms.core.auth import Identity
from pandawms.db.engine import Database
from pandawms.protocol.auth import DeviceAnswer
from pandawms.server.app import create_app
from pandawms.server.issuer import decide_device
from tests.conftest import FrozenClock
from tests.livesupport.dbtemplate import migrated_sqlite_url
from tests.livesupport.live_server import free_port, serve_in_thread

CAROL = Identity(sub="carol", name="Carol")


@dataclass
class World:
    api: str
    config: ServerConfig
    db: Database
    clock: FrozenClock
    http: httpx.Client
    sleeps: list[float]

    def approve(self, code: str, identity: Identity | None = CAROL) -> None:
        decide_device(self.config, code, identity, self.clock(), db=self.db)

    def monotonic(self) -> float:
        return self.clock().timestamp()

    def sleep(self, seconds: float) -> None:
        """The CLI's sleep: the server's clock moves on by as much, at once."""
        self.sleeps.append(seconds)
        self.clock.advance(seconds=seconds)

    def wait(self, started: DeviceAnswer) -> dict[str, Any]:
        return wait(self.http, self.api, started, "panda-cli", sleep=self.sleep, monotonic=self.monotonic)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    db = Database(migrated_sqlite_url(tmp_path / "panda.db"))
    auth = AuthConfig(enabled=True, device_interval=5, device_lifetime=60, device_rate=0)
    config = ServerConfig(agents=False, db_url=db.url, data_dir=tmp_path / "data", auth=auth)
    clock = FrozenClock()
    try:
        with serve_in_thread(create_app(config, db, clock=clock)) as url, httpx.Client(timeout=30) as http:
            yield World(url + "/api/v1", config, db, clock, http, [])
    finally:
        db.dispose()


def test_the_cli_polls_at_the_interval_and_slows_down_when_told(world: World) -> None:
    started = start(world.http, world.api, "panda-cli", "")
    assert started.interval == 5

    def sleep(seconds: float) -> None:
        world.sleeps.append(seconds)
        if len(world.sleeps) == 4:
            world.approve(started.user_code)
        # the second sleep ends early (a suspended laptop's clock, a slow network): the poll is too soon
        world.clock.advance(seconds=1 if len(world.sleeps) == 2 else seconds)

    data = wait(world.http, world.api, started, "panda-cli", sleep=sleep, monotonic=world.monotonic)
    assert data["refresh_token"] and data["access_token"]
    assert world.sleeps == [5, 5, 10, 10]  # pending, slow_down (+5 s), pending, approved


def test_an_expired_code_says_to_log_in_again(world: World) -> None:
    started = start(world.http, world.api, "panda-cli", "")
    with pytest.raises(LoginFailed) as failed:
        world.wait(started)
    assert str(failed.value) == (
        f"the code {started.user_code} expired before it was approved: run panda login again"
    )
    assert failed.value.code == 1 and sum(world.sleeps) == 60  # 12 polls of 5 s, the last one expired


def test_a_refused_login_and_a_bogus_code_are_explained(world: World) -> None:
    started = start(world.http, world.api, "panda-cli", "")
    world.approve(started.user_code, None)
    with pytest.raises(LoginFailed, match=r"the login was refused \(access_denied"):
        world.wait(started)
    bogus = DeviceAnswer.model_validate({**started.model_dump(), "device_code": "y" * 43})
    with pytest.raises(
        LoginFailed, match="the server refused the login: invalid_grant: device_code: unknown"
    ):
        world.wait(bogus)


def _app() -> typer.Typer:
    app = typer.Typer()
    login_cli.register(app)
    app.command("noop")(lambda: None)  # a second command: typer then keeps `login` as a subcommand
    return app


def test_a_bad_server_url_and_an_unreachable_server_exit_with_their_codes() -> None:
    runner = CliRunner()
    bad = runner.invoke(_app(), ["login", "--server", "ftp://x"])
    assert bad.exit_code == 2 and "is not an http(s):// URL" in bad.output
    gone = runner.invoke(_app(), ["login", "--server", f"http://127.0.0.1:{free_port()}"])
    assert gone.exit_code == 3 and "panda login: server not reached" in gone.output
