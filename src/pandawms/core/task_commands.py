"""What the task commando decides, as data: command outcomes, the retry's new parameters, the status a
reassigned task returns to, the kill codes, and the scout-settings of a task (states.md §2.1, §6).

Pure: no I/O. services/task_commands.py applies these; services/scouting.py reads task_scout_settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pandawms.core.errors import InvalidInput
from pandawms.core.scouts import ScoutSettings
from pandawms.core.tasks import TaskStatus
from pandawms.core.taskspecs import TaskSpec, join_split_codes, split_codes

T = TaskStatus

# PanDA's kill codes (errors.md §2.1) the commando uses.
KILL_BY_JEDI = 50  # kill: cancelled; dispatched jobs get tobekilled
REASSIGNED_BY_JEDI = 51  # reassign: queued jobs closed, their files return to ready
FORCE_KILL_BY_JEDI = 52  # hard finish: ended at once, cancelled


class CommandOutcome(StrEnum):
    """What became of a queued command (``task_commands.outcome``; empty while pending)."""

    DONE = "done"
    REFUSED = "refused"  # the task moved to a status the command is not allowed from
    FAILED = "failed"  # carried out partly or not at all; the reason says why


@dataclass(frozen=True, slots=True)
class NewParam:
    column: str  # tasks column
    kind: type[int] | type[float]
    minimum: float


# retry newParams: PanDA's task-parameter names -> the tasks column they change.
NEW_PARAMS: Mapping[str, NewParam] = {
    "ramCount": NewParam("ram_count", int, 0),
    "baseRamCount": NewParam("base_ram_count", int, 0),
    "coreCount": NewParam("core_count", int, 1),
    "maxAttempt": NewParam("max_attempt", int, 1),
    "walltime": NewParam("walltime", int, 0),
    "baseWalltime": NewParam("base_walltime", int, 0),
    "cpuTime": NewParam("cpu_time", float, 0),
    "cpuEfficiency": NewParam("cpu_efficiency", int, 0),
    "outDiskCount": NewParam("out_disk_count", int, 0),
    "workDiskCount": NewParam("work_disk_count", int, 0),
    "taskPriority": NewParam("current_priority", int, 0),
}
MAX_ATTEMPT_LIMIT = 50  # the client's --maxAttempt maximum (scheduling.md §9)


def new_param_columns(new_params: Mapping[str, int | float | str | bool]) -> dict[str, int | float]:
    """The tasks columns a retry's ``newParams`` change; InvalidInput names the bad parameter."""
    columns: dict[str, int | float] = {}
    for name, value in new_params.items():
        field = f"newParams.{name}"
        param = NEW_PARAMS.get(name)
        if param is None:
            raise InvalidInput(
                f"{field}: not a parameter a retry may change; allowed: {', '.join(NEW_PARAMS)}", field
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{field}: must be a number, got {value!r}", field)
        if param.kind is int and value != int(value):
            raise InvalidInput(f"{field}: must be a whole number, got {value!r}", field)
        if value < param.minimum:
            raise InvalidInput(f"{field}: must be >= {param.minimum:g}, got {value!r}", field)
        if name == "maxAttempt" and value > MAX_ATTEMPT_LIMIT:
            raise InvalidInput(f"{field}: at most {MAX_ATTEMPT_LIMIT}, got {value!r}", field)
        columns[param.column] = param.kind(value)
    return columns


# Where a reassigned task goes back to: where it was, or (not reachable from toreassign) the nearest
# state that lets the generator try again with the new sites.
_REASSIGN_RETURN: Mapping[TaskStatus, TaskStatus] = {
    T.PENDING: T.READY,
    T.EXHAUSTED: T.READY,
    T.REGISTERED: T.DEFINED,
}


def after_reassign(previous: TaskStatus) -> TaskStatus:
    return _REASSIGN_RETURN.get(previous, previous)


def reassigned_sites(
    spec: TaskSpec, site: str | None, excluded: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(included, excluded) sites after a reassign: ``site`` replaces the inclusions; exclusions add up."""
    included = (site,) if site else spec.included_sites
    merged = tuple(dict.fromkeys((*spec.excluded_sites, *excluded)))
    overlap = set(included) & set(merged)
    if overlap:
        raise InvalidInput(
            f"excludedSite: {', '.join(sorted(overlap))} is also the site to go to", "excludedSite"
        )
    return included, merged


SKIP_SCOUT = "SK"


def with_skip_scout(split_rule: str) -> str:
    """The split rule with the skipScout flag (avalanche: the generator makes the bulk jobs at once)."""
    codes = split_codes(split_rule)
    codes[SKIP_SCOUT] = "1"
    return join_split_codes(codes)


def task_scout_settings(spec: TaskSpec, base: ScoutSettings) -> ScoutSettings:
    """``base`` with the task's own values: baseWalltime, cpuEfficiency, baseRamCount and the split codes
    SS (scoutSuccessRate, %) and MC (minCpuEfficiency, %)."""
    codes = split_codes(spec.split_rule)
    settings = replace(
        base,
        base_walltime=spec.base_walltime,
        cpu_efficiency=spec.cpu_efficiency / 100 if spec.cpu_efficiency > 0 else base.cpu_efficiency,
        base_ram_count=spec.base_ram_count,
    )
    if "SS" in codes:
        settings = replace(settings, success_rate=float(codes["SS"]) / 100)
    if "MC" in codes:
        settings = replace(settings, min_cpu_efficiency=float(codes["MC"]) / 100)
    return settings
