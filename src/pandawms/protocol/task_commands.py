"""Task commands on the wire (protocol.md §8): kill, finish, retry, pause, resume, reassign, avalanche.

Commands are asynchronous, as in PanDA: the server checks the task exists, the caller may command it and
the command is allowed in its current status, queues it and answers at once; the task commando carries
it out within one agent cycle. Return codes are PanDA's.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from pandawms.core.tasks import TaskCommand
from pandawms.protocol.bounds import BIGINT_MAX, Id, Real

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class TaskCommandCode(IntEnum):
    """PanDA's return codes of task commands."""

    ACCEPTED = 0
    SERVER_ERROR = 1
    NOT_FOUND = 2
    PERMISSION_DENIED = 3
    NOT_ALLOWED = 4  # not allowed in the task's current status
    BAD_TASK_ID = 101


class TaskCommandRequest(BaseModel):
    """One command for one task. ``soft`` (finish): let running jobs end instead of killing them.
    ``site`` / ``excluded_sites`` (reassign): where the task's queued jobs go instead.
    ``new_params`` (retry): task parameters to change for the retry (ramCount, maxAttempt, ...)."""

    model_config = _STRICT
    task_id: Id = Field(alias="jediTaskID")
    soft: StrictBool = False
    site: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    excluded_sites: list[str] = Field(default_factory=list, alias="excludedSite", max_length=1000)
    new_params: dict[
        str, Annotated[int, Field(ge=-BIGINT_MAX, le=BIGINT_MAX, strict=True)] | Real | str | bool
    ] = Field(default_factory=dict, alias="newParams", max_length=50)
    requested_by: str = Field("", alias="requestedBy", max_length=128)


class TaskCommandAnswer(BaseModel):
    """What the server did with the command: PanDA's code and a message saying why."""

    model_config = ConfigDict(populate_by_name=True)
    task_id: int = Field(alias="jediTaskID")
    command: TaskCommand
    code: TaskCommandCode
    message: str
    command_id: int | None = Field(None, alias="commandID", description="the queued command's id")
