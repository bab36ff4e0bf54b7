"""How states look to people, shared by the web monitor and the CLI (reference monitor-and-client.md A9).

One definition so the terminal and the pages colour and order a state the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pandawms.core.specs import QueueStatus
from pandawms.core.states import JobStatus, WorkerStatus

S, W, Q = JobStatus, WorkerStatus, QueueStatus

# Fill colour per state (black text on the fill). Job states, then queue and worker states.
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
    }
)
# Order in which job states are listed: the life of a job, then the ends.
STATE_ORDER: tuple[str, ...] = tuple(s.value for s in JobStatus)


def state_fill(state: str, default: str = "#eeeeee") -> str:
    return STATE_FILL.get(state, default)
