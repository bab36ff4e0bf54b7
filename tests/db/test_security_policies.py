"""Route x role matrix and the resource policies on real ids, against a server with auth on.

Refused calls answer 401 (no token) or 403 (a role the route does not allow, or ids the caller may not
touch) and leave every table as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pandawms.core.auth import Identity, Role
from pandawms.db import access as access_db
from pandawms.db.engine import Database
from pandawms.protocol import paths
from pandawms.server.context import ServerContext
from pandawms.server.policies import ROUTE_POLICIES
from pandawms.services.access import DispatchedQueues
from tests.conftest import FrozenClock
from tests.db.contract import operations
from tests.db.helpers import API, ok
from tests.db.security_helpers import ROLE_OF, Secure, secure_server, snapshot
from tests.db.task_helpers import task_params

CALLERS = (None, *ROLE_OF)  # None: no token


@pytest.fixture
def sec(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path)


@pytest.fixture(params=["fast path", "routes"])
def pilot_sec(
    request: pytest.FixtureRequest, db: Database, clock: FrozenClock, tmp_path: Path
) -> Iterator[Secure]:
    """The pilot's hot calls checked on the fast path's parsed request, and by the gate before the routes."""
    yield from secure_server(db, clock, tmp_path, fast_path=request.param == "fast path")


def _probe(sec: Secure, method: str, path: str, who: str | None) -> int:
    headers = sec.headers(who) if who is not None else {}
    if method == "POST":
        return int(sec.client.post(path, json={}, headers=headers).status_code)
    return int(sec.client.get(path, headers=headers).status_code)


def _api_operations(sec: Secure) -> list[tuple[str, str]]:
    spec = sec.client.app.openapi()  # type: ignore[attr-defined]
    return sorted((m, p) for m, p in operations(spec) if p.startswith(API))


def test_route_by_role_matrix_refuses_with_401_or_403_and_changes_nothing(sec: Secure) -> None:
    ops = _api_operations(sec)
    assert len(ops) > 50
    before = snapshot(sec.db)
    allowed: list[tuple[str, str, str]] = []
    for method, path in ops:
        policy = ROUTE_POLICIES[path[len(API) :]]
        if policy.public:
            continue
        assert policy.roles is not None
        for who in CALLERS:
            if who is not None and ROLE_OF[who] in policy.roles:
                allowed.append((method, path, who))
                continue
            expected = 401 if who is None else 403
            assert _probe(sec, method, path, who) == expected, (method, path, who)
    assert snapshot(sec.db) == before, "a refused call changed the task buffer"
    for method, path, who in allowed:  # the gate lets them through: the route answers (422 for {})
        assert _probe(sec, method, path, who) not in (401, 403), (method, path, who)


def _submit(sec: Secure, who: str, n: int = 1, **fields: object) -> list[int]:
    job = {"transformation": "/bin/echo", "prodUserName": "mallory", **fields}
    data = ok(sec.client.post(f"{API}/job/submit", json={"jobs": [job] * n}, headers=sec.headers(who)))
    return [int(j["PandaID"]) for j in data]


def _describe(sec: Secure, job_id: int) -> dict[str, object]:
    resp = sec.client.get(
        f"{API}/job/get_description", params={"job_id": job_id}, headers=sec.headers("admin")
    )
    data: dict[str, object] = ok(resp)["job"]
    return data


def test_submit_records_the_token_sub_as_owner_and_its_name(sec: Secure) -> None:
    [job] = _submit(sec, "alice")
    record = _describe(sec, job)
    assert (record["prodUserID"], record["prodUserName"]) == ("sub-alice", "alice")  # not "mallory"


def test_users_act_only_on_their_own_jobs(sec: Secure) -> None:
    mine = _submit(sec, "alice", n=2)
    [theirs] = _submit(sec, "bob")
    before = snapshot(sec.db)
    for route in (paths.JOB_KILL, paths.JOB_REASSIGN, paths.JOB_RETRY):
        resp = sec.client.post(
            f"{API}{route}", json={"job_ids": [*mine, theirs]}, headers=sec.headers("alice")
        )
        assert resp.status_code == 403, resp.text
        assert f"{theirs}: not your job" in resp.json()["message"]
    assert snapshot(sec.db) == before  # the batch is refused whole: alice's own jobs untouched too
    ok(sec.client.post(f"{API}/job/kill", json={"job_ids": mine}, headers=sec.headers("alice")))
    ok(sec.client.post(f"{API}/job/kill", json={"job_ids": [theirs]}, headers=sec.headers("admin")))


def test_production_manages_managed_work_but_not_a_users(sec: Secure) -> None:
    [managed] = _submit(sec, "production", prodSourceLabel="managed")
    [users] = _submit(sec, "alice")
    assert _describe(sec, managed)["prodUserName"] == "mallory"  # production submits in others' names
    ok(sec.client.post(f"{API}/job/kill", json={"job_ids": [managed]}, headers=sec.headers("production")))
    resp = sec.client.post(f"{API}/job/kill", json={"job_ids": [users]}, headers=sec.headers("production"))
    assert resp.status_code == 403


def test_a_user_may_not_submit_production_work(sec: Secure) -> None:
    before = snapshot(sec.db)
    job = {"transformation": "x", "prodSourceLabel": "managed"}
    resp = sec.client.post(f"{API}/job/submit", json={"jobs": [job]}, headers=sec.headers("alice"))
    assert resp.status_code == 403 and "needs the production role" in resp.json()["message"]
    assert snapshot(sec.db) == before


def test_a_pilot_acquires_for_its_queue_and_updates_only_jobs_dispatched_there(pilot_sec: Secure) -> None:
    sec = pilot_sec
    small = _submit(sec, "alice", computingSite="SMALL")
    [big] = _submit(sec, "alice", computingSite="BIG")
    before = snapshot(sec.db)
    resp = sec.client.post(
        f"{API}/pilot/acquire_jobs", json={"site_name": "BIG", "n_jobs": 1}, headers=sec.headers("pilot")
    )
    assert resp.status_code == 403 and "acquires only for queue SMALL" in resp.json()["message"]
    update = {"job_id": small[0], "job_status": "running", "attempt_nr": 1}
    resp = sec.client.post(f"{API}/pilot/update_job", json=update, headers=sec.headers("pilot"))
    assert resp.status_code == 403 and "not dispatched yet" in resp.json()["message"]
    assert snapshot(sec.db) == before
    got = ok(
        sec.client.post(
            f"{API}/pilot/acquire_jobs",
            json={"site_name": "SMALL", "n_jobs": 1},
            headers=sec.headers("pilot"),
        )
    )
    [job] = [int(j["PandaID"]) for j in got["jobs"]]
    update["job_id"] = job
    ok(sec.client.post(f"{API}/pilot/update_job", json=update, headers=sec.headers("pilot")))
    ok(sec.client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "BIG"}, headers=sec.headers("admin")))
    update["job_id"] = big  # sent to BIG's pilot now, still not this pilot's
    resp = sec.client.post(f"{API}/pilot/update_job", json=update, headers=sec.headers("pilot"))
    assert resp.status_code == 403 and "dispatched to BIG" in resp.json()["message"]
    logs = {"job_id": big, "filename": "log.tgz"}
    resp = sec.client.post(
        f"{API}/file_server/upload_log", params=logs, content=b"x", headers=sec.headers("pilot")
    )
    assert resp.status_code == 403


def test_the_gates_dispatched_cache_never_widens_what_a_pilot_may_update(pilot_sec: Secure) -> None:
    """The server keeps the jobs it dispatched or read past dispatch; an update of one is answered from
    that, but another queue's pilot, an unknown id and a job not yet dispatched are still decided by a
    read."""
    sec = pilot_sec
    big_pilot = sec.token(Identity(sub="pilot-big", roles=frozenset({Role.PILOT}), queue="BIG"))
    later = _submit(sec, "alice", n=2, computingSite="SMALL")
    acquire = {"site_name": "SMALL", "n_jobs": 1}
    [job] = [int(j["PandaID"]) for j in ok(_pilot(sec, "/pilot/acquire_jobs", acquire))["jobs"]]
    waiting = next(i for i in later if i != job)
    for status in ("starting", "running", "running"):  # the acquire filled the cache: no read
        ok(_pilot(sec, "/pilot/update_job", {"job_id": job, "job_status": status, "attempt_nr": 1}))
    before = snapshot(sec.db)
    as_big = {"Authorization": f"Bearer {big_pilot}"}
    update = {"job_id": job, "job_status": "running", "attempt_nr": 1}
    resp = sec.client.post(f"{API}/pilot/update_job", json=update, headers=as_big)
    assert resp.status_code == 403 and "dispatched to SMALL" in resp.json()["message"]
    bulk: dict[str, object] = {"job_list": [update, {**update, "job_id": waiting}]}
    resp = _pilot(sec, "/pilot/update_jobs_bulk", bulk)  # one id is cached, the other is read and refused
    assert resp.status_code == 403 and f"{waiting}: not dispatched yet" in resp.json()["message"]
    assert snapshot(sec.db) == before
    unknown = max(later) + 1000
    missing = _pilot(sec, "/pilot/update_job", {**update, "job_id": unknown})
    assert missing.status_code not in (401, 403)  # unknown ids pass the policy (and are never kept)
    [other] = _submit(sec, "alice", computingSite="BIG")
    ok(sec.client.post(f"{API}/pilot/acquire_jobs", json={"site_name": "BIG"}, headers=as_big))
    resp = _pilot(sec, "/pilot/update_job", {**update, "job_id": other})
    assert resp.status_code == 403 and "dispatched to BIG" in resp.json()["message"]


def test_a_pilots_updates_of_the_jobs_it_acquired_read_no_ownership_facts(
    pilot_sec: Secure, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The acquire's own claim (job -> queue) is what the update's check needs; a job this server did not
    dispatch (another server's, or before a restart) is still read once."""
    sec = pilot_sec
    reads: list[list[int]] = []
    real = access_db.job_facts

    def counted(conn: Any, ids: Any) -> Any:
        reads.append(list(ids))
        return real(conn, ids)

    monkeypatch.setattr(access_db, "job_facts", counted)
    [first, second] = _submit(sec, "alice", n=2, computingSite="SMALL")
    [job] = [
        int(j["PandaID"]) for j in ok(_pilot(sec, "/pilot/acquire_jobs", {"site_name": "SMALL"}))["jobs"]
    ]
    for status in ("starting", "running", "finished"):
        ok(_pilot(sec, "/pilot/update_job", {"job_id": job, "job_status": status, "attempt_nr": 1}))
    assert reads == []
    other = second if job == first else first
    ok(
        sec.client.post(
            f"{API}/pilot/acquire_jobs", json={"site_name": "SMALL"}, headers=sec.headers("admin")
        )
    )
    ctx: ServerContext = sec.client.app.state.ctx  # type: ignore[attr-defined]
    ctx.dispatched = DispatchedQueues()  # as after a restart
    ok(_pilot(sec, "/pilot/update_job", {"job_id": other, "job_status": "running", "attempt_nr": 1}))
    ok(_pilot(sec, "/pilot/update_job", {"job_id": other, "job_status": "running", "attempt_nr": 1}))
    assert reads == [[other]]  # not known after the restart: read once, then known


