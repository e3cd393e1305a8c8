"""5 · 风险 Risk: Monte Carlo over the uncertain inputs (``sharing.monte_carlo``) with a real
progress bar, a fan chart per jurisdiction, the probability of a loss and the distribution of
gains; one-at-a-time sensitivity (``sharing.sensitivity``): a tornado per jurisdiction and
the break-even values.

The uncertainty is the scenario's own ``uncertainty:`` section, or the one set in the form
(the same keys, validated by the library with bilingual messages). The Monte Carlo runs
behind a button; its result stays in ``st.session_state["risk_mc"]`` until the next run, so
other widgets (and other pages) do not lose it, and a refused input leaves it on screen.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import yaml

import sharing
from sharing import charts
from sharing.i18n import Problem, define
from sharing.result import Result
from sharing.risk import default_parameters
from sharing.scenario import Scenario, ScenarioError
from sharing.ui import workspace
from sharing.ui.text import NUMBER_FORMAT, jurisdiction_names, lang, money_columns, t
from sharing.ui.widgets import chart, choice, download_csv, show_problems, snippet
from sharing.ui.words import in_words

RESULT_KEY = "risk_mc"
PROBLEMS_KEY = "risk_mc_problems"
MAX_DRAWS = 100_000

define({
    "ui.risk.mc": ("蒙特卡洛模拟", "Monte Carlo"),
    "ui.risk.mc_help": ("对税收增长、宏观因素、企业存续、履约等不确定输入抽样，每次抽样都用同一引擎"
                        "计算，并与该次抽样自身的不合作情形比较",
                        "Draws the uncertain inputs (tax growth, a macro factor, firm "
                        "survival, compliance) and runs each draw through the same engine, "
                        "compared with that draw's own no-cooperation case"),
    "ui.risk.use_own": ("使用情景文件中的 uncertainty 设定", "Use the scenario's own "
                        "uncertainty section"),
    "ui.risk.growth": ("税收增长波动 σ（每年）", "Growth noise σ (per year)"),
    "ui.risk.macro": ("宏观因素 σ（各税源共同）", "Macro factor σ (common to all streams)"),
    "ui.risk.rho": ("同一园区内税源的相关系数", "Correlation of the streams within a park"),
    "ui.risk.own_section": ("情景文件中的 uncertainty 设定", "The scenario's uncertainty "
                            "section"),
    "ui.risk.park_exit": ("园区片区每年退出概率", "Yearly exit probability of a park site"),
    "ui.risk.params": ("敏感性参数", "Parameters"),
    "ui.risk.params_default": ("默认参数集（贴现率、各税源增速、履约率、规则金额，±幅度）",
                               "the default set (discount rate, growth rates, compliance, "
                               "rule amounts; ± the change)"),
    "ui.risk.params_own": ("情景设定的不确定参数（其上下限）", "the scenario's uncertain "
                           "parameters (their low and high)"),
    "ui.risk.exit": ("企业每年退出概率", "Yearly exit probability of a firm"),
    "ui.risk.compliance": ("履约率不确定：Beta(a, b) 的 a、b（0 = 不设）",
                           "Uncertain compliance: a and b of Beta(a, b) (0 = none)"),
    "ui.risk.beta_a": ("a", "a"),
    "ui.risk.beta_b": ("b", "b"),
    "ui.risk.out_of_range": ("{field}须在 {low} 到 {high} 之间，现为 {value}",
                             "{field} must be within {low} to {high}, got {value}"),
    "ui.risk.draws": ("抽样次数", "Draws"),
    "ui.risk.seed": ("随机种子", "Seed"),
    "ui.risk.run": ("运行蒙特卡洛", "Run the Monte Carlo"),
    "ui.risk.progress": ("已完成 {done:,} / {total:,} 次抽样", "{done:,} of {total:,} draws done"),
    "ui.risk.shown": ("{draws:,} 次抽样，随机种子 {seed}；同样的种子得到同样的数字",
                      "{draws:,} draws, seed {seed}; the same seed gives the same numbers"),
    "ui.risk.stale": ("以下是对此前情景版本的模拟结果；情景已修改，请重新运行",
                      "These results are for an earlier version of the scenario; it has "
                      "changed since: run again"),
    "ui.risk.loss": ("亏损概率（比不合作差）", "Probability of a loss (worse than alone)"),
    "ui.risk.mean": ("净收益现值均值 {mean}", "mean PV net benefit {mean}"),
    "ui.risk.fans": ("分享后收入的分布（扇形图）", "Allocated revenue, spread (fan charts)"),
    "ui.risk.gains": ("合作收益的分布", "Distribution of the gains"),
    "ui.risk.summary": ("各方净收益现值的分布（万元）", "PV net benefit by side (10,000 CNY)"),
    "ui.risk.no_spread": ("没有设定任何不确定性：所有抽样都与确定性结果相同",
                          "No uncertainty is set: every draw equals the deterministic result"),
    "ui.risk.sensitivity": ("敏感性（一次变动一个参数）", "Sensitivity (one parameter at a time)"),
    "ui.risk.delta": ("变动幅度 ±", "Change ±"),
    "ui.risk.who": ("辖区", "Jurisdiction"),
    "ui.risk.break_even": ("盈亏平衡值（合作收益为 0 处）", "Break-even values (where the gain "
                           "is 0)"),
    "ui.risk.no_break_even": ("在变动范围内，任何参数都不会使任何一方的合作收益变为负数",
                              "Within the range, no parameter turns anyone's gain negative"),
    "ui.risk.sens_failed": ("无法做敏感性分析：", "Sensitivity cannot be computed:"),
    "ui.risk.col.parameter": ("参数", "parameter"),
    "ui.risk.col.jurisdiction": ("辖区", "jurisdiction"),
    "ui.risk.col.base": ("基准值", "base value"),
    "ui.risk.col.break_even": ("盈亏平衡值", "break-even value"),
    "ui.risk.col.mean": ("均值", "mean"),
    "ui.risk.col.p5": ("5% 分位", "5th percentile"),
    "ui.risk.col.p50": ("中位数", "median"),
    "ui.risk.col.p95": ("95% 分位", "95th percentile"),
    "ui.risk.col.std": ("标准差", "std"),
    "ui.risk.col.prob_loss": ("亏损概率", "probability of loss"),
    "ui.risk.col.expected_shortfall": ("最差 5% 均值", "mean of worst 5%"),
    "ui.risk.col.mean_gain": ("合作收益均值", "mean gain"),
    "ui.file.fan": ("扇形图_{name}", "fan_{name}"),
    "ui.file.gains": ("合作收益分布", "gain_draws"),
    "ui.file.mc_summary": ("蒙特卡洛汇总", "monte_carlo_summary"),
    "ui.file.tornado": ("敏感性_{name}", "tornado_{name}"),
    "ui.file.break_even": ("盈亏平衡值", "break_even"),
})


def _checked(problems: list[Problem], label: str, value: float, low: float,
             high: float) -> float:
    """``value``, or a problem naming the field when it is outside [low, high] (the library
    checks again; this says it in the session's language, next to the form)."""
    if not low <= value <= high:
        problems.append(Problem("ui.risk.out_of_range", {"field": label, "low": low,
                                                         "high": high, "value": value}))
    return float(value)


def _own(sc: Scenario) -> dict[str, float]:
    """The form's starting values: the scenario's own section where it has one."""
    u = sc.uncertainty
    out = {"growth": 0.1, "macro": 0.03, "rho": 0.5, "firm_exit": 0.0, "park_exit": 0.0,
           "a": 0.0, "b": 0.0}
    if u is None:
        return out
    out["growth"] = u.growth.sigma if u.growth else 0.0
    out["macro"] = u.macro.sigma if u.macro else 0.0
    out["rho"] = u.correlation.rho if u.correlation else 0.0
    if u.survival is not None:
        out["firm_exit"] = u.survival.firms.annual_exit if u.survival.firms else 0.0
        out["park_exit"] = u.survival.parks.annual_exit if u.survival.parks else 0.0
    if u.compliance:
        out["a"], out["b"] = next(iter(u.compliance.values())).beta
    return out


def uncertainty_form(sc: Scenario, problems: list[Problem]) -> dict[str, Any] | None:
    """The ``uncertainty`` argument of ``sharing.monte_carlo`` from the form (None: the
    scenario's own section, shown as YAML); values out of range are added to
    ``problems``."""
    if sc.uncertainty is not None:
        own = st.checkbox(t("risk.use_own"), value=True, key="risk_use_own")
        if own:
            with st.expander(t("risk.own_section")):
                st.code(yaml.safe_dump(sc.uncertainty.model_dump(mode="json",
                                                                 exclude_defaults=True),
                                       allow_unicode=True, sort_keys=False), language="yaml")
            return None
    start = _own(sc)
    left, middle, right = st.columns(3)
    out: dict[str, Any] = {}
    growth = left.number_input(t("risk.growth"), value=float(start["growth"]), step=0.01,
                               format="%.3f", key="risk_growth")
    macro = middle.number_input(t("risk.macro"), value=float(start["macro"]), step=0.01,
                                format="%.3f", key="risk_macro")
    out["growth"] = {"sigma": _checked(problems, t("risk.growth"), growth, 0.0, 1.0)}
    if macro:
        out["macro"] = {"sigma": _checked(problems, t("risk.macro"), macro, 0.0, 1.0)}
    if sc.parks:
        rho = right.number_input(t("risk.rho"), value=float(start["rho"]), step=0.1,
                                 key="risk_rho")
        if rho:
            out["correlation"] = {"within": "park",
                                  "rho": _checked(problems, t("risk.rho"), rho, -1.0, 1.0)}
    survival = {}
    if sc.firms:
        exit_p = left.number_input(t("risk.exit"), value=float(start["firm_exit"]),
                                   step=0.01, format="%.3f", key="risk_exit")
        if exit_p:
            survival["firms"] = {"annual_exit": _checked(problems, t("risk.exit"), exit_p,
                                                         0.0, 1.0)}
    if sc.parks:
        exit_p = middle.number_input(t("risk.park_exit"), value=float(start["park_exit"]),
                                     step=0.01, format="%.3f", key="risk_park_exit")
        if exit_p:
            survival["parks"] = {"annual_exit": _checked(problems, t("risk.park_exit"),
                                                         exit_p, 0.0, 1.0)}
    if survival:
        out["survival"] = survival
    if sc.agreements:
        st.caption(t("risk.compliance"))
        a_col, b_col = st.columns(2)
        a = a_col.number_input(t("risk.beta_a"), value=float(start["a"]), step=1.0,
                               key="risk_beta_a")
        b = b_col.number_input(t("risk.beta_b"), value=float(start["b"]), step=1.0,
                               key="risk_beta_b")
        if a or b:
            beta = [_checked(problems, f"Beta {name}", value, 1e-6, 1e6)
                    for name, value in (("a", a), ("b", b))]
            out["compliance"] = {ag.id: {"beta": beta} for ag in sc.agreements}
    return out


def run(ws: workspace.Workspace, draws: int, seed: int,
        uncertainty: dict[str, Any] | None) -> None:
    """Run the Monte Carlo with a progress bar; keep the result, or the problems (and the
    last result)."""
    bar = st.progress(0.0, text=t("risk.progress", done=0, total=draws))

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=t("risk.progress", done=done, total=total))

    try:
        mc = sharing.monte_carlo(ws.scenario, draws=draws, seed=seed, uncertainty=uncertainty,
                                 progress=progress, chunk=max(64, draws // 20))
    except ScenarioError as err:
        st.session_state[PROBLEMS_KEY] = ws.key, list(err.items)
        bar.empty()
        return
    except Exception as err:  # a library bug: say so, keep the page and the last result
        st.session_state[PROBLEMS_KEY] = ws.key, [Problem("ui.internal_error", {
            "error": f"{type(err).__name__}: {err}"})]
        bar.empty()
        return
    bar.empty()
    st.session_state[PROBLEMS_KEY] = ws.key, []
    st.session_state[RESULT_KEY] = {"key": ws.key, "origin": ws.origin, "draws": draws,
                                    "seed": seed, "uncertainty": uncertainty, "mc": mc}


def _call(kept: dict[str, Any]) -> str:
    args = f"draws={kept['draws']}, seed={kept['seed']}"
    if kept["uncertainty"] is not None:
        args += f", uncertainty={kept['uncertainty']!r}"
    return f"sharing.monte_carlo(sc, {args})"


def monte_carlo(ws: workspace.Workspace) -> None:
    st.subheader(t("risk.mc"))
    st.caption(t("risk.mc_help"))
    problems: list[Problem] = []
    uncertainty = uncertainty_form(ws.scenario, problems)
    left, right = st.columns(2)
    draws = left.number_input(t("risk.draws"), value=1000, min_value=1, max_value=MAX_DRAWS,
                              step=500, key="risk_draws")
    seed = right.number_input(t("risk.seed"), value=0, min_value=0, step=1, key="risk_seed")
    if st.button(t("risk.run"), type="primary", key="risk_run"):
        if problems:
            st.session_state[PROBLEMS_KEY] = ws.key, problems
        else:
            run(ws, int(draws), int(seed), uncertainty)
    show_problems(workspace.run_problems(ws, PROBLEMS_KEY))
    kept = workspace.kept_run(ws, RESULT_KEY)
    if kept is not None:
        mc_results(ws, kept)


def mc_results(ws: workspace.Workspace, kept: dict[str, Any]) -> None:
    mc = kept["mc"]
    sc = mc.scenario
    names = jurisdiction_names(sc)
    language = lang()
    if kept["key"] != ws.key:
        st.warning(t("risk.stale"))
    st.info(t("risk.shown", draws=mc.n_draws, seed=mc.seed))
    summary = mc.summary
    if float(summary["std"].max()) == 0.0:
        st.caption(t("risk.no_spread"))
    st.markdown(f"**{t('risk.loss')}**")
    columns = st.columns(min(len(summary), 4))
    for i, row in enumerate(summary.itertuples()):
        with columns[i % len(columns)]:
            st.metric(names.get(row.jurisdiction, row.jurisdiction), f"{row.prob_loss:.1%}")
            st.caption(t("risk.mean", mean=NUMBER_FORMAT.format(row.mean)))
    st.markdown("\n\n".join(mc.explain(language).splitlines()))
    call = _call(kept)
    st.markdown(f"**{t('risk.summary')}**")
    cols = ["mean", "std", "p5", "p50", "p95", "prob_loss", "expected_shortfall", "mean_gain"]
    table = summary[["jurisdiction", *cols]].copy()
    table["jurisdiction"] = table["jurisdiction"].map(names)
    table["prob_loss"] *= 100  # shown as 8.0%, as on the cards
    headers = {c: t(f"risk.col.{c}") for c in cols}
    headers["jurisdiction"] = t("risk.col.jurisdiction")
    shown = table.rename(columns=headers)
    money = [headers[c] for c in cols if c != "prob_loss"]
    st.dataframe(shown, hide_index=True, width="stretch", column_config={
        **money_columns(money),
        headers["prob_loss"]: st.column_config.NumberColumn(format="%.1f%%")})
    left, right = st.columns([1, 3])
    with left:
        download_csv(summary, t("file.mc_summary"), key="risk_summary_csv")
    with right:
        snippet(ws, f"{call}.summary")
    st.subheader(t("risk.fans"))
    paths = mc.paths
    ids = list(summary["jurisdiction"])
    columns = st.columns(min(len(ids), 2))
    for i, jid in enumerate(ids):
        with columns[i % len(columns)]:
            part = paths[paths["jurisdiction"] == jid].reset_index(drop=True)
            chart(charts.fan(paths, jid, names[jid], language), part,
                  t("file.fan", name=jid), f"risk_fan_{jid}", ws,
                  f"{call}.paths.query(\"jurisdiction == {jid!r}\").reset_index(drop=True)")
    st.subheader(t("risk.gains"))
    chart(charts.gains_histogram(mc.draws, names, language), mc.draws, t("file.gains"),
          "risk_gains", ws, f"{call}.draws")


# ---------------------------------------------------------------------------------------------
# Sensitivity


@st.cache_data(max_entries=32, show_spinner=False)
def sensitivity(key: str, _sc: Scenario, delta: float, own: bool) -> dict[str, pd.DataFrame]:
    """``sharing.sensitivity`` of one scenario (cached per scenario, delta and parameter
    set; each session gets copies)."""
    del key
    parameters = None if own else default_parameters(_sc)
    found = sharing.sensitivity(_sc, parameters=parameters, delta=delta)
    return {"table": found.table, "break_even": found.break_even}


def sensitivity_section(ws: workspace.Workspace, res: Result) -> None:
    st.subheader(t("risk.sensitivity"))
    sc = res.scenario
    names = jurisdiction_names(sc)
    own_params = bool(sc.uncertainty and sc.uncertainty.parameters)
    if own_params:
        sets = {False: t("risk.params_default"), True: t("risk.params_own")}
        own = choice(t("risk.params"), [False, True], "risk_params", sets)
    else:
        own = False
    left, right = st.columns(2)
    delta = left.select_slider(t("risk.delta"), [0.05, 0.1, 0.2, 0.3, 0.5], value=0.2,
                               key="risk_delta", format_func="{:.0%}".format, disabled=own)
    call = (f"sharing.sensitivity(sc, delta={float(delta)!r})" if own else
            f"sharing.sensitivity(sc, sharing.risk.default_parameters(sc), "
            f"delta={float(delta)!r})")
    try:
        found = sensitivity(ws.key, sc, float(delta), own)
    except ScenarioError as err:
        st.error(t("risk.sens_failed"))
        show_problems(err.items)
        return
    table, even = found["table"], found["break_even"]
    who = choice(t("risk.who"), sc.jurisdiction_ids, "risk_who", names, container=right)
    part = table[table["jurisdiction"] == who].reset_index(drop=True)
    words = {p: in_words(sc, p) for p in table["parameter"].unique()}
    chart(charts.tornado(table, who, names[who], lang(), words), part,
          t("file.tornado", name=who),
          "risk_tornado", ws, f"{call}.table"
          f".query(\"jurisdiction == {who!r}\").reset_index(drop=True)",
          imports=["import sharing.risk"])
    st.markdown(f"**{t('risk.break_even')}**")
    crossing = even.dropna(subset=["value"])
    if crossing.empty:
        st.caption(t("risk.no_break_even"))
    else:
        base = table.drop_duplicates("parameter").set_index("parameter")["base"]
        shown = pd.DataFrame({
            t("risk.col.parameter"): crossing["parameter"].map(words),
            t("risk.col.jurisdiction"): crossing["jurisdiction"].map(names),
            t("risk.col.base"): crossing["parameter"].map(base),
            t("risk.col.break_even"): crossing["value"]})
        st.dataframe(shown, hide_index=True, width="stretch")
        left, right = st.columns([1, 3])
        with left:
            download_csv(even, t("file.break_even"), key="risk_break_even_csv")
        with right:
            snippet(ws, f"{call}.break_even", imports=["import sharing.risk"])


def render() -> None:
    ws = workspace.get()
    st.title(t("page.risk"))
    if ws.error:
        st.error(ws.error)
    res = ws.result
    if res is None:
        st.warning(t("no_result"))
        show_problems(ws.problems.get("scenario", []))
        return
    if ws.refused:
        st.warning(t("stale"))
    monte_carlo(ws)
    sensitivity_section(ws, res)
