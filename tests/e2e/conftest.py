"""Fixtures of the real-browser tests: one ``streamlit run app.py`` per test module on a free
port of 127.0.0.1, Debian's Chromium through Playwright, and helpers that wait for Streamlit.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (``.ci/install-chromium``).
Outside CI a missing browser skips these tests; under CI (``CI=true``) it fails them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Debian's chromium; SHARING_E2E_CHROMIUM only to check what happens without it
CHROMIUM = Path(os.environ.get("SHARING_E2E_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 120.0
TIMEOUT_MS = 90_000
VIEWPORT = {"width": 1400, "height": 1000}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def no_browser(reason: str) -> None:
    """Skip, or under CI fail: a CI run must not pass without its browser tests."""
    if IN_CI:
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


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
    """The app served on a free port of 127.0.0.1 (one server per test module); yields its
    URL and stops it afterwards."""
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
    """Chromium for one test module (Playwright's sync API allows one instance at a time,
    and a module may start its own)."""
    if not CHROMIUM.exists():
        no_browser(f"{CHROMIUM} is missing (run .ci/install-chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        no_browser(f"playwright is not installed: {err}")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as err:  # the browser could not start: say why
            no_browser(f"{CHROMIUM} did not start: {err}")
        yield b
        b.close()


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport=VIEWPORT, locale="zh-CN", accept_downloads=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
