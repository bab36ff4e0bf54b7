"""The factory's typed configuration, read once from TOML (`[factory]`, `[factory.pilot]`, `[[queue]]`).

Every value is checked on load; a bad one raises ValueError naming the file, the queue and the field, so a
mistyped queue is a loud error at start instead of a silently dropped queue (factory.md §8 #9).
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pandawms.factory.backends import BACKEND_NAMES

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_HARVESTER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def default_harvester_id() -> str:
    """``<host>-<pid>``, reduced to the characters the server accepts."""
    host = re.sub(r"[^A-Za-z0-9_.\-]", "_", socket.gethostname()) or "factory"
    return f"{host[:50]}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class PilotOptions:
    """Options passed to each ``panda pilot`` the factory starts (names follow the CLI flags)."""

    heartbeat: float = 1800.0
    lifetime: float = 324_000.0
    kill_grace: float = 10.0
    memory_factor: float = 2.0
    looping_timeout: float = 7200.0
    max_empty: int = 3
    storage_dir: Path | None = None  # None: each pilot keeps <its workdir>/storage
    memory: int = 0
    disk: int = 0
    cores: int = 0
    label: str | None = None

    def argv(self) -> list[str]:
        """The CLI flags for these options."""
        args = [
            *("--heartbeat", _num(self.heartbeat)),
            *("--lifetime", _num(self.lifetime)),
            *("--kill-grace", _num(self.kill_grace)),
            *("--memory-factor", _num(self.memory_factor)),
            *("--looping-timeout", _num(self.looping_timeout)),
            *("--max-empty", str(self.max_empty)),
        ]
        for flag, value in (("--memory", self.memory), ("--disk", self.disk), ("--cores", self.cores)):
            if value:
                args += [flag, str(value)]
        if self.storage_dir is not None:
            args += ["--storage-dir", str(self.storage_dir)]
        if self.label is not None:
            args += ["--label", self.label]
        return args


def _num(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class FactoryQueue:
    """One PanDA queue this factory provisions pilots for, with its worker limits (factory.md §3)."""

    name: str
    backend: str = "local"
    max_workers: int = 10  # queued + running workers over all factories; never 0 ("submit nothing")
    max_queued: int | None = None  # workers waiting for a job; None = max_workers
    max_new: int = 0  # new workers per cycle; 0 = no per-queue cap
    pilot: PilotOptions | None = None  # None = the factory's [factory.pilot] options

    @property
    def queued_limit(self) -> int:
        return self.max_workers if self.max_queued is None else self.max_queued


@dataclass(frozen=True, slots=True)
class FactoryConfig:
    """Options of ``panda factory``; times are seconds."""

    server_url: str
    queues: tuple[FactoryQueue, ...] = ()
    harvester_id: str = field(default_factory=default_harvester_id)
    cycle_interval: float = 60.0
    workdir: Path = field(default_factory=lambda: Path.cwd() / "pandawms-factory")
    max_new_workers: int = 100  # new workers per cycle over all queues
    cancel_grace: float = 60.0  # SIGTERM -> SIGKILL for cancelled pilots (> pilot kill_grace + final update)
    http_timeout: float = 30.0
    retry_base: float = 1.0  # s, first retry delay bound of a server call
    retry_cap: float = 30.0  # s, largest single retry delay
    retry_budget: float = 60.0  # s one server call may spend retrying (reports are kept and re-sent anyway)
    stop_report_budget: float = 30.0  # s spent delivering the last reports after a stop
    worker_dir_retention: float = 259_200.0  # s an ended worker's dir (its logs) is kept; 0 = forever
    pilot: PilotOptions = field(default_factory=PilotOptions)  # defaults for every queue

    def pilot_options(self, queue: FactoryQueue) -> PilotOptions:
        return queue.pilot if queue.pilot is not None else self.pilot


_FACTORY_KEYS = {f.name for f in fields(FactoryConfig)} - {"queues", "pilot"}
_QUEUE_KEYS = {f.name for f in fields(FactoryQueue)} - {"pilot"}
_PILOT_KEYS = {f.name for f in fields(PilotOptions)}


class _Where:
    """Builds error messages that name the file and the place in it."""

    def __init__(self, path: Path | str, place: str) -> None:
        self.path = path
        self.place = place

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f"{self.path}: {self.place}: {key}: {problem}")


def load_factory_config(path: Path | str, *, server_url: str | None = None) -> FactoryConfig:
    """Read and validate a factory TOML file; ``server_url`` (the --server flag) wins over the file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read factory config {path}: {exc}") from exc
    return parse_factory_config(raw, source=path, server_url=server_url)


