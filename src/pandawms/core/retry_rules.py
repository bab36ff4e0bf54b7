"""JEDI's file-centric retries: the retry module's rules and what a job's end does to each input file row.

Sources: scheduling.md §9 (retry module, actions, narrowest rule wins, one action per job) and states.md §4
(input-file counters on job end, eligibility ``attemptNr < maxAttempt AND failedAttempt < maxFailure``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TypeVar

from pandawms.core.errors import InvalidInput
from pandawms.core.specs import ErrorComponent, JobErrors


class RetryAction(StrEnum):
    NO_RETRY = "no_retry"
    LIMIT_RETRY = "limit_retry"
    INCREASE_MEMORY = "increase_memory"
    INCREASE_CPUTIME = "increase_cputime"
    REDUCE_INPUT_PER_JOB = "reduce_input_per_job"


@dataclass(frozen=True, slots=True)
class RetryRule:
    """One retry-module rule: which errors it matches and the action; validated on construction."""

    name: str
    action: RetryAction
    component: ErrorComponent | None = None  # None = any
    code: int | None = None  # None = any
    diag: str | None = None  # regex searched in the diag; None = any
    value: int | None = None  # limit_retry: maxAttempt; increase_memory: step MB (None = task's)
    active: bool = True  # inactive rules are reported ("would have") but not applied

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("a retry rule needs a name", field="name")
        if self.value is not None and self.value < 0:
            raise InvalidInput(f"value must be >= 0, got {self.value}", field="value")
        if self.action is RetryAction.LIMIT_RETRY and self.value is None:
            raise InvalidInput("limit_retry needs a value (the new maxAttempt)", field="value")
        if self.diag is not None:
            try:
                re.compile(self.diag)
            except re.error as exc:
                raise InvalidInput(f"diag {self.diag!r} is not a valid regex: {exc}", field="diag") from None

    @property
    def specificity(self) -> int:
        """How narrow the rule is: the number of set matchers (component, code, diag); 0 is a catch-all."""
        return sum(x is not None for x in (self.component, self.code, self.diag))

    def matches(self, component: ErrorComponent, code: int, diag: str) -> bool:
        return (
            (self.component is None or self.component is component)
            and (self.code is None or self.code == code)
            and (self.diag is None or re.search(self.diag, diag) is not None)
        )


_P = ErrorComponent.PILOT
# Small and sourced: each name is the pilot's acronym for the code (errors.md §3, protocol/errorcodes); a
# unit test checks names against the catalog. Memory errors raise ramCount, time limits raise cpuTime, input
# too big for the job shrinks the next jobs, and errors no retry can fix (the user's transform or file
# names) stop at once.
DEFAULT_RULES: tuple[RetryRule, ...] = (
    RetryRule("PAYLOADOUTOFMEMORY", RetryAction.INCREASE_MEMORY, _P, 1212),
    RetryRule("PAYLOADEXCEEDMAXMEM", RetryAction.INCREASE_MEMORY, _P, 1235),
    RetryRule("BADALLOC", RetryAction.INCREASE_MEMORY, _P, 1223),
    RetryRule("REACHEDMAXTIME", RetryAction.INCREASE_CPUTIME, _P, 1213),
    RetryRule("SIZETOOLARGE", RetryAction.REDUCE_INPUT_PER_JOB, _P, 1168),
    RetryRule("USERDIRTOOLARGE", RetryAction.REDUCE_INPUT_PER_JOB, _P, 1104),
    RetryRule("TRANSFORMNOTFOUND", RetryAction.NO_RETRY, _P, 1346),
    RetryRule("UNRECOGNIZEDTRFARGUMENTS", RetryAction.NO_RETRY, _P, 1349),
    RetryRule("LFNTOOLONG", RetryAction.NO_RETRY, _P, 1190),
    RetryRule("BADOUTPUTFILENAME", RetryAction.NO_RETRY, _P, 1371),
)


def _errors(errors: JobErrors) -> Iterator[tuple[ErrorComponent, int, str]]:
    for comp in ErrorComponent:  # the enum's order, so matching does not depend on dict order
        code = errors.codes.get(comp, 0)
        if code:
            yield comp, code, errors.diags.get(comp, "")


def _narrowest(rules: Sequence[RetryRule], errors: JobErrors, active: bool) -> RetryRule | None:
    found = list(_errors(errors))
    best: RetryRule | None = None
    for rule in rules:
        if rule.active is not active or (best is not None and rule.specificity <= best.specificity):
            continue
        if rule.specificity == 0 or any(rule.matches(*e) for e in found):
            best = rule
    return best


def match(rules: Sequence[RetryRule], errors: JobErrors) -> RetryRule | None:
    """The active rule for a job's errors: the narrowest matching one wins, ties go to the first in order.

    Narrowness counts the set matchers, so component+code+diag > component+code > component > catch-all;
    a rule matches when one of the job's (component, code, diag) errors satisfies all of its matchers. A
    catch-all matches any job, even one without error codes. One action per job (scheduling.md §9).
    """
    return _narrowest(rules, errors, active=True)


def would_match(rules: Sequence[RetryRule], errors: JobErrors) -> RetryRule | None:
    """The narrowest matching *inactive* rule (dry run): reported next to the decision, never applied."""
    return _narrowest(rules, errors, active=False)


class JobOutcome(StrEnum):
    FINISHED = "finished"
    FAILED = "failed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FileAttempt:
    """The counters of one task input file row."""

    attempt_nr: int
    max_attempt: int
    failed_attempt: int = 0
    max_failure: int | None = None
    ram_count: int = 0  # MB per core, 0 = task's


@dataclass(frozen=True, slots=True)
class RamPolicy:
    """retryRamOffset / retryRamStep (split rules RX / RY), MB per core."""

    base: int = 0  # the task's ramCount
    offset: int = 0
    step: int = 0  # 0 = no per-task policy: increase_memory then doubles (bounded by max_ram)
    max_ram: int = 0  # 0 = unbounded


class FileStatusAfter(StrEnum):
    READY = "ready"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class FileDecision:
    status: FileStatusAfter
    attempt_nr: int
    failed_attempt: int
    max_attempt: int
    ram_count: int
    reduce_input: bool  # the task should halve nGBPerJob / nMaxFilesPerJob
    reason: str
    increase_cputime: bool = False  # the task should raise its cpuTime estimate


def _raised_ram(f: FileAttempt, attempt: int, rule: RetryRule, ram: RamPolicy) -> tuple[int, str]:
    """The file's new ramCount after increase_memory and a note saying how it was computed (§9)."""
    current = f.ram_count or ram.base
    if rule.value is not None:
        new, how = current + rule.value, f"+{rule.value} MB"
    elif ram.step > 0:
        new, how = (
            ram.offset + ram.step * attempt,
            f"retryRamOffset {ram.offset} + {ram.step} x attempt {attempt}",
        )
    elif current > 0:
        new, how = current * 2, "doubled"
    else:
        return f.ram_count, "ramCount unknown, not raised"
    new = max(new, current)
    if ram.max_ram > 0:
        new = min(new, max(ram.max_ram, current))
        how += f", max {ram.max_ram}" if new == ram.max_ram else ""
    return new, f"ramCount {current} -> {new} MB per core ({how})"


