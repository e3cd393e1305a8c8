"""Monte Carlo and sensitivity (issue 9): batched engine against simulate and a plain loop."""

from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sharing
from sharing.engine import compile_scenario, run_batch
from sharing.risk import make_plan, monte_carlo, sample, sensitivity
from sharing.scenario import ScenarioError, find_scenario, load_scenario
from tests.reference_montecarlo import reference

ALL = ["gaozhu", "jjj_2015_relocation", "qingchuan_guangyuan", "chengxuanwan", "heguangchang",
       "luyongjiang", "mingyueshan", "neirong", "pinghu_qingtian", "suitong", "wandakai",
       "zida", "zhongshan_heyuan"]

PARKS = {"growth": {"sigma": 0.15, "parks": {"gaozhu": {"sigma": 0.2}}}, "macro": {"sigma": 0.05},
         "correlation": {"within": "park", "rho": 0.6},
         "survival": {"parks": {"annual_exit": 0.05}},
         "compliance": {"gaozhu_revenue": {"beta": [8, 2]}},
         "parameters": [{"path": "discount_rate", "dist": "uniform", "low": 0.02,
                         "high": 0.05}]}
FIRMS = {"move_delay": {"firms": {"probabilities": [0.5, 0.3, 0.2]}},
         "compliance": {"jjj_relocation": {"beta": [5, 2]}},
         "parameters": [{"path": "firms.pharma.growth", "dist": "normal", "sd": 0.02}]}


def scenario(name: str) -> sharing.Scenario:
    return load_scenario(find_scenario(name))


def close(a, b, rel=1e-9):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(1.0, float(np.abs(b).max(initial=0.0)))
    assert np.abs(a - b).max(initial=0.0) <= rel * scale


@pytest.mark.parametrize("name", ALL)
def test_zero_spreads_equal_simulate(name):
    sc = scenario(name)
    res = sharing.simulate(sc)
    mc = monte_carlo(sc, draws=70, seed=1, uncertainty={})
    close(mc.pv, np.broadcast_to(res.pv_net_benefit, mc.pv.shape))
    close(mc.standalone, np.broadcast_to(res.standalone_pv, mc.standalone.shape))
    close(mc.summary["mean"], res.pv_net_benefit)
    p50 = mc.paths.pivot(index="jurisdiction", columns="year", values="p50")
    close(p50.loc[sc.jurisdiction_ids].to_numpy(), res.allocated)


def test_zero_sigma_forms_are_deterministic():
    sc = scenario("gaozhu")
    res = sharing.simulate(sc)
    u = {"growth": {"sigma": 0.0}, "macro": {"sigma": 0.0},
         "survival": {"parks": {"annual_exit": 0.0}},
         "correlation": {"within": "park", "rho": 0.5}}
    mc = monte_carlo(sc, draws=10, seed=3, uncertainty=u)
    close(mc.pv, np.broadcast_to(res.pv_net_benefit, mc.pv.shape))


@pytest.mark.parametrize(("name", "u"), [("gaozhu", PARKS), ("jjj_2015_relocation", FIRMS),
                                         ("qingchuan_guangyuan", {
                                             "growth": {"sigma": 0.3},
                                             "survival": {"parks": {"annual_exit": 0.1}},
                                             "compliance": {"chuanzhe_tax": {"beta": [2, 2]}}})])
def test_plain_loop_reference(name, u):
    sc = scenario(name).replace({"uncertainty": u})
    plan = make_plan(sc)
    smp = sample(plan, 0, 12, seed=11)
    mc = monte_carlo(sc, draws=12, seed=11)
    pv, alone, alloc = reference(plan, smp)
    close(mc.pv, pv)
    close(mc.standalone, alone)
    close(mc.allocated, alloc)


