"""The HTML report in a real browser: Debian's headless Chromium, driven by playwright over the
DevTools protocol (playwright's own browsers are never downloaded). The page must log no error and
every chart must have a size; a screenshot is taken. Skips, saying why, where Chromium cannot be had."""

from __future__ import annotations

import shutil

import pytest

import pcapflow
from pcapflow.html_report import report_html
from tests.factories import pcap_bytes, write
from tests.report_captures import window_packets

pytest.importorskip("matplotlib", reason='the report needs matplotlib (pip install -e ".[report]")')
sync_api = pytest.importorskip("playwright.sync_api", reason='the browser test needs playwright (pip install -e ".[test]")')

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = 5


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM)
        except sync_api.Error as exc:
            pytest.skip(f"Chromium does not start here: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


def test_the_report_renders_without_errors_and_every_chart_has_a_size(browser, tmp_path):
    capture = write(tmp_path / "windows.pcap", pcap_bytes(window_packets()))
    report = tmp_path / "report.html"
    report.write_text(report_html(pcapflow.analyze(capture)), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report.as_uri(), wait_until="load")
    charts = page.locator("figure.chart > svg").all()
    sizes = [chart.bounding_box() for chart in charts]
    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    assert problems == []
    assert requested == [report.as_uri()]  # the page itself, and nothing else
    assert len(sizes) == CHARTS
    for size in sizes:
        assert size is not None and size["width"] > 100 and size["height"] > 100, size
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
