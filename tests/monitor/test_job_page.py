"""/job/<id>/: attributes, errors with description/category/advice, retries, resources, log tarball files."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.db.helpers import submit
from tests.monitor.helpers import make_tarball, page_json, run_jobs, upload_log


def test_failed_job_shows_errors_advice_retry_and_log_files(mon: TestClient) -> None:
    # given a job that failed with pilot:1099, was retried, and uploaded a log tarball
    [pid] = run_jobs(mon, "SMALL", 1, fail=1, code=1099)
    log = make_tarball(
        {
            "pilotlog.txt": b"2026-01-01 stage-in of in0.root failed\n<script>alert(1)</script>\n",
            "payload.stdout": b"hello from the payload\n",
            "core.bin": b"\x00\x01\x02binary",
        }
    )
    upload_log(mon, pid, log)
    # when
    data = page_json(mon, f"/job/{pid}/")
    html = mon.get(f"/job/{pid}/").text
    # then the error carries code, diag, description, category colours and advice
    [err] = data["errors"]
    assert (err["component"], err["code"], err["acronym"]) == ("pilot", 1099, "STAGEINFAILED")
    assert (
        err["sampleDiag"] == "stage-in of in0.root failed"
        and err["description"] == "generic stage-in failure"
    )
    assert err["categoryName"] == "File and Storage Issues" and err["strong"] == "#934fff"
    assert err["advice"].startswith("input/output registration")
    assert "STAGEINFAILED" in html and "#f1e8ff" in html and "check that inputs exist" in html
    # and the retry is linked both ways
    [retry] = data["retries"]
    assert f'href="/job/{retry}/"' in html
    child = page_json(mon, f"/job/{retry}/")
    assert child["parent"] == pid and child["job"]["attemptNr"] == 2
    # and the log's files are listed; text is shown escaped, binary is not shown
    files = {f["name"]: f for f in data["log"]["files"]}
    assert set(files) == {"pilotlog.txt", "payload.stdout", "core.bin"}
    assert files["payload.stdout"]["text"] == "hello from the payload\n"
    assert files["core.bin"]["binary"] and files["core.bin"]["text"] is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "hello from the payload" in html and "binary, not shown" in html
    # and the status history lists the whole path
    assert [h["status"] for h in data["history"]] == [
        "defined",
        "activated",
        "sent",
        "running",
        "holding",
        "failed",
    ]


def test_resources_requested_vs_used(mon: TestClient) -> None:
    [pid] = run_jobs(mon, "SMALL", 1)
    rows = {r["name"]: r for r in page_json(mon, f"/job/{pid}/")["resources"]}
    assert rows["cores"]["requested"] == "1"
    assert "max PSS 1.9 GB" in rows["memory"]["used"]
    assert rows["CPU time"]["used"].startswith("1:00:00")


def test_job_without_log_says_so(mon: TestClient) -> None:
    [j] = submit(mon, 1, computingSite="SMALL")
    data = page_json(mon, f"/job/{j['PandaID']}/")
    assert data["log"] is None and "has no log uploaded" in data["logMessage"]
    assert "has no log uploaded" in mon.get(f"/job/{j['PandaID']}/").text


def test_big_log_file_is_truncated(mon: TestClient) -> None:
    [j] = submit(mon, 1, computingSite="SMALL")
    upload_log(mon, j["PandaID"], make_tarball({"big.log": b"x" * 400_000}))
    [f] = page_json(mon, f"/job/{j['PandaID']}/")["log"]["files"]
    assert f["size"] == 400_000 and f["truncated"] and len(f["text"]) == 256 * 1024


def test_plain_text_log_is_shown_as_one_file(mon: TestClient) -> None:
    [j] = submit(mon, 1, computingSite="SMALL")
    upload_log(mon, j["PandaID"], b"just a text log\n", filename="pilot.log")
    log = page_json(mon, f"/job/{j['PandaID']}/")["log"]
    assert log["files"][0]["text"] == "just a text log\n" and "not a tar archive" in log["error"]
