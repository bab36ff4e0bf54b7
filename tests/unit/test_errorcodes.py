"""The error-code catalog: complete, unique, derived from the code enums, consistent with the reference;
the kill codes; the pilot's shell exit-code contract in both directions."""

from __future__ import annotations

import signal
import sys
from enum import unique

import pytest

from pandawms.core.specs import ErrorComponent
from pandawms.core.states import JobStatus
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.errorcodes import (
    CatalogCode,
    ErrorCategory,
    ErrorInfo,
    ExitStatus,
    PilotCode,
    PilotExit,
    PilotPhase,
    WrapperExit,
)
from pandawms.protocol.errorcodes.exitcodes import codes_by_exit, exits_by_code

P = ErrorComponent.PILOT


def test_every_entry_is_complete() -> None:
    for info in ec.catalog():
        assert info.acronym.strip() and info.acronym == info.acronym.upper(), info
        assert info.description.strip(), info
        assert isinstance(info.category, ErrorCategory), info
        if info.component is P:
            assert info.phase in set(PilotPhase), info
        else:
            assert info.phase == info.component.value, info


def test_the_catalog_is_the_code_enums() -> None:
    entries = ec.catalog()
    assert len(entries) == sum(len(codes) for codes in ec.COMPONENT_CODES.values())
    for comp, codes in ec.COMPONENT_CODES.items():
        for member in codes:
            phase = member.phase.value if isinstance(member, PilotCode) else comp.value
            expected = ErrorInfo(comp, int(member), member.name, member.description, member.category, phase)
            assert ec.describe(comp, member) == expected
            assert codes(int(member)) is member  # value lookup finds the same row


def test_codes_are_unique_per_component() -> None:
    entries = ec.catalog()
    assert len({(i.component, i.code) for i in entries}) == len(entries)
    for comp, codes in ec.COMPONENT_CODES.items():
        assert len(codes.__members__) == len(codes), f"{comp}: an alias hides a duplicate code"
        acronyms = [i.acronym for i in entries if i.component is comp]
        assert len(acronyms) == len(set(acronyms)), comp