def parse_factory_config(
    raw: Mapping[str, Any], *, source: Path | str = "<config>", server_url: str | None = None
) -> FactoryConfig:
    """Validate an already parsed TOML document (see load_factory_config)."""
    unknown = set(raw) - {"factory", "queue"}
    if unknown:
        raise ValueError(f"{source}: unknown top-level table(s): {', '.join(sorted(unknown))}")
    section = _table(raw.get("factory", {}), _Where(source, "[factory]"), "factory")
    where = _Where(source, "[factory]")
    _no_unknown(section, _FACTORY_KEYS | {"pilot"}, where)
    values: dict[str, Any] = {k: _factory_value(k, v, where) for k, v in section.items() if k != "pilot"}
    if server_url:
        values["server_url"] = server_url
    if not values.get("server_url"):
        raise where.error("server_url", "missing (set it in the file or pass --server)")
    pilot = _pilot(section.get("pilot", {}), PilotOptions(), _Where(source, "[factory.pilot]"))
    queue_tables = raw.get("queue", [])
    if not isinstance(queue_tables, list) or not queue_tables:
        raise ValueError(f"{source}: no [[queue]] table: the factory would have nothing to do")
    queues = tuple(_queue(q, i, pilot, source) for i, q in enumerate(queue_tables))
    names = [q.name for q in queues]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{source}: queue(s) listed twice: {', '.join(dupes)}")
    return FactoryConfig(queues=queues, pilot=pilot, **values)


def _table(value: object, where: _Where, key: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise where.error(key, f"must be a table, got {value!r}")
    return value


def _no_unknown(table: Mapping[str, Any], known: set[str], where: _Where) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise where.error(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")


def _factory_value(key: str, value: object, where: _Where) -> object:
    if key == "server_url":
        text = _text(value, key, where)
        if not text.startswith(("http://", "https://")):
            raise where.error(key, f"must be an http(s) URL, got {value!r}")
        return text
    if key == "harvester_id":
        text = _text(value, key, where)
        if not _HARVESTER_ID.match(text):
            raise where.error(key, f"must be 1-64 of A-Z a-z 0-9 _ . : -, got {value!r}")
        return text
    if key == "workdir":
        return Path(_text(value, key, where)).expanduser()
    if key == "max_new_workers":
        return _int(value, key, where, minimum=1)
    zero_ok = key in ("stop_report_budget", "worker_dir_retention")
    return _float(value, key, where, minimum=0.0 if zero_ok else 0.01)


def _queue(raw: object, index: int, defaults: PilotOptions, source: Path | str) -> FactoryQueue:
    where = _Where(source, f"[[queue]] #{index + 1}")
    table = _table(raw, where, "queue")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise where.error("name", f"must be 1-128 of A-Z a-z 0-9 _ . -, got {name!r}")
    where = _Where(source, f"queue {name!r}")
    _no_unknown(table, _QUEUE_KEYS | {"pilot"}, where)
    backend = table.get("backend", "local")
    if backend not in BACKEND_NAMES:
        raise where.error("backend", f"unknown backend {backend!r} (known: {', '.join(BACKEND_NAMES)})")
    max_workers = _int(table.get("max_workers", 10), "max_workers", where, minimum=1)
    max_queued = table.get("max_queued")
    if max_queued is not None:
        max_queued = _int(max_queued, "max_queued", where, minimum=1)
    max_new = _int(table.get("max_new", 0), "max_new", where, minimum=0)
    pilot = None
    if "pilot" in table:
        pilot = _pilot(table["pilot"], defaults, _Where(source, f"queue {name!r} pilot"))
    return FactoryQueue(name, backend, max_workers, max_queued, max_new, pilot)


def _pilot(raw: object, base: PilotOptions, where: _Where) -> PilotOptions:
    table = _table(raw, where, "pilot")
    _no_unknown(table, _PILOT_KEYS, where)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "storage_dir":
            values[key] = Path(_text(value, key, where)).expanduser()
        elif key == "label":
            values[key] = _text(value, key, where)
        elif key == "max_empty":
            values[key] = _int(value, key, where, minimum=1)
        elif key in ("memory", "disk", "cores"):
            values[key] = _int(value, key, where, minimum=0)
        else:
            minimum = 0.0 if key == "looping_timeout" else 0.01
            values[key] = _float(value, key, where, minimum=minimum)
    return replace(base, **values)


def _text(value: object, key: str, where: _Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _int(value: object, key: str, where: _Where, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(key, f"must be an integer, got {value!r}")
    if value < minimum:
        raise where.error(key, f"must be >= {minimum}, got {value}")
    return value


def _float(value: object, key: str, where: _Where, *, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(key, f"must be a number, got {value!r}")
    if value < minimum:
        raise where.error(key, f"must be >= {minimum}, got {value}")
    return float(value)