@pytest.mark.parametrize("of", ["move", "production"])
@pytest.mark.parametrize("d", [1, 2])
def test_forced_delay_equals_shifted_scenario(of, d):
    sc = scenario("jjj_2015_relocation")
    probs = [0.0] * d + [1.0]
    mc = monte_carlo(sc, draws=3, seed=0,
                     uncertainty={"move_delay": {"firms": {"probabilities": probs, "of": of}}})
    changes = {}
    for f in sc.firms:
        if of == "move":
            changes[f"firms.{f.id}.move_year"] = f.move_year + d
        if f.production_year is not None or of == "production":
            changes[f"firms.{f.id}.production_year"] = f.producing_from + d
    res = sharing.simulate(sc.replace(changes))
    close(mc.pv, np.broadcast_to(res.pv_net_benefit, mc.pv.shape))
    close(mc.standalone, np.broadcast_to(res.standalone_pv, mc.standalone.shape))


def test_same_seed_whatever_chunk():
    sc = scenario("gaozhu").replace({"uncertainty": PARKS})
    a = monte_carlo(sc, draws=300, seed=5)
    b = monte_carlo(sc, draws=300, seed=5, chunk=64)
    c = monte_carlo(sc, draws=300, seed=5, chunk=200,
                    executor=cf.ThreadPoolExecutor(max_workers=3))
    e = monte_carlo(sc, draws=300, seed=5, chunk=37)  # chunks need not be whole blocks
    one = monte_carlo(sc, draws=300, seed=5, chunk=37, threads=1)
    three = monte_carlo(sc, draws=300, seed=5, chunk=37, threads=3)
    assert np.array_equal(one.pv, three.pv) and np.array_equal(one.pv, e.pv)
    assert np.array_equal(a.pv, b.pv) and np.array_equal(a.pv, c.pv)
    assert np.array_equal(a.pv, e.pv) and np.array_equal(a.allocated, e.allocated)
    assert np.array_equal(a.standalone, c.standalone)
    d = monte_carlo(sc, draws=300, seed=6)
    assert not np.array_equal(a.pv, d.pv)
    first = monte_carlo(sc, draws=100, seed=5)  # a draw does not depend on how many follow
    assert np.array_equal(first.pv, a.pv[:100])


def test_process_pool_equals_in_process():
    sc = scenario("jjj_2015_relocation").replace({"uncertainty": FIRMS})
    here = monte_carlo(sc, draws=150, seed=2, chunk=64)
    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        there = monte_carlo(sc, draws=150, seed=2, chunk=64, executor=pool)
    assert np.array_equal(here.pv, there.pv)
    assert np.array_equal(here.standalone, there.standalone)


def test_dask_local_cluster_equals_in_process():
    distributed = pytest.importorskip("distributed")
    sc = scenario("gaozhu").replace({"uncertainty": PARKS})
    here = monte_carlo(sc, draws=200, seed=9, chunk=64)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        seen = []
        there = monte_carlo(sc, draws=200, seed=9, chunk=64, executor=client.get_executor(),
                            progress=lambda done, total: seen.append((done, total)))
    assert np.array_equal(here.pv, there.pv)
    assert seen[-1] == (200, 200)


def test_antithetic_whatever_chunk():
    sc = scenario("jjj_2015_relocation").replace({"uncertainty": {**FIRMS, "growth": {
        "sigma": 0.2}, "parameters": []}})
    a = monte_carlo(sc, draws=100, seed=8, antithetic=True)
    b = monte_carlo(sc, draws=100, seed=8, antithetic=True, chunk=7)
    assert np.array_equal(a.pv, b.pv)
    assert a.summary.se_mean_antithetic.notna().all()


def test_progress_and_antithetic():
    sc = scenario("gaozhu").replace({"uncertainty": PARKS})
    seen = []
    mc = monte_carlo(sc, draws=256, seed=1, chunk=64, antithetic=True,
                     progress=lambda done, total: seen.append((done, total)))
    assert seen == [(64, 256), (128, 256), (192, 256), (256, 256)]
    sm = mc.summary
    assert np.all(sm.se_mean > 0) and np.all(np.isfinite(sm.se_mean_antithetic))
    plan = make_plan(sc)
    smp = sample(plan, 0, 64, seed=1, antithetic=True)
    log_m = np.log(smp.multiplier)
    # The mirror's shocks are the negatives, so log M + log M' is the same for every pair
    # (minus twice the accumulated σ²/2), and the pair's uniforms add up to 1.
    pair = log_m[:32] + log_m[32:]
    assert np.allclose(pair, pair[:1]) and not np.allclose(log_m[:32], log_m[32:])


