"""The HTML report opens offline in a real browser (the shared ``browser`` fixture: Debian's
/usr/bin/chromium, never a downloaded one): every chart draws and nothing is fetched from the
network."""

import pytest

import sharing
from sharing.report import write_report
from sharing.scenario import find_scenario

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_draws_offline(browser, tmp_path, lang):
    res = sharing.simulate(sharing.load_scenario(find_scenario("gaozhu")))
    path = write_report(res, tmp_path / "report.html", lang)
    fetched = []
    context = browser.new_context(offline=True)
    try:
        page = context.new_page()
        page.on("request", lambda r: fetched.append(r.url)
                if not r.url.startswith(("file:", "data:", "blob:")) else None)
        page.goto(path.as_uri())
        page.wait_for_selector(".plotly-graph-div .main-svg", timeout=30_000)
        plots = page.locator(".plotly-graph-div").count()
        title = page.title()
    finally:
        context.close()
    assert fetched == []
    assert plots == 5  # the area, two waterfalls, the Sankey, the fair splits
    assert title == ("川渝高竹新区 — 存量各自、增量五五：测算报告" if lang == "zh" else
                     "Chuanyu Gaozhu New Area — stock stays with each side, increment split "
                     "50:50: simulation report")
