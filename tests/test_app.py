"""The Streamlit app (app.py -> sharing.ui) run headless with Streamlit's AppTest.

Every page of this suite (overview, agreements, flows, compare) in both languages: it renders
without an exception; a widget changes the numbers; an invalid edit shows an error in the
chosen language and leaves the last valid numbers on screen. Plus: snippets reproduce the
numbers, uploads, session isolation, every built-in scenario.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

import sharing
from sharing.io import export_scenario_xlsx
from sharing.scenario import builtin_scenarios, find_scenario
from sharing.ui import PAGES
from sharing.ui.text import LANG_KEY

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
LANGS = ["zh", "en"]
MY_PAGES = ["overview", "agreements", "flows", "compare"]
TITLES = {"overview": ("概览", "Overview"), "agreements": ("协议", "Agreements"),
          "flows": ("资金流", "Flows"), "compare": ("比较", "Compare")}
SHARES = "agreements.gaozhu_revenue.rule.increment.shares"
STALE = {"zh": "有修改未通过校验", "en": "An edit did not validate"}
SUM = {"zh": "各份额之和须为 1", "en": "shares must sum to 1"}
PROBLEMS = {"zh": "有问题：", "en": "Problems:"}


def start(lang: str = "zh", page: str | None = None) -> AppTest:
    """The app in ``lang``, on ``page`` (a url path of sharing.ui.PAGES)."""
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[LANG_KEY] = lang
    at.run()
    if page is not None:
        go(at, page)
    return at


def go(at: AppTest, page: str) -> AppTest:
    """Open a page of st.navigation. The pages are functions, not files, so AppTest's
    switch_page cannot name them: a page's script hash is the hash of its url path."""
    at._page_hash = calc_hash(page)
    return at.run()


def ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def ws(at: AppTest):
    return at.session_state["workspace"]


def metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def key(at: AppTest, name: str) -> str:
    """The key of an editor widget (see Workspace.widget_key)."""
    return f"{name}@{ws(at).revision}:{at.session_state[LANG_KEY]}"


def edit_table(at: AppTest, name: str, edited_rows: dict) -> AppTest:
    key_ = key(at, name)
    at.session_state[key_] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    return at.run()


def invalid_shares(at: AppTest) -> AppTest:
    """Shares of 0.9 + 0.5 on the agreements page: refused by the schema."""
    go(at, "agreements")
    return edit_table(at, f"{SHARES}#table", {0: {"share": 0.9}})


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_resource.clear()
    st.cache_data.clear()
    yield


# ---------------------------------------------------------------------------------------------
# Start, language, navigation


def test_opens_on_gaozhu_in_chinese_with_results():
    at = AppTest.from_file(APP, default_timeout=180).run()
    ok(at)
    assert at.session_state[LANG_KEY] == "zh"
    picker = at.sidebar.selectbox(key="sidebar_scenario")
    assert picker.value == "gaozhu"
    assert picker.format_func("gaozhu").startswith("川渝高竹新区")
    assert at.title[0].value.startswith("川渝高竹新区")
    assert len(at.metric) == 2 and at.dataframe


def test_pages_in_order():
    assert [path for _, path, _ in PAGES] == ["overview", "agreements", "flows", "fair",
                                              "risk", "compare", "export", "settlement"]