def test_a_duplicate_code_is_refused_when_the_enum_is_built() -> None:
    with pytest.raises(ValueError, match="duplicate values found in <enum 'Twice'>: B -> A"):

        @unique
        class Twice(CatalogCode):
            A = 7, ErrorCategory.RUNTIME, "first"
            B = 7, ErrorCategory.RUNTIME, "second"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((7, "x", "desc"), "Broken 7: category 'x' is not an ErrorCategory"),
        ((7, ErrorCategory.RUNTIME, " "), "Broken 7: description ' ' is not a non-empty string"),
        ((7, ErrorCategory.RUNTIME), "Broken 7: expected category and description after the code"),
        (("7", ErrorCategory.RUNTIME, "desc"), "Broken: code '7' is not an int"),
    ],
)
def test_a_malformed_row_is_refused_naming_the_code(row: tuple[object, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):

        class Broken(CatalogCode):
            BAD = row


def test_catalog_is_sorted_and_covers_the_server_components() -> None:
    entries = ec.catalog()
    assert entries == sorted(entries, key=lambda i: (i.component.value, i.code))
    components = {i.component for i in entries}
    assert components == set(ec.COMPONENT_CODES)
    assert components == {
        P,
        ErrorComponent.JOBDISPATCHER,
        ErrorComponent.BROKERAGE,
        ErrorComponent.DDM,
        ErrorComponent.TASKBUFFER,
        ErrorComponent.SUP,
    }
    codes = {c: {i.code for i in entries if i.component is c} for c in components}
    assert codes[ErrorComponent.JOBDISPATCHER] == set(range(100, 106))
    assert codes[ErrorComponent.DDM] == {100, 101, 200, 201, 203, 204, 205, 206}
    assert codes[ErrorComponent.SUP] == {1, 2}
    assert codes[ErrorComponent.TASKBUFFER] == {
        100,
        101,
        102,
        103,
        105,
        106,
        107,
        *range(111, 127),
        130,
        200,
        300,
    }
    assert codes[ErrorComponent.BROKERAGE] == {1}
    assert len(codes[P]) == 127  # every code of errors.md §3, ranges expanded


def test_pilot_phases_match_the_reference_sections() -> None:
    assert {p.value for p in PilotPhase} == {
        "setup",
        "stagein",
        "payload",
        "stageout",
        "limits",
        "killed",
        "communication",
        "eventservice",
        "internal",
    }
    assert {code.phase for code in PilotCode} == set(PilotPhase)  # every phase has codes


@pytest.mark.parametrize(
    ("component", "code", "acronym", "category"),
    [
        (P, 1144, "PANDAKILL", ErrorCategory.TERMINATION),
        (P, 1235, "PAYLOADEXCEEDMAXMEM", ErrorCategory.RUNTIME),
        (P, 1213, "REACHEDMAXTIME", ErrorCategory.TERMINATION),
        (P, 1150, "LOOPINGJOB", ErrorCategory.RUNTIME),
        (P, 1099, "STAGEINFAILED", ErrorCategory.FILE_STORAGE),
        (P, 1137, "STAGEOUTFAILED", ErrorCategory.FILE_STORAGE),
        (P, 1318, "COMMUNICATIONFAILURE", ErrorCategory.NETWORK),
        (P, 1110, "SETUPFAILURE", ErrorCategory.SOFTWARE),
        (P, 1301, "UNKNOWNEXCEPTION", ErrorCategory.INTERNAL),
        (P, 1386, "NOTONLINE", ErrorCategory.INTERNAL),
        (ErrorComponent.JOBDISPATCHER, 100, "LOST_HEARTBEAT", ErrorCategory.TERMINATION),
        (ErrorComponent.TASKBUFFER, 300, "WORKER_ENDED", ErrorCategory.TERMINATION),
        (ErrorComponent.SUP, 2, "WORKER_ALREADY_DONE", ErrorCategory.TERMINATION),
        (ErrorComponent.DDM, 206, "WRONG_RSE_CONFIGURATION", ErrorCategory.FILE_STORAGE),
    ],
)
def test_spot_checks_against_the_reference(
    component: ErrorComponent, code: int, acronym: str, category: ErrorCategory
) -> None:
    info = ec.describe(component, code)
    assert (info.acronym, info.category) == (acronym, category)


def test_descriptions_follow_the_reference() -> None:
    assert "lost heartbeat" in ec.describe("jobdispatcher", 100).description
    assert "worker ended before the job" in ec.describe("taskbuffer", 300).description
    assert ec.describe("sup", 2).description == "worker already done"
    assert ec.describe(P, 1235).phase == "limits"
    assert ec.describe(P, 1144).phase == "killed"


def test_expanded_ranges_get_distinct_acronyms() -> None:
    signals = [ec.describe(P, code).acronym for code in range(1201, 1209)]
    assert signals == ["SIGTERM", "SIGQUIT", "SIGSEGV", "SIGXCPU", "USERKILL", "SIGBUS", "SIGUSR1", "SIGINT"]
    cpu = [ec.describe(P, code).acronym for code in (1352, 1353, 1354)]
    assert cpu == ["STATFILEPROBLEM", "NOSUCHPROCESS", "GENERALCPUCALCPROBLEM"]
    pairs = {
        1163: "NOPROXY",
        1177: "NOVOMSPROXY",
        1356: "PREPROCESSFAILURE",
        1357: "POSTPROCESSFAILURE",
        1325: "SINGULARITYNOTINSTALLED",
        1372: "APPTAINERNOTINSTALLED",
    }
    assert {code: ec.describe(P, code).acronym for code in pairs} == pairs
    containers = [ec.describe(P, code).acronym for code in (1306, 1307, 1308, 1309, 1340, 1345, 1348)]
    assert all(a.startswith("SINGULARITY") for a in containers) and len(set(containers)) == 7


def test_members_are_their_codes() -> None:
    assert (PilotCode.PANDAKILL, PilotCode.SIGTERM, ec.JobDispatcherCode.SENT_TIMEOUT) == (1144, 1201, 102)
    assert (ec.TaskBufferCode.SERVER_RETRY, ec.SupCode.INVALID_BATCH_ID, ec.BrokerageCode.NO_QUEUE) == (
        106,
        1,
        1,
    )
    assert (
        f"{PilotCode.STAGEINFAILED}" == str(PilotCode.STAGEINFAILED) == "1099"
    )  # diags and logs show the code
    assert PilotCode.STAGEINFAILED.category is ErrorCategory.FILE_STORAGE
    assert PilotCode.STAGEINFAILED.phase is PilotPhase.STAGEIN


def test_unknown_codes_are_described_not_refused() -> None:
    assert ec.describe(P, 9999) == ErrorInfo(
        P, 9999, "UNKNOWN", "unknown pilot error code 9999", ErrorCategory.UNCATEGORIZED, "internal"
    )
    exe = ec.describe("exe", 65)
    assert (exe.acronym, exe.description, exe.phase) == ("UNKNOWN", "unknown exe error code 65", "exe")
    assert ec.describe("brokerage", 2).category is ErrorCategory.UNCATEGORIZED
    assert ec.describe("brokerage", 1).acronym == "NO_QUEUE"
    assert {1137, 1141, 1152}.issubset(ec.PILOT_RECOVERABLE_CODES)
    assert ec.describe(P, 1135).acronym == "UNKNOWN"  # named in the reference only as recoverable


def test_component_names_and_aliases() -> None:
    assert ec.describe("Pilot", 1144).component is P
    assert ec.describe("dataservice", 200).acronym == "ADDER_FAILURE"
    assert ec.describe("supervisor", 1).acronym == "INVALID_BATCH_ID"
    assert ec.parse_component("executor") is ErrorComponent.EXE
    with pytest.raises(ValueError, match="unknown error component 'nope'"):
        ec.describe("nope", 1)


def test_categories_table() -> None:
    assert [int(c) for c in ErrorCategory] == list(range(7))
    assert set(ec.CATEGORIES) == set(ErrorCategory)
    info = ec.category_info(4)
    assert info.name == "Job Termination and Kill Signals"
    assert "walltime" in info.advice
    assert ec.category_info(ErrorCategory.UNCATEGORIZED).name == "Uncategorized"
    for cat in ErrorCategory:
        got = ec.CATEGORIES[cat]
        assert got.category is cat and got.name and got.advice
    assert len({c.name for c in ec.CATEGORIES.values()}) == len(ErrorCategory)
    with pytest.raises(ValueError):
        ec.category_info(7)


KILL_STATES = {
    2: "closed",
    3: "cancelled",
    4: "closed",
    7: "cancelled",
    8: "cancelled",
    9: "cancelled",
    10: "closed",
    50: "cancelled",
    51: "closed",
    52: "cancelled",
    55: "closed",
    60: "closed",
    91: "cancelled",
    99: "cancelled",
}


@pytest.mark.parametrize(("code", "state"), sorted(KILL_STATES.items()))
def test_kill_final_state(code: int, state: str) -> None:
    assert ec.kill_final_state(code) == state
    assert ec.kill_final_state(code) in (JobStatus.CLOSED, JobStatus.CANCELLED)
    assert ec.KILL_CODES[code].meaning


def test_kill_codes_table_and_force_codes() -> None:
    assert set(ec.KILL_CODES) == set(KILL_STATES)
    assert sorted(ec.KILL_FORCE_CODES) == [9, 52, 99]
    assert all(ec.KILL_CODES[c].final_state is JobStatus.CANCELLED for c in ec.KILL_FORCE_CODES)


@pytest.mark.parametrize("code", [0, 1, 5, 100, -1])
def test_kill_final_state_refuses_unknown_codes(code: int) -> None:
    with pytest.raises(ValueError, match=rf"unknown kill code {code}; valid codes: 2, 3, 4, 7, .* 91, 99"):
        ec.kill_final_state(code)


def test_exit_code_table() -> None:
    signals = {130, 131, 135, 137, 138, 139, 143, 152}
    assert {int(e) for e in PilotExit} == {0, *range(64, 84), *signals}
    assert {int(e) for e in WrapperExit} == {1, 2}
    consts = (
        PilotExit.OK,
        PilotExit.GENERAL_ERROR,
        PilotExit.MKDIR,
        PilotExit.NO_LOCAL_SPACE,
        PilotExit.EXCEPTION,
        PilotExit.QUEUE_NOT_ACTIVE,
        PilotExit.SERVER_COMMUNICATION,
        PilotExit.REACHED_MAX_TIME,
        PilotExit.NO_JOBS,
        PilotExit.QUEUE_OFFLINE,
    )
    assert consts == (0, 65, 66, 69, 70, 78, 79, 81, 82, 83)
    for exit_ in PilotExit:
        assert exit_.meaning.strip(), exit_


def test_signal_exits_are_128_plus_the_signal() -> None:
    sig_exits = [e for e in PilotExit if e.name.startswith("SIG")]
    assert len(sig_exits) == 8
    for e in sig_exits:
        assert e.meaning == f"killed by signal {e.name}"
        if sys.platform == "linux":  # the contract uses Linux's numbers
            assert e == 128 + signal.Signals[e.name]
        if e is not PilotExit.SIGKILL:
            assert e.pilot_codes == (PilotCode[e.name],)


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0, "success"),
        (65, "general error"),
        (81, "reached max time"),
        (83, "queue offline"),
        (143, "killed by signal SIGTERM"),
        (137, "killed by signal SIGKILL"),
        (1, "wrapper fault"),
        (2, "wrapper killed a stuck pilot"),
        (129, "killed by signal SIGHUP"),  # not in the table: 128 + signal, named generically
        (134, "killed by signal SIGABRT"),
        (3, "unknown exit code 3"),
        (250, "unknown exit code 250"),
    ],
)
def test_exit_meaning(code: int, meaning: str) -> None:
    assert ec.exit_meaning(code) == meaning


