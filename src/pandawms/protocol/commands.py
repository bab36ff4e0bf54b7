"""Server -> pilot commands carried in update_job answers (reference protocol.md §6)."""

from pandawms.core.commands import PilotCommand

__all__ = ["PilotCommand", "StatusCode"]


class StatusCode:
    """Legacy StatusCode values kept in answers so pilot3-style clients can read them."""

    OK = 0
    TIMEOUT = 10
    NO_JOBS = 20
    FAILED = 30
    INVALID = 50
