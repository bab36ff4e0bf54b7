"""/datasets/, /dataset/<scope:name>/, /rses/ and /rse/<name>/ on both back ends: HTML and JSON twins over a
catalog built through the real API, and the job page's link to a file's dataset."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec
from pandawms.core.states import ReplicaStatus
from pandawms.db.engine import Database
from tests.conftest import FrozenClock, add_queues
from tests.db.catalog_helpers import add_files, add_rse, files, setup
from tests.db.helpers import API, ok, submit
from tests.monitor.helpers import page_json

SCOPE = "mc23"
DATA = f"{SCOPE}:data.001"


def _catalog(mon: TestClient) -> list[dict[str, object]]:
    """data.001 (5 files, all at DISK_A, 2 at DISK_B of which 1 copying), data.002 (empty), a container
    holding both, and a user dataset in another scope."""
    setup(mon, SCOPE, "data.001", "data.002")
    setup(mon, SCOPE, "cont.all", kind="container")
    setup(mon, "user.bob", "bob.ds")
    add_rse(mon, "DISK_A", "SITE_A", total_bytes=10**9, used_bytes=2 * 10**8)
    add_rse(mon, "DISK_B", "SITE_B")
    entries = files(SCOPE, 5)
    ok(add_files(mon, DATA, entries, rse="DISK_A"))
    names = [f"{SCOPE}:{e['name']}" for e in entries]
    ok(mon.post(f"{API}/replica/add", json={"rse": "DISK_B", "files": names[:1]}))
    ok(mon.post(f"{API}/replica/add", json={"rse": "DISK_B", "files": names[1:2], "state": "copying"}))
    add_rse(mon, "DISK_B", "SITE_B", availability_write=False)  # closed for writing after the copies
    children = [f"{SCOPE}:data.001", f"{SCOPE}:data.002"]
    ok(mon.post(f"{API}/did/attach", json={"did": f"{SCOPE}:cont.all", "children": children}))
    return entries


def test_datasets_list_counts_bytes_and_completeness(mon: TestClient) -> None:
    # given the catalog
    entries = _catalog(mon)
    total = sum(int(str(e["bytes"])) for e in entries)
    # when the list is read
    data = page_json(mon, "/datasets/")
    # then every DID is there in key order with its volume and where it is complete
    rows = {d["did"]: d for d in data["datasets"]}
    assert list(rows) == ["mc23:cont.all", "mc23:data.001", "mc23:data.002", "user.bob:bob.ds"]
    ds = rows[DATA]
    assert (ds["type"], ds["state"], ds["files"], ds["bytes"]) == ("dataset", "open", 5, total)
    shares = {r["rse"]: (r["files"], r["complete"]) for r in ds["replicas"]}
    assert shares == {"DISK_A": (5, True), "DISK_B": (1, False)}
    box = rows["mc23:cont.all"]
    assert (box["type"], box["children"], box["files"], box["bytes"]) == ("container", 2, 5, total)
    # and the HTML shows the same rows with links to each dataset
    html = mon.get("/datasets/").text
    assert f'href="/dataset/{DATA}/"' in html and "DISK_A 100 %" in html and "DISK_B 20 %" in html


def test_datasets_filters_and_keyset_pages(mon: TestClient) -> None:
    _catalog(mon)
    only = page_json(mon, "/datasets/?scope=mc23&type=dataset&name=data.*")
    assert [d["did"] for d in only["datasets"]] == [DATA, "mc23:data.002"]
    ok(mon.post(f"{API}/did/close", json={"dids": [DATA]}))
    closed = page_json(mon, "/datasets/?state=closed|frozen")
    assert [d["did"] for d in closed["datasets"]] == [DATA]
    # pages of two follow the key without repeats or gaps
    seen, url = [], "/datasets/?display_limit=2"
    for _ in range(5):
        page = page_json(mon, url)
        seen += [d["did"] for d in page["datasets"]]
        if page["nextUrl"] is None:
            break
        url = page["nextUrl"]
    assert seen == ["mc23:cont.all", DATA, "mc23:data.002", "user.bob:bob.ds"]


def test_dataset_page_files_replicas_jobs_and_parents(mon: TestClient) -> None:
    # given the catalog and jobs that read (input) and wrote (output) data.001
    entries = _catalog(mon)
    reader = submit(mon, 1, files=[{"lfn": str(entries[0]["name"]), "type": "input", "dataset": DATA}])
    writer = submit(
        mon, 1, files=[{"lfn": "out.root", "type": "output", "dataset": "data.001", "scope": SCOPE}]
    )
    other = submit(mon, 1, files=[{"lfn": "x.root", "type": "input", "dataset": "data.001", "scope": "zz"}])
    # when the dataset's page is read
    data = page_json(mon, f"/dataset/{DATA}/")
    # then its files with their metadata, replicas per RSE and state, the jobs and its container are there
    assert [f["lfn"] for f in data["files"]] == [e["name"] for e in entries]
    assert data["files"][0]["adler32"] == entries[0]["adler32"] and data["files"][0]["events"] == 10
    reps = {r["rse"]: r for r in data["replicas"]}
    assert reps["DISK_A"]["counts"] == {"available": 5} and reps["DISK_A"]["complete"] is True
    assert reps["DISK_B"]["counts"] == {"available": 1, "copying": 1}
    assert reps["DISK_B"]["bytes"]["copying"] == entries[1]["bytes"]
    jobs = {j["PandaID"]: j["types"] for j in data["jobs"]}
    assert jobs == {reader[0]["PandaID"]: ["input"], writer[0]["PandaID"]: ["output"]}
    assert other[0]["PandaID"] not in jobs and data["jobsTotal"] == 2
    assert data["parents"] == ["mc23:cont.all"]
    # and the HTML page links the jobs and RSEs
    html = mon.get(f"/dataset/{DATA}/").text
    assert f'href="/job/{reader[0]["PandaID"]}/"' in html and 'href="/rse/DISK_B/"' in html
    assert str(entries[3]["guid"]) in html


def test_dataset_page_pages_files_and_lists_a_containers_datasets(mon: TestClient) -> None:
    _catalog(mon)
    first = page_json(mon, f"/dataset/{DATA}/?display_limit=3")
    assert len(first["files"]) == 3 and first["nextUrl"].endswith("cursor=mc23%3Af.000002.root")
    rest = page_json(mon, first["nextUrl"])
    assert [f["lfn"] for f in rest["files"]] == ["f.000003.root", "f.000004.root"] and rest["nextUrl"] is None
    box = page_json(mon, "/dataset/mc23:cont.all/")
    assert [d["did"] for d in box["datasets"]] == [DATA, "mc23:data.002"] and box["files"] == []
    assert box["datasets"][0]["replicas"][0]["rse"] == "DISK_A"
    assert "Datasets in this container" in mon.get("/dataset/mc23:cont.all/").text


def test_rses_pages_space_access_and_replica_counts(
    mon: TestClient, db: Database, clock: FrozenClock
) -> None:
    _catalog(mon)
    add_queues(db, (QueueSpec(name=QueueName("Q_A"), ddm_input="DISK_A", ddm_output="DISK_A"),), clock())
    data = page_json(mon, "/rses/")
    rows = {r["name"]: r for r in data["rses"]}
    expected = {s.value: 5 if s is ReplicaStatus.AVAILABLE else 0 for s in ReplicaStatus}
    assert rows["DISK_A"]["replicas"] == expected
    assert rows["DISK_B"]["replicas"]["copying"] == 1 and rows["DISK_B"]["availabilityWrite"] is False
    assert rows["DISK_A"]["totalBytes"] == 10**9 and rows["DISK_A"]["site"] == "SITE_A"
    html = mon.get("/rses/").text
    assert "write no" in html and "file:///storage/DISK_A" in html and "(20 %)" in html
    one = page_json(mon, "/rse/DISK_A/")
    assert one["queues"] == [{"queue": "Q_A", "use": "input+output", "status": "online", "url": "/site/Q_A/"}]


def test_job_page_links_each_files_dataset(mon: TestClient) -> None:
    files_in = [
        {"lfn": "a.root", "type": "input", "dataset": DATA},
        {"lfn": "b.root", "type": "output", "dataset": "data.002", "scope": SCOPE},
        {"lfn": "c.root", "type": "log", "dataset": "no scope here"},
    ]
    [job] = submit(mon, 1, files=files_in)
    html = mon.get(f"/job/{job['PandaID']}/").text
    assert f'<a href="/dataset/{DATA}/">{DATA}</a>' in html
    assert '<a href="/dataset/mc23:data.002/">data.002</a>' in html
    assert "no scope here</td>" in html


def test_navigation_has_datasets_and_rses(mon: TestClient) -> None:
    html = mon.get("/rses/").text
    assert '<a href="/datasets/">Datasets</a>' in html and '<a href="/rses/" class="active">RSEs</a>' in html


def test_quick_search_finds_a_dataset(mon: TestClient) -> None:
    resp = mon.get(f"/search/?q={DATA}", follow_redirects=False)
    assert resp.status_code == 302 and resp.headers["location"] == f"/dataset/{DATA}/"
