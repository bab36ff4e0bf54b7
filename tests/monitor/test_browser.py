"""The monitor in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Loads every page against a live server over a seeded history, clicks an attribute value to filter, opens
a job with its log, follows the error table, reads a JSON twin, watches a live update arrive without a
reload, and saves screenshots of the main pages (to $PANDA_SCREENSHOTS; `make screenshots` refreshes docs/).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.monitor.helpers import make_tarball
from tests.monitor.live import LiveMonitor, live_monitor
from tests.monitor.task_helpers import build_task

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
# Screenshots go to a scratch dir; `make screenshots` points this at docs/screenshots to refresh the docs.
pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("PANDA_SCREENSHOTS") or Path(tempfile.gettempdir()) / "pandawms-screenshots")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMonitor]:
    with live_monitor(tmp_path_factory.mktemp("live"), jobs=3000) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    context.close()
    assert errors == [], errors


def _first_job(server: LiveMonitor, query: str) -> int:
    data = httpx.get(f"{server.url}/jobs/?{query}&json").json()
    return int(data["jobs"][0]["PandaID"])


PAGES = {
    "home": "/",
    "jobs": "/jobs/",
    "errors": "/errors/",
    "sites": "/sites/",
    "site": "/site/MWT2_UCORE/",
    "users": "/users/",
    "user": "/user/atlasprod/",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_with_chrome_and_charts(server: LiveMonitor, page: Page, name: str) -> None:
    # when
    resp = page.goto(server.url + PAGES[name])
    # then
    assert resp is not None and resp.status == 200
    expect(page.locator("header.topbar")).to_contain_text("Jobs")
    expect(page.locator(".selbar")).to_be_visible()
    if name not in ("sites", "users"):
        assert page.locator("svg.chart rect").count() > 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_clicking_an_attribute_value_filters_the_list(server: LiveMonitor, page: Page) -> None:
    # given the job list
    page.goto(server.url + "/jobs/")
    link = page.locator('#attrs a[data-attr="computingsite"]').first
    queue = link.get_attribute("data-value")
    assert queue
    # when a queue is clicked in the attribute summary
    link.click()
    page.wait_for_url(f"**computingsite={queue}**")
    # then every listed job runs there and the filter is shown
    expect(page.locator("a.filter")).to_contain_text(f"computingsite={queue}")
    sites = page.locator("#joblist tbody tr td.queue").all_inner_texts()
    assert sites and set(sites) == {queue}


def test_open_a_job_and_read_its_log(server: LiveMonitor, page: Page) -> None:
    # given a failed job with an uploaded log
    pid = _first_job(server, "jobstatus=failed")
    tarball = make_tarball({"pilotlog.txt": b"stage-in started\n<b>not bold</b>\nstage-in failed\n"})
    httpx.post(
        f"{server.api}/file_server/upload_log", params={"job_id": pid, "filename": "log.tgz"}, content=tarball
    ).raise_for_status()
    page.goto(server.url + f"/jobs/?pandaid={pid}")
    # when the job is opened from the list
    page.locator(f'#joblist a[href="/job/{pid}/"]').click()
    page.wait_for_url(f"**/job/{pid}/")
    # then the header, the error table, its parameters and, without a click (a failed job), the escaped
    # log text are there
    expect(page.locator("details.logfile pre").first).to_be_visible()
    expect(page.locator("#jobparams")).to_contain_text("--inputFile")
    expect(page.locator("h2").first).to_contain_text(f"PanDA job {pid}")
    expect(page.locator(".bigstate")).to_contain_text("failed")
    expect(page.locator("table.errors .cat").first).to_be_visible()
    expect(page.locator("details.logfile pre")).to_contain_text("<b>not bold</b>")
    page.screenshot(path=str(SHOTS / "job.png"), full_page=True)


def test_error_table_links_to_the_failed_jobs(server: LiveMonitor, page: Page) -> None:
    page.goto(server.url + "/errors/")
    rows = page.locator("#errs table.errors tbody tr")
    assert rows.count() > 3
    code = rows.first.locator("td.code a").inner_text()
    rows.first.locator("td.num a").click()
    page.wait_for_url("**errorcode=**")
    expect(page.locator("a.filter", has_text="errorcode=")).to_contain_text(code)
    states = set(page.locator("#joblist td.state").all_inner_texts())
    assert states and states <= {"failed", "holding"}


def test_json_link_serves_the_twin(server: LiveMonitor, page: Page) -> None:
    page.goto(server.url + "/sites/")
    page.get_by_role("link", name="JSON").click()
    data = json.loads(page.locator("body").inner_text())
    assert {s["name"] for s in data["sites"]} >= {"CERN-PROD", "MWT2_UCORE"}


def test_live_update_without_reload(server: LiveMonitor, page: Page) -> None:
    # given a job list of a user who has no job yet
    page.goto(server.url + "/jobs/?produsername=livetest")
    expect(page.locator("#joblist")).to_contain_text("No job matches")
    page.evaluate("window.__notReloaded = true")
    # when a job is submitted through the API
    job = {"transformation": "/bin/echo", "prodUserName": "livetest", "computingSite": "CERN-PROD"}
    httpx.post(f"{server.api}/job/submit", json={"jobs": [job]}).raise_for_status()
    # then within a few polls the count and the row appear, and the page was not reloaded
    expect(page.locator("#total")).to_contain_text("Total jobs found: 1", timeout=20_000)
    expect(page.locator("#joblist td.state")).to_have_text(["activated"])
    assert page.evaluate("window.__notReloaded") is True


# the tables wider than the box they sit in (cut off, or scrolling, at 1280 px), by their box's id or text
CUT_TABLES = (
    "[...document.querySelectorAll('table')].filter(t => t.offsetWidth > t.parentElement.clientWidth + 1)"
    ".map(t => t.parentElement.id || t.parentElement.innerText.slice(0, 40))"
)
TASK_NAME = "mc23_13p6TeV.601229.PhPy8EG_A14_ttbar_hdamp258p75_SingleLep.recon.e8514_s4162_r14622"


@pytest.fixture(scope="module")
def task_id(server: LiveMonitor) -> int:
    return build_task(server.db, datetime.now(UTC).replace(tzinfo=None), TASK_NAME).task_id


@contextmanager
def page_at_1280(chromium: Browser) -> Iterator[Page]:
    """A page in a 1280 x 900 window; fails the test on a script error."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], errors


