"""Domain errors grouped by what the caller should do; server/errors.py maps each group to an HTTP status."""

from __future__ import annotations


class PandaError(Exception):
    """Base of all domain errors."""


class InvalidInput(PandaError):
    """The caller sent something malformed; the message names the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PandaError):
    """The named object does not exist."""


class Conflict(PandaError):
    """The request is valid but not allowed in the object's current state."""


class Transient(PandaError):
    """A passing problem (lock timeout, database busy): the caller should retry with backoff."""


class Fatal(PandaError):
    """An internal error the caller cannot fix."""


class Unauthenticated(PandaError):
    """No credentials, or credentials that do not verify (expired, wrong audience or issuer, tampered)."""


class Forbidden(PandaError):
    """The caller is known but may not do this action on these objects."""


class RateLimited(PandaError):
    """Too many writes from one identity: the caller should wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many writes: retry after {retry_after:.1f} s")
        self.retry_after = retry_after