@pytest.mark.parametrize(
    ("exit_code", "pilot_code"),
    [
        (143, 1201),
        (137, 1200),
        (130, 1208),
        (81, 1213),
        (79, 1318),
        (69, 1098),
        (66, 1199),
        (78, 1359),
        (83, 1386),
        (82, 1385),
        (65, 1008),
        (70, 1301),
        (68, 1163),
        (64, 1377),
        (134, 1200),  # any other signal: unknown kill signal
        (74, None),  # JSON retrieval timeout has no pilot code in the reference
        (0, None),
        (1, None),
        (3, None),
    ],
)
def test_pilot_code_for_exit(exit_code: int, pilot_code: int | None) -> None:
    assert ec.pilot_code_for_exit(exit_code) == pilot_code


def test_exit_maps_round_trip() -> None:
    for exit_code, pilot_code in ec.PILOT_CODE_FOR_EXIT.items():
        assert ec.exit_code_for_pilot(pilot_code) == exit_code
        assert ec.pilot_code_for_exit(exit_code) is pilot_code
    for code, exit_code in ec.EXIT_FOR_PILOT_CODE.items():
        back = ec.pilot_code_for_exit(exit_code)
        assert back is not None and ec.EXIT_FOR_PILOT_CODE[back] == exit_code
        assert ec.describe(P, code).acronym != "UNKNOWN"
    without_code = {e for e in PilotExit if e not in ec.PILOT_CODE_FOR_EXIT}
    assert without_code == {PilotExit.OK, PilotExit.JSON_TIMEOUT}