@dataclass(frozen=True, slots=True)
class _Effect:
    max_attempt: int
    ram_count: int
    note: str
    stop: bool = False
    reduce_input: bool = False
    increase_cputime: bool = False


def _apply(rule: RetryRule, f: FileAttempt, attempt: int, ram: RamPolicy) -> _Effect:
    head = f"rule {rule.name}: {rule.action.value}"
    keep = (f.max_attempt, f.ram_count)
    if rule.action is RetryAction.NO_RETRY:
        return _Effect(*keep, head, stop=True)
    if rule.action is RetryAction.LIMIT_RETRY:
        limit = f.max_attempt if rule.value is None else min(f.max_attempt, rule.value)
        return _Effect(limit, f.ram_count, f"{head} maxAttempt {limit}")
    if rule.action is RetryAction.INCREASE_MEMORY:
        new_ram, how = _raised_ram(f, attempt, rule, ram)
        return _Effect(f.max_attempt, new_ram, f"{head}, {how}")
    if rule.action is RetryAction.INCREASE_CPUTIME:
        return _Effect(*keep, head, increase_cputime=True)
    return _Effect(*keep, head, reduce_input=True)


def _exhausted(attempt: int, failed: int, max_attempt: int, max_failure: int | None) -> str | None:
    if attempt >= max_attempt:
        return f"attempts exhausted ({attempt} of maxAttempt {max_attempt})"
    if max_failure is not None and failed >= max_failure:
        return f"failures exhausted ({failed} of maxFailure {max_failure})"
    return None


