"""Pure retry policy for failed jobs: a retry is a new job (attempt + 1) linked to its parent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pandawms.core.specs import ErrorComponent, JobErrors

# Closures by the system, not failures of the job: the payload never started (a pilot claimed the job and
# its answer or the pilot was lost). PanDA counts them as attempts but not against the user's maxAttempt;
# a few extra attempts are granted for them, so a job lost in dispatch is not failed for good.
SYSTEM_CLOSURES = frozenset({(ErrorComponent.JOBDISPATCHER, 102)})
SYSTEM_CLOSURE_GRACE = 3


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    reason: str


def parse_error_keys(items: Iterable[str]) -> frozenset[tuple[ErrorComponent, int]]:
    """Parse ``component:code`` strings (config ``non_retryable``); ValueError names a bad item."""
    out: set[tuple[ErrorComponent, int]] = set()
    for item in items:
        comp, sep, code = item.partition(":")
        try:
            if not sep:
                raise ValueError("missing ':'")
            out.add((ErrorComponent(comp.strip()), int(code)))
        except ValueError as exc:
            raise ValueError(f"non_retryable entry {item!r} is not component:code ({exc})") from None
    return frozenset(out)


def decide_retry(
    attempt_nr: int,
    max_attempt: int,
    errors: JobErrors,
    non_retryable: frozenset[tuple[ErrorComponent, int]],
    killed: bool = False,
) -> RetryDecision:
    """Retry unless killed, out of attempts, or any error code is marked non-retryable."""
    if killed:
        return RetryDecision(False, "job was killed")
    for comp, code in errors.codes.items():
        if (comp, code) in non_retryable:
            return RetryDecision(False, f"error {comp.value}:{code} is not retryable")
    closures = {(comp, code) for comp, code in errors.codes.items() if code}
    if closures and closures <= SYSTEM_CLOSURES and attempt_nr < max_attempt + SYSTEM_CLOSURE_GRACE:
        return RetryDecision(True, f"retry as attempt {attempt_nr + 1}: a system closure is not a failure")
    if attempt_nr >= max_attempt:
        return RetryDecision(False, f"attempt {attempt_nr} of {max_attempt}: no attempts left")
    return RetryDecision(True, f"retry as attempt {attempt_nr + 1} of {max_attempt}")