def test_draws_dataframe_and_summary_ranges():
    sc = scenario("gaozhu").replace({"uncertainty": PARKS})
    mc = monte_carlo(sc, draws=400, seed=4)
    df = mc.draws
    assert list(df.columns) == ["draw", "jurisdiction", "pv_net_benefit", "standalone_pv", "gain"]
    assert len(df) == 400 * 2
    sm = mc.summary
    assert ((sm.prob_loss >= 0) & (sm.prob_loss <= 1)).all()
    assert (sm.p5 <= sm.p25).all() and (sm.p25 <= sm.p50).all() and (sm.p75 <= sm.p95).all()
    assert (sm.expected_shortfall <= sm.p5 + 1e-9).all()
    gain = (mc.pv - mc.standalone)
    assert np.allclose(sm.prob_loss, (gain < 0).mean(axis=0))
    text_zh, text_en = mc.explain("zh"), mc.explain("en")
    assert "亏损概率" in text_zh and "probability of loss" in text_en


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["gaozhu", "mingyueshan", "neirong", "pinghu_qingtian",
                             "heguangchang", "qingchuan_guangyuan"]),
       seed=st.integers(0, 2**32 - 1), spread=st.floats(0.0, 1.0))
def test_allocations_sum_to_retained_per_draw(name, seed, spread):
    model = compile_scenario(scenario(name))
    rng = np.random.default_rng(seed)
    shape = (5, *model.streams.gross.shape)
    gross = model.streams.gross[None] * rng.lognormal(0.0, spread, shape)
    comp = rng.uniform(0, 1, (5, len(model.scenario.agreements)))
    batch = run_batch(model, gross, comp)
    retained = (gross * model.streams.retention).sum(axis=1)
    scale = max(1.0, float(np.abs(retained).max()))
    assert np.abs(batch.allocated.sum(axis=1) - retained).max() <= 1e-9 * scale


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p=st.floats(0, 1), a=st.floats(0.1, 20),
       b=st.floats(0.1, 20))
def test_sampled_inputs_in_range(seed, p, a, b):
    sc = scenario("jjj_2015_relocation").replace({"uncertainty": {
        "survival": {"firms": {"annual_exit": p}},
        "move_delay": {"firms": {"probabilities": [0.2, 0.8]}},
        "compliance": {"jjj_relocation": {"beta": [a, b]}}}})
    plan = make_plan(sc)
    smp = sample(plan, 0, 70, seed)
    assert ((smp.compliance >= 0) & (smp.compliance <= 1)).all()
    assert ((smp.delay >= 0) & (smp.delay <= 1)).all()
    assert ((smp.exit_at >= 1) & (smp.exit_at <= len(plan.model.years))).all()
    mc = monte_carlo(sc, draws=70, seed=seed)
    sm = mc.summary
    assert ((sm.prob_loss >= 0) & (sm.prob_loss <= 1)).all()


def test_survival_mean_matches_probability():
    sc = scenario("qingchuan_guangyuan")
    plan = make_plan(sc.replace({"uncertainty": {"survival": {"parks": {"annual_exit": 0.2}}}}))
    smp = sample(plan, 0, 20_000, seed=1)
    alive = np.arange(len(plan.model.years))[None] < smp.exit_at[:, :1]
    expected = 0.8 ** np.arange(len(plan.model.years))
    assert np.abs(alive.mean(axis=0) - expected).max() < 0.02


