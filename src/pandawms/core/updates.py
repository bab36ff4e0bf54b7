"""Pure rules for a pilot's update_job (reference states.md §1.2): what the server does with a report.

The report is classified against the job's current status into one of: a heartbeat (refresh the clock
and metrics), a transition, a final update (holding, then finished/failed), or a refusal with the
command the pilot must obey (``tobekilled`` / ``alreadydone``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pandawms.core.commands import PilotCommand
from pandawms.core.specs import JobErrors, JobMetrics
from pandawms.core.states import FINAL_STATES, JobStatus

S = JobStatus
KILL, ALREADYDONE = PilotCommand.TOBEKILLED, PilotCommand.ALREADYDONE  # short names for the rules below


class UpdateKind(StrEnum):
    HEARTBEAT = "heartbeat"
    TRANSITION = "transition"
    FINAL = "final"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class PilotReport:
    """One update_job call, already validated."""

    panda_id: int
    status: str
    attempt_nr: int | None = None
    sub_status: str | None = None
    node: str | None = None
    pilot_id: str | None = None
    batch_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    trans_exit_code: int | None = None
    errors: JobErrors = field(default_factory=JobErrors)
    metrics: JobMetrics = field(default_factory=JobMetrics)
    output_report: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    site_name: str | None = None  # the queue the pilot runs at; must be the job's
    meta_data: str | None = None  # the payload's job report (JSON text), kept for the monitor and users
    pilot_log: str | None = None  # the tail of the pilot's log, kept likewise

    @property
    def is_final(self) -> bool:
        return self.status in ("finished", "failed")


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    kind: UpdateKind
    target: JobStatus | None = None
    command: str = ""
    message: str = ""
    via: tuple[JobStatus, ...] = ()  # a final update passes through holding (the Adder's step)


def plan_update(
    current: JobStatus, attempt_nr: int, command_to_pilot: str, report: PilotReport, site: str | None = None
) -> UpdatePlan:
    """Decide what an update does; never raises for a well-formed report. ``site`` is the job's queue."""
    if report.attempt_nr is not None and report.attempt_nr != attempt_nr:
        msg = f"attempt {report.attempt_nr} does not match the job's current attempt {attempt_nr}"
        return UpdatePlan(UpdateKind.REFUSE, command=KILL, message=msg)
    if report.site_name and site and report.site_name != site:
        msg = f"the job runs at {site}, not at {report.site_name}"
        return UpdatePlan(UpdateKind.REFUSE, command=KILL, message=msg)
    if current in FINAL_STATES:
        if report.is_final:
            return UpdatePlan(
                UpdateKind.REFUSE, command=ALREADYDONE, message=f"job is already {current.value}"
            )
        return UpdatePlan(UpdateKind.REFUSE, command=KILL, message=f"job is already {current.value}")
    command = KILL if command_to_pilot == KILL else ""
    if report.is_final:
        target = S.FINISHED if report.status == "finished" else S.FAILED
        via = () if current is S.HOLDING else (S.HOLDING,)
        return UpdatePlan(UpdateKind.FINAL, target, command, via=via)
    return _plan_progress(current, JobStatus(report.status), command)


def _plan_progress(current: JobStatus, reported: JobStatus, command: str) -> UpdatePlan:
    if current in (S.HOLDING, S.TRANSFERRING) and reported in (S.STARTING, S.RUNNING):
        return UpdatePlan(UpdateKind.REFUSE, command=command, message=f"job is {current.value}; ignored")
    if reported is S.STARTING and current is S.RUNNING:
        reported = S.RUNNING  # a late 'starting' after 'running' is coerced
    if reported is current:
        return UpdatePlan(UpdateKind.HEARTBEAT, command=command)
    if current is S.TRANSFERRING and reported is S.HOLDING:
        return UpdatePlan(
            UpdateKind.REFUSE, command=command, message="transferring never goes back to holding"
        )
    return UpdatePlan(UpdateKind.TRANSITION, reported, command)