def test_the_inverse_map_takes_the_first_code_of_a_shared_exit() -> None:
    assert PilotExit.PROXY_INVALID.pilot_codes[0] is PilotCode.NOPROXY
    assert ec.PILOT_CODE_FOR_EXIT[68] is PilotCode.NOPROXY
    assert ec.PILOT_CODE_FOR_EXIT[137] is PilotCode.KILLSIGNAL
    shared = {e: e.pilot_codes for e in PilotExit if len(e.pilot_codes) > 1}
    assert set(shared) == {PilotExit.PROXY_INVALID, PilotExit.SIGKILL}
    assert len(ec.EXIT_FOR_PILOT_CODE) == sum(len(e.pilot_codes) for e in PilotExit)


def test_a_pilot_code_under_two_exits_is_refused() -> None:
    class Contract(ExitStatus):
        A = 70, "a", PilotCode.MKDIR, PilotCode.NOPROXY
        B = 71, "b", PilotCode.NOPROXY

    with pytest.raises(ValueError, match="pilot code NOPROXY is listed under exits 70 and 71"):
        exits_by_code(Contract)
    assert codes_by_exit(Contract) == {70: PilotCode.MKDIR, 71: PilotCode.NOPROXY}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ((), "Bad 9: a row is \\(status, meaning, \\*pilot codes\\)"),
        ((5,), "Bad 9: a row is \\(status, meaning, \\*pilot codes\\)"),
        (("meaning", 1201), "Bad 9: pilot codes must be PilotCode members: \\(1201,\\)"),
    ],
)
def test_a_malformed_exit_row_is_refused(row: tuple[object, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):

        class Bad(ExitStatus):
            X = 9, *row


def test_exit_code_for_pilot_defaults() -> None:
    assert ec.exit_code_for_pilot(0) is PilotExit.OK
    assert ec.exit_code_for_pilot(1177) == 68  # NOVOMSPROXY shares the proxy exit
    assert ec.exit_code_for_pilot(PilotCode.USERKILL) is PilotExit.SIGKILL
    assert ec.exit_code_for_pilot(PilotCode.PAYLOADEXECUTIONFAILURE) is PilotExit.GENERAL_ERROR
