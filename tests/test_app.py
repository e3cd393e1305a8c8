"""The Streamlit app (app.py -> sharing.ui) run headless with Streamlit's AppTest."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sharing.ui import PAGES

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE_PATHS = [path for _, path, _ in PAGES]


def start(lang: str = "zh", page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["lang"] = lang
    at.run()
    if page is not None:
        at.switch_page(page_file(page)).run()
    return at


def page_file(path: str) -> str:
    return path


def test_default_page_is_gaozhu_in_chinese():
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.session_state["lang"] == "zh"
    assert at.sidebar.selectbox[0].value == "gaozhu"
    assert "川渝高竹新区" in at.sidebar.selectbox[0].format_func("gaozhu")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_language_switch(lang):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.radio[0].set_value(lang).run()
    assert not at.exception
    assert at.title[0].value == {"zh": "概览", "en": "Overview"}[lang]
