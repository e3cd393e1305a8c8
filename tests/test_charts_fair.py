"""The chart tables of the fair split, risk and settlement pages, checked against independent
computations: the two-player closed forms on 高竹, a blocked split, the ledger's own tables."""

import io

import numpy as np
import pytest
from docx import Document
from openpyxl import load_workbook

import sharing
from sharing import charts
from sharing.scenario import find_scenario
from sharing.statement import ledger_workbook, write_statement_docx

SHARES = "agreements.gaozhu_revenue.rule.increment.shares"
ACTUALS = "scenarios/actuals/gaozhu_actuals.csv"
PAYMENTS = "scenarios/actuals/gaozhu_payments.csv"


@pytest.fixture(scope="module")
def gaozhu():
    return sharing.load_scenario(find_scenario("gaozhu"))


def test_two_players_closed_form(gaozhu):
    """Two players: Shapley = nucleolus = SCRB = v(i) + (v(N) − v(1) − v(2)) / 2; the
    proportional split is v(N) v(i) / (v(1) + v(2)); v(N) is the sum of the payoffs."""
    res = sharing.simulate(gaozhu)
    table = charts.fair_split(res, "zh").set_index("jurisdiction")
    alone = res.summary.set_index("jurisdiction")["standalone_pv"]
    grand = res.summary["pv_net_benefit"].sum()
    surplus = grand - alone.sum()
    for j in ("guangan", "yubei"):
        for key in ("shapley", "nucleolus", "scrb"):
            assert table.loc[j, key] == pytest.approx(alone[j] + surplus / 2, rel=1e-9)
        assert table.loc[j, "proportional"] == pytest.approx(grand * alone[j] / alone.sum())
        assert table.loc[j, "current"] == pytest.approx(
            res.summary.set_index("jurisdiction").loc[j, "pv_net_benefit"])
    assert list(table["name"]) == ["广安市(邻水县)", "渝北区"]


def test_blocked_split_names_the_coalition(gaozhu):
    res = sharing.simulate(gaozhu.replace({SHARES: {"guangan": 0.95, "yubei": 0.05}}))
    gain = res.summary.set_index("jurisdiction")["gain"]
    assert gain["yubei"] < 0
    core = charts.core_check(res, "en").set_index("solution")
    assert not core.loc["current", "in_core"]
    assert core.loc["current", "blocking"] == "Yubei District"
    assert core.loc["current", "excess"] == pytest.approx(-gain["yubei"])
    assert core.loc[["shapley", "nucleolus", "scrb", "proportional"], "in_core"].all()
    values = charts.coalition_values(res, "zh").set_index("coalition")
    assert values.loc["yubei", "excess"] == pytest.approx(-gain["yubei"])
    assert values.loc["guangan+yubei", "excess"] == pytest.approx(0, abs=1e-6)
    assert values.loc["yubei", "members"] == "渝北区"


def test_fair_bars_draw_gains(gaozhu):
    res = sharing.simulate(gaozhu)
    data = charts.fair_split(res, "en")
    fig = charts.fair_bars(data, "en")
    assert [t.name for t in fig.data] == ["current split", "Shapley value", "nucleolus",
                                          "SCRB", "proportional split"]
    np.testing.assert_allclose(fig.data[0].y, res.summary["gain"])
    assert "Gain over going alone" in fig.layout.title.text
    assert charts.fair_bars(charts.fair_split(res, "zh"), "zh").data[1].name == "沙普利值"


def test_risk_figures(gaozhu):
    mc = sharing.monte_carlo(gaozhu, draws=128, seed=1, uncertainty={"growth": {"sigma": 0.1}})
    fig = charts.fan(mc.paths, "yubei", "渝北区", "zh")
    part = mc.paths[mc.paths["jurisdiction"] == "yubei"]
    np.testing.assert_allclose(fig.data[-1].y, part["p50"])
    assert "渝北区" in fig.layout.title.text
    hist = charts.gains_histogram(mc.draws, {"guangan": "Guang'an", "yubei": "Yubei"}, "en")
    assert sum(len(t.x) for t in hist.data) == 2 * 128
    sens = sharing.sensitivity(gaozhu)
    tor = charts.tornado(sens.table, "guangan", "广安", "zh")
    part = sens.table[sens.table["jurisdiction"] == "guangan"].sort_values("swing")
    np.testing.assert_allclose(tor.data[1].x, part["high"] - part["pv_base"])


def test_arrears_and_ledger_downloads(gaozhu):
    led = sharing.settle(gaozhu, actuals=ACTUALS, payments=PAYMENTS, through=2024)
    data = charts.arrears_by_year(led, "zh")
    np.testing.assert_allclose(data["arrears_end"], led.ledger["arrears_end"])
    assert set(data["pair"]) == {"广安市(邻水县) → 渝北区"}
    fig = charts.arrears_bars(data, "en")
    assert fig.layout.title.text.startswith("Arrears")
    buffer = io.BytesIO()
    ledger_workbook(led, buffer, "zh")
    book = load_workbook(io.BytesIO(buffer.getvalue()))
    assert "账簿" in book.sheetnames
    statement = led.statement(2024, "zh")
    pair = statement.pairs.iloc[0]
    buffer = io.BytesIO()
    write_statement_docx(statement, pair["payer"], pair["payee"], buffer)
    text = "\n".join(p.text for p in Document(io.BytesIO(buffer.getvalue())).paragraphs)
    assert "2024" in text and "渝北区" in text
