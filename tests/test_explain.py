"""Traces add up: every step recomputes from its formula and inputs, every input that names an
earlier step holds that step's value, and the last step is the engine's number (to 1e-9).

Checked for every shipped scenario (every jurisdiction, every column, a sample of years, every
stream on its own), for random scenarios with every rule type nested every way
(``tests/strategies.py``), and on a hand-worked 高竹 case. The formula reader below is this
test's own: it shares nothing with ``sharing.explain.evaluate``.
"""

from __future__ import annotations

import ast
import math
import operator
import typing
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import scenario_dicts

import sharing
from sharing import rules
from sharing.explain import COLUMNS, EXPLAINERS, PRESENT_VALUE, YEARLY
from sharing.scenario import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
RTOL = 1e-9

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow}


def recompute(formula: str, inputs: dict):
    """A plain reader of the trace formula language (lists as element-wise numpy arrays)."""

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            v = inputs[node.id]
            return np.array(v, dtype=float) if isinstance(v, list) else v
        if isinstance(node, ast.BinOp):
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp):
            assert isinstance(node.op, ast.USub)
            return -value(node.operand)
        assert isinstance(node, ast.Call), ast.dump(node)
        args = [value(a) for a in node.args]
        name = node.func.id
        if name == "sum":
            return float(sum(args[0].tolist())) if hasattr(args[0], "tolist") else args[0]
        if len(args) == 2:
            return {"min": np.minimum, "max": np.maximum}[name](*args)
        return {"min": min, "max": max}[name](args)

    return float(value(ast.parse(formula, mode="eval")))


def close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=RTOL * max(1.0, scale))


def check_trace(trace, expected: float, scale: float = 1.0) -> None:
    steps = trace.steps
    assert list(steps["step"]) == list(range(1, len(steps) + 1))
    values = list(steps["value"])
    for row in steps.itertuples():
        for name, used in row.uses.items():
            if isinstance(used, tuple):
                assert row.inputs[name] == [values[k - 1] for k in used], (row.step, name)
            else:
                assert used < row.step and row.inputs[name] == values[used - 1], (row.step, name)
        got = recompute(row.formula, row.inputs)
        assert close(got, row.value, abs(row.value)), (row.step, row.formula, got, row.value)
    assert close(values[-1], expected, scale), (trace.column, trace.year, values[-1], expected)
    assert trace.text("zh") and trace.text("en")


def by_year(res, column: str) -> np.ndarray:
    """The engine's (jurisdictions, years) array of a yearly column."""
    return {"allocated": res.allocated, "collected": res.collected, "retained": res.retained,
            "net_transfer": res.allocated - res.retained, "unpaid": res.alloc.unpaid,
            "subsidy": res.subsidy, "cost_share": res.cost_share,
            "net_benefit": res.net_benefit}[column]


