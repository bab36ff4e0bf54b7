"""Bulk status look-ups: job/get_status (clients) and pilot/get_job_status (pilots)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pandawms.core.specs import Job
from pandawms.core.states import JobStatus
from pandawms.protocol.commands import PilotCommand


class JobStatusEntry(BaseModel):
    """One requested id; an unknown id is answered with ``jobStatus`` and ``attemptNr`` null."""

    model_config = ConfigDict(populate_by_name=True)
    panda_id: int = Field(alias="PandaID")
    job_status: JobStatus | None = Field(alias="jobStatus")
    attempt_nr: int | None = Field(alias="attemptNr")

    @classmethod
    def of(cls, panda_id: int, job: Job | None) -> JobStatusEntry:
        if job is None:
            return cls(panda_id=panda_id, job_status=None, attempt_nr=None)
        return cls(panda_id=panda_id, job_status=job.status, attempt_nr=job.attempt_nr)


class PilotJobStatusEntry(JobStatusEntry):
    """The pilot's view adds the command pending for the job (``NULL`` when none; null if unknown)."""

    command: PilotCommand | None

    @classmethod
    def of(cls, panda_id: int, job: Job | None) -> PilotJobStatusEntry:
        if job is None:
            return cls(panda_id=panda_id, job_status=None, attempt_nr=None, command=None)
        command = PilotCommand(job.command_to_pilot or PilotCommand.NONE)
        return cls(panda_id=panda_id, job_status=job.status, attempt_nr=job.attempt_nr, command=command)
