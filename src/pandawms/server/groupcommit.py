"""Group commit for the fast path's short writes on SQLite: calls that arrive together share a transaction.

SQLite has one writer and every pilot call was its own transaction: BEGIN IMMEDIATE, a few statements,
COMMIT, where the commit writes every page the call touched to the WAL (the job row, its ~12 index
pages, the history). Under load several pilots' calls are waiting at once, so a call waits for the
calls that keep arriving: turns of the event loop while the group still grows, at most ``MAX_TURNS``
(a request read in one turn reaches the handler only in the next; with one turn a group of 8 pilots
averaged 2.7 calls, with up to 4 all 8). They run one after another in one transaction
(``Database.group``), each in its own savepoint, so a call that fails is undone alone and answers as it
would have alone. The group commits and only then are the answers sent: an answer still means stored.
A group stops taking calls once it has run ``CHUNK_BUDGET_S`` (other writers wait at most that long);
the rest go into the next group. A lone call waits two turns of the loop (microseconds), nothing more.

Where the group runs: on the event loop when this process's writer turn is free (a group of short calls
takes a few milliseconds), otherwise in a worker thread that waits its turn there, as a single call did.
If the shared transaction fails (the commit, a lost transaction after a disk error), every call of the
group gets that error and none is stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.responses import Response

from pandawms.core.errors import PandaError
from pandawms.db.engine import CHUNK_BUDGET_S, Database
from pandawms.db.write_groups import GroupAborted
from pandawms.server.responses import error_response

Call = Callable[[], Response]
MAX_TURNS = 4  # turns of the event loop a group waits for more calls while they keep arriving


@dataclass(slots=True)
class _Pending:
    call: Call
    answer: asyncio.Future[Response]
    response: Response | None = None
    error: BaseException | None = None

    def settle(self) -> None:
        if self.answer.done():  # the request went away meanwhile (its writes stand, as for a lone call)
            return
        if self.error is not None:
            self.answer.set_exception(self.error)
        else:
            assert self.response is not None
            self.answer.set_result(self.response)


class GroupCommit:
    """Runs short write calls in shared SQLite transactions; one per server process (the event loop's)."""

    def __init__(self, db: Database, budget_s: float = CHUNK_BUDGET_S, max_turns: int = MAX_TURNS) -> None:
        self.db = db
        self.budget_s = budget_s
        self.max_turns = max_turns
        self._waiting: list[_Pending] = []
        self._scheduled = False
        self._threads: set[asyncio.Task[None]] = set()

    async def run(self, call: Call) -> Response:
        """``call``'s response once its group has committed (a PandaError becomes its error response)."""
        loop = asyncio.get_running_loop()
        pending = _Pending(call, loop.create_future())
        self._waiting.append(pending)
        self._schedule(loop)
        return await pending.answer

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._scheduled and self._waiting:
            self._scheduled = True
            loop.call_soon(self._gather, loop, 0, 0)

    def _gather(self, loop: asyncio.AbstractEventLoop, turn: int, seen: int) -> None:
        """Wait turns of the loop while calls keep joining (requests read in this turn reach ``run`` in
        the next), at most ``max_turns``; then run the group."""
        if len(self._waiting) > seen and turn < self.max_turns:
            loop.call_soon(self._gather, loop, turn + 1, len(self._waiting))
        else:
            self._flush()

    def _flush(self) -> None:
        """On the loop: the calls that arrived so far, as one group (more next turn if over budget)."""
        self._scheduled = False
        batch, self._waiting = self._waiting, []
        loop = asyncio.get_running_loop()
        with self.db.writer_if_free() as free:
            if free:
                self._finish(batch, self._run_group(batch), loop)
                return
        task = loop.create_task(self._in_thread(batch))  # another writer holds the turn: wait in a thread
        self._threads.add(task)
        task.add_done_callback(self._threads.discard)

    async def _in_thread(self, batch: list[_Pending]) -> None:
        try:
            ran = await anyio.to_thread.run_sync(self._run_group, batch)
        except BaseException as exc:  # cancelled at shutdown: no waiting call is left hanging
            for pending in batch:
                pending.error = exc if isinstance(exc, Exception) else RuntimeError("server stopping")
                pending.settle()
            raise
        self._finish(batch, ran, asyncio.get_running_loop())

    def _finish(self, batch: list[_Pending], ran: int, loop: asyncio.AbstractEventLoop) -> None:
        for pending in batch[:ran]:
            pending.settle()
        if ran < len(batch):  # over budget: the rest go first into the next group
            self._waiting[:0] = batch[ran:]
            self._schedule(loop)

    def _run_group(self, batch: list[_Pending]) -> int:
        """Run calls of ``batch`` in one transaction until it is done or over budget; how many ran (each
        has its response or error set, final once this returns)."""
        started = time.perf_counter()
        ran = 0
        try:
            with self.db.group() as group:
                for pending in batch:
                    ran += 1
                    try:
                        pending.response = group.call(pending.call)
                    except PandaError as exc:  # the call's own refusal: undone, answered like a lone call
                        pending.response = error_response(exc)
                    except GroupAborted:
                        raise
                    except Exception as exc:  # a bug or a database error in this call only: undone
                        pending.error = exc
                    if time.perf_counter() - started >= self.budget_s:
                        break
        except Exception as exc:  # begin, commit or the shared transaction failed: nothing of it stored
            error = exc.error if isinstance(exc, GroupAborted) else exc
            failed = batch[:ran] if ran else batch  # a failed begin: every waiting call would have failed
            for pending in failed:
                pending.response = error_response(error) if isinstance(error, PandaError) else None
                pending.error = None if isinstance(error, PandaError) else error
            return len(failed)
        return ran
