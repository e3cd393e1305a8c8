"""2 · 协议 Agreements: the editor. Pick a rule from the library and fill its parameters; edit
shares, stages, contributions, costs and tax projections in tables; save the result as a
variant, reset it, download it as YAML or a workbook.

Every widget shows the current scenario's value and, when changed, sends a key-path edit to
``ws.edit`` (validated by ``Scenario.replace``, the schema a file goes through). A refused
edit leaves the user's input in the widget with its problems under it, and the numbers at the
top stay the last valid ones.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from sharing.i18n import Problem, define
from sharing.io import dump_scenario, export_scenario_xlsx
from sharing.rules import PRESETS, ROLES, Capped, Claims, Factors, FixedReturn, Floor
from sharing.rules import Fixed as FixedRule
from sharing.scenario import Agreement, Scenario
from sharing.taxes import TAX_NAMES
from sharing.ui import workspace
from sharing.ui.text import jurisdiction_names, lang, money, pick, t
from sharing.ui.widgets import (
    choice,
    edit_table,
    field_problems,
    file_name,
    number,
    send,
    show_problems,
)
from sharing.ui.words import word

MAX_FIRMS = 200  # rows in the firms table; a longer list is edited as a CSV
RULE_TYPES = ("host", "fixed", "factors", "stock_increment", "schedule", "capped", "floor",
              "tiered", "fixed_return", "claims")

define({
    "ui.agreements.numbers": ("当前结果（现值，万元）", "Current results (PV, 10,000 CNY)"),
    "ui.agreements.agreement": ("协议", "Agreement"),
    "ui.agreements.no_agreements": ("此情景没有协议：每个税源留在征收地",
                                    "This scenario has no agreement: every stream stays "
                                    "with its host"),
    "ui.agreements.tab_rule": ("分享规则", "Sharing rule"),
    "ui.agreements.tab_contributions": ("投入要素", "Contributions"),
    "ui.agreements.tab_costs": ("成本", "Costs"),
    "ui.agreements.tab_taxes": ("税收预测", "Tax projections"),
    "ui.agreements.tab_general": ("贴现与履约", "Discounting and compliance"),
    "ui.agreements.rule_type": ("规则类型", "Rule type"),
    "ui.agreements.rule_at": ("{where}的规则", "Rule of {where}"),
    "ui.agreements.shares": ("份额（合计为 1）", "Shares (sum to 1)"),
    "ui.agreements.share_of": ("{name} 的份额", "Share of {name}"),
    "ui.agreements.weights": ("要素权重（合计为 1）", "Factor weights (sum to 1)"),
    "ui.agreements.preset": ("预设公式", "Preset formula"),
    "ui.agreements.no_preset": ("（自定义权重）", "(own weights)"),
    "ui.agreements.base_year": ("存量基期", "Stock base year"),
    "ui.agreements.stages": ("阶段（年份与份额）", "Stages (years and shares)"),
    "ui.agreements.stages_other": ("有阶段使用非固定比例规则：请在下方 YAML 中编辑",
                                   "A stage uses a rule other than a fixed ratio: edit it in "
                                   "the YAML below"),
    "ui.agreements.bands": ("分档（上限与份额，最后一档不设上限）",
                            "Bands (upper limit and shares; the last band has no limit)"),
    "ui.agreements.beneficiary": ("受益方", "Beneficiary"),
    "ui.agreements.payer": ("支付方", "Payer"),
    "ui.agreements.share": ("分享比例", "Share"),
    "ui.agreements.max_years": ("分享年限", "Years of sharing"),
    "ui.agreements.cap": ("上限（万元，0 = 不设）", "Cap (10,000 CNY; 0 = none)"),
    "ui.agreements.minimum": ("每年保底（万元）", "Yearly minimum (10,000 CNY)"),
    "ui.agreements.from_year": ("起始年", "From year"),
    "ui.agreements.rate": ("年回报率", "Yearly rate"),
    "ui.agreements.capital": ("投入资本（万元）", "Capital invested (10,000 CNY)"),
    "ui.agreements.method": ("分配方法", "Method"),
    "ui.agreements.claims": ("诉求额（万元）", "Claims (10,000 CNY)"),
    "ui.agreements.yaml": ("以 YAML 编辑此规则（与情景文件同一格式）",
                           "Edit this rule as YAML (the scenario file's format)"),
    "ui.agreements.apply": ("应用", "Apply"),
    "ui.agreements.bad_yaml": ("不是有效的 YAML：{error}", "not valid YAML: {error}"),
    "ui.agreements.compliance": ("履约率（实际支付的比例）", "Compliance (share actually paid)"),
    "ui.agreements.discount_rate": ("贴现率", "Discount rate"),
    "ui.agreements.contributions_of": ("{owner} 的投入要素", "Contributions to {owner}"),
    "ui.agreements.no_contributions": ("此情景没有投入要素", "This scenario has no contributions"),
    "ui.agreements.costs_by_year": ("各项成本分年金额（万元）", "Each cost by year (10,000 CNY)"),
    "ui.agreements.no_costs": ("此情景没有成本项", "This scenario has no costs"),
    "ui.agreements.projections": ("税收预测（基数为毛税额，万元）",
                                  "Tax projections (base = gross tax, 10,000 CNY)"),
    "ui.agreements.no_projections": ("此情景没有按基数与增速预测的税源",
                                     "This scenario has no streams projected by base and growth"),
    "ui.agreements.variant_name": ("方案名称", "Variant name"),
    "ui.agreements.save_variant": ("另存为方案", "Save as variant"),
    "ui.agreements.saved": ("已保存方案「{name}」，可在比较页对比",
                            "Saved variant “{name}”: compare it on the Compare page"),
    "ui.agreements.reset": ("重置为原始情景", "Reset to the scenario as loaded"),
    "ui.agreements.download_yaml": ("下载情景 YAML", "Download scenario YAML"),
    "ui.agreements.download_xlsx": ("下载情景 Excel", "Download scenario Excel"),
    "ui.agreements.edits": ("已修改：", "Edits:"),
    "ui.col.jurisdiction": ("辖区或角色", "jurisdiction or role"),
    "ui.col.share": ("份额", "share"),
    "ui.col.factor": ("要素", "factor"),
    "ui.col.weight": ("权重", "weight"),
    "ui.col.from": ("起年", "from"),
    "ui.col.to": ("止年", "to"),
    "ui.col.upto": ("本档上限", "up to"),
    "ui.col.claim": ("诉求额", "claim"),
    "ui.col.year": ("年份", "year"),
    "ui.col.where": ("税源", "stream"),
    "ui.col.tax": ("税种", "tax"),
    "ui.col.base": ("基数", "base"),
    "ui.col.base_year": ("基年", "base year"),
    "ui.col.growth": ("年增速", "growth"),
    "ui.col.firm": ("企业", "firm"),
    "ui.col.move_year": ("迁移年份", "move year"),
    "ui.col.pre_move": ("迁移前{tax}（万元/年）", "pre-move {tax} (10,000 CNY a year)"),
    "ui.agreements.firms": ("迁移企业（显示 {n} / {total} 家；长名单请改 CSV 后上传）",
                            "Migrated firms ({n} of {total} shown; edit long lists in their "
                            "CSV and upload it)"),
    "ui.rule.host": ("不分享（归征收地）", "host keeps all"),
    "ui.rule.fixed": ("固定比例", "fixed ratio"),
    "ui.rule.factors": ("要素公式", "factor formula"),
    "ui.rule.stock_increment": ("存量各自、增量分成", "stock stays, increment shared"),
    "ui.rule.schedule": ("分阶段", "staged"),
    "ui.rule.capped": ("限期限额（迁移企业）", "time-limited, capped (relocated firms)"),
    "ui.rule.floor": ("保底", "yearly floor"),
    "ui.rule.tiered": ("分档", "tiered"),
    "ui.rule.fixed_return": ("固定回报", "fixed return on capital"),
    "ui.rule.claims": ("按诉求分配", "claims division"),
    "ui.rule.optimized": ("优化结果", "optimized"),
})


# ---------------------------------------------------------------------------------------------
# Sending edits


def _on_value(path: str, key: str, convert: Callable[[Any], Any] = lambda v: v) -> None:
    send(lambda: {path: convert(st.session_state[key])}, field=path)


def value_input(ws: workspace.Workspace, kind: str, label: str, path: str, value: Any,
                **options: Any) -> None:
    """A number input, slider or selectbox bound to ``path``; its problems under it."""
    key = ws.widget_key(path)
    widget = {"number": st.number_input, "slider": st.slider, "select": st.selectbox}[kind]
    convert = options.pop("convert", lambda v: v)
    if kind == "select":
        options.setdefault("index", options["options"].index(value)
                           if value in options["options"] else 0)
    else:
        options["value"] = value
    widget(label, key=key, on_change=_on_value, args=(path, key, convert), **options)
    field_problems(ws, path)


# ---------------------------------------------------------------------------------------------
# Rules


def parties(sc: Scenario, ag: Agreement) -> list[str]:
    """The jurisdictions an agreement is between: its park's partners, or everybody."""
    parks = ag.covers.listed("park") or ()
    found = [p for park in sc.parks if park.id in parks for p in park.partners]
    return list(dict.fromkeys(found)) or sc.jurisdiction_ids


