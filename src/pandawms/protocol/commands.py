"""Server -> pilot commands carried in update_job answers (reference protocol.md §6)."""

from enum import StrEnum


class PilotCommand(StrEnum):
    NONE = "NULL"
    TOBEKILLED = "tobekilled"
    SOFTKILL = "softkill"
    DEBUG = "debug"
    DEBUGOFF = "debugoff"
    ALREADYDONE = "alreadydone"


class StatusCode:
    """Legacy StatusCode values kept in answers so pilot3-style clients can read them."""

    OK = 0
    TIMEOUT = 10
    NO_JOBS = 20
    FAILED = 30
    INVALID = 50
