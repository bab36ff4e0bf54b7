"""`panda scope|dataset|rse|replicas` against a real server over HTTP: output, JSON and exit codes."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from pandawms.cli.data import register
from tests.livesupport.live_server import LiveServer, live_server


class Panda:
    def __init__(self, srv: LiveServer) -> None:
        self.srv = srv
        self.app = typer.Typer()
        register(self.app)
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(self.app, [*args, "--server", self.srv.url], env={"COLUMNS": "200"})


@pytest.fixture
def panda(tmp_path: Path) -> Iterator[Panda]:
    with live_server(tmp_path / "srv") as srv:
        yield Panda(srv)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.stderr if result.stderr_bytes else "")
    return result.stdout


def _files(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"evt.{i:03d}.root"
        p.write_bytes(f"payload {i}".encode() * (i + 1))
        out.append(p)
    return out


def test_dataset_lifecycle_from_the_command_line(panda: Panda, tmp_path: Path) -> None:
    assert _ok(panda("scope", "add", "user.alice", "--account", "alice")) == "scope user.alice created\n"
    assert _ok(panda("rse", "add", "LOCAL_DISK", "--site", "LOCAL", "--prefix", "file:///data/local")) == (
        "RSE LOCAL_DISK saved\n"
    )
    assert "LOCAL_DISK\tLOCAL\tdisk\trw\t0/0\tfile:///data/local" in _ok(panda("rse", "list"))
    assert _ok(panda("dataset", "create", "user.alice:data.001")) == "user.alice:data.001\tdataset created\n"
    paths = _files(tmp_path, 3)
    out = _ok(panda("dataset", "add", "user.alice:data.001", *map(str, paths), "--rse", "LOCAL_DISK"))
    assert out == "user.alice:data.001: 3 new file(s), 0 already registered, 3 attached, 3 replica(s)\n"
    listing = json.loads(_ok(panda("dataset", "ls", "user.alice:data.001", "--json")))
    assert listing["did"]["length"] == 3 and listing["did"]["state"] == "open"
    first = listing["contents"][0]
    data = paths[0].read_bytes()
    assert (first["name"], first["bytes"], first["adler32"]) == (
        "evt.000.root",
        len(data),
        f"{zlib.adler32(data):08x}",
    )
    text = _ok(panda("dataset", "ls", "user.alice:data.001"))
    assert text.splitlines()[0].startswith("user.alice:data.001  dataset  open  3 item(s)")
    assert _ok(panda("dataset", "ls", "user.alice")) == "user.alice:data.001\tdataset\topen\n"
    reps = _ok(panda("replicas", "user.alice:evt.001.root"))
    assert (
        reps == "user.alice:evt.001.root\tLOCAL_DISK\tavailable\tfile:///data/local/user.alice/evt.001.root\n"
    )
    assert len(json.loads(_ok(panda("replicas", "user.alice:data.001", "--json")))) == 3
    again = _ok(panda("dataset", "add", "user.alice:data.001", str(paths[0])))
    assert again == "user.alice:data.001: 0 new file(s), 1 already registered, 0 attached, 0 replica(s)\n"
    paths[0].write_bytes(b"changed")
    changed = panda("dataset", "add", "user.alice:data.001", str(paths[0]))
    assert (
        changed.exit_code == 2
        and "user.alice:evt.000.root is already registered with another" in changed.stderr
    )
    assert _ok(panda("dataset", "close", "user.alice:data.001")) == "user.alice:data.001\taccepted\tclosed\n"
    closed = panda("dataset", "add", "user.alice:data.001", str(paths[1]))
    assert (
        closed.exit_code == 2 and "user.alice:data.001 is closed: its contents cannot change" in closed.stderr
    )


def test_refusals_and_bad_input_have_exit_codes(panda: Panda, tmp_path: Path) -> None:
    unknown_scope = panda("dataset", "create", "nobody:x")
    assert unknown_scope.exit_code == 2 and "unknown scope(s): nobody" in unknown_scope.stderr
    bad = panda("dataset", "create", "no-colon")
    assert bad.exit_code == 2 and "expected scope:name" in bad.stderr
    _ok(panda("scope", "add", "user.bob"))
    _ok(panda("dataset", "create", "user.bob:d1", "user.bob:d2"))
    paths = _files(tmp_path, 1)
    no_rse = panda("dataset", "add", "user.bob:d1", str(paths[0]), "--rse", "NOWHERE")
    assert no_rse.exit_code == 2 and "unknown RSE(s) in rse: NOWHERE" in no_rse.stderr
    missing = panda("dataset", "add", "user.bob:d1", str(tmp_path / "nope.root"))
    assert missing.exit_code == 2 and "nope.root: no such file" in missing.stderr
    long_scope = panda("dataset", "add", "user.bob:d1", str(paths[0]), "--scope", "s" * 30)
    assert long_scope.exit_code == 2 and "evt.000.root" in long_scope.stderr, long_scope.output
    assert "Traceback" not in long_scope.output
    _ok(panda("dataset", "add", "user.bob:d1", str(paths[0])))
    _ok(panda("dataset", "freeze", "user.bob:d2"))
    rm = panda("dataset", "rm", "user.bob:d1", "user.bob:d2")
    assert rm.exit_code == 1
    assert "not empty (1 attached)" in rm.stdout and "is frozen: it is never deleted" in rm.stdout
    assert "2 of 2 refused" in rm.stderr
    none = panda("replicas", "user.bob:d1")
    assert none.exit_code == 1 and "user.bob:d1 has no replicas" in none.stderr


def test_unreachable_server_exits_3(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["rse", "list", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 3 and "cannot reach the server" in result.stderr