def _equal(keys: list[str]) -> dict[str, float]:
    n = len(keys)
    shares = {k: round(1 / n, 6) for k in keys}
    shares[keys[-1]] = round(1 - sum(round(1 / n, 6) for _ in keys[:-1]), 6)
    return shares


def rule_changes(kind: str, sc: Scenario, ag: Agreement, path: str) -> dict[str, Any]:
    """The edits that put a rule of type ``kind`` at ``path``: its starting point, and for a
    factor formula without contributions of its own, a copy of the scenario's first
    contributions to start from."""
    changes: dict[str, Any] = {path: default_rule(kind, sc, ag)}
    if kind == "factors" and ag.id not in sc.contributions and sc.contributions:
        changes[f"contributions.{ag.id}"] = next(iter(sc.contributions.values()))
    return changes


def default_rule(kind: str, sc: Scenario, ag: Agreement) -> dict[str, Any]:
    """A starting point for a rule of type ``kind`` between the agreement's parties."""
    who = parties(sc, ag)
    start, end = sc.years.start, sc.years.end
    equal = {"type": "fixed", "shares": _equal(who)}
    factors = list(sc.contributions.get(ag.id) or next(iter(sc.contributions.values()), {})) \
        or ["capital"]
    mid = (start + end) // 2
    return {
        "host": {"type": "host"},
        "fixed": equal,
        "factors": {"type": "factors", "weights": _equal(factors)},
        "stock_increment": {"type": "stock_increment", "base_year": start,
                            "stock": {"type": "host"}, "increment": equal},
        "schedule": {"type": "schedule",
                     "stages": [{"years": [start, mid], "rule": equal},
                                {"years": [mid + 1, end], "rule": equal}]},
        "capped": {"type": "capped", "share": 0.5, "max_years": 3},
        "floor": {"type": "floor", "beneficiary": who[0], "minimum": 0.0,
                  "rule": {"type": "host"}},
        "tiered": {"type": "tiered", "bands": [{"shares": _equal(who)}]},
        "fixed_return": {"type": "fixed_return", "payer": who[0], "beneficiary": who[-1],
                         "rate": 0.1, "capital": 0.0},
        "claims": {"type": "claims", "method": "proportional",
                   "claims": {j: 1.0 for j in who}},
    }[kind]


