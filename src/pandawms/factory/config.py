"""The factory's typed configuration, read once from TOML (`[factory]`, `[factory.pilot]`, `[[queue]]` with
its `[queue.pilot]` and `[queue.backend]` tables).

Every value is checked on load; a bad one raises ValueError naming the file, the queue and the field, so a
mistyped queue is a loud error at start instead of a silently dropped queue (factory.md §8 #9). A queue
without a `[queue.backend]` table runs its pilots as local processes (``type = "local"``, defaults).
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pandawms.factory.backends import BACKEND_CONFIGS, BackendConfig, LocalBackendConfig
from pandawms.factory.tables import Where, fill, integer, no_unknown, number, table_of, text
from pandawms.protocol.pilot_options import PilotOptions

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
_HARVESTER_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


def default_harvester_id() -> str:
    """``<host>-<pid>``, reduced to the characters the server accepts."""
    host = re.sub(r"[^A-Za-z0-9_.\-]", "_", socket.gethostname()) or "factory"
    return f"{host[:50]}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class FactoryQueue:
    """One PanDA queue this factory provisions pilots for, with its worker limits (factory.md §3)."""

    name: str
    backend: BackendConfig = field(default_factory=LocalBackendConfig)  # [queue.backend]
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
    http_timeout: float = 30.0
    retry_base: float = 1.0  # s, first retry delay bound of a server call
    retry_cap: float = 30.0  # s, largest single retry delay
    retry_budget: float = 60.0  # s one server call may spend retrying (reports are kept and re-sent anyway)
    stop_report_budget: float = 30.0  # s spent delivering the last reports after a stop
    worker_dir_retention: float = 259_200.0  # s an ended worker's dir (its logs) is kept; 0 = forever
    pilot: PilotOptions = field(default_factory=PilotOptions)  # defaults for every queue
    token_file: Path | None = None  # the factory's Bearer token (a factory-role `panda token create`)
    ca_file: Path | None = None  # CA bundle for the server's TLS certificate (default: the system's)
    cert_file: Path | None = None  # PEM client certificate and key (servers with --ssl-ca-certs)

    def pilot_options(self, queue: FactoryQueue) -> PilotOptions:
        return queue.pilot if queue.pilot is not None else self.pilot


# [factory] keys that are not FactoryConfig fields: defaults of the same-named field of every queue's
# backend config (old files set cancel_grace here, before backends had tables of their own)
_BACKEND_DEFAULT_KEYS = frozenset({"cancel_grace"})
_FACTORY_KEYS = {f.name for f in fields(FactoryConfig)} - {"queues", "pilot"} | _BACKEND_DEFAULT_KEYS
_QUEUE_KEYS = {f.name for f in fields(FactoryQueue)} - {"pilot", "backend"}


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
    where = Where(source, "[factory]")
    section = table_of(raw.get("factory", {}), Where(source, "top level"), "factory")
    no_unknown(section, _FACTORY_KEYS | {"pilot"}, where)
    values = {k: _factory_value(k, v, where) for k, v in section.items() if k != "pilot"}
    backend_defaults = {k: values.pop(k) for k in _BACKEND_DEFAULT_KEYS if k in values}
    if server_url:
        values["server_url"] = server_url
    if not values.get("server_url"):
        raise where.error("server_url", "missing (set it in the file or pass --server)")
    pilot = fill(PilotOptions(), section.get("pilot", {}), where, "pilot")
    queue_tables = raw.get("queue", [])
    if not isinstance(queue_tables, list) or not queue_tables:
        raise ValueError(f"{source}: no [[queue]] table: the factory would have nothing to do")
    queues = tuple(_queue(q, i, pilot, backend_defaults, source) for i, q in enumerate(queue_tables))
    names = [q.name for q in queues]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{source}: queue(s) listed twice: {', '.join(dupes)}")
    return FactoryConfig(queues=queues, pilot=pilot, **values)


def _factory_value(key: str, value: object, where: Where) -> Any:
    if key == "server_url":
        url = text(value, key, where)
        if not url.startswith(("http://", "https://")):
            raise where.error(key, f"must be an http(s) URL, got {value!r}")
        return url
    if key == "harvester_id":
        hid = text(value, key, where)
        if not _HARVESTER_ID.match(hid):
            raise where.error(key, f"must be 1-64 of A-Z a-z 0-9 _ . : -, got {value!r}")
        return hid
    if key in ("workdir", "token_file", "ca_file", "cert_file"):
        return Path(text(value, key, where)).expanduser()
    if key == "max_new_workers":
        return integer(value, key, where, minimum=1)
    zero_ok = key in ("stop_report_budget", "worker_dir_retention", "cancel_grace")
    return number(value, key, where, minimum=0.0 if zero_ok else 0.01)


def _queue(
    raw: object, index: int, pilot: PilotOptions, backend_defaults: Mapping[str, Any], source: Path | str
) -> FactoryQueue:
    table = table_of(raw, Where(source, f"[[queue]] #{index + 1}"), "queue")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise Where(source, f"[[queue]] #{index + 1}").error(
            "name", f"must be 1-128 of A-Z a-z 0-9 _ . -, got {name!r}"
        )
    where = Where(source, f'queue "{name}"')
    no_unknown(table, _QUEUE_KEYS | {"pilot", "backend"}, where)
    max_workers = integer(table.get("max_workers", 10), "max_workers", where, minimum=1)
    max_queued = table.get("max_queued")
    if max_queued is not None:
        max_queued = integer(max_queued, "max_queued", where, minimum=1)
    max_new = integer(table.get("max_new", 0), "max_new", where, minimum=0)
    own_pilot = fill(pilot, table["pilot"], where, "pilot") if "pilot" in table else None
    backend = _backend(table.get("backend", {}), where, backend_defaults)
    return FactoryQueue(name, backend, max_workers, max_queued, max_new, own_pilot)


def _backend(raw: object, where: Where, defaults: Mapping[str, Any]) -> BackendConfig:
    """The typed config of ``[queue.backend]``, chosen by its ``type`` (a bare string is the type alone)."""
    if isinstance(raw, str):
        raw = {"type": raw}  # `backend = "local"`: the form before backends had tables
    kind = table_of(raw, where, "backend").get("type", "local")
    if not isinstance(kind, str) or kind not in BACKEND_CONFIGS:
        known = ", ".join(BACKEND_CONFIGS)
        raise where.within("backend").error("type", f"unknown backend {kind!r} (known: {known})")
    config_class = BACKEND_CONFIGS[kind]
    own_fields = {f.name for f in fields(config_class)}
    base = config_class(**{k: v for k, v in defaults.items() if k in own_fields})
    return fill(base, raw, where, "backend", skip={"type"})
