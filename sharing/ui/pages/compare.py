"""6 · 比较 Compare: two or more scenarios or variants side by side — a table, grouped bars,
the differences against a baseline the user picks, and what changed in the rules."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from sharing import charts
from sharing.diff import MISSING, changes
from sharing.i18n import MESSAGES, define
from sharing.io import compare_table
from sharing.result import COMPARE_METRICS, compare
from sharing.ui import workspace
from sharing.ui.text import label, lang, money_columns, pick, t
from sharing.ui.widgets import (
    chart,
    choice,
    compare_snippet_code,
    download_csv,
    show_problems,
)
from sharing.ui.words import in_words

CURRENT = "current"
BUILTIN = "builtin:"
COMPARISON_CASE = "gaozhu_fixed_5050"  # the default scenario's 50:50 comparison case

define({
    "ui.compare.pick": ("对比哪些情景（至少两个）", "Scenarios to compare (two or more)"),
    "ui.compare.current": ("当前情景", "current scenario"),
    "ui.compare.current_edited": ("当前情景（已修改）", "current scenario (edited)"),
    "ui.compare.variant": ("方案：{name}", "variant: {name}"),
    "ui.compare.builtin": ("内置：{name}", "built-in: {name}"),
    "ui.compare.need_two": ("请至少选择两个情景；在协议页修改后“另存为方案”即可加入对比",
                            "Pick at least two; on the Agreements page, edit and “save as "
                            "variant” to add one"),
    "ui.compare.baseline": ("基准", "Baseline"),
    "ui.compare.scenario": ("情景", "scenario"),
    "ui.compare.metric": ("指标", "Metric"),
    "ui.compare.table": ("对比表（万元）", "Side by side (10,000 CNY)"),
    "ui.compare.bars": ("分组柱状图", "Grouped bars"),
    "ui.compare.differences": ("与基准之差", "Differences from the baseline"),
    "ui.compare.changed": ("改动了什么（相对基准）", "What changed (against the baseline)"),
    "ui.compare.no_changes": ("{name} 与基准的规则和参数相同", "{name} has the baseline's rules "
                              "and parameters"),
    "ui.compare.what": ("项目", "item"),
    "ui.compare.before": ("基准", "baseline"),
    "ui.compare.after": ("此情景", "this one"),
    "ui.compare.failed": ("{name} 无法计算：", "{name} cannot be computed:"),
    "ui.file.compare": ("情景对比", "comparison"),
    "ui.file.compare_metric": ("情景对比_{metric}", "comparison_{metric}"),
})


def _choices(ws: workspace.Workspace) -> dict[str, str]:
    """Option -> its label: the current scenario, the saved variants, the built-ins."""
    options = {CURRENT: t("compare.current_edited") if ws.edits else t("compare.current")}
    options.update({f"variant:{name}": t("compare.variant", name=name) for name in ws.variants})
    titles = workspace.builtin_titles()
    options.update({BUILTIN + name: t("compare.builtin", name=pick(*titles[name]))
                    for name in titles})
    return options


def _variant(ws: workspace.Workspace, option: str) -> workspace.Variant:
    if option == CURRENT:
        return ws.current_variant()
    if option.startswith("variant:"):
        return ws.variants[option.removeprefix("variant:")]
    name = option.removeprefix(BUILTIN)
    return workspace.Variant(workspace.Origin("builtin", name), (),
                             workspace.load_builtin(name))


def _text(value: Any, path: str = "") -> str:
    if value == MISSING:
        return value
    if path.endswith(".type") and f"ui.rule.{value}" in MESSAGES:
        return t(f"rule.{value}")  # rule types in words, as the editor names them
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def what_changed(base: workspace.Variant, others: dict[str, workspace.Variant]) -> None:
    st.subheader(t("compare.changed"))
    for name, v in others.items():
        diff = changes(base.scenario, v.scenario)
        with st.expander(name, expanded=len(others) == 1):
            if diff.empty:
                st.caption(t("compare.no_changes", name=name))
                continue
            words = [in_words(v.scenario if after != MISSING else base.scenario, path)
                     for path, after in zip(diff["path"], diff["after"], strict=True)]
            table = pd.DataFrame({
                t("compare.what"): words,
                t("compare.before"): [_text(v, p) for p, v in zip(diff["path"], diff["before"],
                                                                  strict=True)],
                t("compare.after"): [_text(v, p) for p, v in zip(diff["path"], diff["after"],
                                                                 strict=True)]})
            st.dataframe(table, hide_index=True, width="stretch")


def render() -> None:
    ws = workspace.get()
    st.title(t("page.compare"))
    if ws.refused:
        st.warning(t("stale"))
    options = _choices(ws)
    default = [CURRENT, *(k for k in options if k.startswith("variant:"))]
    if len(default) < 2 and ws.origin == workspace.Origin("builtin", "gaozhu"):
        default.append(BUILTIN + COMPARISON_CASE)  # a first look needs no set-up
    picked = choice(t("compare.pick"), list(options), "compare_pick", options, default=default,
                    multiple=True)
    if len(picked) < 2:
        st.info(t("compare.need_two"))
        return
    variants = {options[k]: _variant(ws, k) for k in picked}
    results = {}
    for name, v in variants.items():
        try:
            results[name] = workspace.simulate(v.key, v.scenario)
        except Exception as err:  # one scenario that fails must not end the page
            st.error(t("compare.failed", name=name))
            show_problems(getattr(err, "items", [str(err)]))
    if len(results) < 2:
        return
    names = list(results)
    left, right = st.columns(2)
    ids = [k for k in picked if options[k] in results]
    baseline = options[choice(t("compare.baseline"), ids, "compare_baseline", options,
                              container=left)]
    metric_names = {m: label(m) for m in COMPARE_METRICS}
    metric = choice(t("compare.metric"), COMPARE_METRICS, "compare_metric", metric_names,
                    default="pv_net_benefit", container=right)
    data = charts.comparison(results, baseline, lang())
    part = data[data["metric"] == metric].reset_index(drop=True)
    imports = ["from sharing import charts"]
    code = compare_snippet_code({n: variants[n] for n in names},
                                f"charts.comparison(results, {baseline!r}, {lang()!r})"
                                f'.query("metric == {metric!r}").reset_index(drop=True)',
                                imports)

    st.subheader(t("compare.table"))
    # scenarios as rows (their names are long), jurisdictions as columns, then differences
    values = part.pivot_table(index="scenario", columns="name", values="value", sort=False)
    diff = part[part["scenario"] != baseline].pivot_table(
        index="scenario", columns="name", values="difference", sort=False)
    wide = pd.concat([values.loc[names], diff.rename(index=lambda n: f"Δ {n} − {baseline}")])
    wide = wide.rename_axis(index=t("compare.scenario"), columns=None)
    st.dataframe(wide, width="stretch", column_config=money_columns(list(wide.columns)))
    full = compare_table(compare(results, baseline), lang())
    download_csv(full, t("file.compare"), key="compare_csv")

    st.subheader(t("compare.bars"))
    chart(charts.comparison_bars(data, metric, lang()), part,
          t("file.compare_metric", metric=metric_names[metric]), "compare_bars", ws, "",
          code=code)
    st.subheader(t("compare.differences"))
    chart(charts.comparison_bars(data, metric, lang(), difference=baseline), part,
          t("file.compare_metric", metric=metric_names[metric]), "compare_differences", ws,
          "", code=code)
    what_changed(variants[baseline], {n: v for n, v in variants.items() if n != baseline})