def shares_editor(ws: workspace.Workspace, path: str, shares: dict[str, float],
                  choices: list[str]) -> None:
    """Shares in a table; with two parties also a slider for the first one's share."""
    names = jurisdiction_names(ws.scenario)
    keys = list(shares)
    if len(keys) == 2:
        a, b = keys
        value_input(ws, "slider", t("agreements.share_of", name=names.get(a, a)),
                    f"{path}.shares", float(shares[a]), min_value=0.0, max_value=1.0,
                    step=0.01, convert=lambda v, a=a, b=b: {a: v, b: round(1 - v, 12)},
                    help=t("agreements.shares"))
    df = pd.DataFrame({"jurisdiction": keys, "share": [float(v) for v in shares.values()]})

    def changes(new: pd.DataFrame) -> dict:
        return {f"{path}.shares": {str(r.jurisdiction): number(r.share, t("col.share"), i)
                                   for i, r in enumerate(new.itertuples())
                                   if isinstance(r.jurisdiction, str) and r.jurisdiction}}

    st.caption(t("agreements.shares"))
    edit_table(ws, f"{path}.shares#table", df, changes, num_rows="dynamic", column_config={
        "jurisdiction": st.column_config.SelectboxColumn(
            t("col.jurisdiction"), options=choices, required=True),
        "share": st.column_config.NumberColumn(t("col.share"), format="%.4f", step=0.01)})


