"""Pure retry policy for failed jobs: a retry is a new job (attempt + 1) linked to its parent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pandawms.core.specs import ErrorComponent, JobErrors

# Closures by the system, not failures of the job: the payload never started (a pilot claimed the job and
# its answer or the pilot was lost: the sent timeout, jobDispatcherErrorCode 102). PanDA counts them as
# attempts but not as failures ("system errors raise maxFailure instead of charging the user"): the retry
# has attemptNr + 1 and maxAttempt + 1. At most SYSTEM_CLOSURE_CAP of them in one job's retry chain are
# free; a later one is judged as an ordinary failure, so a job lost in dispatch again and again ends.
SYSTEM_CLOSURES = frozenset({(ErrorComponent.JOBDISPATCHER, 102)})
SYSTEM_CLOSURE_CAP = 3


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    reason: str
    extra_attempt: bool = False  # a free system closure: the retry's maxAttempt is one higher


def is_system_closure(errors: JobErrors) -> bool:
    """The job was closed by the system alone (its only error codes are SYSTEM_CLOSURES)."""
    codes = {(comp, code) for comp, code in errors.codes.items() if code}
    return bool(codes) and codes <= SYSTEM_CLOSURES


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
    system_closures: int = 0,
) -> RetryDecision:
    """Retry unless killed, out of attempts, or any error code is marked non-retryable.

    ``system_closures``: how many earlier attempts of this job's chain were system closures. A system
    closure within SYSTEM_CLOSURE_CAP is retried whatever the attempts left, with one more attempt."""
    if killed:
        return RetryDecision(False, "job was killed")
    for comp, code in errors.codes.items():
        if (comp, code) in non_retryable:
            return RetryDecision(False, f"error {comp.value}:{code} is not retryable")
    if is_system_closure(errors) and system_closures < SYSTEM_CLOSURE_CAP:
        return RetryDecision(
            True,
            f"retry as attempt {attempt_nr + 1} of {max_attempt + 1}: system closure "
            f"{system_closures + 1} of at most {SYSTEM_CLOSURE_CAP} free ones, not a failure",
            extra_attempt=True,
        )
    if attempt_nr >= max_attempt:
        return RetryDecision(False, f"attempt {attempt_nr} of {max_attempt}: no attempts left")
    return RetryDecision(True, f"retry as attempt {attempt_nr + 1} of {max_attempt}")
