"""A private, throw-away PostgreSQL server for tests and benchmarks (`panda bench ... --backend postgresql`).

Usage::

    with PostgresServer(tmp_dir) as pg:
        url = pg.create_database("t1")  # postgresql+psycopg://USER@/t1?host=SOCKETDIR&port=PORT

How it works
------------
* Binaries come from the Debian layout ``/usr/lib/postgresql/<version>/bin`` (the newest version with an
  ``initdb`` wins); ``scripts/test-deps.sh`` installs them. ``PANDA_PG_BINDIR`` overrides the lookup.
* The server listens only on a unix socket in a private directory (``listen_addresses=''``, no TCP). The
  port number only names the socket file (``.s.PGSQL.<port>``), so servers never collide with each other
  (pytest-xdist workers) or with a system PostgreSQL.
* Settings favour speed over durability: ``fsync=off``, ``synchronous_commit=off``,
  ``full_page_writes=off``, ``initdb --no-sync``; trust authentication, UTF8, C locale.
* Root: ``initdb`` and ``postgres`` refuse to run as root. When ``os.geteuid() == 0`` every server command
  runs through ``runuser -u postgres --`` and the server's files belong to the ``postgres`` system user
  (created by the Debian package); clients connect as the ``postgres`` role. Otherwise everything runs
  as the current user, whose name is also the role.
* Where the files go: the server user must be able to traverse every directory above its data and socket
  directories, and a unix socket path must fit in 107 bytes. Temporary directories from pytest and
  ``tempfile.mkdtemp`` are 0700 and belong to root, so as root the ``postgres`` user cannot enter them.
  Rather than loosening the permissions of directories we do not own, each server makes a fresh *run
  directory* (``tempfile.mkdtemp``, then chowned to the server user and chmod 0755) inside ``base_dir``
  when ``base_dir`` is usable, and otherwise directly in the system temp directory (``/tmp``, which anyone
  can traverse). The run directory holds ``data/``, ``socket/`` and ``server.log`` and is deleted by
  ``stop()`` unless ``keep_files=True``. After a failed ``start()`` it is kept for inspection.
* ``stop()`` is idempotent and makes sure the postmaster is gone: ``pg_ctl stop -m fast``, then
  ``-m immediate``, then SIGKILL. An ``atexit`` hook stops servers that were never stopped explicitly.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from pandawms.bench.pgfiles import (
    PostgresServerError,
    RunLayout,
    free_port,
    hand_over,
    make_run_dir,
    pid_alive,
    server_owner,
    wait_dead,
)

__all__ = ["PG_ROOT", "PostgresServer", "PostgresServerError", "find_pg_bindir"]

PG_ROOT = Path("/usr/lib/postgresql")
BINDIR_ENV = "PANDA_PG_BINDIR"
_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")

DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
}


def find_pg_bindir(root: Path = PG_ROOT) -> Path:
    """The newest ``<root>/<version>/bin`` that has ``initdb``, ``pg_ctl`` and ``postgres``.

    ``$PANDA_PG_BINDIR``, when set, is used instead of searching.
    """
    override = os.environ.get(BINDIR_ENV)
    candidates = [Path(override)] if override else sorted(root.glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _REQUIRED_BINARIES):
            return bindir
    where = f"${BINDIR_ENV}={override}" if override else f"{root}/<version>/bin"
    raise RuntimeError(
        f"PostgreSQL server binaries not found: no executable {', '.join(_REQUIRED_BINARIES)} in {where}. "
        "Run scripts/test-deps.sh (installs the Debian 'postgresql' package)."
    )


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Sort key for ``.../<version>/bin``: "9.6" < "15" < "16"; non-numeric versions sort first."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (-1,)


def _conf_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


class PostgresServer:
    """A private PostgreSQL server on a unix socket; see the module docstring for the details."""

    def __init__(
        self,
        base_dir: Path | str,
        *,
        port: int | None = None,
        bindir: Path | None = None,
        settings: Mapping[str, str] | None = None,
        keep_files: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.port = port if port is not None else free_port()
        self.keep_files = keep_files
        self.timeout = timeout
        self._bindir = bindir
        self._settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self._owner = server_owner()
        self.user = self._owner.name if self._owner else pwd.getpwuid(os.geteuid()).pw_name
        self._layout: RunLayout | None = None
        self._pid: int | None = None
        self._running = False

    # -- paths and URLs -------------------------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_pg_bindir()
        return self._bindir

    @property
    def layout(self) -> RunLayout:
        if self._layout is None:
            raise PostgresServerError("the PostgreSQL server has not been started")
        return self._layout

    @property
    def run_dir(self) -> Path:
        return self.layout.run_dir

    @property
    def data_dir(self) -> Path:
        return self.layout.data_dir

    @property
    def socket_dir(self) -> Path:
        return self.layout.socket_dir

    @property
    def log_file(self) -> Path:
        return self.layout.log_file

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while the server runs (or after a failed stop)."""
        return self._pid

    @property
    def running(self) -> bool:
        return self._running

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """``postgresql+psycopg://USER@/DBNAME?host=SOCKETDIR&port=PORT`` for database ``dbname``."""
        user, db, host = (
            quote(self.user, safe=""),
            quote(dbname, safe=""),
            quote(str(self.socket_dir), safe="/"),
        )
        return f"postgresql+psycopg://{user}@/{db}?host={host}&port={self.port}"

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create a fresh cluster and start it; returns ``self``."""
        if self._layout is not None:
            raise PostgresServerError("a PostgresServer can only be started once")
        bindir = self.bindir
        run_dir = make_run_dir(self.base_dir, self._owner)
        self._layout = RunLayout(run_dir, run_dir / "data", run_dir / "socket", run_dir / "server.log")
        self.socket_dir.mkdir()
        hand_over(self.socket_dir, self._owner)
        try:
            initdb_args = ["-U", self.user, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
            self._run([bindir / "initdb", "-D", self.data_dir, *initdb_args])
            self._write_settings()
            self._running = True  # from here on, stop() must clean up
            atexit.register(self._stop_at_exit)
            self._pg_ctl("start", "-l", self.log_file, "-t", str(int(self.timeout)))
            self._pid = self._read_pid()
        except BaseException:
            with contextlib.suppress(PostgresServerError):
                self._kill()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and remove its files (unless ``keep_files``); safe to call more than once."""
        if not self._running:
            return
        self._pg_ctl("stop", "-m", "fast", "-t", "30", check=False)
        self._kill()
        if not self.keep_files:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------------------------------

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[TupleRow]:
        """A plain psycopg connection (autocommit) to ``dbname``."""
        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user=self.user, dbname=dbname, autocommit=True
        )

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` and return its SQLAlchemy URL.

        ``template`` names a database to copy (``CREATE DATABASE ... TEMPLATE``), e.g. one migrated once
        for many tests; nobody may be connected to it (PostgreSQL waits 5 s for them, then fails).
        """
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            stmt = stmt + sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.connect() as conn:
            conn.execute(stmt)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (if it exists), disconnecting its sessions."""
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def pg_ctl_status(self) -> bool:
        """Whether ``pg_ctl status`` reports a running server for the data directory."""
        if self._layout is None or not self.data_dir.exists():
            return False
        return self._pg_ctl("status", check=False) == 0

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log ("" if there is none yet)."""
        try:
            return _tail(self.log_file.read_text(errors="replace"), lines)
        except (OSError, PostgresServerError):
            return ""

    # -- internals ------------------------------------------------------------------------------------

    def _command(self, args: Sequence[str | Path]) -> list[str]:
        prefix: list[str] = []
        if self._owner is not None:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            prefix = [runuser, "-u", self._owner.name, "--"]
        return prefix + [str(a) for a in args]

    def _pg_ctl(self, action: str, *args: str | Path, check: bool = True) -> int:
        """``pg_ctl -D DATA -w -s ACTION ARGS...`` (waits for the action to complete, errors only)."""
        return self._run(
            [self.bindir / "pg_ctl", "-D", self.data_dir, "-w", "-s", action, *args], check=check
        )

    def _run(self, args: Sequence[str | Path], *, check: bool = True) -> int:
        """Run a server command (as the server user); its exit code, or -1 if it could not run."""
        cmd = self._command(args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        try:
            proc = subprocess.run(
                cmd, cwd=self.run_dir, env=env, capture_output=True, text=True, timeout=self.timeout + 30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            if check:
                raise self._error(f"{' '.join(cmd)} failed: {exc}") from exc
            return -1
        if check and proc.returncode != 0:
            output = _tail((proc.stdout + proc.stderr).strip(), 30)
            raise self._error(f"{' '.join(cmd)} exited with {proc.returncode}:\n{output}")
        return proc.returncode

    def _error(self, message: str) -> PostgresServerError:
        log = self.log_tail()
        details = f"\n--- server log {self.log_file} (tail) ---\n{log}" if log else ""
        return PostgresServerError(f"{message}\n(files kept in {self.run_dir}){details}")

    def _write_settings(self) -> None:
        settings = {
            **self._settings,
            "listen_addresses": "",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        lines = [f"{key} = {_conf_value(value)}" for key, value in settings.items()]
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# --- pandawms/bench/pgserver.py ---\n" + "\n".join(lines) + "\n")

    def _read_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _kill(self) -> None:
        """Make sure no postmaster of ours is left: ``pg_ctl -m immediate``, then SIGKILL."""
        pid = self._read_pid() or self._pid
        if pid is not None and pid_alive(pid) and self._layout is not None:
            self._pg_ctl("stop", "-m", "immediate", "-t", "10", check=False)
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not wait_dead(pid, 10):
                self._pid = pid
                raise self._error(f"PostgreSQL server (pid {pid}) is still running after SIGKILL")
        self._running = False
        self._pid = None
        atexit.unregister(self._stop_at_exit)

    def _stop_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
