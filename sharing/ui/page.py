"""The scenario page: pick a file in ``scenarios/``, see its summary and per-year chart.

A placeholder for the full editor: it shows the scenario's title (中文 / English), the summary
table with bilingual headers, a per-year chart of one metric drawn from a downloadable
DataFrame, and the scenario's sources and assumptions. A bad file shows its problems
(``file:line: key.path: problem``), never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

import sharing
from sharing.io import export_tables, safe_frame
from sharing.result import LABELS, Result

DEFAULT_SCENARIO = "gaozhu.yaml"
# Set to a folder of scenario files to browse that folder instead of the repository's.
SCENARIOS_ENV = "SHARING_SCENARIOS"
CHART_METRICS = ["net_benefit", "allocated", "retained", "collected", "net_transfer",
                 "cost_share", "unpaid"]


def label(column: str) -> str:
    """``征收额 / collected``: the bilingual header of a result column."""
    zh, en = LABELS.get(column, (column, column))
    return f"{zh} / {en}" if zh != en else en


def scenario_files(directory: Path) -> list[Path]:
    """The scenario files in ``directory`` and its subfolders, the default one first."""
    files = sorted(directory.rglob("*.yaml"))
    return sorted(files, key=lambda p: p.relative_to(directory).as_posix() != DEFAULT_SCENARIO)


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with BOM (Excel on a Chinese Windows reads it), formula cells neutralised,
    amounts to 0.01 万元 as in the command line's exports."""
    return safe_frame(df).to_csv(index=False, float_format="%.2f",
                                 lineterminator="\r\n").encode("utf-8-sig")


@st.cache_resource(max_entries=32, show_spinner="模拟中 / simulating ...")
def simulate_file(path: str, mtime_ns: int) -> Result:
    """Load and simulate a scenario file; ``mtime_ns`` is part of the cache key so that an
    edited file is read again. Raises :class:`sharing.ScenarioError`."""
    del mtime_ns
    return sharing.simulate_file(path)


@st.cache_data(max_entries=32, show_spinner=False)
def summary_csv(path: str, mtime_ns: int) -> bytes:
    """The summary as the command line exports it: rounded, with a reconciled total row."""
    return csv_bytes(export_tables(simulate_file(path, mtime_ns))["summary"])


def _modified(path: Path) -> int:
    """Newest change to the scenario or a CSV beside it (a `firms_csv` list), for the cache."""
    try:
        return max(p.stat().st_mtime_ns for p in [path, *path.parent.glob("*.csv")])
    except OSError:
        return 0


def _summary_table(res: Result) -> None:
    money = [label(c) for c in res.summary.columns
             if c not in ("jurisdiction", "name", "name_en")]
    shown = res.summary.rename(columns=label)
    st.table(shown.style.format("{:,.0f}", subset=money), hide_index=True)


def _chart(res: Result, stem: str) -> None:
    names = dict(zip(res.summary["jurisdiction"], res.summary["name"], strict=True))
    data = res.by_year.assign(name=res.by_year["jurisdiction"].map(names))
    metric = st.selectbox("逐年指标 / per-year metric", CHART_METRICS, format_func=label)
    fig = px.line(data, x="year", y=metric, color="name", markers=True,
                  labels={"year": label("year"), metric: f"{label(metric)} (万元)",
                          "name": label("name")})
    st.plotly_chart(fig, width="stretch")
    st.download_button("下载逐年数据 CSV / download per-year CSV", csv_bytes(data),
                       file_name=f"{stem}_by_year.csv", mime="text/csv")


def main(directory: str | Path = "scenarios") -> None:
    """Draw the page for the scenario files in ``directory`` (or ``$SHARING_SCENARIOS``)."""
    st.set_page_config(page_title="跨区域财税利益分享模拟器", layout="wide")
    directory = Path(os.environ.get(SCENARIOS_ENV) or directory)
    files = scenario_files(directory)
    if not files:
        st.error(f"{directory}: 没有情景文件 / no scenario files (*.yaml)")
        return
    path = st.sidebar.selectbox("情景文件 / scenario file", files,
                                format_func=lambda p: p.relative_to(directory).as_posix())
    st.sidebar.caption("跨区域财税利益分享模拟器 · cross-region fiscal benefit-sharing simulator")
    key = (str(path), _modified(path))
    try:
        res = simulate_file(*key)
    except sharing.ScenarioError as err:
        st.title(path.name)
        problems = "\n".join(err.problems)
        st.error(f"情景文件有误 / the scenario file has problems:\n\n```\n{problems}\n```")
        return
    except Exception as err:  # a bug in the library: say so plainly, keep the page alive
        st.title(path.name)
        st.error(f"内部错误 / internal error: {type(err).__name__}: {err}\n\n"
                 "请报告此问题 / please report this with the scenario file")
        return
    sc = res.scenario
    st.title(sc.name)
    st.subheader(sc.name_en)
    if sc.description:
        st.caption(sc.description)
    st.markdown("#### 汇总 / Summary (万元 / 10,000 CNY; `pv_` 现值 present value)")
    _summary_table(res)
    st.download_button("下载汇总 CSV / download summary CSV",
                       summary_csv(*key),
                       file_name=f"{path.stem}_summary.csv", mime="text/csv")
    st.markdown("#### 逐年 / By year")
    _chart(res, path.stem)
    if sc.sources:
        with st.expander("来源 / Sources"):
            for src in sc.sources:
                title = f"[{src.title}]({src.url})" if src.url else src.title
                st.markdown(f"- {title}" + (f" — {src.note}" if src.note else ""))
    if sc.assumptions:
        with st.expander("假设 / Assumptions"):
            for item in sc.assumptions:
                st.markdown(f"- `{item.path}`: {item.note}")
