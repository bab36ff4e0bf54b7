"""Issue 13 in a real Chromium: the job list at 1280 and 1920 px (rows of one or two lines, the error code
visible, long transformations shortened with the full value on hover), every job page fitting 1280 px,
times in UTC, and the plots' window on a demo-sized history of a few minutes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from tests.monitor.live import LiveMonitor, live_monitor
from tests.monitor.test_browser import browser, fits_and_shoot  # noqa: F401 (browser: a pytest fixture)

pytestmark = pytest.mark.browser
LONG_TRF = "/home/someone/src/pandawms/.venv/bin/python3 -m pandawms.demo.payload --seconds 20 --fail-code 65"
LINE = 13 * 1.45  # the body's line height in px
TWO_LINES = 2 * LINE + 8 + 2  # two lines, the cell padding, a border and rounding


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMonitor]:
    with live_monitor(tmp_path_factory.mktemp("layout"), jobs=1200) as srv:
        job = {"transformation": LONG_TRF, "prodUserName": "newcomer", "computingSite": "CERN-PROD"}
        httpx.post(f"{srv.api}/job/submit", json={"jobs": [job]}, timeout=30).raise_for_status()
        yield srv


@contextmanager
def page_at(chromium: Browser, width: int) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": width, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()
    assert errors == [], errors


def _rows(pg: Page) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = pg.evaluate(
        """[...document.querySelectorAll('#joblist tbody tr')].map(r => {
             const e = r.querySelector('td.err'), c = e && e.querySelector('.ecode');
             const box = e ? e.getBoundingClientRect() : null;
             return {h: r.getBoundingClientRect().height,
                     errLeft: box ? box.left : -1, errWidth: box ? box.width : 0,
                     codeRight: c ? c.getBoundingClientRect().right : 0};
           })"""
    )
    return rows


@pytest.mark.parametrize("width", [1280, 1920])
@pytest.mark.parametrize("query", ["jobstatus=failed", ""])
def test_job_list_rows_stay_short_and_show_the_error(
    server: LiveMonitor,
    browser: Browser,  # noqa: F811
    width: int,
    query: str,
) -> None:
    with page_at(browser, width) as pg:
        # when the job list is opened
        pg.goto(f"{server.url}/jobs/?{query}")
        rows = _rows(pg)
        # then every row is one or two lines high
        assert len(rows) > 10
        tallest = max(r["h"] for r in rows)
        assert tallest <= TWO_LINES, f"a row is {tallest:.0f} px high at {width} px"
        # and the error column is on screen, wide enough for a code, whose code is never cut
        errors = [r for r in rows if r["codeRight"]]
        if query:
            assert errors, "failed jobs show their error"
        for r in errors:
            assert r["errWidth"] >= 200 and r["errLeft"] + r["errWidth"] <= width
            assert r["codeRight"] <= r["errLeft"] + r["errWidth"]
        fits_and_shoot(pg, "/jobs/", f"joblist-{width}{'-failed' if query else ''}.png")


def test_long_transformation_is_shortened_with_the_full_value_on_hover(
    server: LiveMonitor,
    browser: Browser,  # noqa: F811
) -> None:
    with page_at(browser, 1280) as pg:
        pg.goto(f"{server.url}/jobs/?produsername=newcomer")
        cell = pg.locator("#joblist td.trf").first
        # then the cell starts with the program's name, is cut to its column, and hovers the whole command
        assert cell.inner_text().startswith("python3 -m pandawms.demo.payload")
        assert cell.get_attribute("title") == LONG_TRF
        assert cell.evaluate("c => c.scrollWidth > c.clientWidth")  # cut with an ellipsis
        assert cell.evaluate("c => getComputedStyle(c).textOverflow") == "ellipsis"


JOB_PAGES = ["/", "/jobs/", "/errors/", "/sites/", "/site/CERN-PROD/", "/users/", "/user/atlasprod/"]


@pytest.mark.parametrize("path", JOB_PAGES)
def test_every_job_page_fits_1280_and_says_utc(server: LiveMonitor, browser: Browser, path: str) -> None:  # noqa: F811
    with page_at(browser, 1280) as pg:
        resp = pg.goto(server.url + path)
        assert resp is not None and resp.status == 200
        # then the default window is the same everywhere
        expect(pg.locator(".selbar .window")).to_have_text("last 12 hours")
        # and the live update's stamp is in UTC, like every time on the page
        expect(pg.locator("#updated")).to_have_text(re.compile(r"updated \d\d:\d\d:\d\d UTC"), timeout=15_000)
        name = path.strip("/").replace("/", "-") or "home"
        fits_and_shoot(pg, path, f"fit-1280-{name}.png")


@pytest.fixture(scope="module")
def demo_sized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveMonitor]:
    """A history of the last minutes only, as after `make demo`."""
    with live_monitor(Path(tmp_path_factory.mktemp("demo")), jobs=0) as srv:
        jobs = [{"transformation": "/bin/true", "prodUserName": "demo", "computingSite": "CERN-PROD"}] * 6
        httpx.post(f"{srv.api}/job/submit", json={"jobs": jobs}, timeout=30).raise_for_status()
        yield srv


def _texts(svg_texts: Locator) -> list[str]:
    return list(svg_texts.evaluate_all("ts => ts.map(t => t.textContent)"))


def test_plots_zoom_to_a_few_minutes_of_data(demo_sized: LiveMonitor, browser: Browser) -> None:  # noqa: F811
    with page_at(browser, 1280) as pg:
        # when the home page of a demo-sized history is drawn
        pg.goto(demo_sized.url + "/")
        chart = pg.locator('svg.chart[data-chart="states"]')
        labels = _texts(chart.locator('text.ax[text-anchor="middle"]'))
        # then the x axis spans minutes (second labels), starting shortly before the jobs, not 12 hours ago
        assert labels and all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in labels), labels
        first = datetime.strptime(labels[0], "%H:%M:%S").time()
        now = datetime.now(UTC)
        minutes = (now.hour * 60 + now.minute) - (first.hour * 60 + first.minute)
        assert 0 <= minutes % (24 * 60) <= 5
        # and the bars are not one sliver at the right edge: the jobs' bar is at least 5 px wide
        widths = [
            float(w)
            for w in chart.locator("rect:has(title)").evaluate_all(
                "rs => rs.map(r => r.getAttribute('width'))"
            )
        ]
        assert widths and max(widths) >= 5
        # and the count axis has round ticks
        ticks = _texts(chart.locator('text.ax[text-anchor="end"]'))
        assert ticks[0] == "0" and len(ticks) >= 2
        steps = {int(b) - int(a) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1 and steps.pop() in (1, 2, 5, 10, 20, 50)


def test_api_docs_work_offline(server: LiveMonitor, browser: Browser) -> None:  # noqa: F811
    with page_at(browser, 1280) as pg:
        # given a browser that can reach nothing but the server
        outside: list[str] = []

        def only_local(route: Route) -> None:
            if route.request.url.startswith(server.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        pg.route("**/*", only_local)
        # when the API docs are opened
        pg.goto(server.api + "/docs")
        # then Swagger UI draws the API's operations from the package's own files
        expect(pg.locator(".opblock").first).to_be_visible(timeout=20_000)
        expect(pg.locator("#swagger-ui")).to_contain_text("/api/v1/job/submit")
        assert outside == []
        # and the page has no inline script (a Content-Security-Policy may forbid it)
        assert pg.evaluate("[...document.scripts].filter(s => !s.src).length") == 0
