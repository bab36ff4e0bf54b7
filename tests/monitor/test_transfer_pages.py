"""Rules and transfers on the monitor's pages (both back ends): a dataset's rules, transfer activity and
errors per RSE, and a job's stage-in/out with the transfer requests of its files. Rules are made by the
rule service and requests moved by its writer, as the transfer agent does."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from pandawms.core.data import DID
from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec
from pandawms.core.states import TransferStatus
from pandawms.db.engine import Database
from pandawms.services import lifecycle_data, rules
from tests.conftest import FrozenClock, add_queues
from tests.db.catalog_helpers import add_rse
from tests.db.follow_helpers import SCOPE as FOLLOW_SCOPE
from tests.db.follow_helpers import outputs, report, submit_with, world
from tests.db.helpers import acquire, submit, update
from tests.monitor.helpers import page_json
from tests.monitor.test_data_pages import DATA, SCOPE, _catalog

AGENT = "agent-1"


def _rule_with_requests(db: Database, clock: FrozenClock) -> list[int]:
    """A rule data.001 -> DISK_C with 5 requests: 2 done (1 MB each), 1 failed, 1 active, 1 queued."""
    now = clock()
    with db.write() as conn:
        rules.add_rule(conn, DID(SCOPE, "data.001"), "DISK_C", now)
        claimed = lifecycle_data.claim_transfers(conn, AGENT, now, now + timedelta(minutes=5), 4)
        ids = [t.id for t in claimed]
        later = now + timedelta(seconds=10)  # both copies ran 10 s: 2 MB in 10 s
        for rid in ids[:2]:
            fields = {"bytes": 1_000_000, "finished_at": later, "method": "copy", "source_rse": "DISK_A"}
            done = lifecycle_data.transition_transfer(
                conn, rid, TransferStatus.DONE, now, owner=AGENT, fields=fields
            )
            assert done.outcome.value == "accepted", done
        failure = {"finished_at": now, "last_error": "DISK_A: checksum mismatch", "source_rse": "DISK_A"}
        lifecycle_data.transition_transfer(
            conn, ids[2], TransferStatus.FAILED, now, owner=AGENT, fields=failure
        )
    return ids


def test_dataset_page_shows_its_rules(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    _catalog(mon)
    add_rse(mon, "DISK_C", "SITE_C")
    _rule_with_requests(db, clock)
    data = page_json(mon, f"/dataset/{DATA}/")
    [rule] = data["rules"]
    assert (rule["rse"], rule["state"], rule["filesOk"] + rule["filesReplicating"]) == (
        "DISK_C",
        "replicating",
        5,
    )
    html = mon.get(f"/dataset/{DATA}/").text
    assert "Replication rules" in html and 'href="/rse/DISK_C/"' in html


def test_rses_show_transfer_activity_rate_and_errors(
    mon: TestClient, db: Database, clock: FrozenClock
) -> None:
    _catalog(mon)
    add_rse(mon, "DISK_C", "SITE_C")
    _rule_with_requests(db, clock)
    rows = {r["name"]: r for r in page_json(mon, "/rses/")["rses"]}
    incoming = rows["DISK_C"]["transfers"]["incoming"]
    assert incoming == {"queued": 1, "active": 1, "done": 2, "failed": 1}
    assert rows["DISK_C"]["transfers"]["recentMbPerS"] == 0.2
    assert rows["DISK_A"]["transfers"]["outgoing"]["done"] == 2
    assert rows["DISK_B"]["transfers"] is None
    errors = page_json(mon, "/rses/")["errors"]
    assert [e["lastError"] for e in errors] == ["DISK_A: checksum mismatch"]
    one = page_json(mon, "/rse/DISK_C/")
    assert one["rules"][0]["did"] == DATA and one["errors"][0]["state"] == "failed"
    # ten minutes later nothing counts as recent any more
    clock.advance(minutes=11)
    later = {r["name"]: r for r in page_json(mon, "/rses/")["rses"]}
    assert later["DISK_C"]["transfers"]["recentMbPerS"] == 0
    html = mon.get("/rse/DISK_C/").text
    assert "checksum mismatch" in html and "done 2" in html


def test_job_page_stage_in_out_and_transfers(mon: TestClient, db: Database, clock: FrozenClock) -> None:
    entries = _catalog(mon)
    add_rse(mon, "DISK_C", "SITE_C")
    add_queues(db, (QueueSpec(name=QueueName("Q_C"), ddm_input="DISK_C", ddm_output="DISK_A"),), clock())
    _rule_with_requests(db, clock)
    files = [
        {"lfn": str(entries[0]["name"]), "type": "input", "dataset": DATA},
        {"lfn": "out.root", "type": "output", "dataset": DATA},
    ]
    [job] = submit(mon, 1, computingSite="Q_C", files=files)
    data = page_json(mon, f"/job/{job['PandaID']}/")
    stage = {(s["type"], s["did"]): (s["rse"], s["replica"]) for s in data["stage"]}
    assert stage[("input", f"{SCOPE}:{entries[0]['name']}")] == ("DISK_C", "copying")
    assert stage[("output", f"{SCOPE}:out.root")] == ("DISK_A", "missing")
    # its input's requests: the rule's (done) and the one of its _dis block to Q_C's RSE (queued)
    assert [(t["did"], t["state"]) for t in data["transfers"]] == [
        (f"{SCOPE}:{entries[0]['name']}", "queued"),
        (f"{SCOPE}:{entries[0]['name']}", "done"),
    ]
    # and its _dis block (the Setupper's, to Q_C's input RSE) with the rule that copies it
    [block] = data["blocks"]
    assert block["role"] == "dispatch" and block["did"].startswith("panda:")
    assert [(r["rse"], r["state"]) for r in block["rules"]] == [("DISK_C", "replicating")]
    html = mon.get(f"/job/{job['PandaID']}/").text
    assert "Stage-in and stage-out" in html and "Transfers of its files" in html
    assert f'Dispatch block <a class="mono" href="/dataset/{block["did"]}/">' in html


def test_job_page_shows_the_sub_block_shipping_its_outputs(
    mon: TestClient, db: Database, clock: FrozenClock
) -> None:
    # given a job whose output goes to another RSE: the Adder puts it in a _sub block with a rule there
    world(db, clock())
    [pid] = submit_with(mon, outputs("out.9.root"), computingSite="QA", destinationSE="B_DISK")
    [got] = acquire(mon, "QA")
    assert got["PandaID"] == pid
    update(mon, pid, "running")
    update(mon, pid, "finished", job_output_report=report("out.9.root", 9, "A_DISK"))
    # when its page is read
    data = page_json(mon, f"/job/{pid}/")
    # then the destination block and its replicating rule to B_DISK are shown with a link
    [block] = data["blocks"]
    assert (block["role"], block["did"]) == ("destination", f"{FOLLOW_SCOPE}:user.alice.out.001_sub{pid}")
    assert [(r["rse"], r["state"]) for r in block["rules"]] == [("B_DISK", "replicating")]
    assert data["job"]["jobStatus"] == "transferring"
    assert "Destination block" in mon.get(f"/job/{pid}/").text
