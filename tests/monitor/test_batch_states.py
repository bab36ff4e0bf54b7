"""Native batch states and batch errors, from the factory's reports to the monitor's site page (both back
ends): heartbeats carry the states that changed and failed batch commands, final reports carry the last
native state; the page counts live and ended workers per batch state and lists the newest batch errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pandawms.db.engine import Database
from pandawms.db.schema import BATCH_ERRORS_KEPT, batch_errors
from tests.conftest import FrozenClock
from tests.db.helpers import API, acquire, ok, submit
from tests.monitor.helpers import page_json


def _grant(client: TestClient, harvester: str, n: int, queue: str = "SMALL") -> list[int]:
    body = {"harvester_id": harvester, "queue": queue, "max_workers": n, "max_queued": n, "max_new": 0}
    return [w["worker_id"] for w in ok(client.post(f"{API}/harvester/add_workers", json=body))["workers"]]


def _heartbeat(client: TestClient, harvester: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = ok(
        client.post(f"{API}/harvester/heartbeat", json={"harvester_id": harvester, **kw})
    )
    return data


def _report(client: TestClient, harvester: str, *workers: dict[str, Any]) -> list[dict[str, Any]]:
    body = {"harvester_id": harvester, "workers": list(workers)}
    results: list[dict[str, Any]] = ok(client.post(f"{API}/harvester/update_workers", json=body))
    return results


def _states(*pairs: tuple[int, str]) -> list[dict[str, Any]]:
    return [{"worker_id": w, "batch_state": s} for w, s in pairs]


def test_live_workers_are_counted_by_the_batch_state_their_factory_reported(mon: TestClient) -> None:
    # given 4 granted workers of f1 (one already taken by its pilot) and one of f2
    submit(mon, 6, computingSite="SMALL")
    a, b, c, _d = _grant(mon, "f1", 4)
    acquire(mon, "SMALL", worker_id=a)
    (other,) = _grant(mon, "f2", 5)
    # when f1's heartbeat says two are pending and one runs, and names f2's worker too
    hb = _heartbeat(
        mon, "f1", batch_states=_states((a, "RUNNING"), (b, "PENDING"), (c, "PENDING"), (other, "X"))
    )
    # then only f1's own live workers took a state
    assert hb["batch_states"] == 3
    page = page_json(mon, "/site/SMALL/")
    assert page["batchStates"] == {"RUNNING": 1, "PENDING": 2, "unreported": 2}  # d and f2's worker
    # when a later heartbeat sends what changed (b started) and c ends TIMEOUT in its final report
    assert _heartbeat(mon, "f1", batch_states=_states((b, "RUNNING")))["batch_states"] == 1
    final = {
        "worker_id": c,
        "status": "failed",
        "exit_code": 143,
        "batch_state": "TIMEOUT",
        "diag": "slurm TIMEOUT",
    }
    assert _report(mon, "f1", final)[0]["outcome"] == "accepted"
    # then the live counts follow, and the ended worker is counted by its last native state
    page = page_json(mon, "/site/SMALL/")
    assert page["batchStates"] == {"RUNNING": 2, "unreported": 2}
    assert page["batchStatesEnded"] == {"TIMEOUT": 1}
    # and an ended worker no longer takes heartbeat states
    assert _heartbeat(mon, "f1", batch_states=_states((c, "RUNNING")))["batch_states"] == 0
    html = mon.get("/site/SMALL/").text
    assert "Batch system" in html and "TIMEOUT" in html


def test_failed_and_missed_workers_are_the_queues_batch_errors_newest_first(
    mon: TestClient, clock: FrozenClock
) -> None:
    # given three workers that end failed (out of memory), missed and finished
    submit(mon, 3, computingSite="SMALL")
    oom, lost, fine = _grant(mon, "f1", 3)
    oom_report = {
        "worker_id": oom,
        "status": "failed",
        "batch_id": "41_0",
        "exit_code": 137,
        "batch_state": "OUT_OF_MEMORY",
        "diag": "slurm OUT_OF_MEMORY exit 137",
    }
    _report(mon, "f1", oom_report)
    clock.advance(seconds=60)
    _report(mon, "f1", {"worker_id": lost, "status": "missed", "diag": "sbatch: invalid partition"})
    _report(mon, "f1", {"worker_id": fine, "status": "finished", "exit_code": 0, "batch_state": "COMPLETED"})
    # when the factory re-sends a report whose answer it lost
    assert _report(mon, "f1", oom_report)[0]["outcome"] == "noop"
    # then each failure is listed once, newest first, with its reason, exit code, state and time
    errors = page_json(mon, "/site/SMALL/")["batchErrors"]
    assert [(e["workerId"], e["batchState"], e["exitCode"]) for e in errors] == [
        (lost, "", None),
        (oom, "OUT_OF_MEMORY", 137),
    ]
    assert errors[0]["reason"] == "sbatch: invalid partition"
    assert errors[1]["reason"] == "slurm OUT_OF_MEMORY exit 137" and errors[1]["batchId"] == "41_0"
    assert errors[0]["time"] == (clock()).isoformat() + "Z"
    assert errors[1]["time"] == (clock() - timedelta(seconds=60)).isoformat() + "Z"
    html = mon.get("/site/SMALL/").text
    assert "sbatch: invalid partition" in html and "OUT_OF_MEMORY" in html


def test_failed_batch_commands_are_stored_once_and_only_the_newest_are_kept(
    mon: TestClient, clock: FrozenClock, db: Database
) -> None:
    # given a factory whose squeue failed, sent with a clock ahead of the server's
    ahead = (clock() + timedelta(hours=1)).isoformat() + "Z"
    error = {"report_id": "e" * 32, "queue": "SMALL", "time": ahead, "reason": "squeue: Unable to contact"}
    # when the heartbeat carrying it is sent twice (its answer was lost)
    _heartbeat(mon, "f1", batch_errors=[error])
    _heartbeat(mon, "f1", batch_errors=[error])
    # then it is listed once, at the server's time, as a command error
    (shown,) = page_json(mon, "/site/SMALL/")["batchErrors"]
    assert shown["reason"] == "squeue: Unable to contact" and shown["batchState"] == ""
    assert shown["time"] == clock().isoformat() + "Z" and shown["harvesterId"] == "f1"
    assert page_json(mon, "/site/BIG/")["batchErrors"] == []
    # when many more arrive
    for start in range(0, BATCH_ERRORS_KEPT + 20, 40):
        batch = [
            {"report_id": f"r{i:08d}", "queue": "SMALL", "time": ahead, "reason": f"sbatch: error {i}"}
            for i in range(start, start + 40)
        ]
        _heartbeat(mon, "f1", batch_errors=batch)
    # then the newest are kept and the page shows the latest 20
    shown_reasons = [e["reason"] for e in page_json(mon, "/site/SMALL/")["batchErrors"]]
    assert shown_reasons == [f"sbatch: error {i}" for i in range(119, 99, -1)]
    with db.read() as conn:
        kept = conn.execute(select(func.count()).select_from(batch_errors)).scalar_one()
    assert kept == BATCH_ERRORS_KEPT


def test_bad_batch_reports_are_refused_naming_the_field(mon: TestClient) -> None:
    submit(mon, 1, computingSite="SMALL")
    (w,) = _grant(mon, "f1", 1)
    cases = [
        ({"batch_states": _states((w, "PEND ING"))}, "batch_state"),
        ({"batch_states": _states((w, ""))}, "batch_state"),
        ({"batch_states": _states((w, "X" * 33))}, "batch_state"),
        ({"batch_states": [{"worker_id": 0, "batch_state": "RUNNING"}]}, "worker_id"),
        (
            {
                "batch_errors": [
                    {"report_id": "short", "queue": "SMALL", "time": "2026-01-01T00:00:00Z", "reason": "x"}
                ]
            },
            "report_id",
        ),
        (
            {
                "batch_errors": [
                    {"report_id": "r" * 10, "queue": "SMALL", "time": "2026-01-01T00:00:00Z", "reason": ""}
                ]
            },
            "reason",
        ),
        (
            {"batch_errors": [{"report_id": "r" * 10, "queue": "SMALL", "time": "soon", "reason": "x"}]},
            "time",
        ),
    ]
    for extra, field in cases:
        resp = mon.post(f"{API}/harvester/heartbeat", json={"harvester_id": "f1", **extra})
        assert resp.status_code == 422, (extra, resp.text)
        assert field in resp.json()["message"], (field, resp.json()["message"])
    bad_final = {
        "harvester_id": "f1",
        "workers": [{"worker_id": w, "status": "failed", "batch_state": "a b"}],
    }
    resp = mon.post(f"{API}/harvester/update_workers", json=bad_final)
    assert resp.status_code == 422 and "batch_state" in resp.json()["message"]