def test_toolbar_hidden():
    config = (ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    assert 'toolbarMode = "viewer"' in config


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", MY_PAGES)
def test_page_renders(page, lang):
    at = start(lang, page)
    ok(at)
    titles = [t.value for t in at.title]
    assert TITLES[page][LANGS.index(lang)] in titles or page == "overview"
    if page == "overview":
        heads = [s.value for s in at.subheader]
        assert ("汇总" if lang == "zh" else "Summary") in heads
    assert at.get("plotly_chart") or page == "agreements"


def test_language_switch_changes_labels_and_headers():
    at = start("zh")
    table = at.dataframe[0].value
    assert "净收益现值" in table.columns and "合计" in set(table.iloc[:, 0])
    at.sidebar.radio(key=LANG_KEY).set_value("en").run()
    ok(at)
    table = at.dataframe[0].value
    assert "PV net benefit" in table.columns and "Total" in set(table.iloc[:, 0])
    assert "Guang'an (Linshui County)" in metrics(at)[0][0]


# ---------------------------------------------------------------------------------------------
# Overview


def test_overview_summary_adds_up_and_uses_thousands_separators():
    at = start("zh")
    table = at.dataframe[0].value
    body, total = table.iloc[:-1], table.iloc[-1]
    for column in ("征收额", "分享后收入", "净收益现值"):
        assert round(body[column].sum(), 2) == pytest.approx(total[column], abs=0.005)
    assert "," in metrics(at)[0][1]


def test_overview_negative_gain_is_marked_red():
    sc = sharing.load_scenario(find_scenario("gaozhu"))
    res = sharing.simulate(sc)
    assert (res.summary["gain"] > 0).all()  # gaozhu: both gain, no mark
    at = start("en")
    assert not [m for m in at.markdown if ":red[" in m.value]
    go(at, "agreements")
    at.slider(key=key(at, SHARES)).set_value(0.0).run()  # Guang'an gives all the increment away
    go(at, "overview")
    ok(at)
    assert any(":red[" in m.value and "negative gain" in m.value for m in at.markdown)


def test_overview_assumptions_in_words_with_badges():
    at = start("zh")
    text = "\n".join(m.value for m in at.markdown)
    assert "协议「高竹新区税收分享」 · 规则 · 基期" in text
    assert "agreements[0].rule.base_year" not in text
    assert ":orange-badge[示例数据]" in text


@pytest.mark.parametrize("lang", LANGS)
def test_overview_scenario_picker_changes_numbers(lang):
    at = start(lang)
    before = metrics(at)
    at.sidebar.selectbox(key="sidebar_scenario").set_value("gaozhu_fixed_5050").run()
    ok(at)
    assert metrics(at) != before
    assert ws(at).origin.name == "gaozhu_fixed_5050"


@pytest.mark.parametrize("lang", LANGS)
def test_overview_invalid_edit_keeps_last_results(lang):
    at = start(lang)
    before, table = metrics(at), at.dataframe[0].value
    invalid_shares(at)
    go(at, "overview")
    assert not at.exception
    assert STALE[lang] in at.warning[0].value
    assert metrics(at) == before
    pd.testing.assert_frame_equal(at.dataframe[0].value, table)


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_every_builtin_scenario_renders(name):
    at = start("zh")
    at.sidebar.selectbox(key="sidebar_scenario").set_value(name).run()
    ok(at)
    sc = sharing.load_scenario(find_scenario(name))
    assert at.title[0].value == sc.name
    assert list(at.dataframe[0].value["名称"]) == [j.name for j in sc.jurisdictions] + ["合计"]


# ---------------------------------------------------------------------------------------------
# Agreements


@pytest.mark.parametrize("lang", LANGS)
def test_agreements_slider_updates_numbers(lang):
    at = start(lang, "agreements")
    before = metrics(at)
    at.slider(key=key(at, SHARES)).set_value(0.6).run()
    ok(at)
    after = metrics(at)
    assert after != before
    assert dict(ws(at).edits) == {SHARES: {"guangan": 0.6, "yubei": 0.4}}
    expected = sharing.simulate(sharing.load_scenario(find_scenario("gaozhu")).replace(
        {SHARES: {"guangan": 0.6, "yubei": 0.4}})).summary["pv_net_benefit"]
    assert after[0][1] == f"{expected.iloc[0]:,.2f}"


@pytest.mark.parametrize("lang", LANGS)
def test_agreements_invalid_edit_shows_error_and_keeps_results(lang):
    at = start(lang, "agreements")
    before = metrics(at)
    invalid_shares(at)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(PROBLEMS[lang])
    assert "agreements[0].rule.increment.shares" in errors[0]
    assert SUM[lang] in errors[0] and "1.4" in errors[0]
    assert "<scenario>" not in errors[0]
    assert STALE[lang] in at.warning[0].value
    assert metrics(at) == before
    assert ws(at).edits == {}


def test_agreements_tables_edit_costs_and_projections():
    at = start("en", "agreements")
    before = metrics(at)
    edit_table(at, "costs#table", {0: {"infrastructure": 30000.0}})
    ok(at)
    assert ws(at).edits["costs.infrastructure.by_year"][2023] == 30000.0
    middle = metrics(at)
    assert middle != before
    edit_table(at, "projections#table", {0: {"growth": 0.2}})
    ok(at)
    assert ws(at).edits["parks.gaozhu.sites[0].taxes.vat.growth"] == 0.2
    assert metrics(at) != middle


def test_agreements_firms_table_edits_pre_move_taxes():
    at = start("zh")
    at.sidebar.selectbox(key="sidebar_scenario").set_value("jjj_2015_relocation").run()
    go(at, "agreements")
    ok(at)
    before = metrics(at)
    firm = ws(at).scenario.firms[0]
    edit_table(at, "firms#table", {0: {"growth": 0.2, "vat": 9000.0}})
    ok(at)
    assert ws(at).edits[f"firms.{firm.id}.growth"] == 0.2
    assert ws(at).edits[f"firms.{firm.id}.pre_move"]["vat"] == 9000.0
    assert metrics(at) != before


def test_agreements_bad_cell_is_a_problem_of_the_field():
    at = start("zh", "agreements")
    edit_table(at, "costs#table", {1: {"infrastructure": "abc"}})
    assert not at.exception
    assert "infrastructure 列第 2 行" in at.error[0].value


def test_agreements_rule_type_and_yaml():
    at = start("en", "agreements")
    rule = "agreements.gaozhu_revenue.rule"
    at.selectbox(key=key(at, f"{rule}.type")).set_value("fixed").run()
    ok(at)
    assert ws(at).scenario.agreements[0].rule.type == "fixed"
    assert at.slider(key=key(at, f"{rule}.shares")).value == 0.5
    area = at.text_area(key=key(at, f"{rule}#yaml"))
    area.input("type: fixed\nshares: {guangan: 0.7, yubei: 0.3}\n").run()
    at.button(key=key(at, f"{rule}#yaml") + "#apply").click().run()
    ok(at)
    assert dict(ws(at).scenario.agreements[0].rule.shares) == {"guangan": 0.7, "yubei": 0.3}
    area = at.text_area(key=key(at, f"{rule}#yaml"))
    area.input("type: fixed\nshares: {guangan: 0.7\n").run()
    at.button(key=key(at, f"{rule}#yaml") + "#apply").click().run()
    assert "not valid YAML" in at.error[0].value


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_agreements_forms_of_every_builtin_rule(name):
    at = start("en")
    at.sidebar.selectbox(key="sidebar_scenario").set_value(name).run()
    go(at, "agreements")
    ok(at)
    sc = ws(at).scenario
    for ag in sc.agreements[1:]:
        at.selectbox(key="agreements_pick:en").set_value(ag.id).run()
        ok(at)


@pytest.mark.parametrize("kind", ["host", "fixed", "factors", "stock_increment", "schedule",
                                  "capped", "floor", "tiered", "fixed_return", "claims"])
def test_agreements_every_rule_type_can_be_picked(kind):
    at = start("zh", "agreements")
    before = metrics(at)
    at.selectbox(key=key(at, "agreements.gaozhu_revenue.rule.type")).set_value(kind).run()
    assert not at.exception
    if kind == "stock_increment":  # gaozhu's own rule: nothing changes
        assert not ws(at).edits and metrics(at) == before
    elif ws(at).edits:  # accepted: the rule is the new type and the numbers follow it
        assert ws(at).scenario.agreements[0].rule.type == kind
    else:  # refused (e.g. a relocated-firm rule on a park): said in Chinese, numbers kept
        assert at.error[0].value.startswith(PROBLEMS["zh"])
        assert metrics(at) == before


def test_agreements_save_variant_reset_and_compare():
    at = start("zh", "agreements")
    at.slider(key=key(at, SHARES)).set_value(0.7).run()
    at.text_input(key="agreements_variant_name").input("七三").run()
    at.button(key="agreements_save").click().run()
    ok(at)
    assert "七三" in ws(at).variants
    at.button(key="agreements_reset").click().run()
    assert ws(at).edits == {} and ws(at).scenario == ws(at).base
    go(at, "compare")
    ok(at)
    table = at.dataframe[0].value
    assert list(table.index) == ["当前情景", "方案：七三", "Δ 方案：七三 − 当前情景"]
    changed = at.dataframe[1].value
    words = "协议「高竹新区税收分享」 · 规则 · 增量 · 份额 · 广安市(邻水县)"
    assert words in set(changed.iloc[:, 0])


# ---------------------------------------------------------------------------------------------
# Flows


def numbers(array) -> np.ndarray:
    """A plotly JSON array: a list, or ``{"dtype", "bdata"}`` (base64) as plotly 6 writes."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


def sankey_total(at: AppTest) -> float:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return float(numbers(spec["data"][0]["link"]["value"]).sum())


@pytest.mark.parametrize("lang", LANGS)
def test_flows_year_changes_the_sankey(lang):
    at = start(lang, "flows")
    res = sharing.simulate(sharing.load_scenario(find_scenario("gaozhu")))
    assert sankey_total(at) == pytest.approx(res.allocated.sum(axis=0) @ res.model.discount)
    at.selectbox(key=f"flows_when:{lang}").set_value(2030).run()
    ok(at)
    year = list(res.years).index(2030)
    assert sankey_total(at) == pytest.approx(res.allocated[:, year].sum())
    at.selectbox(key=f"flows_who:{lang}").set_value("yubei").run()
    ok(at)
    assert set(at.dataframe[0].value.iloc[:, 1]) == {"yubei"}


@pytest.mark.parametrize("lang", LANGS)
def test_flows_invalid_edit_keeps_last_results(lang):
    at = start(lang, "flows")
    before = sankey_total(at)
    invalid_shares(at)
    go(at, "flows")
    assert not at.exception
    assert STALE[lang] in at.warning[0].value
    assert sankey_total(at) == before


# ---------------------------------------------------------------------------------------------
# Compare


@pytest.mark.parametrize("lang", LANGS)
def test_compare_metric_and_baseline(lang):
    at = start(lang, "compare")
    ok(at)
    table = at.dataframe[0].value
    assert table.shape == (3, 2)  # current, the 50:50 case, the difference × two sides
    at.selectbox(key=f"compare_metric:{lang}").set_value("collected").run()
    ok(at)
    assert not at.dataframe[0].value.equals(table)
    picked = at.multiselect(key=f"compare_pick:{lang}").value
    at.selectbox(key=f"compare_baseline:{lang}").set_value(picked[1]).run()
    ok(at)


def test_choices_survive_a_language_switch():
    at = start("zh", "flows")
    at.selectbox(key="flows_when:zh").set_value(2030).run()
    at.sidebar.radio(key=LANG_KEY).set_value("en").run()
    ok(at)
    box = at.selectbox(key="flows_when:en")
    assert box.value == 2030 and box.format_func("pv") == "All years, present value"
    go(at, "compare")
    at.selectbox(key="compare_metric:en").set_value("gain").run()
    at.sidebar.radio(key=LANG_KEY).set_value("zh").run()
    ok(at)
    assert at.selectbox(key="compare_metric:zh").value == "gain"
    assert at.multiselect(key="compare_pick:zh").format_func("current") == "当前情景"


@pytest.mark.parametrize("lang", LANGS)
def test_compare_invalid_edit_keeps_last_results(lang):
    at = start(lang, "compare")
    before = at.dataframe[0].value
    invalid_shares(at)
    go(at, "compare")
    assert not at.exception
    assert STALE[lang] in at.warning[0].value
    pd.testing.assert_frame_equal(at.dataframe[0].value, before)


# ---------------------------------------------------------------------------------------------
# Snippets: pasted into a script, each gives the page's numbers


def run_snippets(at: AppTest) -> list[dict]:
    spaces = []
    for block in at.code:
        space: dict = {}
        exec(compile(block.value, "<snippet>", "exec"), space)
        spaces.append(space)
    return spaces


@pytest.mark.parametrize("page", MY_PAGES)
def test_snippets_reproduce_the_numbers(page, capsys):
    at = start("zh", "agreements")
    at.slider(key=key(at, SHARES)).set_value(0.55).run()
    edit_table(at, "costs#table", {2: {"infrastructure": 12345.0}})
    at.text_input(key="agreements_variant_name").input("v").run()
    at.button(key="agreements_save").click().run()
    go(at, page)
    ok(at)
    spaces = run_snippets(at)
    assert spaces or page == "agreements"
    for space in spaces:
        assert isinstance(space["data"], pd.DataFrame) and len(space["data"])
        if "results" not in space:
            assert space["sc"] == ws(at).scenario
    if page == "overview":
        spaces = [s for s in spaces if "step" not in s["data"]]  # not the why? traces
        area = json.loads(at.get("plotly_chart")[0].proto.spec)
        drawn = sum(numbers(trace["y"]).sum() for trace in area["data"])
        assert drawn == pytest.approx(spaces[0]["data"]["allocated"].sum())
        summary = spaces[-1]["data"]
        shown = at.dataframe[0].value
        np.testing.assert_allclose(summary["净收益现值"], shown["净收益现值"])
    if page == "compare":
        data = spaces[0]["data"]
        assert set(data["scenario"]) == {"当前情景（已修改）", "方案：v"}
        values = data.pivot_table(index="name", columns="scenario", values="value")
        assert (values["当前情景（已修改）"] == values["方案：v"]).all()


# ---------------------------------------------------------------------------------------------
# Uploads


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.sidebar.get("file_uploader")[0].upload(name, data)
    return at.run()


def test_upload_scenario_yaml_and_broken_yaml():
    at = start("en")
    text = (ROOT / "scenarios" / "gaozhu.yaml").read_text(encoding="utf-8")
    upload(at, "mine.yaml", text.replace("discount_rate: 0.03", "discount_rate: 0.05")
           .encode("utf-8"))
    ok(at)
    assert ws(at).origin.name == "mine.yaml" and ws(at).scenario.discount_rate == 0.05
    before = metrics(at)
    at.sidebar.get("file_uploader")[0].clear()
    at.run()
    upload(at, "broken.yaml", b"scenario: 1\nname: x\nname_en: x\nyears: {start: 2030, end: 2020}\n"
           b"jurisdictions: []\n")
    assert not at.exception
    message = at.error[0].value
    assert "broken.yaml:4" in message and "/tmp" not in message and "Traceback" not in message
    assert metrics(at) == before


def test_upload_workbook():
    book = io.BytesIO()
    sc = sharing.load_scenario(find_scenario("gaozhu"))
    export_scenario_xlsx(sc, book)
    at = start("zh")
    upload(at, "高竹.xlsx", book.getvalue())
    ok(at)
    assert ws(at).origin.kind == "xlsx"
    assert ws(at).scenario.agreements == sc.agreements


def test_upload_broken_workbook_names_sheet_row_and_column():
    from openpyxl import load_workbook

    book = io.BytesIO()
    export_scenario_xlsx(sharing.load_scenario(find_scenario("gaozhu")), book)
    wb = load_workbook(io.BytesIO(book.getvalue()))
    wb["jurisdictions"].cell(row=2, column=4).value = "atlantis"  # province
    broken = io.BytesIO()
    wb.save(broken)
    at = start("en")
    before = metrics(at)
    upload(at, "book.xlsx", broken.getvalue())
    assert not at.exception
    message = at.error[0].value
    assert "book.xlsx: sheet jurisdictions, row 2, column province" in message
    assert "/tmp" not in message and "sharing-upload" not in message
    assert metrics(at) == before and ws(at).origin.name == "gaozhu"


def test_upload_firms_csv_gbk_and_bad_csv():
    at = start("zh")
    csv = ("id,name,origin,destination,move_year,pre_move_vat\n"
           "f1,示例企业,yubei,guangan,2025,800\n")
    upload(at, "企业.csv", csv.encode("gbk"))
    ok(at)
    assert [f.id for f in ws(at).scenario.firms] == ["f1"]
    assert ws(at).scenario.firms[0].name == "示例企业"
    at.sidebar.get("file_uploader")[0].clear()
    at.run()
    upload(at, "bad.csv", b"id,origin,destination,move_year\nf2,yubei,nowhere,2025\n")
    assert not at.exception
    assert "bad.csv: 第 2 行，destination 列: 未知辖区 'nowhere'" in at.error[0].value


def test_upload_limits(monkeypatch):
    from sharing.ui import upload as module

    monkeypatch.setattr(module, "MAX_BYTES", 100)
    at = start("en")
    upload(at, "big.yaml", b"#" * 200)
    assert not at.exception
    assert "big.yaml: the file is" in at.error[0].value


def test_upload_rows_kind_and_paths():
    from sharing.scenario import ScenarioError
    from sharing.ui.upload import MAX_FIRM_ROWS, read_upload

    with pytest.raises(ScenarioError) as err:
        read_upload("../../etc/notes.txt", b"hello", {"a"})
    assert err.value.text("zh")[0].startswith("notes.txt：只接受")
    rows = b"id,origin,destination,move_year\n" + b"f,a,b,2025\n" * (MAX_FIRM_ROWS + 1)
    with pytest.raises(ScenarioError) as err:
        read_upload("firms.csv", rows, {"a", "b"})
    assert f"the limit is {MAX_FIRM_ROWS} rows" in err.value.text("en")[0]


# ---------------------------------------------------------------------------------------------
# Sessions


def test_sessions_are_isolated():
    one, two = start("zh", "agreements"), start("zh", "agreements")
    before = metrics(two)
    one.slider(key=key(one, SHARES)).set_value(0.8).run()
    two.run()
    assert metrics(one) != before
    assert metrics(two) == before and ws(two).edits == {}


def test_a_session_cannot_change_another_sessions_result():
    one, two = start("zh"), start("zh")
    mine = ws(one).result
    mine.summary.loc[0, "pv_net_benefit"] = -1.0  # a page that scribbles on its table
    with pytest.raises(ValueError):
        mine.allocated[0, 0] = 0.0
    two.run()
    assert ws(two).result.summary.loc[0, "pv_net_benefit"] != -1.0
    assert metrics(two)[0][1] != "-1.00"


def test_library_bug_is_reported_without_traceback(monkeypatch):
    def broken(sc):
        raise KeyError("host")

    monkeypatch.setattr(sharing, "simulate", broken)
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception
    assert "内部错误：KeyError" in at.error[0].value and "Traceback" not in at.error[0].value
    at.sidebar.radio(key=LANG_KEY).set_value("en").run()
    assert "internal error: KeyError" in at.error[0].value

