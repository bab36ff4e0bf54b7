"""Task chaining (scheduling.md §11, states.md §2.2): what a child task does while its parent runs (pure).

A child task (``parent_tid``) reads its parent's output dataset as it grows. PanDA classes the parent
like ``checkParentTask_JEDI``: ``running`` (not final), ``completed`` (done or finished), ``corrupted``
(failed, broken or aborted) or ``unknown`` (no such task). Then:

- a defined child whose parent is corrupted is broken ("parent task N failed to complete", as JEDI's
  TaskRefiner says); with the parent running it waits, still ``defined``, until its input has files,
  unless ``noWaitParent`` lets it start at once on whatever there is (possibly nothing yet);
- a started child keeps re-feeding its input (``mutable``) while the parent is running; the feed stops
  once the parent is no longer running and its output will not grow: closed in the catalog, missing, or
  the parent corrupted or gone (a broken parent never closes its outputs);
- the child is never prepared (so never final) while its parent is running; its final status is
  ``finished``, not ``done``, unless the parent is done (core.tasks.final_status).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pandawms.core.tasks import TaskStatus

T = TaskStatus


class ParentState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CORRUPTED = "corrupted"
    UNKNOWN = "unknown"


_COMPLETED = frozenset({T.DONE, T.FINISHED})
_CORRUPTED = frozenset({T.FAILED, T.BROKEN, T.ABORTED})


def parent_state(status: TaskStatus | None) -> ParentState:
    """The parent as a child sees it (None: no such task)."""
    if status is None:
        return ParentState.UNKNOWN
    if status in _COMPLETED:
        return ParentState.COMPLETED
    if status in _CORRUPTED:
        return ParentState.CORRUPTED
    return ParentState.RUNNING


class Start(StrEnum):
    """What the feeder does with a defined child after feeding what its input has now."""

    GO = "go"  # the usual definition checks, then ready
    WAIT = "wait"  # stay defined; fed again next cycle
    BREAK = "break"  # the parent will never produce the input


@dataclass(frozen=True, slots=True)
class StartDecision:
    action: Start
    reason: str = ""


def start_child(
    parent_id: int, parent: ParentState, parent_status: str, *, no_wait: bool, fed_files: int
) -> StartDecision:
    """A defined child whose input has ``fed_files`` rows so far: go, wait or break (with the reason)."""
    if parent is ParentState.CORRUPTED:
        return StartDecision(Start.BREAK, f"parent task {parent_id} failed to complete ({parent_status})")
    if parent is ParentState.RUNNING and fed_files == 0 and not no_wait:
        return StartDecision(Start.WAIT, f"parent task {parent_id} has produced no input file yet")
    return StartDecision(Start.GO)


def input_stops(parent: ParentState, *, exists: bool, is_open: bool) -> bool:
    """True when a child's mutable input will not grow any more, so its feed can stop after one last
    full read (decided before that read: a closed dataset gets no new file)."""
    if parent is ParentState.RUNNING:
        return False
    gone = parent in (ParentState.CORRUPTED, ParentState.UNKNOWN)
    return gone or not exists or not is_open