def sample_years(years) -> list[int]:
    years = [int(y) for y in years]
    return sorted({years[0], years[len(years) // 2], years[-1], *years[1::4]})


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_every_shipped_scenario_adds_up(path):
    res = sharing.simulate_file(path)
    summary = res.summary.set_index("jurisdiction")
    for j, jid in enumerate(res.model.jurisdictions):
        for year in sample_years(res.years):
            col = int(np.flatnonzero(res.years == year)[0])
            for column in YEARLY:
                check_trace(res.explain(jid, year=year, column=column),
                            by_year(res, column)[j, col])
        for column in PRESENT_VALUE:
            check_trace(res.explain(jid, column=column), summary.at[jid, column],
                        summary.at[jid, "pv_net_benefit"])


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_every_stream_alone_matches_its_flow(path):
    res = sharing.simulate_file(path)
    flows = res.flows[res.flows["kind"] == "allocated"]
    got = flows.groupby(["stream", "jurisdiction", "year"])["amount"].sum()
    year = sample_years(res.years)[1]
    for sid in res.model.streams.ids:
        for jid in res.model.jurisdictions:
            trace = res.explain(jid, year=year, stream=sid)
            check_trace(trace, float(got.get((sid, jid, year), 0.0)))


def test_agreement_filter_matches_by_agreement():
    res = sharing.simulate_file(ROOT / "scenarios" / "pinghu_qingtian.yaml")
    for position, ag in enumerate(res.scenario.agreements):
        for j, jid in enumerate(res.model.jurisdictions):
            for col, year in enumerate(res.years):
                trace = res.explain(jid, year=int(year), stream=ag.id)
                check_trace(trace, res.alloc.by_agreement[position][j, col])


def scale_of(res) -> float:
    return max(1.0, float(np.abs(res.alloc.gross).max(initial=0.0)),
               *(float(np.abs(c.amounts).max(initial=0.0)) for c in res.model.costs))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario_dicts())
def test_random_scenarios_with_every_rule_add_up(data):
    try:
        res = sharing.simulate(sharing.parse_scenario(data))
    except ScenarioError:
        return  # a draw both the engine and the reference refuse (see strategies.py)
    scale = scale_of(res) * len(res.years)
    summary = res.summary.set_index("jurisdiction")
    for j, jid in enumerate(res.model.jurisdictions):
        for col, year in enumerate(res.years):
            for column in YEARLY:
                check_trace(res.explain(jid, year=int(year), column=column),
                            by_year(res, column)[j, col], scale)
        for column in PRESENT_VALUE:
            check_trace(res.explain(jid, column=column), summary.at[jid, column], scale)


def rule_types() -> set[type]:
    """Every member of the ``Rule`` union (``Annotated[Host | Fixed | ..., Field]``)."""
    return set(typing.get_args(typing.get_args(rules.Rule)[0]))


def test_every_rule_type_has_an_explainer():
    assert len(rule_types()) >= 11
    assert rule_types() <= set(EXPLAINERS), rule_types() - set(EXPLAINERS)


# --- the worked 高竹 example ----------------------------------------------------------------


def test_gaozhu_yubei_2030_reads_like_the_policy():
    # 广安 site VAT 2030: 9,900 × 1.12^7 gross, half retained; stock = its 2023 level 4,950
    # (retained), increment = a − 4,950, 渝北 gets half of it.
    res = sharing.simulate_file(ROOT / "scenarios" / "gaozhu.yaml")
    trace = res.explain("yubei", year=2030, stream="gaozhu/guangan/vat")
    a = 9900 * 1.12**7 * 0.5
    assert trace.value == pytest.approx(0.5 * (a - 4950), rel=1e-12)
    steps = trace.steps.set_index("symbol")
    assert steps.loc["S", "value"] == 4950
    assert steps.loc["I", "value"] == pytest.approx(a - 4950)
    assert steps.loc["S", "rule_path"] == "gaozhu_revenue › rule"
    text = trace.text("zh")
    assert "gaozhu_revenue › rule.increment" in text
    assert "0.5 × 5,992.87 = 2,996.44" in text
    assert "国发〔2016〕26号" in text
    assert "存量（基期 2023 年）" in text
    assert "increment: I = a − S = 10,942.87 − 4,950.00 = 5,992.87" in trace.text("en")
    full = res.explain("yubei", year=2030)
    assert full.value == pytest.approx(res.allocated[1, 7], rel=1e-12)
    assert full.steps["rule_path"].str.contains("gaozhu/guangan/vat").any()


def test_capped_trace_shows_the_cap_binding():
    res = sharing.simulate_file(ROOT / "scenarios" / "heguangchang.yaml")
    notes = set()
    for year in res.years:
        trace = res.explain("hechuan", year=int(year), stream="relocation")
        notes.update(trace.steps["note"])
    assert any("上限" in n and "binds" in n for n in notes), notes


def test_floor_trace_names_who_pays_the_top_up():
    res = sharing.simulate_file(ROOT / "scenarios" / "qingchuan_guangyuan.yaml")
    whats = set()
    for year in res.years:
        for jid in res.model.jurisdictions:
            whats.update(res.explain(jid, year=int(year)).steps["what"])
    assert any("保底补足额" in w for w in whats)
    assert any("承担的补足" in w for w in whats) or any("从他方补足" in w for w in whats)


# --- bad requests ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "zh", "en"), [
    ({"jurisdiction": "yubie", "year": 2030}, "未知辖区 'yubie'", "did you mean 'yubei'"),
    ({"jurisdiction": "yubei", "year": 2030, "column": "alocated"}, "无法解释指标",
     "did you mean 'allocated'"),
    ({"jurisdiction": "yubei", "year": 2030, "column": "gain"}, "请去掉年份",
     "leave out the year"),
    ({"jurisdiction": "yubei", "year": 1999}, "不在模拟期", "outside the simulated years"),
    ({"jurisdiction": "yubei", "year": 2030, "stream": "gaozhu/yubei/vatt"}, "未知税源",
     "did you mean 'gaozhu/yubei/vat'"),
    ({"jurisdiction": "yubei", "year": 2030, "stream": "managment", "column": "cost_share"},
     "未知成本项", "did you mean 'management'"),
    ({"jurisdiction": "yubei", "stream": "gaozhu", "column": "gain"}, "不能按税源筛选",
     "cannot be narrowed"),
])
def test_bad_requests_are_refused_in_both_languages(kwargs, zh, en):
    res = sharing.simulate_file(ROOT / "scenarios" / "gaozhu.yaml")
    with pytest.raises(ScenarioError) as err:
        res.explain(**kwargs)
    assert any(zh in p for p in err.value.text("zh")), err.value.text("zh")
    assert any(en in p for p in err.value.text("en")), err.value.text("en")