def test_sensitivity_tornado_and_break_even():
    sc = scenario("gaozhu")
    sens = sensitivity(sc)
    t = sens.table
    assert list(t.columns[:2]) == ["parameter", "jurisdiction"]
    assert np.allclose(t.swing, (t.high - t.low).abs())
    top = t.groupby("parameter", sort=False)["swing"].max().to_numpy()
    assert np.all(np.diff(top) <= 1e-9)
    # Compliance of the agreement from 0 to 1: yubei's gain crosses 0 somewhere, or not;
    # where brentq finds a root, the gain there is 0.
    path = "agreements.gaozhu_revenue.compliance"
    sens = sensitivity(sc, parameters=[{"path": path, "low": 0.0, "high": 1.0},
                                       {"path": "discount_rate", "low": 0.0, "high": 0.2}])
    for row in sens.break_even.dropna().itertuples():
        res = sharing.simulate(sc.replace({row.parameter: row.value}))
        j = sc.jurisdiction_ids.index(row.jurisdiction)
        gain = res.pv_net_benefit[j] - res.standalone_pv[j]
        assert abs(gain) < 1e-6 * max(1.0, abs(res.standalone_pv[j]))


def test_sensitivity_sign_change_found():
    sc = scenario("gaozhu")
    res = sharing.simulate(sc)
    gains = res.pv_net_benefit - res.standalone_pv
    sens = sensitivity(sc, parameters=[{"path": "parks.gaozhu.sites[1].taxes.vat.growth",
                                        "low": -0.5, "high": 1.0}])
    assert len(sens.break_even) == 2
    assert np.isfinite(gains).all()


BAD = [
    (dict(draws=0), "draws", "抽样次数", "draws must be"),
    (dict(draws=10_000_001), "draws", "抽样次数", "draws must be"),
    (dict(threads=0), "threads", "线程数", "threads must be"),
    (dict(chunk=-1), "chunk", "每批次数", "chunk must be"),
    (dict(uncertainty={"growth": {"sigma": -0.1}}), "uncertainty.growth.sigma", "不能为负",
     "cannot be negative"),
    (dict(uncertainty={"survival": {"firms": {"annual_exit": 1.5}}}),
     "uncertainty.survival.firms.annual_exit", "概率须在", "within [0, 1]"),
    (dict(uncertainty={"compliance": {"gaozhu_revenue": {"beta": [0, 2]}}}),
     "uncertainty.compliance.gaozhu_revenue.beta", "都须为正", "must be positive"),
    (dict(uncertainty={"parameters": [{"path": "discount_rat", "dist": "normal", "sd": 1}]}),
     "uncertainty.parameters[0].path", "'discount_rate'", "did you mean 'discount_rate'"),
    (dict(uncertainty={"correlation": {"within": "park", "rho": -0.5}}),
     "uncertainty.correlation.rho", "半正定", "positive semi-definite"),
    (dict(uncertainty={"compliance": {"gaozhu_revenu": {"beta": [2, 2]}}}),
     "uncertainty.compliance.gaozhu_revenu", "'gaozhu_revenue'", "did you mean"),
]


@pytest.mark.parametrize(("kwargs", "path", "zh", "en"), BAD)
def test_bad_input_in_both_languages(kwargs, path, zh, en):
    with pytest.raises(ScenarioError) as err:
        monte_carlo(scenario("gaozhu"), **{"draws": 10, **kwargs})
    zh_text, en_text = "\n".join(err.value.text("zh")), "\n".join(err.value.text("en"))
    assert path in zh_text and path in en_text
    assert zh in zh_text
    assert en in en_text


def test_bad_uncertainty_in_a_file(tmp_path):
    text = find_scenario("gaozhu").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "\nuncertainty:\n  growth: {sigma: -1}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert "bad.yaml:" in err.value.problems[0]
    assert "uncertainty.growth.sigma" in err.value.problems[0]


def test_bad_sensitivity_path():
    with pytest.raises(ScenarioError) as err:
        sensitivity(scenario("gaozhu"), parameters=["discount_rat"])
    assert "discount_rate" in err.value.problems[0]


