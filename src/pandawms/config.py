"""Typed configuration, read once in main() from a TOML file and ``PANDA_*`` environment variables.

Precedence: explicit overrides (command-line flags) > environment > file > defaults. Nothing else in the
package reads os.environ; the resulting ``ServerConfig`` is passed to whoever needs it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pandawms.core.auth import Role
from pandawms.core.certs import parse_cert_roles
from pandawms.core.errors import InvalidInput
from pandawms.core.shares import DEFAULT_TREE, Share, parse_shares

ENV_PREFIX = "PANDA_"


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    """Thresholds of the watchdog agents, in seconds (reference states.md §6.1)."""

    interval: float = 60.0
    lost_heartbeat: int = 7200
    sent_timeout: int = 1800
    holding_timeout: int = 172800
    transferring_timeout: int = 518400
    activated_expiry: int = 604800
    defined_timeout: int = 14400
    assigned_timeout: int = 604800  # inputs on their way through a _dis block (its rule lives 7 d)
    waiting_timeout: int = 604800  # inputs another job has still to produce
    factory_silence: int = 3600  # a factory's workers end as missed after this long without a call from it
    batch_size: int = 1000


@dataclass(frozen=True, slots=True)
class TransferConfig:
    """The transfer agent (the FTS analogue): how many copies at once, how many requests a cycle claims,
    its interval, attempts per request, the claim's lease and the retry backoff, in seconds."""

    enabled: bool = True
    interval: float = 5.0
    concurrency: int = 4
    batch_size: int = 100
    max_attempts: int = 3
    lease_seconds: int = 600  # a killed agent's claims are runnable again after this long
    backoff_base: float = 30.0
    backoff_cap: float = 3600.0


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Storage access of the server's agents: the S3 endpoint and keys (none: no s3:// RSEs)."""

    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"


@dataclass(frozen=True, slots=True)
class JediConfig:
    """JEDI's agents (scheduling.md §4-§6, §14.2): the ContentsFeeder and JobGenerator run together every
    ``interval`` s (the generator right after the feeder, so a new task's first jobs follow at once);
    ``max_files_per_cycle`` files fed and ``max_jobs_per_cycle`` jobs made per cycle, jobs stored in
    bunches of ``bunch_size`` per transaction; ``n_scouts`` scout rows per task; a task with one input
    starts once ``feed_first_chunk`` of its files are fed (0: once all are); ``queue_limit``: a task
    gets no new jobs while it has this many queued (and more than twice its running ones). The control
    agents' settings (TaskCommando, PostProcessor, scout evaluator and task watchdog intervals, pending
    wait and timeout, picked-file rescue) are in seconds."""

    enabled: bool = True
    interval: float = 1.0
    max_jobs_per_cycle: int = 20_000
    max_files_per_cycle: int = 200_000
    bunch_size: int = 500
    n_scouts: int = 10
    feed_first_chunk: int = 1000
    queue_limit: int = 2000
    command_interval: float = 5.0
    postprocessor_interval: float = 20.0
    scout_interval: float = 20.0
    watchdog_interval: float = 300.0
    pending_wait: int = 3600
    pending_timeout: int = 7 * 86400
    picked_rescue: int = 1800


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """``[server.auth]``: tokens (issue 11). ``enabled`` false leaves every route open (in-process
    tests, a private laptop server); true requires a Bearer token on every route not marked public.
    ``issuer`` defaults to "pandawms" (set the public URL for OIDC clients); access tokens live
    ``access_lifetime`` s, refresh tokens ``refresh_lifetime`` s. ``monitor``: "public" (anyone reads
    the monitor) or "login" (a token, or the ``panda_token`` cookie). ``write_rate``/``write_burst``:
    writes per second per identity (token bucket, 0 = no limit; 429 with Retry-After past it).
    ``audit``: record every state-changing call. ``oidc_*``: an external OIDC issuer whose tokens are
    accepted too (server/federation.py): its URL, the audience its tokens must carry (default
    ``audience``), the claim with the groups, ``GROUP=ROLE`` mappings, the roles every one of its tokens
    gets, and how long its key set is cached (s). ``cert_roles``: ``SUBJECT=ROLE`` (``pilot@QUEUE``)
    for clients that present a TLS certificate verified by ``ssl_ca_certs`` instead of a token, and
    ``cert_default_roles`` for a verified subject with no entry (none: refused); core/certs.py.
    ``oidc_client_id``/``oidc_client_secret``: this server
    as a client of that issuer, for ``panda login`` (the device flow's browser login, authorization code
    with PKCE; the secret may be empty for a public client). ``device_lifetime``: how long a device
    login's codes live (s); ``device_interval``: the polling interval it asks for (s);
    ``device_rate``: device logins started and verification pages opened per second per client
    address (bursts of ``write_burst``; 0 = no limit)."""

    enabled: bool = False
    issuer: str = ""
    audience: str = "pandawms"
    access_lifetime: int = 1200
    refresh_lifetime: int = 7 * 86400
    monitor: str = "public"
    write_rate: float = 0.0
    write_burst: int = 50
    audit: bool = True
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_groups_claim: str = "groups"
    oidc_roles: tuple[str, ...] = ()
    oidc_default_roles: tuple[str, ...] = ("user",)
    oidc_jwks_cache: int = 3600
    cert_roles: tuple[str, ...] = ()
    cert_default_roles: tuple[str, ...] = ()
    oidc_client_id: str = "pandawms"
    oidc_client_secret: str = ""
    device_lifetime: int = 600
    device_interval: int = 5
    device_rate: float = 1.0


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """``[server.lease]``: the lease that lets exactly one process of all servers on a database run the
    periodic agents (db table ``agent_leases``). The holder renews it every ``renew_interval`` s and
    keeps it ``ttl`` s past each renewal; every other process asks as often, so a holder that dies is
    replaced within ttl + renew_interval s (50 s by default). A holder that could not renew for
    ttl - renew_interval s stops starting agent runs. The servers' clocks must agree (NTP) to well
    within renew_interval."""

    ttl: float = 45.0
    renew_interval: float = 5.0


