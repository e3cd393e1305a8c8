"""The fairness optimizer against hand-solved cases, closed forms, the Nash identities, a
second LP solver and scipy's linprog; its explanation, relaxation and bad-input messages."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

import sharing
from sharing import games
from sharing.engine import compile_scenario
from sharing.i18n import message
from sharing.optimizer import optimize
from sharing.optimizer.problem import FairnessLP
from sharing.optimizer.spec import OptimizationSpec, plan
from sharing.scenario import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"
QINGCHUAN = ROOT / "scenarios" / "qingchuan_guangyuan.yaml"


def two_sides(standalone=(0.2, 0.1), pool=(100.0, 100.0), **extra) -> sharing.Scenario:
    """Two jurisdictions, one park at a's site (retention 1, no discount), split 50:50."""
    years = {2021 + i: v for i, v in enumerate(pool)}
    data = {
        "name": "两方", "name_en": "two sides",
        "years": {"start": 2021, "end": 2020 + len(pool)},
        "jurisdictions": [{"id": j, "name": f"甲{j}", "name_en": j.upper(), "province": "other"}
                          for j in "ab"],
        "retention": {"default": {"vat": 1.0}},
        "parks": [{"id": "P", "partners": ["a", "b"],
                   "sites": [{"host": "a", "taxes": {"vat": {"by_year": years}}}]}],
        "agreements": [{"id": "deal", "covers": {"park": "P"},
                        "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}],
        "standalone": {"P": {"a": standalone[0], "b": standalone[1]}},
    }
    data.update(extra)
    return sharing.parse_scenario(data)


def share(opt, who: str, stage: int = 0) -> float:
    rows = opt.shares[opt.shares["jurisdiction"] == who]
    return float(rows["share"].iloc[stage])


def gains(opt) -> dict[str, float]:
    return dict(zip(opt.payoffs["jurisdiction"], opt.payoffs["gain"], strict=True))


# ---------------------------------------------------------------------------------------------
# Hand-solved cases and closed forms


def test_two_sides_maximin_meets_where_the_gains_meet():
    # V = 200, d = (40, 20): gain_a = 200 w − 40 = gain_b = 200 (1 − w) − 20 at w = 0.55.
    opt = optimize(two_sides(), objective="maximin_gain")
    assert opt.status == "optimal"
    assert share(opt, "a") == pytest.approx(0.55, abs=1e-9)
    assert gains(opt) == pytest.approx({"a": 70.0, "b": 70.0}, abs=1e-6)
    assert opt.objective_value == pytest.approx(70.0, abs=1e-6)
    # With weights 2:1 the weighted gains meet: 200 w − 40 = 2 (180 − 200 w), w = 2/3.
    opt = optimize(two_sides(), {"weights": {"a": 2, "b": 1}})
    assert share(opt, "a") == pytest.approx(0.666667, abs=1e-12)  # rounded to 1e-6


def test_nash_closed_form():
    # V = 100, d = (30, 20), w = (0.6, 0.4): x_i = d_i + w_i (V − Σd) = (60, 40).
    sc = two_sides(standalone=(0.3, 0.2), pool=(100.0,))
    opt = optimize(sc, {"objective": "nash", "weights": {"a": 0.6, "b": 0.4}})
    assert opt.status == "optimal"
    payoff = dict(zip(opt.payoffs["jurisdiction"], opt.payoffs["pv_net_benefit"], strict=True))
    assert payoff == pytest.approx({"a": 60.0, "b": 40.0}, rel=1e-6)


def test_two_player_nash_is_shapley_is_equal_surplus():
    sc = two_sides(standalone=(0.3, 0.2), pool=(100.0,))
    nash = optimize(sc, objective="nash")
    payoff = dict(zip(nash.payoffs["jurisdiction"], nash.payoffs["pv_net_benefit"],
                      strict=True))
    shapley = games.shapley(games.Game.from_scenario(sc))
    # equal surplus: (30 + 25, 20 + 25)
    assert payoff == pytest.approx({"a": 55.0, "b": 45.0}, abs=1e-6)
    assert payoff == pytest.approx(dict(shapley), abs=1e-6)
    compared = nash.compare().set_index("jurisdiction")
    assert compared["optimal"].to_dict() == pytest.approx(dict(shapley), abs=1e-6)
    assert compared["nucleolus"].to_dict() == pytest.approx(dict(shapley), abs=1e-9)


def _payoffs_at(sc, position, path, shares) -> np.ndarray:
    from sharing.writeback import Provenance, SharesWrite, write_shares

    span = (sc.years.start, sc.years.end)
    written = write_shares(sc, [SharesWrite(position, path, ((span, shares),))],
                           Provenance("test", "份额", "shares", "test"))
    return sharing.simulate(written).pv_net_benefit


def test_gaozhu_increment_decided_stock_kept():
    sc = sharing.load_scenario(GAOZHU)
    opt = optimize(sc, {"decide": [{"agreement": "gaozhu_revenue", "path": "rule.increment"}]})
    assert opt.status == "optimal"
    rule = opt.scenario.agreements[0].rule
    assert rule.type == "stock_increment" and rule.stock.type == "host"
    assert rule.increment.type == "optimized" and rule.increment.objective == "maximin_gain"
    # By hand from two simulations: the payoffs are affine in w = guangan's share of the
    # increment, and the maximin equalises the two gains.
    at_one = _payoffs_at(sc, 0, "rule.increment", {"guangan": 1.0, "yubei": 0.0})
    at_zero = _payoffs_at(sc, 0, "rule.increment", {"guangan": 0.0, "yubei": 1.0})
    standalone = sharing.simulate(sc).standalone_pv
    g1, g0 = at_one - standalone, at_zero - standalone
    # g0 + w (g1 − g0) equal for both: w = (g0_y − g0_g) / ((g1_g − g0_g) − (g1_y − g0_y))
    w = (g0[1] - g0[0]) / ((g1[0] - g0[0]) - (g1[1] - g0[1]))
    written = share(opt, "guangan")
    assert written == pytest.approx(w, abs=1e-6)  # the optimum, rounded to 1e-6
    assert opt.payoffs["gain"].to_numpy() == pytest.approx(g0 + written * (g1 - g0), rel=1e-9)


def _qingchuan_without_floor():
    sc = sharing.load_scenario(QINGCHUAN)
    ag = sc.agreements[0]
    return sc.model_copy(update={"agreements": [ag.model_copy(update={"rule": ag.rule.rule})]})


QC_SPEC = {"constraints": {"yearly_floor": {"qingchuan": {"minimum": 500, "from_year": 2013}}},
           "decide": [{"agreement": "chuanzhe_tax",
                       "stages": [[2012, 2014], [2015, 2018], [2019, 2030]]}]}


@pytest.mark.parametrize("with_floor_rule", [False, True], ids=["yearly_floor", "floor_rule"])
def test_qingchuan_yearly_floor_holds_every_year(with_floor_rule):
    sc = sharing.load_scenario(QINGCHUAN) if with_floor_rule else _qingchuan_without_floor()
    opt = optimize(sc, QC_SPEC)
    assert opt.status == "optimal"
    by_year = sharing.simulate(opt.scenario).by_year
    qc = by_year[(by_year["jurisdiction"] == "qingchuan") & (by_year["year"] >= 2013)]
    assert (qc["allocated"] >= 500 - 1e-7).all()
    assert qc["allocated"].iloc[0] < 0.99 * 0.6 * 524.2 + 500  # 2013 needs far more than 6:4
    if with_floor_rule:  # the floor rule is kept; it never tops up (or the check would fail)
        assert opt.scenario.agreements[0].rule.type == "floor"
        assert opt.scenario.agreements[0].rule.rule.type == "optimized"
    # Asking for more than the pool can pay in 2013 (524.2 万元) is infeasible, and the
    # relaxation says by how much to lower the floor.
    spec = {**QC_SPEC, "constraints": {"yearly_floor": {"qingchuan": {"minimum": 600,
                                                                       "from_year": 2013}}}}
    opt = optimize(sc, spec)
    assert opt.status == "infeasible"
    if not with_floor_rule:
        row = opt.relaxation.set_index("constraint").loc["yearly_floor.qingchuan"]
        assert row["feasible_at"] == pytest.approx(524.2, abs=1e-3)


def test_floor_rule_without_yearly_floor_is_refused_with_the_linear_alternative():
    sc = sharing.load_scenario(QINGCHUAN)
    with pytest.raises(ScenarioError) as err:
        optimize(sc)
    zh, en = err.value.text("zh")[0], err.value.text("en")[0]
    linear = "yearly_floor: {qingchuan: {minimum: 500, from_year: 2013}}"
    assert "青川县的保底" in zh and linear in zh
    assert "the floor of Qingchuan County" in en and "non-linear" in en and linear in en
    assert err.value.items[0].path == "decide[0]"


# ---------------------------------------------------------------------------------------------
# The same model: two solvers and scipy's linprog


def _maximin_program(sc, spec=None):
    the_plan = plan(OptimizationSpec.parse(spec or {}), sc)
    model = compile_scenario(sc)
    amap = sharing.engine.affine_map(model, the_plan.splits)
    problem = FairnessLP(the_plan, amap, model)
    program, sol, _, _ = problem._maximin(time.perf_counter() + 30)
    return program, sol


@pytest.mark.parametrize("path", [GAOZHU, ROOT / "scenarios" / "wandakai.yaml"])
def test_highs_cbc_and_linprog_agree_on_the_same_matrices(path):
    from sharing.lp import solve

    program, sol = _maximin_program(sharing.load_scenario(path),
                                    {"constraints": {"bounds": {}}})
    cbc = solve(program, "cbc")
    bounds = list(zip(np.where(np.isfinite(program.col_lo), program.col_lo, None),
                      np.where(np.isfinite(program.col_hi), program.col_hi, None), strict=True))
    a = program.matrix.toarray()
    upper = np.isfinite(program.row_hi)
    lower = np.isfinite(program.row_lo)
    eq = upper & lower & (program.row_lo == program.row_hi)
    ub = np.vstack([a[upper & ~eq], -a[lower & ~eq]])
    rhs = np.r_[program.row_hi[upper & ~eq], -program.row_lo[lower & ~eq]]
    ref = linprog(-program.cost, A_ub=ub, b_ub=rhs, A_eq=a[eq], b_eq=program.row_lo[eq],
                  bounds=bounds, method="highs")
    assert sol.status == cbc.status == "optimal" and ref.status == 0
    assert sol.solver == "highs" and cbc.solver == "cbc"
    scale = max(1.0, abs(ref.fun))
    assert sol.objective == pytest.approx(-ref.fun, abs=1e-6 * scale)
    assert cbc.objective == pytest.approx(-ref.fun, abs=1e-6 * scale)


def test_cbc_gives_the_same_shares_as_highs():
    sc = sharing.load_scenario(GAOZHU)
    highs = optimize(sc, {"solver": "highs"})
    cbc = optimize(sc, {"solver": "cbc"})
    assert highs.solver == "highs" and cbc.solver == "cbc"
    assert cbc.shares["share"].to_numpy() == pytest.approx(highs.shares["share"].to_numpy(),
                                                            abs=2e-6)


def test_a_failing_solver_falls_back_and_says_so(monkeypatch):
    import sharing.lp

    def broken(*args, **kwargs):
        raise OSError("libhighs missing")

    monkeypatch.setattr(sharing.lp, "_MatrixHiGHS", broken)
    opt = optimize(two_sides())
    assert opt.status == "optimal" and opt.solver == "cbc"
    assert share(opt, "a") == pytest.approx(0.55, abs=1e-6)


def test_fallback_note_is_bilingual(monkeypatch):
    import sharing.lp

    monkeypatch.setattr(sharing.lp, "_MatrixHiGHS",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("gone")))
    program, _ = _maximin_program(two_sides())
    sol = sharing.lp.solve(program, "highs")
    assert sol.solver == "cbc"
    zh, en = sol.notes[0].message("zh"), sol.notes[0].message("en")
    assert "求解器 highs 不可用或出错" in zh and "已改用 cbc" in zh
    assert "solver highs is missing or failed" in en and "solved with cbc instead" in en


def test_time_limit_is_a_status_not_a_hang():
    opt = optimize(sharing.load_scenario(GAOZHU), {"time_limit": 1e-9})
    assert opt.status == "time_limit" and opt.scenario is None
    assert "时间上限" in opt.explain("zh") and "time limit" in opt.explain("en")


# ---------------------------------------------------------------------------------------------
# Each objective and constraint on 高竹


@pytest.mark.parametrize("objective", ["maximin_gain", "lexmaximin_gain", "proportional",
                                       "closest_to_current", "nash", "least_core"])
def test_every_objective_reproduces_its_payoffs(objective):
    sc = sharing.load_scenario(GAOZHU)
    opt = optimize(sc, objective=objective)
    assert opt.status == "optimal"
    again = sharing.simulate(opt.scenario)
    assert again.pv_net_benefit == pytest.approx(opt.payoffs["pv_net_benefit"].to_numpy(),
                                                 rel=1e-12)
    assert (opt.payoffs["gain"] >= -1e-7).all()  # participation is on by default
    assert objective in opt.explain("en") or "Objective" in opt.explain("en")


def test_closest_to_current_keeps_a_feasible_deal():
    opt = optimize(sharing.load_scenario(GAOZHU), objective="closest_to_current")
    assert opt.shares["share"].to_numpy() == pytest.approx(opt.shares["current_share"])
    assert opt.objective_value == pytest.approx(0.0, abs=1e-12)


def test_step_puts_shares_on_the_grid_and_meets_participation():
    opt = optimize(sharing.load_scenario(GAOZHU), {"constraints": {"step": 0.05}})
    assert opt.status == "optimal"
    assert np.allclose(opt.shares["share"] / 0.05, np.round(opt.shares["share"] / 0.05))
    assert (opt.payoffs["gain"] >= 0).all()


def test_same_across_stages_and_monotone():
    sc = sharing.load_scenario(GAOZHU)
    decide = [{"agreement": "gaozhu_revenue", "stages": [[2023, 2027], [2028, 2035]]}]
    same = optimize(sc, {"decide": decide, "constraints": {"same_across_stages": True}})
    s = same.shares.set_index(["jurisdiction", "stage_start"])["share"]
    assert s[("guangan", 2023)] == s[("guangan", 2028)]
    up = optimize(sc, {"decide": decide, "objective": "closest_to_current",
                       "constraints": {"monotone": {"guangan": "increasing"},
                                       "bounds": {"guangan": [0.0, 0.45]}}})
    s = up.shares.set_index(["jurisdiction", "stage_start"])["share"]
    assert s[("guangan", 2023)] <= s[("guangan", 2028)] + 1e-6
    assert s[("guangan", 2028)] <= 0.45


def test_net_transfer_max_and_host_minimum():
    sc = sharing.load_scenario(GAOZHU)
    opt = optimize(sc, {"constraints": {"net_transfer_max": {"guangan": 3000},
                                        "host_minimum": 0.45}})
    assert opt.status == "optimal"
    res = sharing.simulate(opt.scenario)
    paid = (res.retained - res.allocated) @ res.model.discount
    assert paid[0] <= 3000 + 1e-7
    # the increment of each site stays at least 45% with its host
    assert opt.shares["share"].min() >= 0.45 - 1e-12
    assert {"net_transfer_max.guangan"} <= set(opt.binding["constraint"])


def test_core_rows_and_least_core_in_the_core():
    sc = sharing.load_scenario(ROOT / "scenarios" / "wandakai.yaml")
    opt = optimize(sc, objective="least_core")
    assert opt.status == "optimal"
    game = games.Game.from_scenario(sc)
    payoff = dict(zip(opt.payoffs["jurisdiction"], opt.payoffs["pv_net_benefit"], strict=True))
    violation = games.core_violation(game, payoff)
    if opt.objective_value >= 0:
        assert violation is None or violation.amount <= 1e-6 * abs(game.values).max()


@pytest.mark.parametrize("spec", [{"objective": "least_core"}, {"constraints": {"core": "all"}}])
def test_coalition_rows_generated_lazily_give_the_same_answer(spec, monkeypatch):
    import sharing.optimizer.problem as problem

    sc = sharing.load_scenario(ROOT / "scenarios" / "mingyueshan.yaml")  # six sides
    every_row = optimize(sc, spec)
    monkeypatch.setattr(problem, "ALL_COALITIONS_UP_TO", 1)  # as if there were 13 or more
    lazy = optimize(sc, spec)
    assert lazy.status == every_row.status == "optimal"
    assert lazy.objective_value == pytest.approx(every_row.objective_value, rel=1e-9, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Explanation: binding constraints with their duals, the relaxation of an infeasible model


def test_participation_dual_is_the_slope_of_the_minimum_gain():
    # a's gain = 200 w − 40, b's = 180 − 200 w; with w ≤ 0.5 the minimum gain is a's:
    # min = 200 w − 40 at w = 0.5 → 60; guaranteeing b 1 more does not change it... so ask
    # for b's gain ≥ 100: w ≤ 0.4, the minimum is a's 40, and each extra 万元 for b lowers it
    # by 1.
    sc = two_sides()
    spec = {"constraints": {"participation": {"margin": {"a": 0, "b": 100}}}}
    opt = optimize(sc, spec)
    row = opt.binding.set_index("constraint").loc["participation.b"]
    assert row["dual"] == pytest.approx(-1.0, abs=1e-9)
    assert "每多保证甲b 1 万元收益，最小收益降低 1 万元" in row["explanation_zh"]
    assert "each extra 万元 guaranteed to B lowers the minimum gain by 1 万元" in \
        row["explanation_en"]
    # the dual is what a re-solve shows
    spec["constraints"]["participation"]["margin"]["b"] = 110
    assert optimize(sc, spec).objective_value == pytest.approx(opt.objective_value - 10,
                                                               abs=1e-5)


def test_infeasible_model_reports_the_smallest_relaxation_and_it_works():
    sc = sharing.load_scenario(GAOZHU)
    opt = optimize(sc, {"constraints": {"bounds": {"guangan": [0.6, 0.8]}}})
    assert opt.status == "infeasible" and opt.scenario is None
    row = opt.relaxation.set_index("constraint").loc["bounds.guangan.lower"]
    assert row["requested"] == 0.6 and row["feasible_at"] < 0.6
    assert "把广安市(邻水县)的份额下限从 60% 降到" in row["explanation_zh"]
    assert "lower Guang'an (Linshui County)'s minimum share from 60% to" in row["explanation_en"]
    assert "无解" in opt.explain("zh") and "Infeasible" in opt.explain("en")
    again = optimize(sc, opt.relaxed_spec())
    assert again.status == "optimal"


def test_explain_names_the_objective_and_what_binds():
    opt = optimize(two_sides(), {"constraints": {"bounds": {"a": [0, 0.5]}}})
    zh, en = opt.explain("zh"), opt.explain("en")
    assert zh.startswith("目标：最大化最小收益（等权）") and "起作用的约束" in zh
    assert en.startswith("Objective: maximise the smallest gain (equal weights)")
    assert "maximum share of 50% binds" in en
    assert opt.explain() == zh + "\n" + en


# ---------------------------------------------------------------------------------------------
# Bad input: a clear bilingual message that names the key


def _problem(sc, spec):
    with pytest.raises(ScenarioError) as err:
        optimize(sc, spec)
    return err.value.items[0], err.value.text("zh")[0], err.value.text("en")[0]


@pytest.mark.parametrize("spec, path, zh, en", [
    ({"objective": "maxmin"}, "objective", "未知目标 'maxmin'", "unknown objective 'maxmin'"),
    ({"decide": [{"agreement": "gaozhu_revenu"}]}, "decide[0].agreement",
     "未知协议 'gaozhu_revenu'", "did you mean 'gaozhu_revenue'"),
    ({"decide": [{"agreement": "gaozhu_revenue", "path": "rule.incremnt"}]}, "decide[0].path",
     "没有规则路径 'rule.incremnt'", "did you mean 'rule.increment'"),
    ({"constraints": {"bounds": {"guangam": [0, 1]}}}, "constraints.bounds.guangam",
     "未知辖区 'guangam'", "did you mean 'guangan'"),
    ({"constraints": {"bounds": {"guangan": [0.7, 0.3]}}}, "constraints.bounds.guangan",
     "下限 0.7 大于上限 0.3", "lower bound 0.7 is above the upper bound 0.3"),
    ({"decide": [{"agreement": "gaozhu_revenue", "stages": [[2023, 2030], [2029, 2035]]}]},
     "decide[0].stages[1]", "重叠", "stage 2029-2035 overlaps stage 2023-2030"),
    ({"decide": [{"agreement": "gaozhu_revenue", "stages": [[2020, 2035]]}]},
     "decide[0].stages[0]", "超出模拟年份", "leaves the simulated years 2023-2035"),
    ({"decide": [{"agreement": "gaozhu_revenue", "stages": [[2023, 2030]]}]},
     "decide[0].stages", "2031 年未覆盖", "2031 is not covered"),
    ({"constraints": {"step": 0.3}}, "constraints.step", "须整除 1", "must divide 1"),
    ({"constraints": {"bonds": {}}}, "constraints.bonds", "未知的键 'bonds'",
     "did you mean 'bounds'"),
    ({"decide": [{"agreement": "gaozhu_revenue", "path": "rule"}]}, "decide[0].path",
     "不是比例分成", "not a ratio split"),
    ({"time_limit": "soon"}, "time_limit", "不是数", "is not a number"),
])
def test_bad_spec_names_the_key(spec, path, zh, en):
    item, text_zh, text_en = _problem(sharing.load_scenario(GAOZHU), spec)
    assert item.path == path
    assert zh in text_zh and en in text_en


@pytest.mark.parametrize("name, spec, path, zh, en", [
    ("jjj_2015_relocation", {}, "decide", "没有可决定的份额", "no decision variables"),
    ("neirong", {}, "decide", "分档", "tiered"),
    ("neirong", {"decide": [{"agreement": "park_revenue"}]}, "decide[0]", "分档规则",
     "is a tiered rule: its bands make payoffs non-linear"),
])
def test_scenarios_without_linear_splits(name, spec, path, zh, en):
    sc = sharing.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    item, text_zh, text_en = _problem(sc, spec)
    assert item.path == path and zh in text_zh and en in text_en


def test_capped_and_claims_rules_are_refused_with_their_alternative():
    sc = sharing.load_scenario(ROOT / "scenarios" / "heguangchang.yaml")
    _, zh, en = _problem(sc, {"decide": [{"agreement": "relocation"}]})
    assert "限期限额" in zh and "net_transfer_max" in en
    sc = sharing.load_scenario(ROOT / "scenarios" / "mingyueshan.yaml")
    _, zh, en = _problem(sc, {"decide": [{"agreement": "eco_compensation"}]})
    assert "债权" in zh and "divides claims" in en and "bounds" in en


def test_cost_by_benefit_with_a_refund_year_is_refused():
    # In 2022 a's stock is 100 + (−120) = −20 (a refund stays in the stock) and the increment
    # 50: a's allocation −20 + 50 w changes sign with w, and so would its share of the cost.
    sc = two_sides(pool=(100.0, 150.0), costs=[{
        "id": "office", "park": "P", "by_year": {2021: 10, 2022: 10}, "paid_by": "a",
        "rule": {"type": "by_benefit", "agreement": "deal"}}])
    data = sc.model_dump(mode="json", exclude_none=True)
    data["parks"][0]["sites"][0]["taxes"]["eit"] = {"by_year": {2021: 0, 2022: -120}}
    data["retention"]["default"]["eit"] = 1.0
    data["agreements"][0]["rule"] = {"type": "stock_increment", "base_year": 2021,
                                     "increment": {"type": "fixed",
                                                   "shares": {"a": 0.5, "b": 0.5}}}
    item, zh, en = _problem(sharing.parse_scenario(data), {})
    assert item.path == "costs[0].rule"
    assert "退税年份" in zh and "refund year" in en and "not be linear" in en


def test_weights_from_contributions_and_their_errors():
    sc = sharing.load_scenario(GAOZHU)
    opt = optimize(sc, {"objective": "proportional",
                        "weights": "contributions:infrastructure.area_km2"})
    share_of_gain = opt.payoffs.set_index("jurisdiction")["gain_share"]
    assert share_of_gain["guangan"] == pytest.approx(138 / 262, abs=1e-5)
    item, zh, en = _problem(sc, {"weights": "contributions:infrastructure.aera_km2"})
    assert item.path == "weights" and "did you mean 'area_km2'" in en and "要素" in zh


def test_messages_are_in_the_catalogue_in_both_languages():
    for key in ("optimize.floor", "optimize.capped", "optimize.no_variables",
                "optimize.effect.participation", "optimize.relax.bounds_lower"):
        zh = message(key, "zh", path="x", who="甲", who_en="A", id="a", minimum=1,
                     suggestion="1", reason="r", objective="o", objective_en="o", verb="v",
                     verb_en="v", amount="1", value="1", requested="1", at="0")
        en = message(key, "en", path="x", who="甲", who_en="A", id="a", minimum=1,
                     suggestion="1", reason="r", objective="o", objective_en="o", verb="v",
                     verb_en="v", amount="1", value="1", requested="1", at="0")
        assert zh != en and any("\u4e00" <= c <= "\u9fff" for c in zh)


# ---------------------------------------------------------------------------------------------
# Every shipped scenario with a ratio split


SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario(path):
    sc = sharing.load_scenario(path)
    try:
        opt = optimize(sc)
    except ScenarioError as err:
        keys = {p.key for p in err.items}
        assert keys <= {"optimize.floor", "optimize.no_variables", "optimize.tiered"}, keys
        if keys == {"optimize.floor"}:  # accepted once the floor is a yearly_floor
            floor = sc.agreements[0].rule
            spec = {"constraints": {"yearly_floor": {floor.beneficiary: {
                "minimum": floor.minimum, "from_year": floor.from_year}}}}
            opt = optimize(sc, spec)
            assert opt.status in ("optimal", "infeasible")
        return
    assert opt.status in ("optimal", "infeasible")
    if opt.status == "optimal":
        again = sharing.simulate(opt.scenario).pv_net_benefit
        assert again == pytest.approx(opt.payoffs["pv_net_benefit"].to_numpy(), rel=1e-12)
    else:
        assert len(opt.relaxation) and optimize(sc, opt.relaxed_spec()).status == "optimal"


def test_the_documented_spec_runs():
    import re

    import yaml

    text = (ROOT / "docs" / "optimize.md").read_text("utf-8")
    spec = yaml.safe_load(re.findall(r"```yaml\n(.*?)```", text, re.S)[0])
    assert set(spec) == {"objective", "weights", "decide", "constraints", "solver",
                         "time_limit"}
    opt = optimize(sharing.load_scenario(GAOZHU), spec)
    assert opt.status == "optimal"
    assert set(opt.shares["share"] * 20) <= {float(k) for k in range(21)}  # step 0.05