def test_cli_montecarlo_and_sensitivity(tmp_path, capsys):
    from sharing.cli import main

    assert main(["montecarlo", "gaozhu", "--draws", "300", "--seed", "7", "-o",
                 str(tmp_path / "mc"), "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "亏损概率" in out and "probability of loss" in out
    for name in ("summary", "draws", "paths"):
        assert (tmp_path / "mc" / f"{name}.csv").exists()
    summary = (tmp_path / "mc" / "summary.csv").read_text(encoding="utf-8-sig")
    assert summary.startswith("辖区,均值")
    assert main(["sensitivity", "gaozhu", "-o", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "tornado.csv").exists()
    assert (tmp_path / "s" / "break_even.csv").exists()


@pytest.mark.parametrize("argv", [["montecarlo", "gaozhu", "--draws", "0"],
                                  ["montecarlo", "gaozhu", "--draws", "20000000"],
                                  ["montecarlo", "gaozhu", "--draws", "64", "--threads", "0"],
                                  ["sensitivity", "gaozhu", "-p", "discount_rat"],
                                  ["sensitivity", "gaozhu", "--delta", "1.5"]])
def test_cli_bad_input_exit_2(argv, capsys):
    from sharing.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "输入有误 / bad input" in err and "Traceback" not in err


def _below(sc):
    return sc.replace({"agreements.jjj_relocation.rule.extension": {"years": 2,
                                                                   "below": 3000}})


@pytest.mark.parametrize("name", [*ALL, "jjj_below"])
def test_batch_equals_run_draw_by_draw(name):
    sc = _below(scenario("jjj_2015_relocation")) if name == "jjj_below" else scenario(name)
    model = compile_scenario(sc)
    rng = np.random.default_rng(3)
    gross = model.streams.gross[None] * rng.lognormal(0.0, 0.5, (4, *model.streams.gross.shape))
    comp = rng.uniform(0.3, 1.0, (4, len(sc.agreements)))
    batch = run_batch(model, gross, comp)
    for d in range(4):
        res = model.run(gross[d], {a.id: comp[d, i] for i, a in enumerate(sc.agreements)})
        close(batch.allocated[d], res.allocated)
        close(batch.pv_net_benefit[d], res.pv_net_benefit)
        close(batch.subsidy[d], res.subsidy)


def test_drawn_parameter_out_of_range_is_refused():
    u = {"parameters": [{"path": "discount_rate", "dist": "normal", "sd": 0.5}]}
    with pytest.raises(ScenarioError) as err:
        monte_carlo(scenario("gaozhu"), draws=200, seed=1, uncertainty=u)
    zh, en = "\n".join(err.value.text("zh")), "\n".join(err.value.text("en"))
    assert "discount_rate" in zh and "次抽样" in zh
    assert "discount_rate" in en and "draw " in en


def test_schema_has_the_uncertainty_section():
    from sharing.scenario import json_schema

    schema = json_schema()
    assert "uncertainty" in schema["properties"]
    assert {"Uncertainty", "Growth", "Survival", "BetaSpread"} <= set(schema["$defs"])


def test_explain_names_the_riskiest_side():
    mc = monte_carlo(scenario("jjj_2015_relocation"), draws=200, seed=7)
    zh, en = mc.explain("zh"), mc.explain("en")
    assert "承担的风险最大" in zh and "carries the most risk" in en
    assert "北京" in zh and "Beijing" in en


def test_counterfactual_follows_perturbed_gross():
    # The no-cooperation value of migrated firms (what they would pay at home) follows the
    # gross amounts a run is given, in Model.run as in run_batch.
    model = compile_scenario(scenario("jjj_2015_relocation"))
    base = model.run()
    doubled = model.run(2.0 * model.streams.gross)
    close(doubled.standalone_pv, 2.0 * base.standalone_pv)
    batch = model.run_batch(np.stack([model.streams.gross, 2.0 * model.streams.gross]))
    close(batch.standalone_pv[1], 2.0 * base.standalone_pv)