def _stages_table(ws: workspace.Workspace, path: str, stages: list[tuple[tuple[int, int],
                  dict[str, float]]], kind: str) -> None:
    keys = list(dict.fromkeys(k for _, shares in stages for k in shares))
    df = pd.DataFrame([{"from": y[0], "to": y[1], **{k: float(s.get(k, 0.0)) for k in keys}}
                       for y, s in stages])

    def changes(new: pd.DataFrame) -> dict:
        out = []
        for i, r in enumerate(new.to_dict("records")):
            years = [number(r.get("from"), t("col.from"), i),
                     number(r.get("to"), t("col.to"), i)]
            shares = {k: number(r.get(k), k, i) for k in keys}
            shares = {k: v for k, v in shares.items() if v}
            years = [int(y) if y is not None else None for y in years]
            out.append({"years": years, "rule": {"type": "fixed", "shares": shares}}
                       if kind == "schedule" else {"years": years, "shares": shares})
        return {f"{path}.stages": out}

    st.caption(t("agreements.stages"))
    names = jurisdiction_names(ws.scenario)
    edit_table(ws, f"{path}.stages#table", df, changes, num_rows="dynamic", column_config={
        "from": st.column_config.NumberColumn(t("col.from"), format="%d", step=1),
        "to": st.column_config.NumberColumn(t("col.to"), format="%d", step=1),
        **{k: st.column_config.NumberColumn(names.get(k, k), format="%.4f", step=0.01)
           for k in keys}})


