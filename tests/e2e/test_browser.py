"""Real-browser test: ``streamlit run app.py`` in a subprocess, Debian's Chromium via Playwright.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``.ci/install-chromium``).
The summary is an ``st.table``, so its text is in the page's DOM and can be read.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 90.0
ELEMENT_TIMEOUT_MS = 60_000

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (run .ci/install-chromium)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer on {url} in {START_TIMEOUT:.0f} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app served on a free port of 127.0.0.1; yields its URL, stops it afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py",
             "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def test_default_scenario_in_browser(server, page, tmp_path):
    page.goto(server)
    table = page.get_by_test_id("stTable")
    table.wait_for(timeout=ELEMENT_TIMEOUT_MS)
    text = table.inner_text()
    assert "广安" in text and "渝北" in text
    assert "guangan" in text and "yubei" in text
    assert "净收益现值 / PV net benefit" in text
    heading = page.locator("h1").first.inner_text()
    assert "川渝高竹新区" in heading
    assert "Gaozhu" in page.locator("h3").first.inner_text()
    page.get_by_test_id("stPlotlyChart").locator(".js-plotly-plot").wait_for(
        timeout=ELEMENT_TIMEOUT_MS)
    assert page.get_by_test_id("stException").count() == 0
    shot = tmp_path / "gaozhu.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_switch_scenario_in_browser(server, page, tmp_path):
    other = next((p for p in sorted((ROOT / "scenarios").glob("*.yaml"))
                  if p.name != "gaozhu.yaml"), None)
    if other is None:
        pytest.skip("only one scenario in scenarios/")
    import sharing

    sc = sharing.load_scenario(other)
    page.goto(server)
    page.get_by_test_id("stTable").wait_for(timeout=ELEMENT_TIMEOUT_MS)
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=other.name, exact=True).click()
    page.locator("h1", has_text=sc.name).wait_for(timeout=ELEMENT_TIMEOUT_MS)
    text = page.get_by_test_id("stTable").inner_text()
    for j in sc.jurisdictions:
        assert j.id in text
    page.screenshot(path=str(tmp_path / f"{other.stem}.png"), full_page=True)
