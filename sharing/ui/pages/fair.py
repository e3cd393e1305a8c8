"""4 · 公平 Fair split: the coalition values, the current split against the Shapley value,
nucleolus, SCRB and the proportional split (table and grouped bars), a core check naming the
blocking coalition, and the fairness optimizer (``sharing.optimize``): objective and
constraints, run, optimal against current shares, what binds in words, the relaxation when
no split meets every demand, and "apply as variant".

The games are computed by the library (:mod:`sharing.charts`, :mod:`sharing.games`) and
cached per scenario; the optimizer runs behind a button and its result stays in
``st.session_state["fair_opt"]`` until the next run, so other widgets never lose it. A spec
that does not validate shows its problems and the last result stays on screen.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import yaml

import sharing
from sharing import charts
from sharing.i18n import Problem, define
from sharing.optimizer import OBJECTIVES, OptimizationResult
from sharing.optimizer.explain import OBJECTIVES as OBJECTIVE_WORDS
from sharing.result import Result
from sharing.scenario import Scenario, ScenarioError, value_at
from sharing.ui import workspace
from sharing.ui.text import NUMBER_FORMAT, jurisdiction_names, lang, money_columns, pick, t
from sharing.ui.widgets import chart, choice, download_csv, show_problems, snippet

RESULT_KEY = "fair_opt"
PROBLEMS_KEY = "fair_opt_problems"
STEPS = (None, 0.01, 0.05, 0.1)

define({
    "ui.fair.values": ("联盟价值 v(S)（现值，万元）", "Coalition values v(S) (PV, 10,000 CNY)"),
    "ui.fair.values_help": ("v(S)：只有 S 中的辖区合作时它们合计的净收益现值；超额 = v(S) − "
                            "现行收益之和，为正说明 S 单干更好（阻挡现行方案）",
                            "v(S): the PV net benefit the members of S achieve when only "
                            "they cooperate; excess = v(S) − their current payoffs: positive "
                            "means S does better on its own (it blocks the current split)"),
    "ui.fair.splits": ("各分配方案对比（净收益现值，万元）",
                       "Splits side by side (PV net benefit, 10,000 CNY)"),
    "ui.fair.core": ("核心检验", "Core check"),
    "ui.fair.core_ok": ("在核心内（没有任何联盟单干能得到更多）：{solution}",
                        "In the core (no coalition gets more on its own): {solution}"),
    "ui.fair.core_blocked": ("{solution}不在核心内：{blocking} 单干可多得 {excess} 万元",
                             "The {solution} is not in the core: {blocking} would get "
                             "{excess} (10,000 CNY) more on their own"),
    "ui.fair.games_failed": ("无法计算联盟博弈：", "The coalition game cannot be computed:"),
    "ui.fair.optimizer": ("公平份额优化", "Fairness optimizer"),
    "ui.fair.optimizer_help": ("求一组各方都愿意签署的份额：没有一方不如单干，并按所选目标尽量公平"
                               "（见 docs/optimize.md）",
                               "Find shares every side can sign: nobody worse off than alone, "
                               "as fair as the chosen objective asks (see docs/optimize.md)"),
    "ui.fair.objective": ("目标", "Objective"),
    "ui.fair.weights": ("权重", "Weights"),
    "ui.fair.weights_equal": ("等权", "equal"),
    "ui.fair.weights_factor": ("按投入要素：{owner} · {factor}", "by contribution: {owner} · "
                               "{factor}"),
    "ui.fair.constraints": ("约束", "Constraints"),
    "ui.fair.participation": ("参与约束：每方合作收益不低于", "Participation: every gain at least"),
    "ui.fair.participation_on": ("要求每方不比单干差", "Nobody worse off than alone"),
    "ui.fair.bounds_who": ("限定哪些辖区的份额", "Bound the shares of"),
    "ui.fair.bound_of": ("{name} 的份额范围", "Share range of {name}"),
    "ui.fair.choose": ("选择辖区", "Choose jurisdictions"),
    "ui.fair.floor_who": ("为哪些辖区设每年保底", "A yearly floor for"),
    "ui.fair.floor_of": ("{name} 每年至少（万元）", "{name} at least (10,000 CNY a year)"),
    "ui.fair.floor_from": ("{name} 保底起始年", "{name}'s floor from year"),
    "ui.fair.core_on": ("核心约束：任何联盟都不比单干差",
                        "Core: no coalition worse off than alone"),
    "ui.fair.step": ("份额步长", "Share step"),
    "ui.fair.step_none": ("连续", "continuous"),
    "ui.fair.time_limit": ("求解时限（秒）", "Time limit (seconds)"),
    "ui.fair.spec_yaml": ("设定（YAML，可直接编辑；与 sharing optimize --spec 同一格式）",
                          "Spec (YAML, editable; the format of sharing optimize --spec)"),
    "ui.fair.run": ("运行优化", "Run the optimizer"),
    "ui.fair.run_yaml": ("按此 YAML 运行", "Run with this YAML"),
    "ui.fair.running": ("正在求解……", "Solving…"),
    "ui.fair.bad_yaml": ("设定不是有效的 YAML：{error}", "the spec is not valid YAML: {error}"),
    "ui.fair.status": ("状态：{status}　目标值：{value}　求解器：{solver}　用时 {seconds:.2f} 秒",
                       "Status: {status}   objective value: {value}   solver: {solver}   "
                       "{seconds:.2f} s"),
    "ui.fair.status.optimal": ("最优", "optimal"),
    "ui.fair.status.infeasible": ("无可行解", "infeasible"),
    "ui.fair.status.unbounded": ("无界", "unbounded"),
    "ui.fair.status.time_limit": ("达到时限", "time limit reached"),
    "ui.fair.status.error": ("出错", "error"),
    "ui.fair.stale": ("以下是对此前情景版本的优化结果；情景已修改，请重新运行",
                      "These results are for an earlier version of the scenario; it has "
                      "changed since: run again"),
    "ui.fair.shares": ("优化份额与现行份额", "Optimized and current shares"),
    "ui.fair.payoffs": ("收益：现行 → 优化（现值，万元）",
                        "Payoffs: current → optimized (PV, 10,000 CNY)"),
    "ui.fair.binding": ("起作用的约束及其影子价格", "Binding constraints and their duals"),
    "ui.fair.no_binding": ("没有约束限制结果", "No constraint limits the result"),
    "ui.fair.relaxation": ("最小放宽：怎样改动要求才有解", "Smallest relaxation: what to relax"),
    "ui.fair.explanation": ("说明", "In words"),
    "ui.fair.variant_name": ("方案名称", "Variant name"),
    "ui.fair.variant_default": ("优化：{objective}", "optimized: {objective}"),
    "ui.fair.apply": ("应用为方案", "Apply as variant"),
    "ui.fair.applied": ("已保存方案「{name}」：可在比较页对比，或在导出页下载",
                        "Saved variant “{name}”: compare it on the Compare page"),
    "ui.fair.apply_failed": ("无法把优化结果保存为方案：", "Cannot save the result as a variant:"),
    "ui.fair.col.constraint": ("约束", "constraint"),
    "ui.fair.col.kind": ("类型", "kind"),
    "ui.fair.col.dual": ("影子价格", "dual"),
    "ui.fair.col.requested": ("要求值", "requested"),
    "ui.fair.col.feasible_at": ("可行值", "feasible at"),
    "ui.fair.col.change": ("改动", "change"),
    "ui.fair.col.agreement": ("协议", "agreement"),
    "ui.fair.col.path": ("规则路径", "rule path"),
    "ui.fair.col.stage_start": ("阶段起", "stage from"),
    "ui.fair.col.stage_end": ("阶段止", "stage to"),
    "ui.fair.col.optimized_share": ("优化份额", "optimized share"),
    "ui.fair.col.current_share": ("现行份额", "current share"),
    "ui.fair.col.current_pv": ("现行净收益现值", "current PV"),
    "ui.fair.col.optimized_pv": ("优化后净收益现值", "optimized PV"),
    "ui.fair.col.current_gain": ("现行合作收益", "current gain"),
    "ui.fair.col.optimized_gain": ("优化后合作收益", "optimized gain"),
    "ui.fair.col.name": ("名称", "name"),
    "ui.fair.col.jurisdiction": ("辖区", "jurisdiction"),
    "ui.fair.col.standalone": ("单干现值", "standalone PV"),
    "ui.file.coalitions": ("联盟价值", "coalition_values"),
    "ui.file.fair_split": ("分配方案对比", "fair_splits"),
    "ui.file.core_check": ("核心检验", "core_check"),
    "ui.file.opt_shares": ("优化份额", "optimized_shares"),
    "ui.file.opt_payoffs": ("优化收益", "optimized_payoffs"),
    "ui.file.opt_binding": ("起作用的约束", "binding_constraints"),
    "ui.file.opt_relaxation": ("最小放宽", "relaxation"),
})


# ---------------------------------------------------------------------------------------------
# The games (cached per scenario: the library recomputes nothing for a rerun)


@st.cache_data(max_entries=32, show_spinner=False)
def games_tables(key: str, _res: Result, language: str) -> dict[str, pd.DataFrame]:
    """Coalition values, the splits side by side and the core check of one result (each
    session gets its own copies: ``st.cache_data`` returns copies)."""
    del key
    return {"values": charts.coalition_values(_res, language),
            "splits": charts.fair_split(_res, language),
            "core": charts.core_check(_res, language)}


def _solution_name(key: str) -> str:
    zh, en = charts.CHART_LABELS[key]
    return zh if lang() == "zh" else en


def coalition_table(ws: workspace.Workspace, values: pd.DataFrame) -> None:
    st.subheader(t("fair.values"))
    st.caption(t("fair.values_help"))
    shown = values.drop(columns=["coalition"]).rename(columns={
        c: charts._label(c, lang()) for c in values.columns})
    money_cols = [charts._label(c, lang()) for c in ("value", "payoff", "excess")]
    st.dataframe(shown, hide_index=True, width="stretch", column_config=money_columns(money_cols),
                 height=min(420, 38 + 35 * len(values)))
    left, right = st.columns([1, 3])
    with left:
        download_csv(values, t("file.coalitions"), key="fair_values_csv")
    with right:
        snippet(ws, f"charts.coalition_values(res, {lang()!r})",
                imports=["from sharing import charts"])


def splits(ws: workspace.Workspace, table: pd.DataFrame, core: pd.DataFrame) -> None:
    st.subheader(t("fair.splits"))
    columns = {"name": t("fair.col.name"), "standalone_pv": t("fair.col.standalone"),
               **{k: _solution_name(k) for k in charts.FAIR_SOLUTIONS}}
    shown = table.drop(columns=["jurisdiction"]).rename(columns=columns)
    st.dataframe(shown, hide_index=True, width="stretch", column_config=money_columns(
        [v for k, v in columns.items() if k != "name"]))
    imports = ["from sharing import charts"]
    chart(charts.fair_bars(table, lang()), table, t("file.fair_split"), "fair_bars", ws,
          f"charts.fair_split(res, {lang()!r})", imports=imports)
    st.subheader(t("fair.core"))
    inside = [_solution_name(s) for s in core.loc[core["in_core"], "solution"]]
    if inside:
        st.success(t("fair.core_ok", solution=("、" if lang() == "zh" else ", ").join(inside)))
    for row in core[~core["in_core"]].itertuples():
        st.warning(t("fair.core_blocked", solution=_solution_name(row.solution),
                     blocking=row.blocking, excess=NUMBER_FORMAT.format(row.excess)))
    left, right = st.columns([1, 3])
    with left:
        download_csv(core, t("file.core_check"), key="fair_core_csv")
    with right:
        snippet(ws, f"charts.core_check(res, {lang()!r})", imports=imports)


# ---------------------------------------------------------------------------------------------
# The optimizer


def weight_options(sc: Scenario) -> dict[str, str]:
    """``equal`` and each contribution factor, with their labels."""
    out = {"equal": t("fair.weights_equal")}
    for owner, factors in sc.contributions.items():
        for factor in factors:
            out[f"contributions:{owner}.{factor}"] = t("fair.weights_factor", owner=owner,
                                                       factor=factor)
    return out


def pick_many(label: str, options: list[str], name: str, labels: dict[str, str]) -> list[str]:
    """A multiselect of jurisdictions named in the language (as ``widgets.choice``: the key
    carries the language, the choice is kept under ``name``), with its placeholder in the
    language too."""
    kept = [v for v in st.session_state.get(name, []) if v in options]
    value = st.multiselect(label, options, default=kept, key=f"{name}:{lang()}",
                           format_func=labels.get, placeholder=t("fair.choose"))
    st.session_state[name] = value
    return value


def spec_form(sc: Scenario) -> dict[str, Any]:
    """The optimizer's spec (docs/optimize.md) from the form's widgets."""
    names = jurisdiction_names(sc)
    objective_names = {k: OBJECTIVE_WORDS[k][0][0 if lang() == "zh" else 1] for k in OBJECTIVES}
    left, right = st.columns(2)
    objective = choice(t("fair.objective"), list(OBJECTIVES), "fair_objective",
                       objective_names, container=left)
    weights = weight_options(sc)
    weight = choice(t("fair.weights"), list(weights), "fair_weights", weights,
                    container=right)
    constraints: dict[str, Any] = {}
    with st.expander(t("fair.constraints"), expanded=True):
        left, right = st.columns(2)
        if left.checkbox(t("fair.participation_on"), value=True, key="fair_participation_on"):
            margin = right.number_input(t("fair.participation"), value=0.0, step=1000.0,
                                        key="fair_margin")
            constraints["participation"] = {"margin": float(margin)}
        else:
            constraints["participation"] = False
        ids = sc.jurisdiction_ids
        bounded = pick_many(t("fair.bounds_who"), ids, "fair_bounds_who", names)
        bounds = {}
        for jid in bounded:
            lo, hi = st.slider(t("fair.bound_of", name=names[jid]), 0.0, 1.0, (0.0, 1.0),
                               step=0.01, key=f"fair_bound_{jid}")
            bounds[jid] = [float(lo), float(hi)]
        if bounds:
            constraints["bounds"] = bounds
        floored = pick_many(t("fair.floor_who"), ids, "fair_floor_who", names)
        floors = {}
        for jid in floored:
            a, b = st.columns(2)
            minimum = a.number_input(t("fair.floor_of", name=names[jid]), value=0.0,
                                     min_value=0.0, step=100.0, key=f"fair_floor_{jid}")
            start = b.number_input(t("fair.floor_from", name=names[jid]),
                                   value=sc.years.start, step=1, key=f"fair_floor_from_{jid}")
            floors[jid] = {"minimum": float(minimum), "from_year": int(start)}
        if floors:
            constraints["yearly_floor"] = floors
        left, right = st.columns(2)
        if left.checkbox(t("fair.core_on"), key="fair_core"):
            constraints["core"] = "all"
        step = choice(t("fair.step"), list(STEPS), "fair_step",
                      {s: t("fair.step_none") if s is None else f"{s:.0%}" for s in STEPS},
                      container=right)
        if step is not None:
            constraints["step"] = step
    time_limit = st.number_input(t("fair.time_limit"), value=30.0, min_value=1.0,
                                 max_value=600.0, step=5.0, key="fair_time_limit")
    return {"objective": objective, "weights": weight, "constraints": constraints,
            "time_limit": float(time_limit)}


def run(ws: workspace.Workspace, spec: Any) -> None:
    """Run the optimizer on the session's scenario; keep the result, or the problems (and
    the last result)."""
    try:
        with st.spinner(t("fair.running")):
            progress = st.progress(0.0)
            opt = sharing.optimize(ws.scenario, spec)
            progress.progress(1.0)
        progress.empty()
    except ScenarioError as err:
        st.session_state[PROBLEMS_KEY] = ws.key, list(err.items)
        return
    except Exception as err:  # a library bug: say so, keep the page and the last result
        st.session_state[PROBLEMS_KEY] = ws.key, [Problem("ui.internal_error", {
            "error": f"{type(err).__name__}: {err}"})]
        return
    st.session_state[PROBLEMS_KEY] = ws.key, []
    st.session_state[RESULT_KEY] = {"spec": spec, "key": ws.key, "origin": ws.origin,
                                    "opt": opt}


def _yaml_spec(ws: workspace.Workspace, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        st.session_state[PROBLEMS_KEY] = ws.key, [Problem(
            "ui.fair.bad_yaml", {"error": getattr(err, "problem", None) or str(err)},
            where="YAML", line=mark.line + 1 if mark is not None else None)]
        return None


def optimizer(ws: workspace.Workspace) -> None:
    st.subheader(t("fair.optimizer"))
    st.caption(t("fair.optimizer_help"))
    spec = spec_form(ws.scenario)
    text = yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)
    with st.expander(t("fair.spec_yaml")):
        edited = st.text_area("YAML", text, key=f"fair_yaml_{hash(text)}", height=220,
                              label_visibility="collapsed")
        run_yaml = st.button(t("fair.run_yaml"), key="fair_run_yaml")
    if st.button(t("fair.run"), type="primary", key="fair_run"):
        run(ws, spec)
    elif run_yaml:
        st.session_state[PROBLEMS_KEY] = ws.key, []
        data = _yaml_spec(ws, edited)
        if not workspace.run_problems(ws, PROBLEMS_KEY):
            run(ws, data)
    show_problems(workspace.run_problems(ws, PROBLEMS_KEY))
    kept = workspace.kept_run(ws, RESULT_KEY)
    if kept is not None:
        outcome(ws, kept)


def _shares_table(opt: OptimizationResult) -> pd.DataFrame:
    sc = opt.input_scenario
    names = jurisdiction_names(sc)
    agreements = {a.id: pick(a.name, a.name_en) or a.id for a in sc.agreements}
    return pd.DataFrame({
        t("fair.col.agreement"): opt.shares["agreement"].map(agreements),
        t("fair.col.path"): opt.shares["path"],
        t("fair.col.stage_start"): opt.shares["stage_start"],
        t("fair.col.stage_end"): opt.shares["stage_end"],
        t("fair.col.jurisdiction"): opt.shares["jurisdiction"].map(names),
        t("fair.col.optimized_share"): opt.shares["share"].map("{:.4%}".format),
        t("fair.col.current_share"): opt.shares["current_share"].map("{:.4%}".format)})


def _payoffs_table(opt: OptimizationResult) -> pd.DataFrame:
    p = opt.payoffs
    return pd.DataFrame({
        t("fair.col.jurisdiction"): p["jurisdiction"].map(jurisdiction_names(opt.input_scenario)),
        t("fair.col.current_pv"): p["standalone_pv"] + p["current_gain"],
        t("fair.col.optimized_pv"): p["pv_net_benefit"],
        t("fair.col.standalone"): p["standalone_pv"],
        t("fair.col.current_gain"): p["current_gain"],
        t("fair.col.optimized_gain"): p["gain"]})


def outcome(ws: workspace.Workspace, kept: dict[str, Any]) -> None:
    opt: OptimizationResult = kept["opt"]
    spec = kept["spec"]
    if kept["key"] != ws.key:
        st.warning(t("fair.stale"))
    value = NUMBER_FORMAT.format(opt.objective_value) \
        if opt.objective_value == opt.objective_value else "—"
    status = t(f"fair.status.{opt.status}") if opt.status in (
        "optimal", "infeasible", "unbounded", "time_limit", "error") else opt.status
    text = t("fair.status", status=status, value=value, solver=opt.solver or "—",
             seconds=opt.timings.get("total", 0.0))
    (st.success if opt.status == "optimal" else st.warning)(text)
    st.markdown(f"**{t('fair.explanation')}**")
    st.write(opt.explain(lang()))
    language = lang()
    explanation = f"explanation_{language}"
    call = f"sharing.optimize(sc, {spec!r})"
    if len(opt.shares):
        st.markdown(f"**{t('fair.shares')}**")
        st.dataframe(_shares_table(opt), hide_index=True, width="stretch")
        chart(charts.shares_bars(opt.shares, opt.input_scenario, language), opt.shares,
              t("file.opt_shares"), "fair_opt_shares", ws, f"{call}.shares")
        st.markdown(f"**{t('fair.payoffs')}**")
        payoffs = _payoffs_table(opt)
        st.dataframe(payoffs, hide_index=True, width="stretch",
                     column_config=money_columns(list(payoffs.columns[1:])))
        left, right = st.columns([1, 3])
        with left:
            download_csv(opt.payoffs, t("file.opt_payoffs"), key="fair_opt_payoffs_csv")
        with right:
            snippet(ws, f"{call}.payoffs")
    if opt.status == "optimal":
        st.markdown(f"**{t('fair.binding')}**")
        if len(opt.binding):
            for sentence in opt.binding[explanation]:
                st.markdown(f"- {sentence}")
            table = opt.binding[["constraint", "kind", "jurisdiction", "dual"]].rename(
                columns={c: t(f"fair.col.{c}") for c in ("constraint", "kind", "jurisdiction",
                                                    "dual")})
            st.dataframe(table, hide_index=True, width="stretch")
            download_csv(opt.binding, t("file.opt_binding"), key="fair_opt_binding_csv")
        else:
            st.caption(t("fair.no_binding"))
    if len(opt.relaxation):
        st.markdown(f"**{t('fair.relaxation')}**")
        for sentence in opt.relaxation[explanation]:
            st.markdown(f"- {sentence}")
        table = opt.relaxation[["constraint", "requested", "feasible_at", "change"]].rename(
            columns={c: t(f"fair.col.{c}") for c in ("constraint", "requested", "feasible_at",
                                                "change")})
        st.dataframe(table, hide_index=True, width="stretch")
        left, right = st.columns([1, 3])
        with left:
            download_csv(opt.relaxation, t("file.opt_relaxation"),
                         key="fair_opt_relaxation_csv")
        with right:
            snippet(ws, f"{call}.relaxation")
    if opt.scenario is not None and opt.status == "optimal" and kept["key"] == ws.key:
        apply_variant(ws, opt)


def variant_edits(ws: workspace.Workspace, opt: OptimizationResult) -> dict[str, Any]:
    """The session's edits followed by the optimizer's write-back as key-path edits: each
    decided rule, and the titles and references that say the shares were replaced. Replayed
    on the loaded scenario they give ``opt.scenario`` (checked by the caller)."""
    out = opt.scenario
    new: dict[str, Any] = {"name": out.name, "name_en": out.name_en}
    for write in opt.writes:
        ag = out.agreements[write.position]
        path = f"agreements.{ag.id}.{write.path}"
        new[path] = value_at(out, path).model_dump(mode="json", exclude_none=True)
        for attr in ("name", "name_en", "reference"):
            if getattr(ag, attr, None):
                new[f"agreements.{ag.id}.{attr}"] = getattr(ag, attr)
    edits = dict(ws.edits)
    for path, value in new.items():  # as Workspace.edit: a path set again moves to the end
        for old in [p for p in edits if p == path or p.startswith((path + ".", path + "["))]:
            del edits[old]
        edits[path] = value
    return edits


def apply_variant(ws: workspace.Workspace, opt: OptimizationResult) -> None:
    objective = OBJECTIVE_WORDS[opt.objective][0][0 if lang() == "zh" else 1]
    left, right = st.columns([3, 1])
    name = left.text_input(t("fair.variant_name"), t("fair.variant_default",
                                                     objective=objective),
                           key="fair_variant_name")
    right.write("")
    if right.button(t("fair.apply"), key="fair_apply"):
        edits = variant_edits(ws, opt)
        try:
            scenario = ws.base.replace(edits)
        except ScenarioError as err:
            st.error(t("fair.apply_failed"))
            show_problems(err.items)
            return
        ws.variants[name] = workspace.Variant(ws.origin, tuple(edits.items()), scenario)
        st.success(t("fair.applied", name=name))


def render() -> None:
    ws = workspace.get()
    st.title(t("page.fair"))
    if ws.error:
        st.error(ws.error)
    res = ws.result
    if res is None:
        st.warning(t("no_result"))
        show_problems(ws.problems.get("scenario", []))
        return
    if ws.refused:
        st.warning(t("stale"))
    try:
        tables = games_tables(ws.key, res, lang())
    except Exception as err:  # too many players, a degenerate game: say so, keep the page
        st.error(t("fair.games_failed"))
        show_problems(getattr(err, "items", [str(err)]))
        tables = None
    if tables is not None:
        splits(ws, tables["splits"], tables["core"])
        coalition_table(ws, tables["values"])
    optimizer(ws)