def rule_form(ws: workspace.Workspace, ag: Agreement, rule: Any, path: str,
              depth: int = 0) -> None:
    """The form of one rule at ``path`` (nested rules get their own forms)."""
    sc = ws.scenario
    choices = [*sc.jurisdiction_ids, *ROLES]
    kinds = list(RULE_TYPES) + ([rule.type] if rule.type not in RULE_TYPES else [])
    key = ws.widget_key(f"{path}.type")
    kind_names = {k: t(f"rule.{k}") for k in kinds}  # format_funcs run outside the page
    st.selectbox(t("agreements.rule_type"), kinds, index=kinds.index(rule.type), key=key,
                 format_func=kind_names.get, on_change=send,
                 args=(lambda: rule_changes(st.session_state[key], ws.scenario, ag, path),
                       f"{path}.type"))
    field_problems(ws, f"{path}.type")
    names = jurisdiction_names(sc)
    if isinstance(rule, FixedRule):
        shares_editor(ws, path, dict(rule.shares), choices)
    elif isinstance(rule, Factors):
        presets = [None, *(k for k, p in PRESETS.items() if p.rule == "factors")]
        preset_names = {k: t("agreements.no_preset") if k is None else
                        pick(PRESETS[k].name, PRESETS[k].name_en) for k in presets}
        value_input(ws, "select", t("agreements.preset"), f"{path}.preset", rule.preset,
                    options=presets, format_func=preset_names.get)
        if rule.preset is None:
            df = pd.DataFrame({"factor": list(rule.weights),
                               "weight": [float(w) for w in rule.weights.values()]})
            st.caption(t("agreements.weights"))
            edit_table(ws, f"{path}.weights#table", df, lambda new: {f"{path}.weights": {
                str(r.factor): number(r.weight, t("col.weight"), i)
                for i, r in enumerate(new.itertuples()) if isinstance(r.factor, str)}},
                num_rows="dynamic", column_config={
                    "factor": st.column_config.TextColumn(t("col.factor"), required=True),
                    "weight": st.column_config.NumberColumn(t("col.weight"), format="%.4f")})
        else:
            st.caption(PRESETS[rule.preset].reference)
    elif rule.type == "stock_increment":
        value_input(ws, "number", t("agreements.base_year"), f"{path}.base_year",
                    int(rule.base_year), step=1, format="%d")
        for part in ("stock", "increment"):
            with st.container(border=True):
                st.markdown(f"**{word(part)}**")
                rule_form(ws, ag, getattr(rule, part), f"{path}.{part}", depth + 1)
    elif rule.type == "schedule":
        if all(isinstance(s.rule, FixedRule) for s in rule.stages):
            _stages_table(ws, path, [(s.years, dict(s.rule.shares)) for s in rule.stages],
                          "schedule")
        else:
            st.info(t("agreements.stages_other"))
    elif rule.type == "optimized":
        _stages_table(ws, path, [(s.years, dict(s.shares)) for s in rule.stages],
                      "optimized")
    elif isinstance(rule, Capped):
        value_input(ws, "select", t("agreements.beneficiary"), f"{path}.beneficiary",
                    rule.beneficiary, options=choices, format_func=lambda k: names.get(k, k))
        value_input(ws, "number", t("agreements.share"), f"{path}.share", float(rule.share),
                    min_value=0.0, max_value=1.0, step=0.05)
        value_input(ws, "number", t("agreements.max_years"), f"{path}.max_years",
                    int(rule.max_years), step=1, min_value=1)
        if rule.cap is None or isinstance(rule.cap, float | int):
            value_input(ws, "number", t("agreements.cap"), f"{path}.cap",
                        float(rule.cap or 0.0), min_value=0.0, step=100.0,
                        convert=lambda v: v or None)
    elif isinstance(rule, Floor):
        value_input(ws, "select", t("agreements.beneficiary"), f"{path}.beneficiary",
                    rule.beneficiary, options=sc.jurisdiction_ids,
                    format_func=lambda k: names.get(k, k))
        value_input(ws, "number", t("agreements.minimum"), f"{path}.minimum",
                    float(rule.minimum), min_value=0.0, step=100.0)
        with st.container(border=True):
            rule_form(ws, ag, rule.rule, f"{path}.rule", depth + 1)
    elif rule.type == "tiered":
        keys = list(dict.fromkeys(k for b in rule.bands for k in b.shares))
        df = pd.DataFrame([{"upto": b.upto, **{k: float(b.shares.get(k, 0.0)) for k in keys}}
                           for b in rule.bands])

        def bands(new: pd.DataFrame) -> dict:
            out = []
            for i, r in enumerate(new.to_dict("records")):
                shares = {k: number(r.get(k), k, i) for k in keys}
                out.append({"upto": number(r.get("upto"), t("col.upto"), i),
                            "shares": {k: v for k, v in shares.items() if v}})
            return {f"{path}.bands": out}

        st.caption(t("agreements.bands"))
        edit_table(ws, f"{path}.bands#table", df, bands, num_rows="dynamic", column_config={
            "upto": st.column_config.NumberColumn(t("col.upto"), format="%.2f"),
            **{k: st.column_config.NumberColumn(names.get(k, k), format="%.4f") for k in keys}})
    elif isinstance(rule, FixedReturn):
        for part in ("payer", "beneficiary"):
            value_input(ws, "select", t(f"agreements.{part}"), f"{path}.{part}",
                        getattr(rule, part), options=sc.jurisdiction_ids,
                        format_func=lambda k: names.get(k, k))
        value_input(ws, "number", t("agreements.rate"), f"{path}.rate", float(rule.rate),
                    min_value=0.0, max_value=1.0, step=0.01)
        if isinstance(rule.capital, float | int):
            value_input(ws, "number", t("agreements.capital"), f"{path}.capital",
                        float(rule.capital), min_value=0.0, step=100.0)
    elif isinstance(rule, Claims):
        value_input(ws, "select", t("agreements.method"), f"{path}.method", rule.method,
                    options=["proportional", "cea", "cel", "talmud"])
        df = pd.DataFrame({"jurisdiction": list(rule.claims),
                           "claim": [float(v) for v in rule.claims.values()]})
        edit_table(ws, f"{path}.claims#table", df, lambda new: {f"{path}.claims": {
            str(r.jurisdiction): number(r.claim, t("col.claim"), i)
            for i, r in enumerate(new.itertuples()) if isinstance(r.jurisdiction, str)}},
            num_rows="dynamic", column_config={
                "jurisdiction": st.column_config.SelectboxColumn(
                    t("col.jurisdiction"), options=sc.jurisdiction_ids, required=True),
                "claim": st.column_config.NumberColumn(t("col.claim"), format="%.2f")})
    if depth == 0:
        yaml_editor(ws, rule, path)