def test_yearly_columns_without_a_year_give_the_summary_total():
    res = sharing.simulate_file(ROOT / "scenarios" / "gaozhu.yaml")
    summary = res.summary.set_index("jurisdiction")
    for column in YEARLY:
        trace = res.explain("guangan", column=column)
        check_trace(trace, summary.at["guangan", column], summary.at["guangan", column])
    trace = res.explain("yubei", stream="gaozhu_revenue")
    check_trace(trace, res.alloc.by_agreement[0][1].sum())
    assert "逐年可用 explain 查看" in trace.text("zh")


def test_columns_cover_the_summary():
    from sharing.result import SUMMARY_COLUMNS

    money = [c for c in SUMMARY_COLUMNS if c not in ("jurisdiction", "name", "name_en")]
    assert set(money) <= set(COLUMNS)


# --- a zoo of small scenarios that force every branch of every explainer ----------------------


def jur(jid: str) -> dict:
    return {"id": jid, "name": f"辖区{jid}", "name_en": jid.upper(), "province": "other"}


def zoo(agreements: list[dict], streams=None, firms=None, years=(2020, 2026), **extra) -> dict:
    return {"scenario": 1, "name": "动物园", "name_en": "zoo",
            "years": {"start": years[0], "end": years[1]}, "discount_rate": 0.05,
            "jurisdictions": [jur(j) for j in ("a", "b", "c")],
            "streams": streams or [], "firms": firms or [], "agreements": agreements, **extra}


# Pool totals 50, 150, 400, −20, 1000, 0, 600 against claims 100 + 200 + 300 = 600: below half
# the claims, above half, a refund year, more than the claims, nothing, exactly the claims.
ESTATES = [{"id": "s1", "host": "a", "tax": "other",
            "by_year": {2020: 30, 2021: 100, 2022: 250, 2023: -20, 2024: 700, 2026: 350}},
           {"id": "s2", "host": "b", "tax": "other",
            "by_year": {2020: 20, 2021: 50, 2022: 150, 2024: 300, 2026: 250}}]


