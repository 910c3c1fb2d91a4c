"""The HTML report in a real browser (headless Chromium through Selenium), as a marketer sees
it on a phone (360, 500 px), in a mail pane (900 px) and on a wide screen (1,920 px).

The page comes from :mod:`tests.report_scenario` (two simulated days of cron runs). At each
width: nothing scrolls sideways, the attention list is on the first screen, every chart
renders. A screenshot of each width goes to ``$VOUCHERBOT_SCREENSHOTS`` (else a temporary
folder). Without Chromium these tests are skipped, unless ``VOUCHERBOT_BROWSER_REQUIRED`` is
set (CI sets it: there a missing browser fails the run).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.report_scenario import ReportScenario, build

WIDTHS = (360, 500, 900, 1920)
HEIGHT = 800  #: a phone's first screen is about this tall
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _missing(what: str) -> None:
    if os.environ.get("VOUCHERBOT_BROWSER_REQUIRED"):
        pytest.fail(f"{what} is required here (VOUCHERBOT_BROWSER_REQUIRED is set)")
    pytest.skip(f"{what} is not installed (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> ReportScenario:
    return build(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="module")
def page(scenario: ReportScenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page") / "report.html"
    path.write_text(scenario.html, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None or DRIVER is None:
        _missing("Chromium and chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium")
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM or ""
    driver = webdriver.Chrome(options=options, service=Service(DRIVER or ""))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("VOUCHERBOT_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def open_at(browser: Any, page: Path, width: int) -> None:
    browser.set_window_size(width, HEIGHT)
    browser.get(page.as_uri())
    assert browser.execute_script("return window.innerWidth") == width


# What sticks out: elements past the right edge, and boxes that scroll sideways inside.
_OVERFLOW = """
var edge = document.documentElement.clientWidth;
var out = [];
document.querySelectorAll("body *").forEach(function (el) {
  var box = el.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) { return; }
  var what = el.outerHTML.slice(0, 80);
  if (box.right > edge + 0.5 || box.left < -0.5) { out.push("past the edge: " + what); }
  var style = getComputedStyle(el);
  var scrolls = style.overflowX === "auto" || style.overflowX === "scroll";
  if (scrolls && el.scrollWidth > el.clientWidth) { out.push("scrolls sideways: " + what); }
});
return {scroll: document.documentElement.scrollWidth, edge: edge, out: out};
"""

_CHARTS = """
return Array.prototype.map.call(document.querySelectorAll("svg.chart, svg.days"), function (svg) {
  var box = svg.getBoundingClientRect(), inner = svg.getBBox();
  return {cls: svg.getAttribute("class"), w: box.width, h: box.height, iw: inner.width,
          ih: inner.height, shapes: svg.querySelectorAll("polyline, line, rect, path").length,
          label: svg.getAttribute("aria-label") || ""};
});
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits_every_screen(
    browser: Any, page: Path, scenario: ReportScenario, screenshots: Path, width: int
) -> None:
    open_at(browser, page, width)
    found = browser.execute_script(_OVERFLOW)
    assert found["scroll"] <= found["edge"], found
    assert found["out"] == []
    # the attention list, and its first item, are on the first screen
    first = browser.execute_script(
        "var li = document.querySelector('#attention li');"
        "return li ? [li.getBoundingClientRect().bottom, li.textContent] : null;"
    )
    assert first is not None and first[0] <= HEIGHT, first
    assert scenario.disabled_name in first[1] and "disabled by its rule" in first[1]
    charts = browser.execute_script(_CHARTS)
    assert any(c["cls"] == "days" for c in charts) and any(c["cls"] == "chart" for c in charts)
    for chart in charts:
        assert chart["w"] > 0 and chart["h"] > 0 and chart["iw"] > 0 and chart["ih"] > 0, chart
        assert chart["shapes"] > 0 and chart["label"], chart
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    (screenshots / f"report-{width}px.png").write_bytes(base64.b64decode(shot["data"]))


def test_on_a_wide_screen_the_sets_sort_and_filter(browser: Any, page: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_at(browser, page, 1920)
    rows = browser.find_elements(By.CSS_SELECTOR, "#sets tbody tr")
    assert browser.find_element(By.ID, "controls").is_displayed()  # shown by the script

    def first_cells(col: str) -> list[str]:
        return browser.execute_script(  # type: ignore[no-any-return]
            "var col = arguments[0], rows = document.querySelectorAll('#sets tbody tr');"
            "return Array.prototype.map.call(rows, function (r) {"
            "  return r.querySelector('td[data-label=\"' + col + '\"]')"
            "    .getAttribute('data-sort'); });",
            col,
        )

    header = browser.find_element(By.XPATH, "//table[@id='sets']//th[text()='Available']")
    header.click()
    values = [int(v) for v in first_cells("Available") if v]
    assert values == sorted(values)
    header.click()
    values = [int(v) for v in first_cells("Available") if v]
    assert values == sorted(values, reverse=True)

    Select(browser.find_element(By.ID, "show")).select_by_value("refill")
    shown = [r for r in rows if r.is_displayed()]
    assert shown and all(r.get_attribute("data-kind") == "refill" for r in shown)
    Select(browser.find_element(By.ID, "show")).select_by_value("")
    box = browser.find_element(By.ID, "filter")
    name = rows[0].find_element(By.CSS_SELECTOR, "strong").text
    box.send_keys(name)
    shown = [r for r in rows if r.is_displayed()]
    assert len(shown) >= 1 and all(name in r.text for r in shown)
    assert len(shown) < len(rows)


def test_it_prints_without_the_controls_and_fits_the_page(browser: Any, page: Path) -> None:
    open_at(browser, page, 794)  # an A4 page at 96 dpi
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert (
            browser.execute_script(
                "return getComputedStyle(document.getElementById('controls')).display"
            )
            == "none"
        )
        found = browser.execute_script(_OVERFLOW)
        assert found["out"] == [] and found["scroll"] <= found["edge"]
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
