"""The fair split, risk, export and settlement pages in a real browser (``streamlit run`` on a
free localhost port, Debian's /usr/bin/chromium via Playwright; never a downloaded browser):
run the optimizer and apply it as a variant, which the compare page then offers; run a small
Monte Carlo; open every page in both languages and save a screenshot of each under
``tests/e2e/screenshots/`` (git-ignored) for a reviewer."""

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
SHOTS = Path(__file__).resolve().parent / "screenshots"
TIMEOUT_MS = 60_000
PAGES = ("fair", "risk", "export", "settlement")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="/usr/bin/chromium is missing (run .ci/install-chromium)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not answer:\n{log.read_text()}")
                time.sleep(0.3)
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
        b = p.chromium.launch(executable_path=str(CHROMIUM),
                              args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()


def no_exception(page) -> None:
    assert page.get_by_test_id("stException").count() == 0


def test_optimizer_apply_and_compare(server, page):
    page.goto(f"{server}/fair")
    page.get_by_role("button", name="运行优化").click()
    page.get_by_text("状态：最优").wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("46.0627%").first.wait_for(state="attached", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="应用为方案").click()
    page.get_by_text("已保存方案").wait_for(timeout=TIMEOUT_MS)
    no_exception(page)
    page.get_by_test_id("stSidebarNav").get_by_text("比较").click()
    page.get_by_text("方案：优化：最大化最小收益").first.wait_for(timeout=TIMEOUT_MS)
    no_exception(page)


def test_small_monte_carlo(server, page):
    page.goto(f"{server}/risk")
    draws = page.get_by_label("抽样次数")
    draws.wait_for(timeout=TIMEOUT_MS)
    draws.fill("200")
    draws.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="运行蒙特卡洛").click()
    page.get_by_text("200 次抽样，随机种子 0").wait_for(timeout=TIMEOUT_MS)
    page.get_by_test_id("stMetric").nth(1).wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_test_id("stMetric").count() == 2
    no_exception(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_screenshots_of_every_page(server, page, lang):
    SHOTS.mkdir(exist_ok=True)
    page.goto(server)
    page.get_by_test_id("stSidebar").wait_for(timeout=TIMEOUT_MS)
    if lang == "en":
        page.get_by_test_id("stSidebar").get_by_text("English").click()
        page.get_by_text("Overview").first.wait_for(timeout=TIMEOUT_MS)
    titles = {"fair": ("公平", "Fair split"), "risk": ("风险", "Risk"),
              "export": ("导出", "Export"), "settlement": ("结算", "Settlement")}
    for name in PAGES:
        title = titles[name][lang == "en"]
        page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        page.locator("h1", has_text=title).wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(1500)
        no_exception(page)
        page.screenshot(path=str(SHOTS / f"{name}_{lang}.png"), full_page=True)
        assert (SHOTS / f"{name}_{lang}.png").stat().st_size > 10_000