def _pilot(sec: Secure, route: str, body: dict[str, object]) -> Any:
    return sec.client.post(f"{API}{route}", json=body, headers=sec.headers("pilot"))


def test_users_command_only_their_own_tasks(sec: Secure) -> None:
    params = task_params("user.alice.t1", userName="someone-else")
    resp = sec.client.post(f"{API}/task/submit", json=params, headers=sec.headers("alice"))
    task_id = ok(resp)["jediTaskID"]
    detail = ok(
        sec.client.get(f"{API}/task/get_details", params={"task_id": task_id}, headers=sec.headers("bob"))
    )
    assert detail["userName"] == "alice"  # the token's name, not the one in the parameters
    before = snapshot(sec.db)
    resp = sec.client.post(f"{API}/task/kill", json={"jediTaskID": task_id}, headers=sec.headers("bob"))
    assert resp.status_code == 403 and "not your task" in resp.json()["message"]
    assert snapshot(sec.db) == before
    ok(sec.client.post(f"{API}/task/kill", json={"jediTaskID": task_id}, headers=sec.headers("alice")))


def test_state_changes_are_audited_for_admins(sec: Secure) -> None:
    [job] = _submit(sec, "alice")
    ok(sec.client.post(f"{API}/job/kill", json={"job_ids": [job]}, headers=sec.headers("alice")))
    resp = sec.client.get(f"{API}/audit/list", params={"sub": "sub-alice"}, headers=sec.headers("alice"))
    assert resp.status_code == 403
    rows = ok(sec.client.get(f"{API}/audit/list", params={"sub": "sub-alice"}, headers=sec.headers("admin")))
    assert [(r["path"], r["status_code"]) for r in rows] == [
        (f"{API}/job/kill", 200),
        (f"{API}/job/submit", 200),
    ]
    assert str(job) in rows[0]["ids"]


def test_writes_past_the_rate_answer_429_with_retry_after(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    for sec in secure_server(db, clock, tmp_path, write_rate=0.001, write_burst=2):
        codes = []
        for _ in range(3):
            resp = sec.client.post(f"{API}/queue/set_status", json={}, headers=sec.headers("admin"))
            codes.append(resp.status_code)
        assert codes == [422, 422, 429]
        assert int(resp.headers["Retry-After"]) >= 1
        reads = sec.client.get(f"{API}/queue/list", headers=sec.headers("admin"))
        assert reads.status_code == 200  # reads are not limited


def test_the_monitor_requires_a_login_when_configured(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    for sec in secure_server(db, clock, tmp_path, monitor="login"):
        assert sec.client.get("/jobs/").status_code == 401
        assert sec.client.get("/jobs/", headers=sec.headers("alice")).status_code == 200
        sec.client.cookies.set("panda_token", sec.tokens["alice"])
        assert sec.client.get("/jobs/").status_code == 200
        assert sec.client.get("/.well-known/jwks.json").status_code == 200
