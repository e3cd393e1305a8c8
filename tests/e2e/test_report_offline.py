"""The HTML report opens offline in a real browser (Debian's /usr/bin/chromium, never a
downloaded one): every chart draws and nothing is fetched from the network."""

from pathlib import Path

import pytest

import sharing
from sharing.report import write_report
from sharing.scenario import find_scenario

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (run .ci/install-chromium)"),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_draws_offline(tmp_path, lang):
    from playwright.sync_api import sync_playwright

    res = sharing.simulate(sharing.load_scenario(find_scenario("gaozhu")))
    path = write_report(res, tmp_path / "report.html", lang)
    fetched = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("request", lambda r: fetched.append(r.url)
                    if not r.url.startswith(("file:", "data:", "blob:")) else None)
            page.goto(path.as_uri())
            page.wait_for_selector(".plotly-graph-div .main-svg", timeout=30_000)
            plots = page.locator(".plotly-graph-div").count()
            title = page.title()
        finally:
            browser.close()
    assert fetched == []
    assert plots == 5  # the area, two waterfalls, the Sankey, the fair splits
    assert title == ("川渝高竹新区 — 存量各自、增量五五：测算报告" if lang == "zh" else
                     "Chuanyu Gaozhu New Area — stock stays with each side, increment split "
                     "50:50: simulation report")