def firm(fid: str, origin: str, destination: str, move: int, pre: dict, growth=0.0) -> dict:
    return {"id": fid, "origin": origin, "destination": destination, "move_year": move,
            "pre_move": pre, "growth": growth}


ZOO = {
    **{f"claims_{m}": zoo([{"id": "k", "covers": {"kind": "stream"},
                            "rule": {"type": "claims", "method": m, "remainder": r,
                                     "claims": {"a": 100, "b": 200, "c": 300}}}], ESTATES)
       for m, r in (("proportional", "host"), ("cea", "a"), ("cel", "host"),
                    ("talmud", "c"))},
    "capped_extension_eligibility_cap": zoo(
        [{"id": "move", "covers": {"kind": "firm"},
          "rule": {"type": "capped", "beneficiary": "origin", "share": 0.5, "max_years": 2,
                   "taxes": ["vat", "eit"], "extension": {"years": 2, "below": 1500},
                   "eligibility": {"min_pre_move": 800}, "cap": {"pre_move_years": 3}}}],
        firms=[firm("small", "a", "b", 2021, {"vat": 1000, "eit": 200, "pit": 50}),
               firm("big", "a", "c", 2021, {"vat": 2000, "eit": 500}, growth=0.1),
               firm("tiny", "b", "c", 2022, {"vat": 300})]),
    "capped_fixed_cap_gross_base": zoo(
        [{"id": "move", "covers": {"kind": "firm"}, "base": "gross", "compliance": 0.8,
          "rule": {"type": "capped", "preset": "jjj_2015", "cap": 1200}}],
        firms=[firm("f", "b", "a", 2021, {"vat": 1500, "eit": 800}, growth=-0.1)]),
    # 财预〔2015〕92号: start at production, extend while under the cap, then a subsidy; one
    # firm reaches the cap within its first window, one during the extension, one never.
    "capped_production_cap_not_reached_subsidy": zoo(
        [{"id": "move", "covers": {"kind": "firm"},
          "rule": {"type": "capped", "preset": "jjj_2015", "max_years": 2,
                   "extension": {"years": 2, "when": "cap_not_reached"},
                   "eligibility": None, "end_subsidy": {"amount": 150}}}],
        firms=[{**firm("late", "a", "b", 2020, {"vat": 1000, "eit": 400}),
                "production_year": 2021},
               firm("fast", "a", "c", 2020, {"vat": 500}, growth=2.0),
               firm("ramp", "b", "c", 2020, {"vat": 800, "eit": 200}, growth=0.4)],
        years=(2019, 2026)),
    "floor_over_stock_increment": zoo(
        [{"id": "fl", "covers": {"kind": "stream"},
          "rule": {"type": "floor", "beneficiary": "c", "minimum": 300, "from_year": 2022,
                   "rule": {"type": "stock_increment", "base_year": 2021,
                            "stock": {"type": "fixed", "shares": {"host": 0.8, "c": 0.2}},
                            "increment": {"type": "fixed",
                                          "shares": {"a": 0.4, "b": 0.4, "c": 0.2}}}}}],
        [*ESTATES, {"id": "s3", "host": "b", "tax": "other", "by_year": {2023: 200}}]),
    "tiered_roles_and_refunds": zoo(
        [{"id": "t", "covers": {"kind": "stream"},
          "rule": {"type": "tiered", "bands": [
              {"upto": 100, "shares": {"host": 1.0}},
              {"upto": 500, "shares": {"host": 0.6, "c": 0.4}},
              {"shares": {"a": 0.3, "b": 0.3, "c": 0.4}}]}}], ESTATES),
    "fixed_return_in_stage_with_compliance": zoo(
        [{"id": "fr", "covers": {"kind": "stream"}, "compliance": 0.7,
          "rule": {"type": "schedule", "otherwise": {"type": "fixed",
                                                     "shares": {"host": 0.5, "c": 0.5}},
                   "stages": [{"years": [2021, 2024], "rule": {
                       "type": "fixed_return", "payer": "a", "beneficiary": "c", "rate": 0.1,
                       "capital": {2019: 500, 2022: 300}, "from_year": 2022,
                       "rule": {"type": "fixed", "shares": {"host": 0.7, "b": 0.3}}}}]}}],
        ESTATES),
    "baseline_indexation_refunds_before_base": zoo(
        [{"id": "si", "covers": {"kind": "stream"},
          "rule": {"type": "schedule", "stages": [{"years": [2022, 2026], "rule": {
              "type": "stock_increment", "base_year": 2021, "indexation": 0.05,
              "increment": {"type": "fixed", "shares": {"a": 0.5, "c": 0.5}}}}],
              "otherwise": {"type": "stock_increment", "base_year": 2021,
                            "baseline": {"a": 40, "b": 10}, "indexation": 0.1,
                            "increment": {"type": "fixed", "shares": {"c": 1.0}}}}}],
        ESTATES),
    "optimized_factors_and_costs": zoo(
        [{"id": "op", "covers": {"stream": "s1"},
          "rule": {"type": "optimized", "method": "nucleolus",
                   "stages": [{"years": [2020, 2022], "shares": {"a": 0.25, "b": 0.75}},
                              {"years": [2024, 2025], "shares": {"a": 0.5, "c": 0.5}}]}},
         {"id": "fa", "covers": {"stream": "s2"},
          "rule": {"type": "factors", "weights": {"capital": 0.6, "land_mu": 0.4}}}],
        ESTATES,
        contributions={"fa": {"capital": {"a": 30, "b": 70}, "land_mu": {"b": 5, "c": 15}},
                       "k3": {"payroll": {"a": 1, "b": 2, "c": 3}}},
        costs=[{"id": "k1", "parties": ["a", "b"], "by_year": {2020: 100, 2023: 50},
                "paid_by": "a", "rule": {"type": "by_benefit", "agreement": "op"}},
               {"id": "k2", "parties": ["a", "c"], "by_year": {2021: 80},
                "paid_by": {"a": 0.5, "c": 0.5}},
               {"id": "k3", "parties": ["a", "b", "c"], "by_year": {2022: 90},
                "paid_by": "b", "rule": {"type": "factors", "weights": {"payroll": 1.0}}}]),
}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_adds_up(name):
    res = sharing.simulate(sharing.parse_scenario(ZOO[name]))
    summary = res.summary.set_index("jurisdiction")
    for j, jid in enumerate(res.model.jurisdictions):
        for col, year in enumerate(res.years):
            for column in YEARLY:
                check_trace(res.explain(jid, year=int(year), column=column),
                            by_year(res, column)[j, col])
            for sid in res.model.streams.ids:
                check_trace(res.explain(jid, year=int(year), stream=sid),
                            res.flows.query("kind == 'allocated' and stream == @sid and "
                                            "jurisdiction == @jid and year == @year")["amount"]
                            .sum())
        for column in PRESENT_VALUE:
            check_trace(res.explain(jid, column=column), summary.at[jid, column],
                        summary.at[jid, "pv_net_benefit"])