def _on_yaml(path: str, key: str) -> None:
    text = st.session_state[key]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        workspace.get().problems[key] = [Problem(
            "ui.agreements.bad_yaml", {"error": getattr(err, "problem", None) or str(err)},
            where="YAML", line=line)]
        return
    send(lambda: {path: data}, field=key)


def yaml_editor(ws: workspace.Workspace, rule: Any, path: str) -> None:
    """The rule as YAML, for what the forms do not cover."""
    with st.expander(t("agreements.yaml")):
        key = ws.widget_key(f"{path}#yaml")
        text = yaml.safe_dump(rule.model_dump(mode="json", exclude_none=True),
                              allow_unicode=True, sort_keys=False)
        st.text_area("YAML", text, key=key, height=200, label_visibility="collapsed")
        st.button(t("agreements.apply"), key=f"{key}#apply", on_click=_on_yaml,
                  args=(path, key))
        field_problems(ws, key)


# ---------------------------------------------------------------------------------------------
# Contributions, costs, tax projections, discounting


def contributions_editor(ws: workspace.Workspace) -> None:
    sc = ws.scenario
    if not sc.contributions:
        st.caption(t("agreements.no_contributions"))
        return
    owners = {x.id: pick(x.name, x.name_en) or x.id for x in (*sc.agreements, *sc.costs)}
    names = jurisdiction_names(sc)
    for owner, factors in sc.contributions.items():
        st.markdown(f"**{t('agreements.contributions_of', owner=owners.get(owner, owner))}**")
        ids = list(dict.fromkeys(j for values in factors.values() for j in values))
        df = pd.DataFrame([{"factor": f, **{j: float(v.get(j, 0.0)) for j in ids}}
                           for f, v in factors.items()])

        def changes(new: pd.DataFrame, owner: str = owner, ids: list[str] = ids) -> dict:
            return {f"contributions.{owner}": {
                str(r["factor"]): {j: number(r.get(j), names.get(j, j), i) for j in ids}
                for i, r in enumerate(new.to_dict("records")) if r.get("factor")}}

        edit_table(ws, f"contributions.{owner}#table", df, changes, num_rows="dynamic",
              column_config={"factor": st.column_config.TextColumn(t("col.factor")),
                             **{j: st.column_config.NumberColumn(names.get(j, j),
                                                                 format="%.2f")
                                for j in ids}})


def costs_editor(ws: workspace.Workspace) -> None:
    sc = ws.scenario
    if not sc.costs:
        st.caption(t("agreements.no_costs"))
        return
    st.caption(t("agreements.costs_by_year"))
    years = list(range(sc.years.start, sc.years.end + 1))
    df = pd.DataFrame({"year": years, **{c.id: [float(c.by_year.get(y, 0.0)) for y in years]
                                         for c in sc.costs}})

    def changes(new: pd.DataFrame) -> dict:
        out = {}
        for c in sc.costs:
            amounts = {int(y): number(v, c.id, i)
                       for i, (y, v) in enumerate(zip(new["year"], new[c.id], strict=True))}
            if amounts != {y: float(c.by_year.get(y, 0.0)) for y in years}:
                out[f"costs.{c.id}.by_year"] = {y: v for y, v in amounts.items() if v != 0.0}
        return out

    edit_table(ws, "costs#table", df, changes, disabled=["year"], column_config={
        "year": st.column_config.NumberColumn(t("col.year"), format="%d"),
        **{c.id: st.column_config.NumberColumn(pick(c.name, c.name_en) or c.id, format="%.2f")
           for c in sc.costs}})


def projections(sc: Scenario) -> pd.DataFrame:
    """Every tax projected from a base and growth: its key path and parameters."""
    rows = []
    names = jurisdiction_names(sc)
    for park in sc.parks:
        for i, site in enumerate(park.sites):
            for tax, spec in site.taxes.items():
                if spec.base is not None:
                    rows.append({"path": f"parks.{park.id}.sites[{i}].taxes.{tax}",
                                 "where": f"{pick(park.name, park.name_en) or park.id} · "
                                          f"{names.get(site.host, site.host)}",
                                 "tax": tax, "base": spec.base, "base_year": spec.base_year,
                                 "growth": spec.growth})
    for firm in sc.firms:  # transferred projects (招商引资项目异地流转) have projections
        for tax, spec in (firm.taxes or {}).items():
            if spec.base is not None:
                rows.append({"path": f"firms.{firm.id}.taxes.{tax}",
                             "where": pick(firm.name, firm.name_en) or firm.id, "tax": tax,
                             "base": spec.base, "base_year": spec.base_year,
                             "growth": spec.growth})
    for stream in sc.streams:
        if stream.base is not None:
            rows.append({"path": f"streams.{stream.id}", "where": stream.id, "tax": stream.tax,
                         "base": stream.base, "base_year": stream.base_year,
                         "growth": stream.growth})
    return pd.DataFrame(rows, columns=["path", "where", "tax", "base", "base_year", "growth"])


