"""The monitor's pages answer what their OpenAPI spec says (the findings of the monitor fuzz run,
tests/db/test_fuzz_api.py): refusals in HTML or JSON like the page, 302 redirects, no empty values."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pandawms.monitor.pagedocs import FLAGS
from pandawms.monitor.refusals import is_page

REDIRECTS = ("/job/", "/search/")


def monitor_operations(mon: TestClient) -> dict[str, dict[str, Any]]:
    spec = mon.get("/api/v1/openapi.json").json()
    return {
        path: ops["get"]
        for path, ops in spec["paths"].items()
        if not path.startswith(("/api/", "/.well-known/"))
    }


def test_every_page_documents_its_refusals_in_html_and_in_json(mon: TestClient) -> None:
    # given the spec's monitor pages (the fuzzer found the HTML refusals undocumented)
    pages = monitor_operations(mon)
    assert {"/", "/jobs/", "/job/{pandaid}/", "/site/{name}/", "/user/{name}/", "/task/{jeditaskid}/"} <= set(
        pages
    )
    for path, op in pages.items():
        codes = ("400",) if path in REDIRECTS else ("200", "400", "404")
        for code in codes:
            # then each answer lists both content types a page may send
            assert set(op["responses"][code]["content"]) == {"application/json", "text/html"}, (path, code)
    # and a refusal is sent in the one the request asked for
    as_html, as_json = mon.get("/site/SMALL/?hours=x"), mon.get("/site/SMALL/?hours=x&json")
    assert as_html.status_code == as_json.status_code == 400
    assert as_html.headers["content-type"].startswith("text/html") and "hours:" in as_html.text
    assert as_json.json() == {"error": "hours: 'x' is not a number"}


def test_the_redirecting_pages_document_their_302_and_their_parameters(mon: TestClient) -> None:
    # given /job/ and /search/, documented as 307 without parameters before
    pages = monitor_operations(mon)
    for path, params in (("/job/", {"pandaid"}), ("/search/", {"q", "pandaid", "queue", "user"})):
        op = pages[path]
        assert set(op["responses"]) == {"302", "400"}, path
        assert "Location" in op["responses"]["302"]["headers"]
        assert {p["name"] for p in op["parameters"]} == params | FLAGS
    assert [p["required"] for p in pages["/job/"]["parameters"] if p["name"] == "pandaid"] == [True]
    # then the answers are the documented ones
    found = mon.get("/job/?pandaid=7&json", follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (302, "/job/7/?json")
    assert mon.get("/search/?q=SMALL", follow_redirects=False).headers["location"] == "/site/SMALL/"
    assert mon.get("/search/", follow_redirects=False).status_code == 400


def test_the_id_pages_document_the_ids_they_take(mon: TestClient) -> None:
    # given the job and task pages (generated ids were mostly refused: the spec said any string)
    pages = monitor_operations(mon)
    for path, name in (("/job/{pandaid}/", "pandaid"), ("/task/{jeditaskid}/", "jeditaskid")):
        [param] = [p for p in pages[path]["parameters"] if p["name"] == name]
        # then the spec says digits, and only digits are read as an id
        assert param["schema"]["pattern"] == "^[1-9][0-9]{0,17}$"
    assert mon.get("/job/17/?json").status_code == 404
    assert mon.get("/job/+17/?json").json() == {"error": "pandaid: '+17' is not a PanDA job id"}


def test_the_spec_says_a_value_may_not_be_empty_but_a_flag_may(mon: TestClient) -> None:
    # given every query parameter of every page
    for path, op in monitor_operations(mon).items():
        for param in op["parameters"]:
            if param["in"] != "query":
                continue
            # then only the flags may be empty, as the pages read them
            expected = {"type": "string"} if param["name"] in FLAGS else {"type": "string", "minLength": 1}
            assert param["schema"] == expected, (path, param["name"])
    # and the pages do what it says
    assert mon.get("/jobs/?json=&timestamp=").status_code == 200
    assert mon.get("/jobs/?hours=&json").json() == {"error": "hours: empty value"}


@pytest.mark.parametrize("path", ["/site/SMALL/", "/user/alice/", "/job/1/", "/"])
def test_every_page_documents_the_json_flag_it_takes(mon: TestClient, path: str) -> None:
    # given a page (the site and user pages did not document ?json)
    templated = {
        "/site/SMALL/": "/site/{name}/",
        "/user/alice/": "/user/{name}/",
        "/job/1/": "/job/{pandaid}/",
    }
    op = monitor_operations(mon)[templated.get(path, path)]
    assert {p["name"] for p in op["parameters"]} >= FLAGS
    # then ?json answers the JSON twin (or the JSON refusal)
    answer = mon.get(path + "?json&timestamp=1")
    assert answer.headers["content-type"] == "application/json"
    assert answer.status_code in (200, 404), answer.text


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("/jobs/?produsername=a%00b", "produsername"),
        ("/user/a%00b/", "path"),
        ("/job?pandaid=1%00", "pandaid"),
    ],
)
def test_a_nul_in_a_page_url_gets_the_page_refusal(mon: TestClient, url: str, name: str) -> None:
    # given a NUL in a page's URL, refused by the server's guard before any route (fuzz finding: in the
    # API's envelope, which the page's spec does not document)
    as_json = mon.get(url, headers={"Accept": "application/json"})
    as_html = mon.get(url)
    # then it is the page's own 400, in JSON or HTML
    assert as_json.status_code == 400 and as_json.json() == {
        "error": f"{name}: NUL character (%00) not allowed"
    }
    assert as_html.status_code == 400 and as_html.headers["content-type"].startswith("text/html")
    assert f"{name}: NUL character" in as_html.text
    # while the API keeps its envelope
    api = mon.get("/api/v1/jobs?status=a%00b").json()
    assert (api["success"], api["message"]) == (False, "status: NUL character (%00) not allowed")


def test_every_page_is_known_to_the_refusal(mon: TestClient) -> None:
    # given the monitor's pages in the spec (and /job, its undocumented twin of /job/), then the guard
    # answers each of them in the page's shape
    paths = [*monitor_operations(mon), "/job"]
    assert len(paths) >= 17
    assert all(is_page(p) for p in paths), [p for p in paths if not is_page(p)]
    # and no API path is taken for one
    assert not any(is_page(p) for p in ("/api/v1/jobs", "/server/panda/getJob", "/.well-known/jwks.json"))
