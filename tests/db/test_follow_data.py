"""Jobs follow the data on both back ends: brokerage by input locality, _dis blocks + rules and the
Activator, waiting for inputs not produced yet, and the Adder / Finisher / Closer on the final update."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from pandawms.core.data import DATA_SCOPE, DID, DIDType, FileDID
from pandawms.core.states import DatasetStatus, ReplicaStatus, RuleStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import jobs as jobs_db
from pandawms.db import replicas as replicas_db
from pandawms.db.engine import Database
from pandawms.services import catalog, rules
from tests.conftest import FrozenClock
from tests.db.follow_helpers import (
    INPUTS,
    OUTPUT_DATASET,
    SCOPE,
    input_file,
    inputs,
    outputs,
    report,
    run_agents,
    set_rules,
    submit_with,
    world,
)
from tests.db.helpers import acquire, describe, status_of, update

OUT = DID(SCOPE, OUTPUT_DATASET.split(":")[1])


def _files(db: Database, pid: int) -> dict[str, str]:
    with db.read() as conn:
        return {f.lfn: f.status for f in jobs_db.get_files(conn, pid)}


def _contents(db: Database, did: DID) -> list[DID]:
    with db.read() as conn:
        return [c.did for c in catalog_db.list_contents(conn, did, None, 1000)]


def test_a_job_runs_where_its_inputs_are_and_brokerage_says_so(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, inputs("in.0000.root", "in.0001.root"))
    d = describe(client, pid)
    assert d["job"]["jobStatus"] == "activated" and d["job"]["computingSite"] == "QA"
    assert "inputs 100 % at A_DISK" in d["brokerage"]["summary"]
    assert "QB" not in d["brokerage"]["rejected"]  # ranked lower, not refused
    assert d["job"]["dispatchDBlock"] == ""
    assert set(_files(db, pid).values()) == {"ready"}


def test_inputs_elsewhere_assign_the_bunch_one_dis_block_and_a_rule_then_the_activator(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    files = world(db, clock())
    lfns = [f.did.name for f in files]
    ids = submit_with(client, inputs(*lfns), n=3, computingSite="QB")
    jobs = [describe(client, pid)["job"] for pid in ids]
    assert {j["jobStatus"] for j in jobs} == {"assigned"}
    [block_name] = {j["dispatchDBlock"] for j in jobs}  # one _dis for the bunch
    assert block_name.startswith("panda.0.") and block_name.endswith(f"_dis{ids[0]}")
    block = DID(DATA_SCOPE, block_name)
    with db.read() as conn:
        rec = catalog_db.get_did(conn, block)
        [rule] = rules.rules_of(conn, block)
    assert rec is not None and rec.status is DatasetStatus.FROZEN
    assert sorted(_contents(db, block)) == sorted(f.did for f in files)
    assert rule.rse == "B_DISK" and rule.status is RuleStatus.REPLICATING
    assert rule.expires_at == clock() + timedelta(days=7)
    assert set(_files(db, ids[0]).values()) == {"pending"}
    # still copying: the Activator leaves them, and does not touch their clock
    assert run_agents(db, clock.advance(minutes=5))["activator"] == 0
    assert {status_of(client, pid) for pid in ids} == {"assigned"}
    set_rules(db, block, RuleStatus.OK, clock())
    assert run_agents(db, clock.advance(minutes=5))["activator"] == 3
    assert {status_of(client, pid) for pid in ids} == {"activated"}
    assert set(_files(db, ids[1]).values()) == {"ready"}
    assert [j["PandaID"] for j in acquire(client, "QB", n=3)] == ids


def test_a_stuck_dis_rule_fails_the_job_with_the_ddm_code_and_retries_it(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, inputs("in.0000.root"), computingSite="QB")
    block = DID(DATA_SCOPE, describe(client, pid)["job"]["dispatchDBlock"])
    set_rules(db, block, RuleStatus.STUCK, clock())
    assert run_agents(db, clock())["activator"] == 1
    d = describe(client, pid)
    errors = {e["component"]: e for e in d["job"]["errors"]}
    assert d["job"]["jobStatus"] == "failed" and errors["ddm"]["code"] == 201
    assert "stuck" in errors["ddm"]["diag"]
    [retry] = d["retries"]
    again = describe(client, retry)["job"]
    assert again["jobStatus"] == "assigned" and again["dispatchDBlock"] not in ("", block.name)


def test_an_input_not_produced_yet_makes_the_job_wait_until_it_is_registered(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, inputs("in.0000.root", "in.0099.root"))
    assert status_of(client, pid) == "waiting"
    assert _files(db, pid) == {"in.0000.root": "ready", "in.0099.root": "missing"}
    assert run_agents(db, clock.advance(minutes=1))["waiting"] == 0
    assert status_of(client, pid) == "waiting"
    with db.write() as conn:  # another job produced it at A
        catalog.add_files(conn, INPUTS, [input_file(99)], "A_DISK", clock())
    assert run_agents(db, clock.advance(minutes=1))["waiting"] == 1
    d = describe(client, pid)
    assert d["job"]["jobStatus"] == "activated" and d["job"]["computingSite"] == "QA"
    path = [h["status"] for h in d["history"]]
    assert path == ["defined", "waiting", "defined", "activated"]
    assert set(_files(db, pid).values()) == {"ready"}


def test_waiting_and_assigned_jobs_expire_after_a_week(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    from tests.db.test_watchdogs import run_watchdogs

    world(db, clock())
    [waiting] = submit_with(client, inputs("in.0099.root"))
    [assigned] = submit_with(client, inputs("in.0000.root"), computingSite="QB")
    clock.advance(days=6)
    run_agents(db, clock())  # agents re-checking them keep their clock
    assert run_watchdogs(db, clock)["waiting_expiry"] == 0
    clock.advance(days=1, seconds=1)
    counts = run_watchdogs(db, clock)
    assert (counts["waiting_expiry"], counts["assigned_expiry"]) == (1, 1)
    assert {status_of(client, waiting), status_of(client, assigned)} == {"closed"}


def _run(client: TestClient, pid: int, site: str) -> None:
    [job] = acquire(client, site)
    assert job["PandaID"] == pid
    update(client, pid, "running")


def test_final_update_registers_outputs_in_sub_and_output_dataset_and_finishes_at_the_destination(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, inputs("in.0000.root") + outputs("out.1.root"))
    _run(client, pid, "QA")
    sent = report("out.1.root", 1, "A_DISK")
    answer = update(client, pid, "finished", job_output_report=sent)
    assert answer["jobStatus"] == "finished"
    job = describe(client, pid)["job"]
    sub = DID(SCOPE, f"user.alice.out.001_sub{pid}")
    assert job["destinationDBlock"] == sub.name
    out = DID(SCOPE, "out.1.root")
    assert _contents(db, sub) == [out] and _contents(db, OUT) == [out]
    meta = sent["out.1.root"]
    with db.read() as conn:
        stored = catalog_db.get_files(conn, [out])[out]
        reps = replicas_db.of_files(conn, [out])
    assert stored == FileDID(out, meta["guid"], meta["fsize"], meta["adler32"])
    assert [(r.rse, r.status) for r in reps] == [("A_DISK", ReplicaStatus.AVAILABLE)]
    assert _files(db, pid)["out.1.root"] == "ready"
    # a repeated final update writes nothing twice
    before = (_contents(db, sub), _contents(db, OUT), len(describe(client, pid)["history"]))
    assert update(client, pid, "finished", job_output_report=sent)["command"] == "alreadydone"
    assert (_contents(db, sub), _contents(db, OUT), len(describe(client, pid)["history"])) == before
    # the Closer closes the _sub of the ended job, the output dataset stays open
    assert run_agents(db, clock())["closer"] == 1
    with db.read() as conn:
        assert catalog_db.get_did(conn, sub).status is DatasetStatus.CLOSED  # type: ignore[union-attr]
        assert catalog_db.get_did(conn, OUT).status is DatasetStatus.OPEN  # type: ignore[union-attr]
    assert run_agents(db, clock())["closer"] == 0


def test_outputs_for_another_destination_are_transferring_until_the_sub_rule_is_ok(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    lfns = ["out.2.root", "out.3.root"]
    ids = [submit_with(client, outputs(lfn), computingSite="QA", destinationSE="B_DISK")[0] for lfn in lfns]
    sub = {}
    for i, (pid, lfn) in enumerate(zip(ids, lfns, strict=True)):
        _run(client, pid, "QA")
        assert update(client, pid, "finished", job_output_report=report(lfn, i, "A_DISK"))
        sub[pid] = DID(SCOPE, f"user.alice.out.001_sub{pid}")
    assert {status_of(client, pid) for pid in ids} == {"transferring"}
    assert _files(db, ids[0])["out.2.root"] == "transferring"
    with db.read() as conn:
        [rule] = rules.rules_of(conn, sub[ids[0]])
    assert rule.rse == "B_DISK" and rule.status is RuleStatus.REPLICATING
    assert run_agents(db, clock())["finisher"] == 0
    assert run_agents(db, clock())["closer"] == 0  # the jobs have not ended
    set_rules(db, sub[ids[0]], RuleStatus.OK, clock())
    set_rules(db, sub[ids[1]], RuleStatus.STUCK, clock())
    counts = run_agents(db, clock())
    assert (counts["finisher"], counts["closer"]) == (2, 2)  # the Closer runs after the Finisher
    assert status_of(client, ids[0]) == "finished" and _files(db, ids[0])["out.2.root"] == "ready"
    failed = describe(client, ids[1])["job"]
    assert failed["jobStatus"] == "failed"
    assert {e["component"]: e["code"] for e in failed["errors"]}["ddm"] == 201
    assert _files(db, ids[1])["out.3.root"] == "failed"
    with db.read() as conn:
        assert {catalog_db.get_did(conn, s).status for s in sub.values()} == {DatasetStatus.CLOSED}  # type: ignore[union-attr]


def test_a_failed_jobs_outputs_are_not_registered(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, outputs("out.9.root"), computingSite="QA", maxAttempt=1)
    _run(client, pid, "QA")
    update(client, pid, "failed", pilot_error_code=1137, job_output_report=report("out.9.root", 3, "A_DISK"))
    assert status_of(client, pid) == "failed"
    with db.read() as conn:
        assert catalog_db.get_did(conn, OUT) is None
        assert catalog_db.get_files(conn, [DID(SCOPE, "out.9.root")]) == {}
    assert _files(db, pid)["out.9.root"] == "failed"
    assert describe(client, pid)["job"]["destinationDBlock"] == ""


def test_outputs_the_catalog_refuses_fail_the_job_and_write_nothing(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, outputs("out.4.root", "out.5.root"), computingSite="QA", maxAttempt=1)
    _run(client, pid, "QA")
    sent = {**report("out.4.root", 4, "A_DISK"), **report("out.5.root", 5, "NO_SUCH_RSE")}
    assert update(client, pid, "finished", job_output_report=sent)["jobStatus"] == "failed"
    job = describe(client, pid)["job"]
    ddm = {e["component"]: e for e in job["errors"]}["ddm"]
    assert ddm["code"] == 200 and "NO_SUCH_RSE" in ddm["diag"]
    with db.read() as conn:
        assert catalog_db.get_files(conn, [DID(SCOPE, "out.4.root")]) == {}
        assert catalog_db.get_dids(conn, [OUT, DID(SCOPE, f"user.alice.out.001_sub{pid}")]) == {}
    assert set(_files(db, pid).values()) == {"failed"}


def test_jobs_without_catalog_files_keep_todays_final_update(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, [{"lfn": "plain.out", "type": "output"}], computingSite="QA")
    _run(client, pid, "QA")
    sent = {"plain.out": {"guid": "x", "fsize": 3, "adler32": "0000000a", "endpoint": "A_DISK"}}
    assert update(client, pid, "finished", job_output_report=sent)["jobStatus"] == "finished"
    assert _files(db, pid) == {"plain.out": "ready"}
    with db.read() as conn:  # nothing new in the catalog
        assert [r.did for r in catalog_db.list_dids(conn, SCOPE, DIDType.DATASET, None, 100)] == [INPUTS]
    assert describe(client, pid)["job"]["destinationDBlock"] == ""


def test_a_preset_queue_that_cannot_receive_the_inputs_fails_the_job_with_the_reason(
    client: TestClient, db: Database, clock: FrozenClock
) -> None:
    world(db, clock())
    [pid] = submit_with(client, inputs("in.0000.root"), computingSite="SMALL")  # SMALL has no ddm_input
    job = describe(client, pid)["job"]
    brokerage = {e["component"]: e for e in job["errors"]}["brokerage"]
    assert job["jobStatus"] == "failed" and brokerage["code"] == 1
    assert "SMALL: inputs 0 % at" in brokerage["diag"] and "no ddm_input RSE" in brokerage["diag"]
    assert describe(client, pid)["retries"] == []  # it ran nowhere: no retry
