"""The "为什么？ / why?" expanders of the overview and flows pages (sharing.ui.why), run with
Streamlit's AppTest in both languages: each shows the library's own trace of the number picked
(res.explain), in the chosen language, and follows the user's choice of jurisdiction, number
and year."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

import sharing
from sharing.scenario import find_scenario
from sharing.ui.text import LANG_KEY
from sharing.ui.why import call, steps_text

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TITLE = {"zh": "为什么？", "en": "Why?"}


@pytest.fixture(scope="module")
def res():
    return sharing.simulate(sharing.load_scenario(find_scenario("gaozhu")))


def start(lang: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state[LANG_KEY] = lang
    at.run()
    at._page_hash = calc_hash(page)  # a page of st.navigation: the hash of its url path
    at.run()
    assert not at.exception, at.exception
    return at


def why_expanders(at: AppTest) -> list:
    return [e for e in at.expander if e.label == TITLE[at.session_state[LANG_KEY]]]


def codes(expander) -> list[str]:
    """The steps (st.text) and the Python (st.code) an expander shows."""
    return [c.value for c in expander.text] + [c.value for c in expander.code]


def run_python(expander) -> dict:
    """Run the expander's Python: its ``data`` are the trace's steps."""
    (code,) = expander.code
    space: dict = {}
    exec(compile(code.value, "<why>", "exec"), space)
    return space


def trace_text(res, lang: str, jid: str, **kw) -> str:
    """The steps as the expander shows them: the trace's lines after its heading."""
    heading, *steps = res.explain(jid, **kw).text(lang).split("\n")
    return heading, steps_text(steps)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_cards_explain_their_numbers(lang, res):
    at = start(lang, "overview")
    found = why_expanders(at)
    # a card per jurisdiction, the area chart, a waterfall per jurisdiction and the summary
    n = len(res.summary)
    assert len(found) == 2 * n + 2
    card = found[0]
    jid = res.summary["jurisdiction"].iloc[0]
    heading, steps = trace_text(res, lang, jid, column="pv_net_benefit")
    assert any(heading in m.value for m in card.markdown)
    assert steps in codes(card)
    assert any(call(jid, None, "pv_net_benefit") in c for c in codes(card))
    space = run_python(card)
    expected = res.explain(jid, column="pv_net_benefit").steps
    assert space["data"]["value"].tolist() == expected["value"].tolist()
    # the other number of the card: its gain
    card.selectbox[0].set_value("gain").run()
    assert not at.exception
    card = why_expanders(at)[0]
    assert trace_text(res, lang, jid, column="gain")[1] in codes(card)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_overview_summary_follows_the_choice(lang, res):
    at = start(lang, "overview")
    column = at.selectbox(key=f"overview_summary_why_column:{lang}")
    assert column.value == "pv_net_benefit"
    # a present value takes no year: two pickers only
    assert len(why_expanders(at)[-1].selectbox) == 2
    jid = res.summary["jurisdiction"].iloc[-1]
    at.selectbox(key=f"overview_summary_why_who:{lang}").set_value(jid)
    column.set_value("allocated")
    at.run()
    year = at.selectbox(key=f"overview_summary_why_year:{lang}")
    assert year.value == "total"
    year.set_value(2030).run()
    assert not at.exception
    summary = why_expanders(at)[-1]
    heading, steps = trace_text(res, lang, jid, year=2030)
    assert any(heading in m.value for m in summary.markdown)
    assert steps in codes(summary)
    # the words are the chosen language's
    word = {"zh": "分享后收入", "en": "allocated"}[lang]
    assert word in heading


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_flows_explain_the_chosen_year(lang, res):
    at = start(lang, "flows")
    found = why_expanders(at)
    assert len(found) == 2
    at.selectbox(key=f"flows_when:{lang}").set_value(2030).run()
    assert not at.exception
    sankey = why_expanders(at)[0]
    jid = res.summary["jurisdiction"].iloc[0]
    assert sankey.selectbox[2].value == 2030
    _, steps = trace_text(res, lang, jid, year=2030, column="net_transfer")
    assert steps in codes(sankey)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_flows_table_explains_the_filtered_jurisdiction(lang, res):
    at = start(lang, "flows")
    jid = res.summary["jurisdiction"].iloc[-1]
    at.selectbox(key=f"flows_who:{lang}").set_value(jid).run()
    assert not at.exception
    table = why_expanders(at)[1]
    # one jurisdiction: no jurisdiction picker, the number and the year only
    assert len(table.selectbox) == 2
    _, steps = trace_text(res, lang, jid, column="allocated")
    assert steps in codes(table)



def test_steps_one_a_line_without_indent():
    lines = ["  1. a", "  9. b", " 10. c"]
    assert steps_text(lines) == "1. a\n9. b\n10. c"
