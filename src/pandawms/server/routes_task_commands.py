"""Task command endpoints: task/kill, finish, retry, pause, resume, reassign, avalanche (thin: parse,
queue the command in one transaction, answer).

As in PanDA the answer is HTTP 200 with PanDA's return code in ``data.code`` (0 queued, 2 no such task,
4 not allowed in the task's status) and ``success`` true only for code 0; bad arguments (a body that
does not parse, an unknown newParams key or queue) are HTTP 400/422 as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from pandawms.core.tasks import TaskCommand
from pandawms.protocol import paths
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.task_commands import TaskCommandAnswer, TaskCommandCode, TaskCommandRequest
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import task_commands

router = APIRouter(tags=["tasks"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]

C = TaskCommand
PATHS: dict[TaskCommand, str] = {
    C.KILL: paths.TASK_KILL,
    C.FINISH: paths.TASK_FINISH,
    C.RETRY: paths.TASK_RETRY,
    C.PAUSE: paths.TASK_PAUSE,
    C.RESUME: paths.TASK_RESUME,
    C.REASSIGN: paths.TASK_REASSIGN,
    C.AVALANCHE: paths.TASK_AVALANCHE,
}
SUMMARIES: dict[TaskCommand, str] = {
    C.KILL: "Kill a task: aborting, its active jobs killed, aborted once none is left.",
    C.FINISH: (
        "Finish a task: no new jobs; soft lets running jobs end, hard kills them; then its final status."
    ),
    C.RETRY: "Retry a finished/failed/aborted/exhausted task: failed files run again (newParams: ramCount).",
    C.PAUSE: "Pause a task: no new jobs until resumed (running jobs go on).",
    C.RESUME: "Resume a paused task in the status it was paused in.",
    C.REASSIGN: "Reassign a task (site / excludedSite): its queued jobs are closed and made again elsewhere.",
    C.AVALANCHE: "Skip the rest of scouting: the task generates its bulk jobs now.",
}


def handle(ctx: ServerContext, command: TaskCommand, body: TaskCommandRequest) -> Response:
    with ctx.db.write() as conn:
        answer = task_commands.queue(conn, command, body, ctx.clock())
    return envelope(answer, success=answer.code is TaskCommandCode.ACCEPTED, message=answer.message)


def _route(command: TaskCommand) -> Callable[[TaskCommandRequest, ServerContext], Response]:
    def route(body: TaskCommandRequest, ctx: Ctx) -> Response:
        return handle(ctx, command, body)

    route.__name__ = f"task_{command.value}"
    route.__doc__ = (
        SUMMARIES[command] + " Answers PanDA's code (0 queued, 2 no such task, 4 not allowed now)."
    )
    return route


for _command, _path in PATHS.items():
    router.add_api_route(
        _path, _route(_command), methods=["POST"], response_model=Envelope[TaskCommandAnswer]
    )
