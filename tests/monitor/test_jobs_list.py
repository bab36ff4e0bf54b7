"""/jobs/: URL filters (wildcards, OR, NOT, errorcode), attribute summary links, keyset pages, totals."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FrozenClock
from tests.db.helpers import acquire, submit, update
from tests.monitor.helpers import page_json, run_jobs


def _ids(data: dict[str, Any]) -> set[int]:
    return {j["PandaID"] for j in data["jobs"]}


@pytest.fixture
def people(mon: TestClient) -> dict[str, list[int]]:
    """alice: 2 queued on SMALL; albert: 1 queued on BIG; bob: 2 on SMALL, one failed with pilot:1099."""
    bob = run_jobs(mon, "SMALL", 2, user="bob", fail=1, code=1099)
    return {
        "alice": [j["PandaID"] for j in submit(mon, 2, computingSite="SMALL", prodUserName="alice")],
        "albert": [j["PandaID"] for j in submit(mon, 1, computingSite="BIG", prodUserName="albert")],
        "bob": bob,
    }


def test_filters_exact_wildcard_or_and_not(mon: TestClient, people: dict[str, list[int]]) -> None:
    alice, albert, bob = set(people["alice"]), set(people["albert"]), set(people["bob"])
    retry = {j["PandaID"] for j in page_json(mon, "/jobs/?produsername=bob&attemptnr=2")["jobs"]}
    assert len(retry) == 1
    bob_all = bob | retry
    cases = {
        "produsername=alice": alice,
        "user=alice": alice,
        "produsername=al*": alice | albert,
        "produsername=AL*": alice | albert,  # wildcard patterns ignore case
        "produsername=alice|bob": alice | bob_all,
        "produsername=!alice": albert | bob_all,
        "produsername=al*,!albert": alice,
        "computingsite=BIG": albert,
        "computingsite=SMA*&produsername=bob": bob_all,
        "jobstatus=fin*|fail*": bob,
        "jobstatus=!activated": bob,
        "jobstatus=activated&produsername=bob": retry,
        "errorcode=pilot:1099": {people["bob"][0]},
        "errorcode=pilot:1099|pilot:1305": {people["bob"][0]},
        "errorcode=pilot:1305": set(),
        f"pandaid={people['alice'][0]},{people['albert'][0]}": {people["alice"][0], people["albert"][0]},
        "prodsourcelabel=user": alice | albert | bob_all,
        "jobtype=production": set(),
    }
    for query, expected in cases.items():
        data = page_json(mon, f"/jobs/?{query}")
        assert _ids(data) == expected, query
        assert data["total"] == len(expected) and data["totalExact"], query


def test_attribute_summary_values_link_to_filtered_lists(
    mon: TestClient, people: dict[str, list[int]]
) -> None:
    # when
    data = page_json(mon, "/jobs/?computingsite=SMALL")
    summary = {a["name"]: {v["value"]: v for v in a["values"]} for a in data["selectionsummary"]}
    # then each attribute lists its values with counts, and a value's link adds the filter
    assert summary["produsername"]["alice"]["count"] == 2 and summary["produsername"]["bob"]["count"] == 3
    assert summary["jobstatus"]["failed"]["count"] == 1
    assert summary["errorcode"]["pilot:1099"]["count"] == 1
    link = summary["produsername"]["bob"]["url"]
    assert link == "/jobs/?computingsite=SMALL&produsername=bob"
    assert _ids(page_json(mon, link)) == set(people["bob"]) | {
        j["PandaID"] for j in page_json(mon, "/jobs/?produsername=bob&attemptnr=2")["jobs"]
    }


def test_error_summary_of_the_selection(mon: TestClient, people: dict[str, list[int]]) -> None:
    data = page_json(mon, "/jobs/")
    [err] = data["errsByCount"]
    assert (err["component"], err["code"], err["count"], err["acronym"]) == (
        "pilot",
        1099,
        1,
        "STAGEINFAILED",
    )
    assert err["categoryName"] == "File and Storage Issues" and err["fill"] == "#f1e8ff"
    assert err["url"] == "/jobs/?jobstatus=failed%7Cholding&errorcode=pilot%3A1099"
    assert err["sampleDiag"] == "stage-in of in0.root failed"


def test_job_rows_carry_every_column_and_derived_times(mon: TestClient, clock: FrozenClock) -> None:
    # given a job that waited 5 minutes and ran 10
    [j] = submit(mon, 1, computingSite="SMALL")
    clock.advance(minutes=5)
    acquire(mon, "SMALL")
    update(mon, j["PandaID"], "running")
    clock.advance(minutes=10)
    update(mon, j["PandaID"], "finished")
    # when
    [row] = page_json(mon, "/jobs/")["jobs"]
    # then
    assert row["PandaID"] == j["PandaID"] and row["jobStatus"] == "finished"
    assert row["timeToStart"] == 300 and row["duration"] == 600
    assert {"computingSite", "prodUserName", "creationTime", "modificationTime", "maxPSS", "errors"} <= set(
        row
    )


@pytest.mark.parametrize(
    "order", ["time-descending", "time-ascending", "pandaid-descending", "pandaid-ascending"]
)
def test_keyset_pages_cover_the_selection_once(mon: TestClient, clock: FrozenClock, order: str) -> None:
    # given 23 jobs created at different times
    for _ in range(23):
        submit(mon, 1, computingSite="SMALL")
        clock.advance(seconds=30)
    # when the list is walked 10 at a time
    seen: list[int] = []
    url: str | None = f"/jobs/?display_limit=10&sortby={order}"
    pages = 0
    while url:
        data = page_json(mon, url)
        seen += [j["PandaID"] for j in data["jobs"]]
        url = data["nextUrl"]
        pages += 1
    # then every job appears exactly once, in order
    assert pages == 3 and len(seen) == 23 and len(set(seen)) == 23
    assert seen == sorted(seen, reverse=order.endswith("descending"))


def test_total_is_marked_approximate_past_the_read_limit(mon: TestClient) -> None:
    submit(mon, 6, computingSite="SMALL", prodUserName="carol")
    exact = page_json(mon, "/jobs/?produsername=carol")
    capped = page_json(mon, "/jobs/?produsername=carol&limit=4")
    assert (exact["total"], exact["totalExact"]) == (6, True)
    assert (capped["total"], capped["totalExact"], capped["summarised"]) == (4, False, 4)
    assert "approximate" in mon.get("/jobs/?produsername=carol&limit=4").text


def test_an_exact_total_still_says_when_summaries_cover_only_the_newest(mon: TestClient) -> None:
    submit(mon, 5, computingSite="SMALL")
    data = page_json(mon, "/jobs/?limit=2")
    assert (data["total"], data["totalExact"], data["summarised"]) == (5, True, 2)
    assert "summaries cover the newest 2" in mon.get("/jobs/?limit=2").text
    assert "summaries cover the newest" not in mon.get("/jobs/").text


def test_time_window_and_its_lifting(mon: TestClient, clock: FrozenClock) -> None:
    # given an old queued job and a recent one
    [old] = submit(mon, 1, computingSite="SMALL")
    clock.advance(hours=30)
    [new] = submit(mon, 1, computingSite="SMALL")
    # then the default 12 h window shows the recent one; days=2 both; an id or an active-state filter lifts it
    assert _ids(page_json(mon, "/jobs/")) == {new["PandaID"]}
    assert _ids(page_json(mon, "/jobs/?days=2")) == {old["PandaID"], new["PandaID"]}
    assert _ids(page_json(mon, "/jobs/?hours=6")) == {new["PandaID"]}
    assert _ids(page_json(mon, f"/jobs/?pandaid={old['PandaID']}")) == {old["PandaID"]}
    assert _ids(page_json(mon, "/jobs/?jobstatus=activated")) == {old["PandaID"], new["PandaID"]}
    assert _ids(page_json(mon, "/jobs/?jobstatus=activated&hours=12")) == {new["PandaID"]}
    window = page_json(mon, "/jobs/?date_from=2026-01-01T00:00&date_to=2026-01-01T13:00")
    assert _ids(window) == {old["PandaID"]}
