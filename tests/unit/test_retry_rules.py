"""The retry module (scheduling.md §9) and input-file counters on job end (states.md §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pandawms.core.errors import InvalidInput
from pandawms.core.retry_rules import (
    DEFAULT_RULES,
    FileAttempt,
    FileDecision,
    FileStatusAfter,
    JobOutcome,
    RamPolicy,
    RetryAction,
    RetryRule,
    after_job,
    match,
    parse_rules,
    would_match,
)
from pandawms.core.specs import ErrorComponent, JobErrors
from pandawms.protocol.errorcodes.pilot_codes import PilotCode

A = RetryAction
PILOT, EXE = ErrorComponent.PILOT, ErrorComponent.EXE
READY, FINISHED, FAILED = FileStatusAfter.READY, FileStatusAfter.FINISHED, FileStatusAfter.FAILED


def errs(**by_comp: tuple[int, str]) -> JobErrors:
    return JobErrors(
        codes={ErrorComponent(k): c for k, (c, _) in by_comp.items()},
        diags={ErrorComponent(k): d for k, (_, d) in by_comp.items()},
    )


# --- match ------------------------------------------------------------------------------------------------

CATCH_ALL = RetryRule("any", A.LIMIT_RETRY, value=5)
PILOT_ANY = RetryRule("pilot", A.LIMIT_RETRY, PILOT, value=4)
PILOT_1212 = RetryRule("oom", A.INCREASE_MEMORY, PILOT, 1212)
PILOT_1212_DIAG = RetryRule("oom-athena", A.NO_RETRY, PILOT, 1212, diag=r"athena\.py")
EXE_65 = RetryRule("exe65", A.NO_RETRY, EXE, 65)
RULES = (CATCH_ALL, PILOT_ANY, PILOT_1212, PILOT_1212_DIAG, EXE_65)


@pytest.mark.parametrize(
    ("rules", "errors", "expected"),
    [
        pytest.param(RULES, errs(pilot=(1212, "killed athena.py")), PILOT_1212_DIAG, id="code-and-diag"),
        pytest.param(RULES, errs(pilot=(1212, "oom in root")), PILOT_1212, id="code"),
        pytest.param(RULES, errs(pilot=(1305, "")), PILOT_ANY, id="component"),
        pytest.param(RULES, errs(ddm=(200, "adder")), CATCH_ALL, id="catch-all"),
        pytest.param(RULES, JobErrors(), CATCH_ALL, id="catch-all-without-errors"),
        pytest.param(RULES[1:], JobErrors(), None, id="nothing"),
        pytest.param(RULES, errs(pilot=(1305, ""), exe=(65, "")), EXE_65, id="narrowest-over-components"),
        pytest.param(
            (PILOT_1212, RetryRule("oom2", A.NO_RETRY, PILOT, 1212)),
            errs(pilot=(1212, "")),
            PILOT_1212,
            id="tie-first-in-order",
        ),
        pytest.param(
            (RetryRule("diag-only", A.NO_RETRY, diag="No space"),),
            errs(ddm=(200, "No space left")),
            RetryRule("diag-only", A.NO_RETRY, diag="No space"),
            id="diag-any-component",
        ),
        pytest.param(
            (PILOT_1212, RetryRule("dry", A.NO_RETRY, PILOT, 1212, diag="x", active=False)),
            errs(pilot=(1212, "x")),
            PILOT_1212,
            id="inactive-not-matched",
        ),
    ],
)
def test_match(rules: tuple[RetryRule, ...], errors: JobErrors, expected: RetryRule | None) -> None:
    assert match(rules, errors) == expected


def test_would_match_reports_inactive_rules_only() -> None:
    dry = RetryRule("dry", A.NO_RETRY, PILOT, 1212, active=False)
    assert would_match((PILOT_1212, dry), errs(pilot=(1212, ""))) == dry
    assert would_match((PILOT_1212,), errs(pilot=(1212, ""))) is None


def test_default_rules_are_sourced_from_the_pilot_catalog() -> None:
    for rule in DEFAULT_RULES:
        assert rule.component is PILOT and rule.code is not None
        assert PilotCode(rule.code).name == rule.name
    memory = {r.code for r in DEFAULT_RULES if r.action is A.INCREASE_MEMORY}
    assert {1212, 1235} <= memory
    assert match(DEFAULT_RULES, errs(pilot=(1305, "exit 1"))) is None


# --- after_job --------------------------------------------------------------------------------------------

F = FileAttempt(attempt_nr=0, max_attempt=3)
NO_RAM = RamPolicy()


@pytest.mark.parametrize(
    ("f", "outcome", "rule", "expected"),
    [
        pytest.param(F, JobOutcome.FINISHED, None, (FINISHED, 0, 0, 3), id="finished"),
        pytest.param(F, JobOutcome.FAILED, None, (READY, 1, 1, 3), id="failed"),
        pytest.param(F, JobOutcome.CLOSED, None, (READY, 1, 0, 3), id="closed"),
        pytest.param(F, JobOutcome.CANCELLED, None, (READY, 1, 0, 3), id="cancelled"),
        pytest.param(
            FileAttempt(2, 3, 2), JobOutcome.FAILED, None, (FAILED, 3, 3, 3), id="attempts-exhausted"
        ),
        pytest.param(FileAttempt(2, 3), JobOutcome.CLOSED, None, (FAILED, 3, 0, 3), id="closed-exhausts-too"),
        pytest.param(
            FileAttempt(1, 5, 1, 2), JobOutcome.FAILED, None, (FAILED, 2, 2, 5), id="failures-exhausted"
        ),
        pytest.param(
            FileAttempt(1, 5, 1, 2), JobOutcome.CLOSED, None, (READY, 2, 1, 5), id="closed-no-failure"
        ),
        pytest.param(F, JobOutcome.FAILED, EXE_65, (FAILED, 1, 1, 3), id="no-retry"),
        pytest.param(F, JobOutcome.CLOSED, EXE_65, (READY, 1, 0, 3), id="rules-only-on-failure"),
        pytest.param(
            F, JobOutcome.FAILED, RetryRule("l", A.LIMIT_RETRY, value=1), (FAILED, 1, 1, 1), id="limit"
        ),
        pytest.param(
            F, JobOutcome.FAILED, RetryRule("l", A.LIMIT_RETRY, value=9), (READY, 1, 1, 3), id="limit-min"
        ),
        pytest.param(
            F,
            JobOutcome.FAILED,
            RetryRule("dry", A.NO_RETRY, active=False),
            (READY, 1, 1, 3),
            id="inactive-not-applied",
        ),
    ],
)
def test_counters(
    f: FileAttempt,
    outcome: JobOutcome,
    rule: RetryRule | None,
    expected: tuple[FileStatusAfter, int, int, int],
) -> None:
    d = after_job(f, outcome, rule, NO_RAM)
    assert (d.status, d.attempt_nr, d.failed_attempt, d.max_attempt) == expected


@pytest.mark.parametrize(
    ("f", "rule", "ram", "ram_count", "note"),
    [
        pytest.param(
            F, PILOT_1212, RamPolicy(base=2000), 4000, "ramCount 2000 -> 4000 MB per core (doubled)", id="x2"
        ),
        pytest.param(
            FileAttempt(1, 3, 1, ram_count=3000),
            PILOT_1212,
            RamPolicy(base=2000, max_ram=5000),
            5000,
            "(doubled, max 5000)",
            id="x2-capped",
        ),
        pytest.param(
            FileAttempt(1, 3, 1),
            PILOT_1212,
            RamPolicy(base=2000, offset=1000, step=1500),
            4000,
            "retryRamOffset 1000 + 1500 x attempt 2",
            id="per-task-step",
        ),
        pytest.param(
            F,
            PILOT_1212,
            RamPolicy(base=2000, offset=0, step=500),
            2000,
            "2000 -> 2000",
            id="step-never-lowers",
        ),
        pytest.param(
            F,
            RetryRule("oom", A.INCREASE_MEMORY, value=256),
            RamPolicy(base=2000, step=1500),
            2256,
            "(+256 MB)",
            id="rule-step",
        ),
        pytest.param(F, PILOT_1212, NO_RAM, 0, "ramCount unknown, not raised", id="unknown"),
    ],
)
def test_increase_memory(f: FileAttempt, rule: RetryRule, ram: RamPolicy, ram_count: int, note: str) -> None:
    d = after_job(f, JobOutcome.FAILED, rule, ram)
    assert d.ram_count == ram_count
    assert note in d.reason
    assert d.status is READY


def test_flags_and_reasons() -> None:
    reduce = after_job(F, JobOutcome.FAILED, RetryRule("big", A.REDUCE_INPUT_PER_JOB), NO_RAM)
    cpu = after_job(F, JobOutcome.FAILED, RetryRule("slow", A.INCREASE_CPUTIME), NO_RAM)
    assert (reduce.reduce_input, reduce.increase_cputime) == (True, False)
    assert (cpu.reduce_input, cpu.increase_cputime) == (False, True)
    assert reduce.reason == "job failed; rule big: reduce_input_per_job; ready for attempt 1 of 3"
    closed = after_job(F, JobOutcome.CLOSED, None, NO_RAM)
    assert closed.reason == "job closed, no failure charged; ready for attempt 1 of 3"
    dry = RetryRule("dry", A.NO_RETRY, active=False)
    shadow = after_job(FileAttempt(2, 3, 2), JobOutcome.FAILED, None, NO_RAM, dry_run=dry)
    assert shadow.reason == (
        "job failed; inactive rule dry would have applied no_retry; attempts exhausted (3 of maxAttempt 3)"
    )
    assert (
        after_job(F, JobOutcome.FAILED, EXE_65, NO_RAM).reason == "job failed; rule exe65: no_retry; no retry"
    )


@given(
    attempt=st.integers(0, 10),
    max_attempt=st.integers(1, 10),
    failed=st.integers(0, 10),
    max_failure=st.none() | st.integers(1, 10),
    outcome=st.sampled_from(list(JobOutcome)),
)
def test_ready_rows_are_eligible(
    attempt: int, max_attempt: int, failed: int, max_failure: int | None, outcome: JobOutcome
) -> None:
    # a row the decision leaves ready passes the job generator's eligibility query (states.md §4)
    d: FileDecision = after_job(FileAttempt(attempt, max_attempt, failed, max_failure), outcome, None, NO_RAM)
    if d.status is READY:
        assert d.attempt_nr < d.max_attempt
        assert max_failure is None or d.failed_attempt < max_failure
    assert d.attempt_nr >= attempt and d.failed_attempt >= failed


# --- parse_rules ------------------------------------------------------------------------------------------


def test_parse_rules() -> None:
    rules = parse_rules(
        [
            {"name": "oom", "action": "increase_memory", "component": "pilot", "code": 1212, "value": 512},
            {"name": "dry", "action": "no_retry", "diag": "^Segmentation", "active": False},
        ],
        "retry.rules",
    )
    assert rules == (
        RetryRule("oom", A.INCREASE_MEMORY, PILOT, 1212, value=512),
        RetryRule("dry", A.NO_RETRY, diag="^Segmentation", active=False),
    )


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        pytest.param({"name": "x", "action": "explode"}, "r[0].action", "unknown 'explode'", id="action"),
        pytest.param(
            {"name": "x", "action": "no_retry", "diag": "("}, "r[0].diag", "not a valid regex", id="regex"
        ),
        pytest.param(
            {"name": "x", "action": "increase_memory", "value": -1},
            "r[0].value",
            "must be >= 0",
            id="negative",
        ),
        pytest.param(
            {"name": "x", "action": "limit_retry"}, "r[0].value", "needs a value", id="limit-no-value"
        ),
        pytest.param(
            {"name": "x", "action": "no_retry", "code": "12"}, "r[0].code", "must be int", id="code-type"
        ),
        pytest.param(
            {"name": "x", "action": "no_retry", "code": True}, "r[0].code", "must be int", id="code-bool"
        ),
        pytest.param(
            {"name": "x", "action": "no_retry", "component": "gui"}, "r[0].component", "gui", id="comp"
        ),
        pytest.param({"action": "no_retry"}, "r[0].name", "required", id="no-name"),
        pytest.param({"name": "x"}, "r[0].action", "required", id="no-action"),
        pytest.param(
            {"name": "x", "action": "no_retry", "when": 1}, "r[0].when", "unknown field", id="extra"
        ),
    ],
)
def test_parse_rules_errors_name_item_and_field(item: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_rules([item], "r")
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_parse_rules_rejects_duplicate_names() -> None:
    item = {"name": "x", "action": "no_retry"}
    with pytest.raises(InvalidInput, match=r"r\[1\].name: duplicate"):
        parse_rules([item, item], "r")
