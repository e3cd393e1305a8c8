"""The chart data (sharing.charts), the "what changed" list (sharing.diff) and the scenario
YAML dump, against independent computations from the Result's arrays and summary."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import sharing
from sharing import charts
from sharing.diff import MISSING, changes
from sharing.io import dump_scenario
from sharing.scenario import builtin_scenarios, find_scenario, parse_scenario

NAMES = sorted(builtin_scenarios())


def result(name: str):
    return sharing.simulate(sharing.load_scenario(find_scenario(name)))


@pytest.mark.parametrize("name", NAMES)
def test_waterfall_ends_at_the_pv_net_benefit(name):
    res = result(name)
    data = charts.waterfall(res, "en")
    for jid, part in data.groupby("jurisdiction", sort=False):
        steps = part.set_index("measure", append=True)["amount"].to_numpy()
        retained, transfers, agreement, costs, net = steps
        assert agreement == pytest.approx(retained + transfers)
        assert net == pytest.approx(agreement + costs)
        row = res.summary.set_index("jurisdiction").loc[jid]
        assert net == pytest.approx(row["pv_net_benefit"], abs=1e-6)
        # the agreement's effect before costs: with the agreement minus without it
        no_agreement_costs = row["no_agreement_pv"] - retained
        assert agreement + no_agreement_costs == pytest.approx(
            row["no_agreement_pv"] + transfers, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_transfers_net_each_pair_in_present_value(name):
    res = result(name)
    pv = charts.transfers(res, None, "zh")
    assert (pv["amount"] > 0).all()
    streams = res.model.streams
    host = {streams.id_of(i): res.model.jurisdictions[h] for i, h in enumerate(streams.host)}
    discount = dict(zip(res.years, res.model.discount, strict=True))
    expected: dict[tuple[str, str], float] = {}
    for row in res.flows.itertuples():
        amount = row.amount * discount[row.year]
        if row.kind == "allocated":
            pair = (host[row.stream], row.jurisdiction)
        elif row.kind == "subsidy":
            pair = ("central", row.jurisdiction)
        else:
            continue
        expected[pair] = expected.get(pair, 0.0) + amount
    paid = res.flows[res.flows["kind"] == "transfer"]
    for (_, _), group in paid.groupby(["stream", "year"]):
        payers, payees = group[group["amount"] < 0], group[group["amount"] > 0]
        for p in payers.itertuples():
            for b in payees.itertuples():
                pair = (p.jurisdiction, b.jurisdiction)
                expected[pair] = expected.get(pair, 0.0) + (
                    -p.amount * b.amount / payees["amount"].sum() * discount[p.year])
    expected = {k: v for k, v in expected.items() if v > 0}
    got = {(r["from"], r["to"]): r["amount"] for r in pv.to_dict("records")}
    assert got.keys() == expected.keys()
    for pair, value in expected.items():
        assert got[pair] == pytest.approx(value)


def test_transfers_in_one_year_and_fixed_return_payer():
    res = result("pinghu_qingtian")
    year = int(res.years[3])
    data = charts.transfers(res, year, "en")
    paid = res.flows[(res.flows["kind"] == "transfer") & (res.flows["year"] == year)]
    payer = paid.loc[paid["amount"] < 0, "jurisdiction"].iloc[0]
    payee = paid.loc[paid["amount"] > 0, "jurisdiction"].iloc[0]
    link = data[(data["from"] == payer) & (data["to"] == payee)]["amount"].sum()
    assert link == pytest.approx(paid.loc[paid["amount"] > 0, "amount"].sum())
    charts.transfers_sankey(data, year, "en")


@pytest.mark.parametrize("name", ["gaozhu", "jjj_2015_relocation", "zhongshan_heyuan"])
def test_by_tax_sums_to_by_year(name):
    res = result(name)
    table = charts.by_tax(res).groupby(["year", "jurisdiction"])[
        ["collected", "retained"]].sum()
    by_year = res.by_year.set_index(["year", "jurisdiction"])[["collected", "retained"]]
    joined = by_year.join(table.add_suffix("_tax")).fillna(0.0)
    np.testing.assert_allclose(joined["collected"], joined["collected_tax"], atol=1e-6)
    np.testing.assert_allclose(joined["retained"], joined["retained_tax"], atol=1e-6)


def test_allocated_by_year_and_figures_in_both_languages():
    res = result("gaozhu")
    for lang in ("zh", "en"):
        data = charts.allocated_by_year(res, lang)
        assert data["allocated"].sum() == pytest.approx(res.allocated.sum())
        fig = charts.allocated_area(data, lang)
        assert fig.layout.title.text == ("分享后收入（按年，堆叠）" if lang == "zh"
                                         else "Allocated revenue by year (stacked)")
        assert fig.layout.yaxis.title.text == ("万元" if lang == "zh" else "10,000 CNY")


def test_comparison_bars_and_names():
    a, b = result("gaozhu"), result("gaozhu_fixed_5050")
    data = charts.comparison({"a": a, "b": b}, "a", "en")
    assert "Guang'an (Linshui County)" in set(data["name"])
    fig = charts.comparison_bars(data, "pv_net_benefit", "en", difference="a")
    assert [t.name for t in fig.data] == ["b"]
    with pytest.raises(ValueError, match="unknown metric"):
        charts.comparison_bars(data, "nope", "en")


def test_changes_lists_rule_edits_by_id():
    sc = sharing.load_scenario(find_scenario("gaozhu"))
    path = "agreements.gaozhu_revenue.rule.increment.shares"
    edited = sc.replace({path: {"guangan": 0.6, "yubei": 0.4},
                         "costs.management.by_year.2025": 1.0})
    diff = changes(sc, edited)
    assert list(diff["path"]) == [f"{path}.guangan", f"{path}.yubei",
                                  "costs.management.by_year.2025"]
    assert list(diff["after"]) == [0.6, 0.4, 1.0]
    assert changes(sc, sc).empty


def test_changes_names_a_new_rule_type():
    a = sharing.load_scenario(find_scenario("gaozhu"))
    b = sharing.load_scenario(find_scenario("gaozhu_fixed_5050"))
    diff = changes(a, b)
    first = diff.iloc[0]
    assert first["path"] == "agreements.gaozhu_revenue.rule"
    assert (first["before"], first["after"]) == ("stock_increment(host, fixed)", "fixed")
    assert MISSING in set(diff["after"])


@pytest.mark.parametrize("name", NAMES)
def test_dumped_yaml_loads_back_equal(name):
    sc = sharing.load_scenario(find_scenario(name))
    assert parse_scenario(yaml.safe_load(dump_scenario(sc))) == sc