def fits_and_shoot(pg: Page, path: str, shot: str) -> None:
    """Nothing is wider than the window or than the box it sits in; save a full-page screenshot."""
    widths = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{path}: {widths[0]} px wide in a {widths[1]} px window"
    cut = pg.evaluate(CUT_TABLES)
    assert cut == [], f"{path}: tables wider than their box: {cut}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / shot), full_page=True)


@pytest.mark.parametrize("which", ["tasks", "task"])
def test_task_pages_fit_1280(server: LiveMonitor, browser: Browser, task_id: int, which: str) -> None:
    path = "/tasks/" if which == "tasks" else f"/task/{task_id}/"
    with page_at_1280(browser) as pg:
        # when the page is opened at 1280 px
        resp = pg.goto(server.url + path)
        # then it is served with the task, its coloured state and progress bar, and fits the window
        assert resp is not None and resp.status == 200
        expect(pg.locator("header.topbar nav a.active")).to_have_text("Tasks")
        expect(pg.locator("main")).to_contain_text(TASK_NAME)
        expect(pg.locator("main .s-running").first).to_be_visible()
        expect(pg.locator(".pbar .p-finished").first).to_be_visible()
        if which == "task":
            expect(pg.locator("#scouts")).to_contain_text("finished")
            expect(pg.locator("#retries")).to_contain_text("STAGEINFAILED")
            assert pg.locator("#taskcharts svg.chart rect").count() > 0
        else:
            expect(pg.locator("#shares")).to_contain_text("production")
        fits_and_shoot(pg, path, f"{which}.png")
