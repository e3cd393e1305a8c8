"""Charts of results (plotly), in either language, without Streamlit: the app draws them and
the HTML report embeds the same figures.

Every chart is two functions: a *data* function giving the tidy DataFrame the chart is drawn
from (what the app offers as CSV, and what a "reproduce in Python" snippet computes), and a
*figure* function drawing that DataFrame with titles and axes in ``lang``. Data functions
only rearrange and discount what :class:`~sharing.Result` holds; the numbers come from the
engine.

Present values use the scenario's discount factors (``Model.discount``, base year = first
year), as the summary's ``pv_`` columns do.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from sharing.i18n import Lang, define, message
from sharing.result import COMPARE_METRICS, LABELS, Result, compare_long

# Headers of the chart tables that are not result columns (see sharing.result.LABELS).
CHART_LABELS: dict[str, tuple[str, str]] = {
    "step": ("步骤", "step"),
    "measure": ("类型", "measure"),
    "from": ("付出方", "from"),
    "to": ("收入方", "to"),
    "from_name": ("付出方名称", "from (name)"),
    "to_name": ("收入方名称", "to (name)"),
}

define({
    "charts.unit": ("万元", "10,000 CNY"),
    "charts.allocated_by_year": ("分享后收入（按年，堆叠）", "Allocated revenue by year (stacked)"),
    "charts.waterfall": ("{name}：无协议 → 净收益（现值）",
                         "{name}: no agreement → net benefit (PV)"),
    "charts.step.no_agreement": ("无协议留成", "no agreement (retained)"),
    "charts.step.transfers": ("协议转移", "agreement transfers"),
    "charts.step.agreement": ("协议后收入", "with the agreement"),
    "charts.step.costs": ("成本分担", "cost share"),
    "charts.step.net": ("净收益", "net benefit"),
    "charts.transfers": ("资金流向：{when}", "Who pays whom: {when}"),
    "charts.transfers_pv": ("现值合计", "present value, all years"),
    "charts.transfers_year": ("{year} 年", "year {year}"),
    "charts.collected_in": ("{name}（征收地）", "{name} (collects)"),
    "charts.received_by": ("{name}（收入方）", "{name} (receives)"),
    "charts.central": ("中央财政", "central government"),
    "charts.compare": ("{metric}：情景对比", "{metric}: scenarios compared"),
    "charts.difference": ("{metric}：与基准 {baseline} 之差",
                          "{metric}: difference from the baseline {baseline}"),
    "charts.statistics": ("统计分算：{indicator}（非资金）",
                          "Statistics split: {indicator} (not money)"),
})


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def _faint(hex_colour: str, alpha: float = 0.35) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _label(column: str, lang: Lang) -> str:
    zh, en = LABELS.get(column) or CHART_LABELS.get(column) or (column, column)
    return zh if lang == "zh" else en


def _names(res: Result, lang: Lang) -> dict[str, str]:
    return {j.id: (j.name if lang == "zh" else j.name_en) or j.id
            for j in res.scenario.jurisdictions}


def _money_axis(lang: Lang) -> str:
    return message("charts.unit", lang)


def _figure(traces: list[dict], title: str, **layout: dict) -> go.Figure:
    """A figure from plain trace and layout dicts, validated once by plotly (building it
    step by step with ``update_*`` validates at every step: four times slower)."""
    return go.Figure(data=traces, layout={
        "title": {"text": title}, "margin": {"l": 10, "r": 10, "t": 50, "b": 10},
        "legend": {"orientation": "h", "y": -0.15}, "separators": ".,", **layout})


def _axis(title: str, **options) -> dict:
    return {"title": {"text": title}, **options}


# ---------------------------------------------------------------------------------------------
# Allocated revenue by year


def allocated_by_year(res: Result, lang: Lang = "zh") -> pd.DataFrame:
    """``year, jurisdiction, name, allocated``: each jurisdiction's revenue after the
    agreements, per year (万元, nominal)."""
    data = res.by_year[["year", "jurisdiction", "allocated"]].copy()
    data.insert(2, "name", data["jurisdiction"].map(_names(res, lang)))
    return data


def allocated_area(data: pd.DataFrame, lang: Lang = "zh") -> go.Figure:
    """Stacked area of :func:`allocated_by_year`."""
    traces = [{"type": "scatter", "x": part["year"].to_numpy(),
               "y": part["allocated"].to_numpy(), "name": name, "stackgroup": "one",
               "mode": "lines", "hovertemplate": "%{x}: %{y:,.2f}"}
              for name, part in data.groupby("name", sort=False)]
    return _figure(traces, message("charts.allocated_by_year", lang),
                   xaxis=_axis(_label("year", lang), dtick=1),
                   yaxis=_axis(_money_axis(lang), tickformat=",.0f"))


# ---------------------------------------------------------------------------------------------
# Waterfall: no agreement -> agreement -> net of costs


WATERFALL_STEPS = ("no_agreement", "transfers", "agreement", "costs", "net")


def waterfall(res: Result, lang: Lang = "zh") -> pd.DataFrame:
    """``jurisdiction, name, step, measure, amount`` in present value: the retained revenue
    without an agreement, the transfers the agreement causes (``allocated + subsidy −
    retained``), the revenue with the agreement, the cost share (negative) and the net
    benefit (= the summary's ``pv_net_benefit``). ``measure`` is ``absolute``, ``relative``
    or ``total``, as a plotly waterfall reads it."""
    d = res.model.discount
    retained = res.retained @ d
    transfers = (res.allocated + res.subsidy - res.retained) @ d
    costs = -(res.cost_share @ d)
    names = _names(res, lang)
    rows = []
    for j, jid in enumerate(res.model.jurisdictions):
        values = (retained[j], transfers[j], retained[j] + transfers[j], costs[j],
                  retained[j] + transfers[j] + costs[j])
        measures = ("absolute", "relative", "total", "relative", "total")
        for step, measure, value in zip(WATERFALL_STEPS, measures, values, strict=True):
            rows.append({"jurisdiction": jid, "name": names[jid],
                         "step": message(f"charts.step.{step}", lang), "measure": measure,
                         "amount": float(value)})
    return pd.DataFrame(rows)


def waterfall_figure(data: pd.DataFrame, jurisdiction: str, lang: Lang = "zh") -> go.Figure:
    """The waterfall of one jurisdiction from :func:`waterfall`."""
    part = data[data["jurisdiction"] == jurisdiction]
    trace = {"type": "waterfall", "x": part["step"].tolist(), "y": part["amount"].to_numpy(),
             "measure": part["measure"].tolist(), "texttemplate": "%{y:,.0f}",
             "textposition": "outside", "decreasing": {"marker": {"color": "#d62728"}},
             "increasing": {"marker": {"color": "#2ca02c"}},
             "totals": {"marker": {"color": "#1f77b4"}}}
    name = part["name"].iloc[0] if len(part) else jurisdiction
    return _figure([trace], message("charts.waterfall", lang, name=name),
                   yaxis=_axis(_money_axis(lang), tickformat=",.0f"))


# ---------------------------------------------------------------------------------------------
# Transfers: who pays whom (Sankey)


def transfers(res: Result, year: int | None = None, lang: Lang = "zh") -> pd.DataFrame:
    """``from, to, from_name, to_name, amount``: revenue collected (and retained) in ``from``
    that ends with ``to`` after the agreements, in ``year`` or, with ``year=None``, in
    present value over all years. ``from == to`` is what a host keeps. Fixed-return
    payments go from the payer to the beneficiary (split in proportion when there are
    several), central subsidies from ``central``. Amounts are netted per pair, so a refund
    (a negative amount) reduces its pair; a pair whose net is not positive is left out: a
    Sankey shows what moves, the summary shows the totals."""
    flows = res.flows
    weight = pd.Series(res.model.discount, index=res.years)
    if year is not None:
        flows = flows[flows["year"] == year]
        factor = pd.Series(1.0, index=flows.index)
    else:
        factor = flows["year"].map(weight)
    amount = flows["amount"] * factor
    hosts = res.flows.loc[res.flows["kind"] == "collected"].drop_duplicates("stream") \
        .set_index("stream")["jurisdiction"]
    parts = []
    allocated = flows["kind"] == "allocated"
    parts.append(pd.DataFrame({"from": flows.loc[allocated, "stream"].map(hosts),
                               "to": flows.loc[allocated, "jurisdiction"],
                               "amount": amount[allocated]}))
    subsidy = flows["kind"] == "subsidy"
    parts.append(pd.DataFrame({"from": "central", "to": flows.loc[subsidy, "jurisdiction"],
                               "amount": amount[subsidy]}))
    paid = flows["kind"] == "transfer"
    for _, group in pd.DataFrame({"key": flows.loc[paid, "stream"] + "|"
                                  + flows.loc[paid, "year"].astype(str),
                                  "who": flows.loc[paid, "jurisdiction"],
                                  "amount": amount[paid]}).groupby("key"):
        payers, payees = group[group["amount"] < 0], group[group["amount"] > 0]
        total = payees["amount"].sum()
        for _, p in payers.iterrows():
            for _, b in payees.iterrows():
                parts.append(pd.DataFrame({"from": [p["who"]], "to": [b["who"]],
                                           "amount": [-p["amount"] * b["amount"] / total]}))
    data = pd.concat(parts, ignore_index=True)
    data = data.groupby(["from", "to"], sort=False, as_index=False)["amount"].sum()
    data = data[data["amount"] > 0].reset_index(drop=True)
    names = {**_names(res, lang), "central": message("charts.central", lang)}
    data.insert(2, "from_name", data["from"].map(names))
    data.insert(3, "to_name", data["to"].map(names))
    return data


def transfers_sankey(data: pd.DataFrame, year: int | None = None,
                     lang: Lang = "zh") -> go.Figure:
    """Sankey of :func:`transfers`: collecting jurisdictions on the left, receivers right."""
    left = list(dict.fromkeys(data["from"]))
    right = list(dict.fromkeys(data["to"]))
    names = {**dict(zip(data["from"], data["from_name"], strict=True)),
             **dict(zip(data["to"], data["to_name"], strict=True))}
    labels = [message("charts.collected_in", lang, name=names[k]) if k != "central"
              else names[k] for k in left]
    labels += [message("charts.received_by", lang, name=names[k]) for k in right]
    nodes = [*left, *right]
    colour = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(nodes))}
    trace = {
        "type": "sankey", "valueformat": ",.2f", "textfont": {"color": "#1f1f1f", "size": 13},
        "node": {"label": labels, "pad": 24, "color": [colour[k] for k in nodes]},
        "link": {"source": [left.index(f) for f in data["from"]],
                 "target": [len(left) + right.index(t) for t in data["to"]],
                 "value": data["amount"].tolist(),
                 "color": [_faint(colour[f]) for f in data["from"]]}}
    when = (message("charts.transfers_pv", lang) if year is None
            else message("charts.transfers_year", lang, year=year))
    return _figure([trace], message("charts.transfers", lang, when=when))


def by_tax(res: Result) -> pd.DataFrame:
    """``year, jurisdiction, tax, collected, retained, allocated``: per year and tax, what
    each jurisdiction collects and keeps as host, and what it receives after the
    agreements (万元, nominal)."""
    flows = res.flows[res.flows["kind"].isin(["collected", "retained", "allocated"])
                      & (res.flows["tax"] != "")]
    table = flows.pivot_table(index=["year", "jurisdiction", "tax"], columns="kind",
                              values="amount", aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=["collected", "retained", "allocated"], fill_value=0.0)
    return table.reset_index().rename_axis(columns=None)


# ---------------------------------------------------------------------------------------------
# Statistics split (统计分算): indicators, not money


def statistics_by_year(res: Result, lang: Lang = "zh") -> pd.DataFrame:
    """``year, jurisdiction, name, agreement, indicator, amount`` from
    :attr:`Result.statistics` (units of the indicator, not money)."""
    data = res.statistics.copy()
    data.insert(2, "name", data["jurisdiction"].map(_names(res, lang)))
    return data


def statistics_bars(data: pd.DataFrame, indicator: str, indicator_name: str,
                    lang: Lang = "zh") -> go.Figure:
    part = data[data["indicator"] == indicator]
    traces = [{"type": "bar", "x": g["year"].to_numpy(), "y": g["amount"].to_numpy(),
               "name": name} for name, g in part.groupby("name", sort=False)]
    return _figure(traces, message("charts.statistics", lang, indicator=indicator_name),
                   barmode="stack", xaxis=_axis(_label("year", lang), dtick=1),
                   yaxis=_axis(indicator_name, tickformat=",.0f"))


# ---------------------------------------------------------------------------------------------
# Scenarios compared


def comparison(results: Mapping[str, Result], baseline: str | None = None,
               lang: Lang = "zh") -> pd.DataFrame:
    """:func:`sharing.result.compare_long` with the jurisdiction's name in ``lang``:
    ``metric, jurisdiction, name, scenario, value, difference``."""
    data = compare_long(results, baseline)
    if lang == "en":
        data["name"] = data["name_en"].where(data["name_en"] != "", data["name"])
    return data.drop(columns=["name_en"])


def comparison_bars(data: pd.DataFrame, metric: str, lang: Lang = "zh",
                    difference: str | None = None) -> go.Figure:
    """Grouped bars of one metric of :func:`comparison`, a bar per scenario and
    jurisdiction; with ``difference`` (the baseline's name) the differences from it."""
    if metric not in COMPARE_METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(COMPARE_METRICS)}")
    part = data[data["metric"] == metric]
    column = "value"
    if difference is not None:
        part, column = part[part["scenario"] != difference], "difference"
    traces = [{"type": "bar", "x": g["name"].tolist(), "y": g[column].to_numpy(),
               "name": scenario, "texttemplate": "%{y:,.0f}", "textposition": "outside"}
              for scenario, g in part.groupby("scenario", sort=False)]
    title = (message("charts.compare", lang, metric=_label(metric, lang)) if difference is None
             else message("charts.difference", lang, metric=_label(metric, lang),
                          baseline=difference))
    return _figure(traces, title, barmode="group",
                   yaxis=_axis(_money_axis(lang), tickformat=",.0f"))



# ---------------------------------------------------------------------------------------------
# Fair split: coalition values, solution concepts side by side, the core check

FAIR_SOLUTIONS = ("current", "shapley", "nucleolus", "scrb", "proportional")

CHART_LABELS.update({
    "solution": ("分配方案", "split"),
    "members": ("成员", "members"),
    "size": ("成员数", "size"),
    "payoff": ("现行收益之和", "current payoffs"),
    "excess": ("超额 v(S)−x(S)", "excess v(S)−x(S)"),
    "in_core": ("在核心内", "in the core"),
    "blocking": ("阻挡联盟", "blocking coalition"),
    "current": ("现行方案", "current split"),
    "shapley": ("沙普利值", "Shapley value"),
    "nucleolus": ("核仁", "nucleolus"),
    "scrb": ("可分离费用剩余效益法", "SCRB"),
    "proportional": ("按单干价值比例", "proportional split"),
    "optimized": ("优化份额", "optimized share"),
    "stage": ("阶段", "stage"),
    "draw": ("抽样", "draw"),
    "parameter": ("参数", "parameter"),
    "pair": ("支付方→收款方", "payer → payee"),
})

define({
    "charts.fair_bars": ("各分配方案的合作收益（现值，较单干）",
                         "Gain over going alone under each split (PV)"),
    "charts.gain_axis": ("合作收益（万元）", "gain (10,000 CNY)"),
    "charts.shares": ("优化份额与现行份额", "Optimized and current shares"),
    "charts.share_axis": ("份额", "share"),
    "charts.fan": ("{name}：分享后收入的分布（按年）", "{name}: allocated revenue by year, spread"),
    "charts.fan.band90": ("5%–95%", "5%–95%"),
    "charts.fan.band50": ("25%–75%", "25%–75%"),
    "charts.fan.median": ("中位数", "median"),
    "charts.gains_hist": ("合作收益的分布（各次抽样，现值）",
                          "Distribution of the gain over going alone (draws, PV)"),
    "charts.count": ("抽样次数", "draws"),
    "charts.tornado": ("{name}：净收益现值对各参数的敏感性",
                       "{name}: sensitivity of the PV net benefit"),
    "charts.tornado.low": ("参数取低值", "parameter low"),
    "charts.tornado.high": ("参数取高值", "parameter high"),
    "charts.tornado.axis": ("与基准之差（万元）", "change from the base (10,000 CNY)"),
    "charts.arrears": ("年末欠款（按支付方与年份）", "Arrears at year end (by payer and year)"),
})


def _people(sc, ids, lang: Lang) -> str:
    names = {j.id: (j.name if lang == "zh" else j.name_en) or j.id for j in sc.jurisdictions}
    return ("、" if lang == "zh" else ", ").join(names[i] for i in ids)


def _game(res: Result):
    from sharing import games

    return games.Game.from_scenario(res.scenario)


def coalition_values(res: Result, lang: Lang = "zh") -> pd.DataFrame:
    """``coalition, members, size, value, payoff, excess``: the worth ``v(S)`` of every
    coalition (:meth:`sharing.games.Game.from_scenario`, PV 万元), the current payoffs of its
    members summed (``x(S)``, the summary's ``pv_net_benefit``) and the excess
    ``v(S) − x(S)``: a positive excess means S would do better on its own (it blocks)."""
    game = _game(res)
    frame = game.to_frame()
    pv = dict(zip(res.summary["jurisdiction"], res.summary["pv_net_benefit"], strict=True))
    ids = [c.split("+") for c in frame["coalition"]]
    payoff = [sum(pv[j] for j in members) for members in ids]
    return pd.DataFrame({"coalition": frame["coalition"],
                         "members": [_people(res.scenario, m, lang) for m in ids],
                         "size": [len(m) for m in ids], "value": frame["value"],
                         "payoff": payoff, "excess": frame["value"] - payoff})


def fair_split(res: Result, lang: Lang = "zh") -> pd.DataFrame:
    """``jurisdiction, name, standalone_pv, current, shapley, nucleolus, scrb,
    proportional``: each jurisdiction's PV net benefit under the current agreements and
    under the Shapley value, nucleolus, SCRB and the split of ``v(N)`` in proportion to the
    stand-alone values (:mod:`sharing.games`, on ``Game.from_scenario``); NaN where a
    solution does not exist."""
    from sharing import games

    game = _game(res)
    summary = res.summary.set_index("jurisdiction")
    out = pd.DataFrame({"jurisdiction": list(game.players)})
    out["name"] = out["jurisdiction"].map(_names(res, lang))
    out["standalone_pv"] = [game[(p,)] for p in game.players]
    out["current"] = summary.loc[list(game.players), "pv_net_benefit"].to_numpy()
    solvers = {"shapley": games.shapley, "nucleolus": games.nucleolus, "scrb": games.scrb,
               "proportional": games.proportional}
    for key, solve in solvers.items():
        try:
            x = solve(game)
            out[key] = [x[p] for p in game.players]
        except games.GameError:
            out[key] = float("nan")
    return out


def core_check(res: Result, lang: Lang = "zh") -> pd.DataFrame:
    """``solution, in_core, blocking, excess`` for each split of :func:`fair_split`: whether
    it is in the core (:func:`sharing.games.core_violation`) and, if not, the coalition with
    the largest excess (the one that blocks it) and by how much (万元)."""
    from sharing import games

    game = _game(res)
    table = fair_split(res, lang)
    rows = []
    for key in FAIR_SOLUTIONS:
        if table[key].isna().any():
            continue
        found = games.core_violation(game, dict(zip(table["jurisdiction"], table[key],
                                                    strict=True)))
        blocked = found is not None and found.coalition is not None
        members = [p for p in game.players if blocked and p in found.coalition]
        rows.append({"solution": key, "in_core": found is None,
                     "blocking": _people(res.scenario, members, lang) if blocked else "",
                     "excess": found.amount if blocked else 0.0})
    return pd.DataFrame(rows, columns=["solution", "in_core", "blocking", "excess"])


def fair_bars(data: pd.DataFrame, lang: Lang = "zh") -> go.Figure:
    """Grouped bars of :func:`fair_split`: each split's gain over going alone, a group per
    jurisdiction."""
    traces = [{"type": "bar", "x": data["name"].to_numpy(),
               "y": (data[key] - data["standalone_pv"]).to_numpy(), "name": _label(key, lang),
               "texttemplate": "%{y:,.0f}", "textposition": "outside"}
              for key in FAIR_SOLUTIONS if key in data.columns]
    return _figure(traces, message("charts.fair_bars", lang), barmode="group",
                   yaxis=_axis(message("charts.gain_axis", lang), tickformat=",.0f"))


def shares_bars(shares: pd.DataFrame, scenario, lang: Lang = "zh") -> go.Figure:
    """Optimized against current shares (``OptimizationResult.shares``): a bar pair per
    jurisdiction and decided split (agreement, rule path, stage)."""
    names = {j.id: (j.name if lang == "zh" else j.name_en) or j.id
             for j in scenario.jurisdictions}
    x = [f"{names.get(r.jurisdiction, r.jurisdiction)}<br>{r.path} {r.stage_start}–"
         f"{r.stage_end}" for r in shares.itertuples()]
    traces = [{"type": "bar", "x": x, "y": shares[column].to_numpy(dtype=float),
               "name": _label(key, lang), "texttemplate": "%{y:.1%}",
               "textposition": "outside"}
              for column, key in (("current_share", "current"), ("share", "optimized"))]
    return _figure(traces, message("charts.shares", lang), barmode="group",
                   yaxis=_axis(message("charts.share_axis", lang), tickformat=".0%",
                               range=[0, 1.1]))


# ---------------------------------------------------------------------------------------------
# Risk: fan charts, distribution of gains, tornado


def fan(paths: pd.DataFrame, jurisdiction: str, name: str, lang: Lang = "zh") -> go.Figure:
    """A fan chart of one jurisdiction from ``MonteCarloResult.paths`` (``year,
    jurisdiction, p5 … p95``): the 5–95% and 25–75% bands and the median."""
    part = paths[paths["jurisdiction"] == jurisdiction]
    years = part["year"].to_numpy()
    traces = []
    for lo, hi, band, alpha in (("p5", "p95", "band90", 0.15), ("p25", "p75", "band50", 0.3)):
        traces.append({"type": "scatter", "x": years, "y": part[hi].to_numpy(),
                       "mode": "lines", "line": {"width": 0}, "showlegend": False,
                       "hoverinfo": "skip"})
        traces.append({"type": "scatter", "x": years, "y": part[lo].to_numpy(),
                       "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
                       "fillcolor": _faint(PALETTE[0], alpha),
                       "name": message(f"charts.fan.{band}", lang),
                       "hovertemplate": "%{x}: %{y:,.2f}"})
    traces.append({"type": "scatter", "x": years, "y": part["p50"].to_numpy(),
                   "mode": "lines", "line": {"color": PALETTE[0]},
                   "name": message("charts.fan.median", lang),
                   "hovertemplate": "%{x}: %{y:,.2f}"})
    return _figure(traces, message("charts.fan", lang, name=name),
                   xaxis=_axis(_label("year", lang), dtick=1),
                   yaxis=_axis(_money_axis(lang), tickformat=",.0f"))


def gains_histogram(draws: pd.DataFrame, names: Mapping[str, str],
                    lang: Lang = "zh") -> go.Figure:
    """Overlaid histograms of ``gain`` per jurisdiction from ``MonteCarloResult.draws``;
    a dashed line at 0 (left of it: worse off than going alone)."""
    traces = [{"type": "histogram", "x": g["gain"].to_numpy(), "name": names.get(j, j),
               "opacity": 0.6, "nbinsx": 40}
              for j, g in draws.groupby("jurisdiction", sort=False)]
    zero = {"type": "line", "x0": 0, "x1": 0, "xref": "x", "y0": 0, "y1": 1,
            "yref": "paper", "line": {"dash": "dash", "color": PALETTE[3]}}
    return _figure(traces, message("charts.gains_hist", lang), barmode="overlay",
                   shapes=[zero],
                   xaxis=_axis(message("charts.gain_axis", lang), tickformat=",.0f"),
                   yaxis=_axis(message("charts.count", lang)))


def tornado(table: pd.DataFrame, jurisdiction: str, name: str, lang: Lang = "zh",
            labels: Mapping[str, str] | None = None) -> go.Figure:
    """A tornado of one jurisdiction from ``SensitivityResult.table``: for each parameter
    (largest swing on top; named by ``labels`` when given, else by its key path) the change
    of the PV net benefit from its base at the parameter's low and high value."""
    part = table[table["jurisdiction"] == jurisdiction].sort_values("swing")
    names = part["parameter"].map(lambda p: (labels or {}).get(p, p)).to_numpy()
    traces = [{"type": "bar", "y": names, "x": (part[end] - part["pv_base"]).to_numpy(),
               "orientation": "h", "name": message(f"charts.tornado.{end}", lang),
               "hovertemplate": "%{x:,.2f}"} for end in ("low", "high")]
    return _figure(traces, message("charts.tornado", lang, name=name), barmode="overlay",
                   height=max(300, 40 * len(part) + 120),
                   xaxis=_axis(message("charts.tornado.axis", lang), tickformat=",.0f"))


# ---------------------------------------------------------------------------------------------
# Settlement: arrears


def arrears_by_year(ledger, lang: Lang = "zh") -> pd.DataFrame:
    """``year, payer, payee, pair, arrears_end``: what each payer still owes its payee at the
    end of each settled year (``Ledger.ledger``, 万元)."""
    sc = ledger.scenario
    names = {j.id: (j.name if lang == "zh" else j.name_en) or j.id for j in sc.jurisdictions}
    data = ledger.ledger[["year", "payer", "payee", "arrears_end"]].copy()
    data.insert(3, "pair", data["payer"].map(names) + " → " + data["payee"].map(names))
    return data.reset_index(drop=True)


def arrears_bars(data: pd.DataFrame, lang: Lang = "zh") -> go.Figure:
    """Grouped bars of :func:`arrears_by_year`: a bar per payer → payee pair and year."""
    traces = [{"type": "bar", "x": g["year"].to_numpy(), "y": g["arrears_end"].to_numpy(),
               "name": pair, "texttemplate": "%{y:,.2f}", "textposition": "outside"}
              for pair, g in data.groupby("pair", sort=False)]
    return _figure(traces, message("charts.arrears", lang), barmode="group", showlegend=True,
                   xaxis=_axis(_label("year", lang), dtick=1),
                   yaxis=_axis(_money_axis(lang), tickformat=",.2f"))