def test_zoo_reaches_every_branch():
    """The zoo's traces say every thing an explainer can say (so a wrong branch is tested)."""
    said = set()
    for data in ZOO.values():
        res = sharing.simulate(sharing.parse_scenario(data))
        for jid in res.model.jurisdictions:
            for year in res.years:
                for column in ("allocated", "unpaid", "subsidy", "net_benefit"):
                    trace = res.explain(jid, year=int(year), column=column)
                    said.update(s.what[0] for s in trace.items)
                    said.update(s.note[0] for s in trace.items if s.note)
                    said.update(s.formula for s in trace.items)
    wanted = {"explain.cap_binds", "explain.cap_reached", "explain.cap_open",
              "explain.extension_yes", "explain.extension_no", "explain.capped_ineligible",
              "explain.extension_cap_yes", "explain.extension_cap_no", "explain.subsidy_paid",
              "explain.no_subsidy", "explain.net_benefit",
              "explain.capped_tax", "explain.capped_outside", "explain.floor_inactive",
              "explain.floor_gets", "explain.floor_pays", "explain.tier_refund",
              "explain.stock_before", "explain.stock_refund", "explain.stock_baseline",
              "explain.otherwise", "explain.fixed_return_outside", "explain.unpaid_transfer",
              "explain.gross_to_money", "explain.compliance", "explain.optimized",
              "min(c / 2, λ)", "c - min(c / 2, λ)", "max(c - λ, 0)", "min(c, λ)",
              "c * (E / C)", "min(max(X - L, 0), U - L)", "max(X - L, 0)"}
    assert wanted <= said, wanted - said


