"""The Streamlit page (app.py -> sharing.ui) run headless with Streamlit's AppTest."""

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import sharing
from sharing.ui.page import SCENARIOS_ENV

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.rglob("*.yaml"))


def run_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    return at.run()


def summary_text(at: AppTest) -> str:
    return at.table[0].value.to_string()


def test_default_page_renders_gaozhu_summary():
    at = run_app()
    assert not at.exception
    assert not at.error
    assert at.sidebar.selectbox[0].value == SCENARIO_DIR / "gaozhu.yaml"
    assert at.title[0].value.startswith("川渝高竹新区")
    assert "Gaozhu" in at.subheader[0].value
    table = at.table[0].value
    assert "辖区 / jurisdiction" in table.columns
    assert "净收益现值 / PV net benefit" in table.columns
    text = summary_text(at)
    assert "广安" in text and "guangan" in text and "渝北" in text
    assert len(at.get("plotly_chart")) == 1
    labels = [b.label for b in at.get("download_button")]
    assert any("CSV" in label for label in labels)


def test_chart_metric_can_be_changed():
    at = run_app()
    metric = next(s for s in at.selectbox if "metric" in s.label)
    metric.select_index(1).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1


def name(path: Path) -> str:
    return path.relative_to(SCENARIO_DIR).as_posix()


@pytest.mark.parametrize("path", SCENARIOS, ids=[name(p) for p in SCENARIOS])
def test_switching_scenario(path):
    at = run_app()
    box = at.sidebar.selectbox[0]
    assert set(box.options) == {name(p) for p in SCENARIOS}
    box.select_index(box.options.index(name(path))).run()
    assert not at.exception
    assert not at.error
    sc = sharing.load_scenario(path)
    assert at.title[0].value == sc.name
    ids = set(at.table[0].value["辖区 / jurisdiction"])
    assert ids == {j.id for j in sc.jurisdictions}


def test_bad_scenario_shows_problems_not_traceback(tmp_path, monkeypatch):
    shutil.copy(ROOT / "scenarios" / "gaozhu.yaml", tmp_path / "gaozhu.yaml")
    (tmp_path / "broken.yaml").write_text(
        "scenario: 1\nname: 坏\nname_en: broken\nyears: {start: 2030, end: 2020}\n"
        "jurisdictions: []\n", encoding="utf-8")
    monkeypatch.setenv(SCENARIOS_ENV, str(tmp_path))
    at = run_app()
    assert not at.exception
    assert at.table, "the default scenario still renders"
    at.sidebar.selectbox[0].select_index(1).run()
    assert not at.exception
    assert not at.table
    message = at.error[0].value
    assert "broken.yaml:4: years.end: 年份范围 2030-2020 起止颠倒 / year range 2030-2020 runs " \
           "backwards" in message
    assert "jurisdictions" in message
    assert "Traceback" not in message


def test_library_bug_is_reported_without_traceback(tmp_path, monkeypatch):
    shutil.copy(ROOT / "scenarios" / "gaozhu.yaml", tmp_path / "gaozhu.yaml")
    monkeypatch.setenv(SCENARIOS_ENV, str(tmp_path))

    def broken(path):
        raise KeyError("host")

    monkeypatch.setattr(sharing, "simulate_file", broken)
    at = run_app()
    assert not at.exception
    assert "internal error: KeyError" in at.error[0].value
