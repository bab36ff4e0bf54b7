"""Bad parameters answer 400 with a readable message naming the parameter (JSON {"error": ...} or HTML)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

BAD = [
    ("/jobs/?jobstatus=runing", "jobstatus", "unknown state 'runing'"),
    ("/jobs/?jobstatus=zzz*", "jobstatus", "matches no job state"),
    ("/jobs/?hours=abc", "hours", "not a number"),
    ("/jobs/?days=0", "days", "out of range"),
    ("/jobs/?hours=1&days=1", "days", "either hours or days"),
    ("/jobs/?date_from=yesterday", "date_from", "not a date"),
    ("/jobs/?date_from=2026-01-02&date_to=2026-01-01", "date_to", "after date_from"),
    ("/jobs/?errorcode=pilot", "errorcode", "component:code"),
    ("/jobs/?errorcode=nosuch:1", "errorcode", "unknown error component"),
    ("/jobs/?errorcode=pilot:x", "errorcode", "not an integer"),
    ("/errors/?errorcode=pilot:99999999999999999999", "errorcode", "out of range"),
    ("/jobs/?pandaid=99999999999999999999", "pandaid", "out of range"),
    ("/jobs/?attemptnr=-1", "attemptnr", "out of range"),
    ("/jobs/?cursor=_99999999999999999999", "cursor", "not a page cursor"),
    ("/job/99999999999999999999/", "pandaid", "not a PanDA job id"),
    ("/jobs/?date_from=0001-01-01", "date_from", "outside the years"),
    ("/jobs/?date_to=0001-01-01", "date_to", "outside the years"),
    ("/jobs/?date_from=1971-01-01&date_to=9998-12-31", "date_from", "longer than 366 days"),
    ("/jobs/?limit=0", "limit", "out of range"),
    ("/jobs/?display_limit=5000", "display_limit", "out of range"),
    ("/jobs/?sortby=random", "sortby", "unknown order"),
    ("/jobs/?cursor=nonsense", "cursor", "not a page cursor"),
    ("/jobs/?produsername=", "produsername", "empty value"),
    ("/jobs/?produsername=al%25", "produsername", "use '*'"),
    ("/jobs/?produsername=<script>", "produsername", "markup"),
    ("/jobs/?jobstatsu=running", "jobstatsu", "unknown parameter"),
    ("/jobs/?user=a&user=b", "user", "more than once"),
    ("/jobs/?pandaid=1,x", "pandaid", "not an integer"),
    ("/jobs/?jobtype=weird", "jobtype", "expected one of"),
    ("/sites/?jobstatus=running", "jobstatus", "unknown parameter"),
    ("/errors/?days=-1", "days", "out of range"),
    ("/users/?hours=x", "hours", "not a number"),
    ("/job/abc/", "pandaid", "not a PanDA job id"),
    ("/job/+1/", "pandaid", "not a PanDA job id"),  # the spec's pattern: digits only
    ("/task/0/", "jeditaskid", "not a task id"),
    ("/job?pandaid=x", "pandaid", "not a PanDA job id"),
    ("/job/", "pandaid", "required"),
]


@pytest.mark.parametrize(("url", "param", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_parameter_is_400_naming_it(mon: TestClient, url: str, param: str, text: str) -> None:
    # when asked for JSON and for HTML
    as_json = mon.get(url, headers={"Accept": "application/json"})
    as_html = mon.get(url)
    # then both are 400 and the message starts with the parameter's name
    assert as_json.status_code == 400, as_json.text
    message = as_json.json()["error"]
    assert message.startswith(f"{param}:") and text in message, message
    assert as_html.status_code == 400 and as_html.headers["content-type"].startswith("text/html")
    assert f"{param}:" in as_html.text


@pytest.mark.parametrize("url", ["/job/999999/", "/site/NOPE/"])
def test_unknown_objects_are_404(mon: TestClient, url: str) -> None:
    resp = mon.get(url + "?json")
    assert resp.status_code == 404 and "not found" in resp.json()["error"]
    assert mon.get(url).status_code == 404


DATA_BAD = [
    ("/datasets/?state=opn", "state", "unknown value 'opn'"),
    ("/datasets/?type=file", "type", "unknown value 'file'"),
    ("/datasets/?scope=bad/scope", "scope", "bad scope"),
    ("/datasets/?name=a;b", "name", "wildcard"),
    ("/datasets/?cursor=nocolon", "cursor", "expected scope:name"),
    ("/datasets/?display_limit=0", "display_limit", "out of range"),
    ("/datasets/?jobstatus=running", "jobstatus", "unknown parameter"),
    ("/dataset/nocolon/", "did", "expected scope:name"),
    ("/dataset/mc23:-bad/", "did", "bad name"),
    ("/dataset/mc23:x/?cursor=x", "cursor", "expected scope:name"),
    ("/rses/?hours=1", "hours", "unknown parameter"),
]


@pytest.mark.parametrize(("url", "param", "text"), DATA_BAD, ids=[b[0] for b in DATA_BAD])
def test_bad_data_page_parameter_is_400_naming_it(mon: TestClient, url: str, param: str, text: str) -> None:
    test_bad_parameter_is_400_naming_it(mon, url, param, text)


@pytest.mark.parametrize("url", ["/dataset/mc23:nothing/", "/rse/NOPE/"])
def test_unknown_dataset_or_rse_is_404(mon: TestClient, url: str) -> None:
    test_unknown_objects_are_404(mon, url)
