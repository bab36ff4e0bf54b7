"""Monitor and log-store safety: CSP without inline script, escaped values, log names that cannot leave
the log store, and a log tarball that is only read (never extracted), bounded however it expands."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from fastapi.testclient import TestClient

from pandawms.monitor.logs import read_log
from tests.db.helpers import API, submit


def test_every_answer_carries_a_csp_that_forbids_inline_script(client: TestClient) -> None:
    for path in ("/", "/jobs/", f"{API}/health"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
    page = client.get("/jobs/").text
    assert "<script>" not in page and "<script " not in page.replace('<script src="/static/', "")


def test_user_supplied_values_are_escaped_on_the_job_page(client: TestClient) -> None:
    evil = '<script>alert("x")</script>'
    [job] = submit(client, jobName=evil, prodUserName="<b>mallory</b>", jobParameters=evil)
    page = client.get(f"/job/{job['PandaID']}/").text
    assert evil not in page and "<b>mallory</b>" not in page
    assert "&lt;script&gt;" in page


def test_log_names_cannot_leave_the_log_store(client: TestClient, tmp_path: Path) -> None:
    [job] = submit(client)
    store = tmp_path / "data" / "logs"
    for name in ("../escape.tgz", "/etc/evil.tgz", "a/b.tgz", ".hidden.tgz", "..", "x\x00.tgz"):
        resp = client.post(
            f"{API}/file_server/upload_log", params={"job_id": job["PandaID"], "filename": name}, content=b"x"
        )
        assert resp.status_code in (400, 422), (name, resp.text)
    assert not (tmp_path / "data" / "escape.tgz").exists() and not Path("/etc/evil.tgz").exists()
    assert not store.exists() or not any(store.rglob("*"))


def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(data[m.name]) if m.name in data else None)
    return buf.getvalue()


def test_a_hostile_tarball_is_read_bounded_and_never_extracted(tmp_path: Path) -> None:
    bomb = tarfile.TarInfo("../../outside.txt")
    bomb.size = 64 * 1024 * 1024  # 64 MiB of zeros: compresses to ~64 kB
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    absolute = tarfile.TarInfo("/abs/pilot.log")
    absolute.size = 5
    data = {bomb.name: b"\0" * bomb.size, absolute.name: b"hello"}
    path = tmp_path / "logs" / "1" / "log.tgz"
    path.parent.mkdir(parents=True)
    path.write_bytes(_tar([bomb, link, absolute], data))
    before = sorted(tmp_path.rglob("*"))
    out = read_log(path)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not (tmp_path / "outside.txt").exists()
    shown = sum(len(f.text or "") for f in out.files)
    assert shown < 8 * 1024 * 1024, shown  # the bomb is cut at the page's budget
