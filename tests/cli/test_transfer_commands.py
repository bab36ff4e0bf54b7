"""`panda rule add|ls|rm` and `panda transfers` against a real server over HTTP, with a transfer agent
copying between two file:// RSEs on the server's database: output fits 80 columns, exit codes."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from pandawms.agents.runner import utcnow
from pandawms.agents.transfers import TransferAgent
from pandawms.cli.transfers import register
from pandawms.config import ServerConfig, TransferConfig
from pandawms.db.engine import Database
from pandawms.ddm.registry import StorageConfig, build_registry
from tests.cli.test_data_commands import Panda as DataPanda
from tests.livesupport.live_server import LiveServer, live_server


class Panda(DataPanda):
    """The catalog commands and the rule/transfer commands."""

    def __init__(self, srv: LiveServer) -> None:
        super().__init__(srv)
        register(self.app)


@pytest.fixture
def panda(tmp_path: Path) -> Iterator[Panda]:
    with live_server(tmp_path / "srv") as srv:
        yield Panda(srv)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.stderr if result.stderr_bytes else "")
    return result.stdout


def _setup(panda: Panda, tmp_path: Path) -> None:
    src, dst = tmp_path / "SRC", tmp_path / "DST"
    files = []
    for i in range(3):
        p = src / "user.alice" / f"evt.{i:03d}.root"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(f"payload {i} ".encode() * 5000)
        files.append(str(p))
    _ok(panda("scope", "add", "user.alice"))
    _ok(panda("rse", "add", "SRC_DISK", "--site", "A", "--prefix", src.as_uri()))
    _ok(panda("rse", "add", "DST_DISK", "--site", "B", "--prefix", dst.as_uri()))
    _ok(panda("rse", "add", "RO_DISK", "--site", "B", "--prefix", dst.as_uri(), "--no-write"))
    _ok(panda("dataset", "create", "user.alice:data.001"))
    _ok(panda("dataset", "add", "user.alice:data.001", *files, "--rse", "SRC_DISK"))


def test_rules_and_transfers_from_the_command_line(panda: Panda, tmp_path: Path) -> None:
    _setup(panda, tmp_path)
    added = _ok(panda("rule", "add", "user.alice:data.001", "DST_DISK", "--lifetime", "3600"))
    assert added == "rule 1: user.alice:data.001 -> DST_DISK replicating (0 ok, 3 replicating)\n"
    listing = _ok(panda("rule", "ls"))
    assert listing.splitlines()[1].split() == ["1", "user.alice:data.001", "DST_DISK", "replicating", "0/3/0"]
    before = _ok(panda("transfers"))
    assert "(to choose)    DST_DISK       3" in before and before.count(" queued ") == 3
    db = Database(ServerConfig(data_dir=panda.srv.data_dir).resolved_db_url)
    agent = TransferAgent(
        db, build_registry(StorageConfig()), TransferConfig(), clock=utcnow, rng=random.Random(1)
    )
    try:
        assert agent.run_once(utcnow()) == 3
    finally:
        agent.close()
        db.dispose()
    after = _ok(panda("transfers", "--rule", "1"))
    assert after.count(" done ") == 3 and "SRC_DISK       DST_DISK       0" in after
    assert all(len(line) <= 80 for line in after.splitlines() + listing.splitlines())
    assert json.loads(_ok(panda("rule", "ls", "user.alice:data.001", "--json")))[0]["state"] == "ok"
    assert (tmp_path / "DST" / "user.alice" / "evt.002.root").read_bytes() == b"payload 2 " * 5000
    assert _ok(panda("rule", "rm", "1")) == "rule 1 (user.alice:data.001 -> DST_DISK) deleted\n"
    assert _ok(panda("rule", "ls")).splitlines()[1:] == []


def test_bad_input_exits_2_with_the_servers_reason(panda: Panda, tmp_path: Path) -> None:
    _setup(panda, tmp_path)
    refused = panda("rule", "add", "user.alice:data.001", "RO_DISK")
    assert refused.exit_code == 2 and "RSE RO_DISK is not available for writing" in refused.stderr
    unknown = panda("rule", "add", "user.alice:data.001", "NOWHERE")
    assert unknown.exit_code == 2 and "unknown RSE 'NOWHERE'" in unknown.stderr
    assert panda("rule", "add", "no-colon", "DST_DISK").exit_code == 2
    missing = panda("rule", "rm", "42")
    assert missing.exit_code == 2 and "no rule 42" in missing.stderr
    assert _ok(panda("rule", "ls")).splitlines()[1:] == []