def projections_editor(ws: workspace.Workspace) -> None:
    df = projections(ws.scenario)
    if df.empty:
        st.caption(t("agreements.no_projections"))
        return
    st.caption(t("agreements.projections"))
    shown = df.drop(columns=["path"]).assign(
        tax=df["tax"].map(lambda k: TAX_NAMES.get(k, (k, k))[0 if lang() == "zh" else 1]))

    def changes(new: pd.DataFrame) -> dict:
        out = {}
        for i, (path, old, r) in enumerate(zip(df["path"], df.to_dict("records"),
                                               new.to_dict("records"), strict=True)):
            for col in ("base", "base_year", "growth"):
                value = number(r[col], t(f"col.{col}"), i)
                if col == "base_year" and value is not None:
                    value = int(value)
                same = (value is None and pd.isna(old[col])) or value == old[col]
                if not same:
                    out[f"{path}.{col}"] = value
        return out

    edit_table(ws, "projections#table", shown, changes, disabled=["where", "tax"], column_config={
        "where": st.column_config.TextColumn(t("col.where")),
        "tax": st.column_config.TextColumn(t("col.tax")),
        "base": st.column_config.NumberColumn(t("col.base"), format="%.2f"),
        "base_year": st.column_config.NumberColumn(t("col.base_year"), format="%d"),
        "growth": st.column_config.NumberColumn(t("col.growth"), format="%.4f", step=0.01)})


def firms_editor(ws: workspace.Workspace) -> None:
    """Migrated firms: move year, growth and pre-move taxes (the first MAX_FIRMS of them;
    long lists are edited in their CSV and uploaded)."""
    firms = [f for f in ws.scenario.firms if f.pre_move is not None]
    if not firms:
        return
    st.caption(t("agreements.firms", n=min(len(firms), MAX_FIRMS), total=len(firms)))
    firms = firms[:MAX_FIRMS]
    taxes = list(dict.fromkeys(tax for f in firms for tax in f.pre_move))
    df = pd.DataFrame([{"firm": pick(f.name, f.name_en) or f.id, "move_year": f.move_year,
                        "growth": f.growth,
                        **{tax: float(f.pre_move.get(tax, 0.0)) for tax in taxes}}
                       for f in firms])
    pick_lang = 0 if lang() == "zh" else 1

    def changes(new: pd.DataFrame) -> dict:
        out: dict[str, Any] = {}
        for i, (firm, old, r) in enumerate(zip(firms, df.to_dict("records"),
                                               new.to_dict("records"), strict=True)):
            year = number(r["move_year"], t("col.move_year"), i)
            if year != old["move_year"]:
                out[f"firms.{firm.id}.move_year"] = None if year is None else int(year)
            growth = number(r["growth"], t("col.growth"), i)
            if growth != old["growth"]:
                out[f"firms.{firm.id}.growth"] = growth
            pre_move = {tax: number(r[tax], tax, i) for tax in taxes}
            if pre_move != {tax: old[tax] for tax in taxes}:
                out[f"firms.{firm.id}.pre_move"] = {k: v for k, v in pre_move.items() if v}
        return out

    edit_table(ws, "firms#table", df, changes, disabled=["firm"], column_config={
        "firm": st.column_config.TextColumn(t("col.firm")),
        "move_year": st.column_config.NumberColumn(t("col.move_year"), format="%d"),
        "growth": st.column_config.NumberColumn(t("col.growth"), format="%.4f", step=0.01),
        **{tax: st.column_config.NumberColumn(
            t("col.pre_move", tax=TAX_NAMES.get(tax, (tax, tax))[pick_lang]), format="%.2f")
           for tax in taxes}})


# ---------------------------------------------------------------------------------------------
# The page


