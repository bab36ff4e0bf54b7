"""Server -> pilot commands (reference protocol.md §6): stored in ``commandToPilot`` and sent in answers.

One definition for the server (which stores ``tobekilled`` on a kill request), the pure update rules
and the pilot (which obeys them); protocol/commands.py re-exports it for the wire.
"""

from __future__ import annotations

from enum import StrEnum


class PilotCommand(StrEnum):
    NONE = "NULL"
    TOBEKILLED = "tobekilled"
    SOFTKILL = "softkill"
    DEBUG = "debug"
    DEBUGOFF = "debugoff"
    ALREADYDONE = "alreadydone"
