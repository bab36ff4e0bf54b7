"""Where a private PostgreSQL server's files go and whether its process lives (bench/pgserver.py).

As root the server runs as the ``postgres`` system user, which must be able to traverse every directory
above its run directory; a unix socket path must fit in 107 bytes.
"""

from __future__ import annotations

import os
import pwd
import socket
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_SYSTEM_USER = "postgres"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the trailing NUL on Linux
_SOCKET_SUFFIX_LEN = len("/panda-pg-XXXXXXXX/socket/.s.PGSQL.65535")


class PostgresServerError(RuntimeError):
    """The private PostgreSQL server could not be set up, started or stopped."""


@dataclass(frozen=True)
class ServerOwner:
    """The system user the server runs as when we are root."""

    name: str
    uid: int
    gid: int
    gids: frozenset[int]


@dataclass(frozen=True)
class RunLayout:
    run_dir: Path
    data_dir: Path
    socket_dir: Path
    log_file: Path


def server_owner() -> ServerOwner | None:
    """``None`` when we run the server as ourselves, else the ``postgres`` system user (we are root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_SYSTEM_USER)
    except KeyError:
        raise PostgresServerError(
            f"running as root needs the '{SERVER_SYSTEM_USER}' system user to run the server "
            "(initdb and postgres refuse to run as root); it is created by the Debian 'postgresql' package: "
            "run scripts/test-deps.sh"
        ) from None
    gids = frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return ServerOwner(entry.pw_name, entry.pw_uid, entry.pw_gid, gids)


def _traversable_by(path: Path, owner: ServerOwner) -> bool:
    """Whether ``owner`` can search ``path`` and every directory above it (plain mode bits, no ACLs)."""
    for directory in (path, *path.parents):
        try:
            st = directory.stat()
        except OSError:
            return False
        if st.st_uid == owner.uid:
            bit = stat.S_IXUSR
        elif st.st_gid in owner.gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not stat.S_ISDIR(st.st_mode) or not st.st_mode & bit:
            return False
    return True


def _usable_parent(directory: Path, owner: ServerOwner | None) -> bool:
    if len(os.fsencode(directory)) + _SOCKET_SUFFIX_LEN > MAX_SOCKET_PATH:
        return False
    if owner is None:
        return os.access(directory, os.W_OK | os.X_OK)
    return _traversable_by(directory, owner)


def make_run_dir(base_dir: Path, owner: ServerOwner | None) -> Path:
    """A fresh directory for one server: inside ``base_dir`` if usable, else in the system temp dir."""
    base_dir.mkdir(parents=True, exist_ok=True)
    candidates = (base_dir.resolve(), Path(tempfile.gettempdir()).resolve(), Path("/tmp"))
    parent = next((c for c in candidates if _usable_parent(c, owner)), None)
    if parent is None:
        raise PostgresServerError(
            f"no directory for the PostgreSQL server: tried {', '.join(map(str, candidates))} "
            f"(must be traversable by the server user and short enough for a unix socket path)"
        )
    run_dir = Path(tempfile.mkdtemp(prefix="panda-pg-", dir=parent))
    hand_over(run_dir, owner)
    return run_dir


def hand_over(directory: Path, owner: ServerOwner | None) -> None:
    """Give ``directory`` to the server user; 0755 so that clients can reach the socket."""
    if owner is not None:
        os.chown(directory, owner.uid, owner.gid)
    directory.chmod(0o755)


def free_port() -> int:
    """A currently free TCP port number; only used to name the unix socket file."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
