"""The pilot's command-line contract: the options whoever launches ``panda pilot`` chooses (a user, the
factory's ``[factory.pilot]`` / ``[queue.pilot]`` tables).

This dataclass is the one definition of those options: the pilot's own config (pilot/config.PilotConfig)
inherits its fields, the factory reads its TOML keys and writes the pilot's argv from it, and the
``panda pilot`` flags are checked against it by tests/pilot/test_config_options.py. Each field's metadata
holds its public name (the flag without ``--``, dashes as underscores, and the TOML key), its help text
and its smallest accepted value.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any


def _option(default: object, name: str, help: str, minimum: float | None = None) -> Any:
    return field(default=default, metadata={"name": name, "help": help, "min": minimum})


@dataclass(frozen=True, slots=True, kw_only=True)
class PilotOptions:
    """What a pilot's launcher chooses; defaults follow pilot3 (pilot.md §2, §4) and §10's timeout set.

    Times are seconds, sizes MB; resource values of 0 mean "take it from the queue (or the machine)".
    """

    lifetime: float = _option(324_000.0, "lifetime", "Seconds this pilot may live.", 0.01)
    heartbeat_interval: float = _option(1800.0, "heartbeat", "Heartbeat interval, s.", 0.01)
    # resources advertised to acquire_jobs; 0 = from the queue (memory, cores) or free disk
    memory_mb: int = _option(0, "memory", "MB to advertise (0 = from the queue).", 0)
    disk_mb: int = _option(0, "disk", "MB of scratch to advertise (0 = free disk).", 0)
    cores: int = _option(0, "cores", "Cores to advertise (0 = the batch allocation, else the queue).", 0)
    # multi-job mode (pilot/slots.py): several jobs at once on a multi-core or whole-node worker
    max_jobs: int = _option(
        1, "max_jobs", "Jobs run at once (1 = one at a time; 0 = as many as cores and memory allow).", 0
    )
    memory_limit_factor: float = _option(  # kill at factor x requested memory (pilot_rss_grace)
        2.0, "memory_factor", "Kill at this x the job's memory request.", 0.01
    )
    kill_grace: float = _option(10.0, "kill_grace", "Seconds between SIGTERM and SIGKILL.", 0.01)
    looping_timeout: float = _option(  # no file touched for this long -> 1150
        7200.0, "looping_timeout", "Seconds without output change -> looping (0 = off).", 0.0
    )
    storage_dir: Path | None = _option(  # noqa: RUF009 (a field() with metadata) local storage element
        None, "storage_dir", "Local storage element directory (default <workdir>/storage)."
    )
    storage_config: Path | None = _option(  # noqa: RUF009 (a field() with metadata) ddm/config.py's TOML
        None, "storage_config", "Storage settings TOML ([s3] endpoint and keys, [xrootd]) for the turls."
    )
    token_file: Path | None = _option(  # noqa: RUF009 (a field() with metadata) `panda token create`'s file
        None, "token_file", "File holding the pilot's Bearer token (re-read when it changes)."
    )
    ca_file: Path | None = _option(  # noqa: RUF009 (a field() with metadata)
        None, "ca_file", "CA bundle to verify the server's TLS certificate with (default: the system's)."
    )
    cert_file: Path | None = _option(  # noqa: RUF009 (a field() with metadata)
        None,
        "cert_file",
        "PEM file with a client certificate and its key, for servers started with --ssl-ca-certs.",
    )
    stageout_attempts: int = _option(3, "stageout_attempts", "Tries per output upload (with backoff).", 1)
    max_empty_acquires: int = _option(3, "max_empty", "Empty acquires (with backoff) before exiting.", 1)
    prod_source_label: str | None = _option(None, "label", "prodSourceLabel to ask for (default: any).")

    def values(self) -> dict[str, Any]:
        """The options by field name (of a PilotConfig too, which inherits them)."""
        return {f.name: getattr(self, f.name) for f in fields(PilotOptions)}

    def options(self) -> PilotOptions:
        """Only the launcher's options (of a PilotConfig, which inherits them)."""
        return PilotOptions(**self.values())

    def argv(self) -> list[str]:
        """The ``panda pilot`` flags for these options (unset optional ones are left out)."""
        args: list[str] = []
        for f in fields(PilotOptions):
            value = getattr(self, f.name)
            if value is not None:
                text = repr(float(value)) if isinstance(f.default, float) else str(value)
                args += [flag(f), text]
        return args


def public_name(f: Field[Any]) -> str:
    """The TOML key of an option (``heartbeat`` for heartbeat_interval)."""
    name: str = f.metadata["name"]
    return name


def flag(f: Field[Any]) -> str:
    """The command-line flag of an option (``--memory-factor`` for memory_limit_factor)."""
    return "--" + public_name(f).replace("_", "-")


def option_field(name: str) -> Field[Any]:
    """The field of the option whose public name is ``name`` (the CLI takes its help and minimum)."""
    for f in fields(PilotOptions):
        if public_name(f) == name:
            return f
    raise KeyError(f"no pilot option named {name!r}")


DEFAULTS = PilotOptions()
