"""Driving the app in a real browser: wait for Streamlit's reruns, move between pages by the
sidebar (a URL would start a new session), switch the language, take full-page screenshots."""

from __future__ import annotations

import io

import pandas as pd
from playwright.sync_api import Locator, Page

IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NAV = {"overview": ("概览", "Overview"), "agreements": ("协议", "Agreements"),
       "flows": ("资金流", "Flows"), "fair": ("公平", "Fair split"), "risk": ("风险", "Risk"),
       "compare": ("比较", "Compare"), "export": ("导出", "Export"),
       "settlement": ("结算", "Settlement")}
LANG_NAMES = {"zh": "中文", "en": "English"}


def settle(page: Page, pause_ms: int = 300) -> None:
    """Wait until the script has finished its rerun (the app marks its state on stApp)."""
    page.wait_for_timeout(pause_ms)
    page.wait_for_selector(IDLE)
    page.wait_for_timeout(100)
    page.wait_for_selector(IDLE)


def no_exception(page: Page) -> None:
    """No traceback on screen."""
    shown = page.get_by_test_id("stException")
    assert shown.count() == 0, shown.first.inner_text()


def open_app(page: Page, url: str, lang: str = "zh") -> None:
    page.goto(url)
    page.get_by_test_id("stMetric").first.wait_for()
    settle(page)
    if lang != "zh":
        switch_language(page, lang)


def switch_language(page: Page, lang: str) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stRadio").get_by_text(
        LANG_NAMES[lang], exact=True).click()
    settle(page)
    nav(page).get_by_text(NAV["overview"][lang == "en"], exact=True).wait_for()


def nav(page: Page) -> Locator:
    return page.get_by_test_id("stSidebarNav")


def go(page: Page, name: str, lang: str = "zh") -> None:
    """Open a page through the sidebar's navigation (the session and its edits stay)."""
    nav(page).get_by_text(NAV[name][lang == "en"], exact=True).click()
    settle(page)
    page.wait_for_url(f"**/{name}" if name != "overview" else "**/*")
    no_exception(page)


def metric_values(page: Page) -> dict[str, float]:
    """The headline cards: label -> amount."""
    out = {}
    for card in page.get_by_test_id("stMetric").all():
        label = card.get_by_test_id("stMetricLabel").inner_text().strip()
        value = card.get_by_test_id("stMetricValue").inner_text().strip()
        out[label] = float(value.replace(",", ""))
    return out


def keyed(page: Page, key: str) -> Locator:
    """The element of the widget with Streamlit key ``key``, or ``key`` and a suffix (a
    widget whose labels depend on the language has it in its key: ``compare_pick:zh``)."""
    return page.locator(f"[class*='st-key-{key}']").first


def download(page: Page, button: Locator) -> tuple[str, bytes]:
    """Click a download button; the file's suggested name and its bytes."""
    with page.expect_download() as info:
        button.click()
    d = info.value
    with open(d.path(), "rb") as f:
        return d.suggested_filename, f.read()


def read_csv(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")


def wait_for_charts(page: Page) -> None:
    """Every plotly chart on the page has drawn its SVG."""
    charts = page.get_by_test_id("stPlotlyChart")
    for i in range(charts.count()):
        charts.nth(i).locator(".main-svg").first.wait_for()


def screenshot(page: Page, path) -> None:
    """The whole page, not only the window: Streamlit scrolls inside its main block, so the
    window is made as tall as the content for the shot, then put back."""
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...['stMain', 'stMainBlockContainer', 'stSidebarContent'].map("
        "id => { const e = document.querySelector(`[data-testid=\"${id}\"]`);"
        " return e ? e.scrollHeight : 0; }))")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, 600), 12_000)})
    settle(page, 600)
    wait_for_charts(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    settle(page, 300)


def choose(page: Page, key: str, option: str) -> None:
    """Pick ``option`` in the selectbox with key ``key`` (its list may take a moment to open,
    right after an expander opened)."""
    from playwright.sync_api import TimeoutError as Timeout

    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(5):
        keyed(page, key).get_by_role("combobox").click()
        try:
            wanted.wait_for(timeout=5_000)
            break
        except Timeout:
            page.keyboard.press("Escape")
    wanted.click()
    settle(page)


def edit_cell(page: Page, grid: Locator, row: int, column_fraction: float, value: str) -> None:
    """Type ``value`` into a cell of a ``st.data_editor`` (a canvas): click the cell of data
    row ``row`` (0-based) at ``column_fraction`` of the grid's width, double-click to open
    its editor, fill it, press Enter."""
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = grid.bounding_box()
    row_height = 35  # Streamlit's default row height, the header included
    x = box["x"] + box["width"] * column_fraction
    y = box["y"] + row_height * (row + 1) + row_height / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(300)
    page.mouse.dblclick(x, y)
    cell = page.locator("input.gdg-input, textarea.gdg-input")
    cell.wait_for()
    cell.fill(value)
    cell.press("Enter")
    settle(page, 1000)
