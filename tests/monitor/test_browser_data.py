"""The data pages in a real headless Chromium at 1280 px: /datasets/, /dataset/<scope:name>/, /rses/ and
/rse/<name>/ over a catalog with ATLAS-length names, built through the API of a live server. Each page
must fit the window (no horizontal overflow) and show its key values; screenshots go to $PANDA_SCREENSHOTS.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.monitor.live import LiveMonitor, live_monitor
from tests.monitor.test_browser import (  # noqa: F401 (browser: a pytest fixture)
    CUT_TABLES,
    SHOTS,
    browser,
    fits_and_shoot,
    page_at_1280,
)

pytestmark = pytest.mark.browser
SCOPE = "mc23_13p6TeV"
DATASET = (
    f"{SCOPE}:"
    + "mc23_13p6TeV.601229.PhPy8EG_A14_ttbar_hdamp258p75_SingleLep.deriv.DAOD_PHYS.e8514_s4162_r14622_p5855"
)
CONTAINER = f"{SCOPE}:mc23_13p6TeV.601229.PhPy8EG_A14_ttbar.deriv.DAOD_PHYS.e8514_s4162_r14622_p5855_tid01"
RSES = [
    ("CERN-PROD_DATADISK", "CERN-PROD", "root://eosatlas.cern.ch:1094//eos/atlas/atlasdatadisk/rucio"),
    (
        "BNL-OSG2_DATADISK",
        "BNL-ATLAS",
        "root://dcgftp.usatlas.bnl.gov:1096//pnfs/usatlas.bnl.gov/BNLT0D1/rucio",
    ),
    ("MWT2_UC_SCRATCHDISK", "MWT2", "file:///data/atlas/scratchdisk/rucio"),
]


def _post(srv: LiveMonitor, path: str, body: dict[str, Any]) -> Any:
    resp = httpx.post(srv.api + path, json=body, timeout=30)
    resp.raise_for_status()
    return resp.json()["data"]


def _file(i: int) -> dict[str, Any]:
    name = f"DAOD_PHYS.37641823._{i:06d}.pool.root.1"
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    return {
        "scope": SCOPE,
        "name": name,
        "bytes": 2_500_000_000 + i,
        "adler32": f"{zlib.adler32(name.encode()):08x}",
        "guid": guid,
        "events": 10_000,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMonitor]:
    with live_monitor(tmp_path_factory.mktemp("live-data"), jobs=300) as srv:
        rses = [
            {"name": n, "site": s, "prefix": p, "total_bytes": 8 * 10**15, "used_bytes": 5 * 10**15}
            for n, s, p in RSES
        ]
        _post(srv, "/rse/upsert", {"rses": rses})
        _post(srv, "/scope/add", {"scope": SCOPE})
        ds_scope, ds_name = DATASET.split(":")
        box_scope, box_name = CONTAINER.split(":")
        _post(
            srv,
            "/did/add",
            {
                "dids": [
                    {"scope": ds_scope, "name": ds_name},
                    {"scope": box_scope, "name": box_name, "type": "container"},
                ]
            },
        )
        entries = [_file(i) for i in range(40)]
        _post(srv, "/did/add_files", {"dataset": DATASET, "files": entries, "rse": RSES[0][0]})
        some = [f"{SCOPE}:{e['name']}" for e in entries[:25]]
        _post(srv, "/replica/add", {"rse": RSES[1][0], "files": some, "state": "copying"})
        tenth = [f"{SCOPE}:{e['name']}" for e in entries[:10]]
        _post(srv, "/replica/add", {"rse": RSES[2][0], "files": tenth})
        _post(srv, "/rse/upsert", {"rses": [rses[1] | {"availability_write": False}]})  # closed after copies
        _post(srv, "/did/attach", {"did": CONTAINER, "children": [DATASET]})
        job = {
            "transformation": "Reco_tf.py",
            "prodUserName": "datamon",
            "computingSite": "CERN-PROD",
            "files": [{"lfn": entries[30]["name"], "type": "input", "dataset": DATASET}],
        }
        _post(srv, "/job/submit", {"jobs": [job]})
        _post(srv, "/rule/add", {"did": DATASET, "rse": RSES[2][0]})
        yield srv


PAGES = {
    "datasets": (
        "/datasets/",
        ["DAOD_PHYS.e8514_s4162_r14622_p5855", "CERN-PROD_DATADISK 100 %", "MWT2_UC_SCRATCHDISK 25 %"],
    ),
    "dataset": (f"/dataset/{DATASET}/", ["DAOD_PHYS.37641823._000000.pool.root.1", "93.1 GB", "datamon"]),
    "container": (f"/dataset/{CONTAINER}/", ["Datasets in this container", "40"]),
    "rule": (f"/dataset/{DATASET}/", ["Replication rules", "replicating"]),
    "rses": ("/rses/", ["CERN-PROD_DATADISK", "write no", "eosatlas.cern.ch", "queued 30"]),
    "rse": ("/rse/BNL-OSG2_DATADISK/", ["BNL-ATLAS", "write no", "25"]),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_data_page_fits_1280_and_shows_key_values(server: LiveMonitor, browser: Browser, name: str) -> None:  # noqa: F811
    path, values = PAGES[name]
    with page_at_1280(browser) as page:
        # when the page is opened at 1280 px
        resp = page.goto(server.url + path)
        # then it is served, nothing is wider than the window, and its key values are visible
        assert resp is not None and resp.status == 200
        expect(page.locator("header.topbar nav")).to_contain_text("Datasets")
        for text in values:
            expect(page.locator("main").get_by_text(text, exact=False).first).to_be_visible()
        fits_and_shoot(page, path, f"data-{name}.png")


def test_from_the_job_page_to_its_dataset(server: LiveMonitor, browser: Browser) -> None:  # noqa: F811
    jobs = httpx.get(f"{server.url}/jobs/?produsername=datamon&json").json()["jobs"]
    pid = jobs[0]["PandaID"]
    with page_at_1280(browser) as page:
        page.goto(server.url + f"/job/{pid}/")
        # the job page's data sections fit too: stage-in of its input, the transfer of it to MWT2
        expect(page.locator("#stage")).to_contain_text("input")
        expect(page.locator("#jobtransfers")).to_contain_text("MWT2_UC_SCRATCHDISK")
        assert page.evaluate(CUT_TABLES) == []
        page.screenshot(path=str(SHOTS / "data-job.png"), full_page=True)
        page.get_by_role("link", name=DATASET).click()
        page.wait_for_url("**/dataset/**")
        expect(page.locator("#dsjobs")).to_contain_text(str(pid))


def test_filter_form_sends_only_the_fields_given(server: LiveMonitor, browser: Browser) -> None:  # noqa: F811
    with page_at_1280(browser) as page:
        page.goto(server.url + "/datasets/")
        page.locator("form.searchrow input[name=name]").fill("*SingleLep*")
        page.locator("form.searchrow select[name=type]").select_option("dataset")
        page.locator("form.searchrow button").click()
        page.wait_for_url("**/datasets/?name=*")
        assert page.url.endswith("/datasets/?name=*SingleLep*&type=dataset"), page.url  # no empty ones
        expect(page.locator("#datasets tbody tr")).to_have_count(1)
        expect(page.locator("#datasets")).to_contain_text("SingleLep")
