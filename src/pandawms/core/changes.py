"""Typed changes to a job besides its status: what services hand to the writer (db/rows maps them to columns).

Services never name columns: an ending carries its error record, a kill its pilot command, brokerage its
queue, a pilot update its report. db/rows.change_columns is the one place that knows the columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pandawms.core.commands import PilotCommand
from pandawms.core.ids import QueueName
from pandawms.core.specs import ErrorComponent, JobSpec
from pandawms.core.states import JobStatus
from pandawms.core.updates import PilotReport


@dataclass(frozen=True, slots=True)
class JobError:
    """One component's (code, diag) pair; code 0 with an empty diag clears that component's error."""

    component: ErrorComponent
    code: int
    diag: str = ""


@dataclass(frozen=True, slots=True)
class JobChange:
    """Non-status values to write with a transition or on their own. None/empty = leave as is."""

    errors: tuple[JobError, ...] = ()
    command: PilotCommand | None = None
    computing_site: QueueName | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    report: PilotReport | None = None  # what a pilot's update_job sent (heartbeat fields and metrics)
    dispatch_dblock: str | None = None  # the _dis block of a job the Setupper assigned
    destination_dblock: str | None = None  # the _sub block the Adder registered its outputs in
    # Refresh modification_time, the clock the watchdogs read. Off for bookkeeping that must not keep a
    # waiting job alive (a brokerage diagnostic rewritten at every re-brokering attempt).
    touch: bool = True

    def stamped(self, *, start: datetime | None = None, end: datetime | None = None) -> JobChange:
        """This change with start/end times set where it has none (the transition rules' stamps)."""
        report = self.report
        return JobChange(
            errors=self.errors,
            command=self.command,
            computing_site=self.computing_site,
            start_time=self.start_time or (report.start_time if report else None) or start,
            end_time=self.end_time or (report.end_time if report else None) or end,
            report=report,
            dispatch_dblock=self.dispatch_dblock,
            destination_dblock=self.destination_dblock,
            touch=self.touch,
        )


NO_CHANGE = JobChange()


@dataclass(frozen=True, slots=True)
class WorkerChange:
    """What a worker transition writes besides the status (start/end times come from the worker rules)."""

    diag: str | None = None
    batch_id: str | None = None
    exit_code: int | None = None
    panda_id: int | None = None  # the job its pilot took
    batch_state: str | None = None  # its native batch state (squeue/sacct), as the factory saw it


@dataclass(frozen=True, slots=True)
class Lineage:
    """How a new job relates to an earlier attempt (retry, reassignment)."""

    attempt_nr: int = 1
    parent_id: int | None = None
    relation_type: str = ""


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to create in ``status``, reached through the states in ``via`` (e.g. defined -> activated)."""

    spec: JobSpec
    status: JobStatus
    computing_site: QueueName | None = None
    lineage: Lineage = Lineage()
    errors: tuple[JobError, ...] = ()
    reason: str = "submitted"
    via: tuple[JobStatus, ...] = ()
