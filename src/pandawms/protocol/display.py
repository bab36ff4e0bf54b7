"""How states look to people, shared by the web monitor and the CLI (reference monitor-and-client.md A9).

One definition so the terminal and the pages colour and order a state the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pandawms.core.specs import QueueStatus
from pandawms.core.states import JobStatus, WorkerStatus
from pandawms.core.tasks import TaskFileStatus, TaskStatus

S, W, Q, T, F = JobStatus, WorkerStatus, QueueStatus, TaskStatus, TaskFileStatus

# Fill colour per state (black text on the fill): job states, queue and worker states, then the task and
# task-file states that are not job states. One name, one colour (as in BigPanDA): a task or file that is
# "running", "finished", "failed", "pending" or "defined" is shown like a job in that state.
STATE_FILL: Mapping[str, str] = MappingProxyType(
    {
        S.FINISHED: "#96ca69",
        S.TRANSFERRING: "#addf80",
        S.RUNNING: "#C7E9A9",
        S.STARTING: "#C7E9A9",
        S.ACTIVATED: "#d9efde",
        S.ASSIGNED: "#d9efef",
        S.DEFINED: "#e6f0f6",
        S.SENT: "#FFF5D6",
        S.WAITING: "#FFF5D6",
        S.HOLDING: "#FFE38E",
        S.CANCELLED: "#FFD65D",
        S.FAILED: "#FFABA2",
        S.CLOSED: "#bdbdbd",
        "pending": "#FFF5D6",
        "throttled": "#FFE38E",
        Q.ONLINE: "#C7E9A9",
        Q.TEST: "#e6f0f6",
        Q.BROKEROFF: "#FFF5D6",
        Q.OFFLINE: "#bdbdbd",
        W.SUBMITTED: "#d9efde",
        W.MISSED: "#db9591",
        T.DONE: "#62AC21",
        T.PREPARED: "#96ca69",
        T.TORETRY: "#96ca69",
        T.FINISHING: "#addf80",
        T.SCOUTED: "#C7E9A9",
        T.SCOUTING: "#DBF1C6",
        T.READY: "#d9efde",
        T.REGISTERED: "#e6f0f6",
        T.PAUSED: "#edeeef",
        T.PASSED: "#edeeef",
        T.EXHAUSTED: "#FFE38E",
        T.ABORTING: "#FFABA2",
        T.ABORTED: "#FFABA2",
        T.TOREASSIGN: "#FF8174",
        T.TOBROKEN: "#db9591",
        T.BROKEN: "#db9591",
        F.PICKED: "#DBF1C6",
        F.MERGING: "#addf80",
        F.PARTIAL: "#addf80",
        F.MISSING: "#FFCB2F",
        F.LOST: "#db9591",
    }
)
# Order in which job states are listed: the life of a job, then the ends.
STATE_ORDER: tuple[str, ...] = tuple(s.value for s in JobStatus)
# Order in which task states are listed: the main line, then waiting, the commands' states and the ends.
TASK_STATE_ORDER: tuple[str, ...] = tuple(
    s.value
    for s in (
        T.REGISTERED,
        T.DEFINED,
        T.READY,
        T.SCOUTING,
        T.SCOUTED,
        T.RUNNING,
        T.PENDING,
        T.PAUSED,
        T.EXHAUSTED,
        T.TORETRY,
        T.TOREASSIGN,
        T.FINISHING,
        T.ABORTING,
        T.TOBROKEN,
        T.PREPARED,
        T.PASSED,
        T.DONE,
        T.FINISHED,
        T.FAILED,
        T.ABORTED,
        T.BROKEN,
    )
)


def state_fill(state: str, default: str = "#eeeeee") -> str:
    return STATE_FILL.get(state, default)


def format_duration(seconds: float | None) -> str:
    """The one duration format of the monitor and the CLI: ``h:mm:ss``, ``Nd hh:mm:ss`` past a day."""
    if seconds is None:
        return ""
    total = int(max(seconds, 0))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}" if days else f"{hours}:{minutes:02d}:{secs:02d}"