SECTIONS: dict[str, type] = {
    "auth": AuthConfig,
    "lease": LeaseConfig,
    "watchdog": WatchdogConfig,
    "transfers": TransferConfig,
    "storage": StorageSettings,
    "jedi": JediConfig,
}


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 25080
    # the URL users reach this server at (behind a proxy or load balancer: the proxy's), e.g.
    # https://panda.example.org; panda login's verification link, the identity provider's redirect URI
    # and the discovery document start there. Empty: the URL each request came to.
    public_url: str = ""
    db_url: str = ""
    data_dir: Path = Path("~/.local/share/pandawms")
    queues_file: Path | None = None
    rses_file: Path | None = None  # RSEs and site distances (TOML, beside the queue file)
    log_level: str = "info"
    max_submit_batch: int = 10_000
    default_max_attempt: int = 3  # maxAttempt of a submitted job that sets none
    max_active_tasks_per_user: int = 5000  # task/submit refuses more (PanDA's return code 10)
    non_retryable: tuple[str, ...] = ("pilot:1346", "pilot:1349", "pilot:1371", "pilot:1190", "pilot:1144")
    agents: bool = True
    workers: int = 1  # server processes on one port (`panda server --workers N`); PostgreSQL for N > 1
    ssl_certfile: Path | None = None  # TLS: the server's certificate chain and key (uvicorn's options)
    ssl_keyfile: Path | None = None
    ssl_ca_certs: Path | None = None  # CA bundle for client certificates (asked for, not required)
    monitor_cache_seconds: float = 5.0  # a built monitor page is shared by every viewer this long; 0 = off
    # SQLite: a TRUNCATE checkpoint of the WAL this often (agents/wal.py), seconds; 0 = off
    wal_checkpoint_interval: float = 60.0
    # PostgreSQL: ANALYZE the tables changed by 1,000 + 10 % of their rows this often
    # (agents/planner_stats.py), seconds; 0 = off (autovacuum alone, once a minute)
    planner_stats_interval: float = 5.0
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    transfers: TransferConfig = field(default_factory=TransferConfig)
    storage: StorageSettings = field(default_factory=StorageSettings)
    jedi: JediConfig = field(default_factory=JediConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    lease: LeaseConfig = field(default_factory=LeaseConfig)
    # the global share tree (scheduling.md §8): a [server.shares] table, or a TOML file holding one
    # (PANDA_SHARES_FILE; its [shares] table or the whole file); core.shares.DEFAULT_TREE otherwise
    shares: Share = DEFAULT_TREE
    shares_file: Path | None = None

    @property
    def resolved_issuer(self) -> str:
        """The ``iss`` of the tokens this server issues: the configured one (its public URL, for OIDC
        clients), else "pandawms" (so ``panda token create`` needs no port; another instance's tokens
        still fail on the key)."""
        return self.auth.issuer or "pandawms"

    @property
    def resolved_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir.expanduser() / 'panda.db'}"


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Build the config; raises ValueError naming the offending key on bad values."""
    values: dict[str, Any] = {}
    env = os.environ if env is None else env
    file_path = path or (Path(env[ENV_PREFIX + "CONFIG"]) if ENV_PREFIX + "CONFIG" in env else None)
    if file_path is not None:
        try:
            values.update(tomllib.loads(file_path.read_text()).get("server", {}))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read config file {file_path}: {exc}") from exc
    for layer in (_from_env(env), {k: v for k, v in (overrides or {}).items() if v is not None}):
        sections = {s: {**values.get(s, {}), **layer.pop(s, {})} for s in SECTIONS}
        values.update(layer)
        values.update({s: v for s, v in sections.items() if v})
    return _build(values)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(ServerConfig)} - set(SECTIONS)
    section_names = {s: {f.name for f in dataclasses.fields(cls)} for s, cls in SECTIONS.items()}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in names:
            out[name] = raw
        for section, known in section_names.items():
            if name.startswith(section + "_") and name[len(section) + 1 :] in known:
                out.setdefault(section, {})[name[len(section) + 1 :]] = raw
    return out


def _build(values: dict[str, Any]) -> ServerConfig:
    raw_sections = {s: values.pop(s, {}) for s in SECTIONS}
    shares = _shares(values.pop("shares", None), values.get("shares_file"))
    unknown = set(values) - {f.name for f in dataclasses.fields(ServerConfig)}
    if unknown:
        raise ValueError(f"unknown server config key(s): {', '.join(sorted(unknown))}")
    sections = {s: cls(**_coerce_all(cls, raw_sections[s], f"{s}.")) for s, cls in SECTIONS.items()}
    config = ServerConfig(**sections, shares=shares, **_coerce_all(ServerConfig, values, ""))
    _check_transfers(config.transfers)
    _check_jedi(config.jedi)
    _check_auth(config.auth)
    _check_lease(config.lease)
    config = dataclasses.replace(config, public_url=check_public_url(config.public_url))
    if not 1 <= config.workers <= 256:
        raise ValueError(f"workers: must be 1..256, got {config.workers}")
    if not 1 <= config.default_max_attempt <= 50:
        raise ValueError(f"default_max_attempt: must be 1..50, got {config.default_max_attempt}")
    if config.max_active_tasks_per_user < 1:
        raise ValueError(f"max_active_tasks_per_user: must be >= 1, got {config.max_active_tasks_per_user}")
    if config.monitor_cache_seconds < 0:
        raise ValueError(f"monitor_cache_seconds: must be >= 0 (0 = off), got {config.monitor_cache_seconds}")
    if config.wal_checkpoint_interval < 0:
        raise ValueError(
            f"wal_checkpoint_interval: must be >= 0 (0 = off), got {config.wal_checkpoint_interval}"
        )
    if config.planner_stats_interval < 0:
        raise ValueError(
            f"planner_stats_interval: must be >= 0 (0 = off), got {config.planner_stats_interval}"
        )
    return config


def _shares(table: object, file: object) -> Share:
    """The share tree from the [server.shares] table or the shares file (not both); ValueError naming
    the offending key (e.g. ``shares.children[1].fraction``)."""
    if table is not None and file not in (None, ""):
        raise ValueError("shares: set either a [server.shares] table or shares_file, not both")
    if file not in (None, ""):
        try:
            doc = tomllib.loads(Path(str(file)).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"shares_file: cannot read {file}: {exc}") from exc
        table = doc.get("shares", doc)
    if table is None:
        return DEFAULT_TREE
    if isinstance(table, Share):  # an override built in code (tests)
        return table
    if not isinstance(table, Mapping):
        raise ValueError(f"shares: must be a table, got {table!r}")
    try:
        return parse_shares(table, "shares")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def _coerce_all(cls: type, raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in fields:
            raise ValueError(f"unknown config key {prefix}{name}")
        out[name] = _coerce(prefix + name, str(fields[name].type), value)
    return out


def _coerce(name: str, type_name: str, value: Any) -> Any:
    try:
        if type_name == "int":
            return int(value)
        if type_name == "float":
            return float(value)
        if type_name == "bool":
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        if type_name.startswith("Path"):
            return Path(value) if value not in (None, "") else None
        if type_name.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(s.strip() for s in items if s.strip())
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config {name}: invalid value {value!r} ({exc})") from exc


def _check_transfers(t: TransferConfig) -> None:
    for name in ("concurrency", "batch_size", "max_attempts", "lease_seconds"):
        if getattr(t, name) < 1:
            raise ValueError(f"transfers.{name}: must be >= 1, got {getattr(t, name)}")
    if t.interval <= 0 or t.backoff_base < 0 or t.backoff_cap < 0:
        raise ValueError("transfers.interval must be > 0 and transfers.backoff_* >= 0")


def _check_jedi(j: JediConfig) -> None:
    for name in ("max_jobs_per_cycle", "max_files_per_cycle", "bunch_size", "queue_limit"):
        if getattr(j, name) < 1:
            raise ValueError(f"jedi.{name}: must be >= 1, got {getattr(j, name)}")
    for name in ("n_scouts", "feed_first_chunk"):
        if getattr(j, name) < 0:
            raise ValueError(f"jedi.{name}: must be >= 0, got {getattr(j, name)}")
    intervals = (
        "interval",
        "command_interval",
        "postprocessor_interval",
        "scout_interval",
        "watchdog_interval",
    )
    for name in (*intervals, "pending_wait", "pending_timeout", "picked_rescue"):
        if getattr(j, name) <= 0:
            raise ValueError(f"jedi.{name}: must be > 0, got {getattr(j, name)}")


def _check_auth(a: AuthConfig) -> None:
    if a.monitor not in ("public", "login"):
        raise ValueError(f"auth.monitor: must be 'public' or 'login', got {a.monitor!r}")
    for name in ("access_lifetime", "refresh_lifetime", "write_burst"):
        if getattr(a, name) < 1:
            raise ValueError(f"auth.{name}: must be >= 1, got {getattr(a, name)}")
    if a.write_rate < 0:
        raise ValueError(f"auth.write_rate: must be >= 0 (0 = no limit), got {a.write_rate}")
    if not a.audience:
        raise ValueError("auth.audience: must not be empty")
    _check_federation(a)
    try:
        parse_cert_roles(a.cert_roles, a.cert_default_roles)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    _check_device(a)


def _check_device(a: AuthConfig) -> None:
    for name in ("device_lifetime", "device_interval"):
        if getattr(a, name) < 1:
            raise ValueError(f"auth.{name}: must be >= 1, got {getattr(a, name)}")
    if a.device_rate < 0:
        raise ValueError(f"auth.device_rate: must be >= 0 (0 = no limit), got {a.device_rate}")


FEDERATED_ROLES = frozenset(r.value for r in Role) - {Role.PILOT.value}  # pilot tokens are ours only


def _check_federation(a: AuthConfig) -> None:
    known = ", ".join(sorted(FEDERATED_ROLES))
    if a.oidc_issuer and not a.oidc_issuer.startswith(("https://", "http://")):
        raise ValueError(f"auth.oidc_issuer: must be the issuer's URL, got {a.oidc_issuer!r}")
    if a.oidc_issuer and a.oidc_issuer == a.issuer:
        raise ValueError("auth.oidc_issuer: must differ from auth.issuer (pandawms's own)")
    if a.oidc_jwks_cache < 1:
        raise ValueError(f"auth.oidc_jwks_cache: must be >= 1, got {a.oidc_jwks_cache}")
    for entry in a.oidc_roles:
        group, sep, role = entry.rpartition("=")
        if not sep or not group.strip() or role.strip() not in FEDERATED_ROLES:
            raise ValueError(f"auth.oidc_roles: {entry!r} is not GROUP=ROLE (a role of {known})")
    for role in a.oidc_default_roles:
        if role not in FEDERATED_ROLES:
            raise ValueError(f"auth.oidc_default_roles: {role!r} is not one of {known}")


def check_public_url(url: str) -> str:
    """``public_url`` without its trailing slash ("" stays ""); ValueError naming the setting unless it is
    an absolute http(s) URL with a host and no query, fragment or user."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise ValueError(f"public_url (PANDA_PUBLIC_URL): not a URL: {url!r} ({exc})") from None
    problem = ""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "must be an absolute http:// or https:// URL with a host"
    elif parts.query or parts.fragment or "?" in url or "#" in url:
        problem = "must have no query (?) or fragment (#)"
    elif parts.username is not None or parts.password is not None:
        problem = "must not carry a user or password"
    elif any(c.isspace() for c in url):
        problem = "must not contain spaces"
    if problem:
        raise ValueError(f"public_url (PANDA_PUBLIC_URL): {problem}, got {url!r}")
    return url.rstrip("/")


def _check_lease(lease: LeaseConfig) -> None:
    if lease.renew_interval <= 0:
        raise ValueError(f"lease.renew_interval: must be > 0, got {lease.renew_interval}")
    if lease.ttl < 2 * lease.renew_interval:
        raise ValueError(
            f"lease.ttl: must be >= 2 x lease.renew_interval ({lease.renew_interval}), got {lease.ttl}"
        )