def numbers(ws: workspace.Workspace) -> None:
    res = ws.result
    if res is None:
        st.warning(t("no_result"))
        return
    st.markdown(f"**{t('agreements.numbers')}**")
    columns = st.columns(min(len(res.summary), 4))
    for i, row in enumerate(res.summary.itertuples()):
        with columns[i % len(columns)]:
            st.metric(pick(row.name, row.name_en), money(row.pv_net_benefit),
                      delta=money(row.gain), delta_color="normal")


def _save_variant(key: str) -> None:
    ws = workspace.get()
    name = (st.session_state.get(key) or "").strip() or t("agreements.variant_name") \
        + f" {len(ws.variants) + 1}"
    ws.save_variant(name)
    st.session_state["agreements_saved"] = name


def scenario_workbook(sc: Scenario) -> bytes:
    """The scenario as a workbook in the ``import-xlsx`` format."""
    book = io.BytesIO()
    export_scenario_xlsx(sc, book)
    return book.getvalue()


def actions(ws: workspace.Workspace) -> None:
    sc = ws.scenario
    left, middle, right = st.columns(3)
    with left:
        key = "agreements_variant_name"
        st.text_input(t("agreements.variant_name"), key=key,
                      placeholder=f"{t('agreements.variant_name')} {len(ws.variants) + 1}")
        st.button(t("agreements.save_variant"), on_click=_save_variant, args=(key,),
                  type="primary", key="agreements_save")
        saved = st.session_state.pop("agreements_saved", None)
        if saved:
            st.success(t("agreements.saved", name=saved))
    with middle:
        st.button(t("agreements.reset"), on_click=lambda: workspace.get().reset(),
                  disabled=not ws.edits and not ws.problems, key="agreements_reset")
        if ws.edits:
            st.caption(t("agreements.edits") + " " + ", ".join(f"`{p}`" for p in ws.edits))
    with right:
        stem = ws.origin.name.rsplit(".", 1)[0] + ("_edited" if ws.edits else "")
        st.download_button(t("agreements.download_yaml"),
                           lambda: dump_scenario(sc).encode("utf-8"),
                           file_name=file_name(stem, "yaml"), mime="application/x-yaml",
                           key="agreements_yaml", on_click="ignore")
        st.download_button(
            t("agreements.download_xlsx"), lambda: scenario_workbook(sc),
            file_name=file_name(stem, "xlsx"),
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key="agreements_xlsx", on_click="ignore")


def render() -> None:
    ws = workspace.get()
    sc = ws.scenario
    st.title(t("page.agreements"))
    st.caption(pick(sc.name, sc.name_en))
    if ws.refused:
        st.warning(t("stale"))
    show_problems(ws.problems.get("scenario", []))
    numbers(ws)
    tabs = st.tabs([t("agreements.tab_rule"), t("agreements.tab_contributions"),
                    t("agreements.tab_costs"), t("agreements.tab_taxes"),
                    t("agreements.tab_general")])
    with tabs[0]:
        if not sc.agreements:
            st.info(t("agreements.no_agreements"))
        else:
            ids = [ag.id for ag in sc.agreements]
            labels = {ag.id: pick(ag.name, ag.name_en) or ag.id for ag in sc.agreements}
            chosen = choice(t("agreements.agreement"), ids, "agreements_pick", labels) \
                if len(ids) > 1 else ids[0]
            ag = sc.agreements[ids.index(chosen)]
            if ag.reference:
                st.caption(ag.reference)
            rule_form(ws, ag, ag.rule, f"agreements.{ag.id}.rule")
    with tabs[1]:
        contributions_editor(ws)
    with tabs[2]:
        costs_editor(ws)
    with tabs[3]:
        projections_editor(ws)
        firms_editor(ws)
    with tabs[4]:
        value_input(ws, "number", t("agreements.discount_rate"), "discount_rate",
                    float(sc.discount_rate), min_value=0.0, max_value=1.0, step=0.005,
                    format="%.3f")
        for ag in sc.agreements:
            value_input(ws, "number", f"{t('agreements.compliance')} · "
                        f"{pick(ag.name, ag.name_en) or ag.id}",
                        f"agreements.{ag.id}.compliance", float(ag.compliance),
                        min_value=0.0, max_value=1.0, step=0.05)
    st.divider()
    actions(ws)