def after_job(
    f: FileAttempt,
    outcome: JobOutcome,
    rule: RetryRule | None,
    ram: RamPolicy,
    *,
    dry_run: RetryRule | None = None,
) -> FileDecision:
    """The file row's status and counters after a job that used it ended (states.md §4 table).

    finished -> finished; failed -> attemptNr+1 and failedAttempt+1, then ``rule`` applies; closed and
    cancelled (system ends: rebrokerage, expiry, kill) -> attemptNr+1 only and no rule applies. The row
    then goes ``ready`` unless its attempts are exhausted (attemptNr ≥ maxAttempt or failedAttempt ≥
    maxFailure) or the rule said no_retry, which make it ``failed``. An inactive ``rule`` or ``dry_run``
    is only named in the reason ("would have").
    """
    if outcome is JobOutcome.FINISHED:
        return FileDecision(
            FileStatusAfter.FINISHED,
            f.attempt_nr,
            f.failed_attempt,
            f.max_attempt,
            f.ram_count,
            False,
            "job finished",
        )
    attempt = f.attempt_nr + 1
    failed = f.failed_attempt + (outcome is JobOutcome.FAILED)
    notes = [f"job {outcome.value}" + ("" if outcome is JobOutcome.FAILED else ", no failure charged")]
    effect = _Effect(f.max_attempt, f.ram_count, "")
    if outcome is JobOutcome.FAILED and rule is not None and rule.active:
        effect = _apply(rule, f, attempt, ram)
        notes.append(effect.note)
    for shadow in (rule, dry_run):
        if outcome is JobOutcome.FAILED and shadow is not None and not shadow.active:
            notes.append(f"inactive rule {shadow.name} would have applied {shadow.action.value}")
    done = "no retry" if effect.stop else _exhausted(attempt, failed, effect.max_attempt, f.max_failure)
    status = FileStatusAfter.FAILED if done else FileStatusAfter.READY
    notes.append(done or f"ready for attempt {attempt} of {effect.max_attempt}")
    return FileDecision(
        status,
        attempt,
        failed,
        effect.max_attempt,
        effect.ram_count,
        effect.reduce_input,
        "; ".join(notes),
        effect.increase_cputime,
    )


# --- rules from configuration and task parameters ---------------------------------------------------------

_KEYS = {f.name for f in fields(RetryRule)}
_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


def _typed(item: Mapping[str, object], key: str, kind: type[_T], path: str) -> _T | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidInput(f"{path}.{key}: must be {kind.__name__}, got {value!r}", field=f"{path}.{key}")
    return value


def _enum(value: str | None, enum: type[_E], path: str) -> _E | None:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(f"{path}: unknown {value!r} (one of {allowed})", field=path) from None


def _parse_rule(item: Mapping[str, object], path: str) -> RetryRule:
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise InvalidInput(f"{path}.{unknown[0]}: unknown field", field=f"{path}.{unknown[0]}")
    name = _typed(item, "name", str, path)
    action = _enum(_typed(item, "action", str, path), RetryAction, f"{path}.action")
    if name is None or action is None:
        missing = "name" if name is None else "action"
        raise InvalidInput(f"{path}.{missing}: required", field=f"{path}.{missing}")
    component = _enum(_typed(item, "component", str, path), ErrorComponent, f"{path}.component")
    code, value = _typed(item, "code", int, path), _typed(item, "value", int, path)
    diag, active = _typed(item, "diag", str, path), _typed(item, "active", bool, path)
    try:
        return RetryRule(name, action, component, code, diag, value, True if active is None else active)
    except InvalidInput as exc:  # the rule's own checks: prefix the item
        raise InvalidInput(f"{path}.{exc.field} ({name}): {exc}", field=f"{path}.{exc.field}") from None


def parse_rules(items: Sequence[Mapping[str, object]], where: str) -> tuple[RetryRule, ...]:
    """Validate rules from config or task parameters (``retryModuleRules``); errors name item and field.

    Each item: ``name``, ``action`` (a RetryAction value), optional ``component``, ``code``, ``diag``
    (regex), ``value`` (≥ 0; required for limit_retry) and ``active``. Names must be unique.
    """
    out: list[RetryRule] = []
    for i, item in enumerate(items):
        path = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{path} must be a table, got {type(item).__name__}", field=path)
        rule = _parse_rule(item, path)
        if any(r.name == rule.name for r in out):
            raise InvalidInput(f"{path}.name: duplicate rule name {rule.name!r}", field=f"{path}.name")
        out.append(rule)
    return tuple(out)