# --- the command line -------------------------------------------------------------------------


def cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "sharing", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, encoding="utf-8", timeout=120,
                          stdin=subprocess.DEVNULL)


def test_cli_explains_in_either_language():
    out = cli("explain", "scenarios/gaozhu.yaml", "--jurisdiction", "yubei", "--year", 2030,
              "--stream", "gaozhu/guangan/vat")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("渝北区（yubei）2030 年分享后收入（仅 gaozhu/guangan/vat）")
    assert "0.5 × 5,992.87 = 2,996.44" in out.stdout
    out = cli("explain", "scenarios/gaozhu.yaml", "-j", "guangan", "--column", "gain",
              "--lang", "en")
    assert out.returncode == 0, out.stderr
    assert "gain = PV net benefit − standalone value" in out.stdout


def test_cli_unknown_ids_exit_2_with_close_matches():
    out = cli("explain", "scenarios/gaozhu.yaml", "--jurisdiction", "yubie", "--year", 2030,
              "--stream", "gaozhu/yubei/vatt")
    assert out.returncode == 2
    assert "未知辖区 'yubie'" in out.stderr and "did you mean 'yubei'" in out.stderr
    assert "未知税源" in out.stderr and "'gaozhu/yubei/vat'" in out.stderr
    assert "Traceback" not in out.stderr


def test_documented_trace_lines_are_what_the_engine_prints():
    """docs/explain.md quotes real output: every numbered step line it shows is printed."""
    import re

    doc = (ROOT / "docs" / "explain.md").read_text(encoding="utf-8")
    quoted = [line.strip() for line in doc.splitlines() if re.match(r"^\s+\d+\. ", line)]
    assert len(quoted) >= 15
    res = sharing.simulate_file(ROOT / "scenarios" / "gaozhu.yaml")
    printed = "\n".join(t.text("zh") for t in (
        res.explain("yubei", year=2030), res.explain("yubei", year=2030, column="cost_share"),
        res.explain("yubei", column="gain")))
    printed_lines = {line.strip() for line in printed.splitlines()}
    missing = [line for line in quoted if line not in printed_lines]
    assert not missing, missing


def test_monte_carlo_runs_explain_their_own_gross():
    """A run with other gross amounts (a draw) is explained from its own numbers."""
    model = sharing.compile_scenario(sharing.load_scenario(ROOT / "scenarios" /
                                                           "heguangchang.yaml"))
    rng = np.random.default_rng(1)
    res = model.run(gross=model.streams.gross * rng.uniform(0.8, 1.2, model.streams.gross.shape))
    trace = res.explain("hechuan", year=2027)
    check_trace(trace, res.allocated[0, 5])
    assert "explain.gross_given" in {s.note[0] for s in trace.items if s.note}


def test_a_run_the_trace_cannot_reproduce_is_refused_not_misexplained():
    model = sharing.compile_scenario(sharing.load_scenario(ROOT / "scenarios" /
                                                           "heguangchang.yaml"))
    res = model.run(compliance={"relocation": 0.5})  # not recorded on the Result
    with pytest.raises(RuntimeError, match="trace of allocated"):
        res.explain("hechuan", year=2027)
