"""What the app says, in the session's language: the ``ui.*`` messages of the shared catalogue
(:mod:`sharing.i18n`), the language switch, table headers and number formats.

``t("overview.title")`` is ``message("ui.overview.title", lang())``. Pages define their own
strings with ``define({"ui.<page>.<key>": ("中文", "English")})`` at import time, as every
library module does, so one catalogue serves the CLI, the exports and the app.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from sharing.i18n import LANGS, Lang, define, message
from sharing.io import VALUE_NAMES
from sharing.result import LABELS

LANG_KEY = "lang"
DEFAULT_LANG: Lang = "zh"

define({
    "ui.app_title": ("跨区域财税利益分享模拟器", "Cross-region fiscal benefit-sharing simulator"),
    "ui.language": ("语言", "Language"),
    "ui.page.overview": ("概览", "Overview"),
    "ui.page.agreements": ("协议", "Agreements"),
    "ui.page.flows": ("资金流", "Flows"),
    "ui.page.fair": ("公平", "Fair split"),
    "ui.page.risk": ("风险", "Risk"),
    "ui.page.compare": ("比较", "Compare"),
    "ui.page.export": ("导出", "Export"),
    "ui.scenario": ("情景", "Scenario"),
    "ui.edited": ("已修改 {n} 处（协议页可重置）", "{n} edit(s) (reset on the Agreements page)"),
    "ui.unit": ("单位：万元", "Unit: 10,000 CNY (万元)"),
    "ui.total": ("合计", "Total"),
    "ui.download_csv": ("下载 CSV", "Download CSV"),
    "ui.reproduce": ("用 Python 复现", "Reproduce in Python"),
    "ui.reproduce_help": ("粘贴到脚本中运行，得到与本页相同的数字",
                          "Paste into a script: it gives the numbers on this page"),
    "ui.no_result": ("还没有有效的结果：请修正下方的问题或换一个情景",
                     "No valid result yet: fix the problems below or pick another scenario"),
    "ui.stale": ("有修改未通过校验，下方仍是上一次有效的结果",
                 "An edit did not validate: the results below are the last valid ones"),
    "ui.problems": ("有问题：", "Problems:"),
    "ui.internal_error": ("内部错误：{error}；请连同情景文件报告此问题",
                          "internal error: {error}; please report this with the scenario file"),
    "ui.illustrative": ("示例数据", "illustrative"),
})

NUMBER_FORMAT = "{:,.2f}"
COLUMN_FORMAT = "%,.2f"  # the same in st.dataframe's column_config (sprintf-js)
SHARE_FORMAT = "{:.1%}"


def lang() -> Lang:
    """The session's language (``zh`` unless the user switched)."""
    value = st.session_state.get(LANG_KEY, DEFAULT_LANG)
    return value if value in LANGS else DEFAULT_LANG


def t(key: str, **params: Any) -> str:
    """The ``ui.<key>`` message in the session's language."""
    return message(f"ui.{key}", lang(), **params)


def language_switch() -> Lang:
    """The 中文 / English switch in the sidebar (default 中文); returns the language."""
    st.session_state.setdefault(LANG_KEY, DEFAULT_LANG)
    st.sidebar.radio("语言 / Language", LANGS, key=LANG_KEY, horizontal=True,
                     format_func=lambda code: {"zh": "中文", "en": "English"}[code])
    return lang()


def pick(zh: str | None, en: str | None) -> str:
    """A name in the session's language, the other one when it is missing."""
    first, second = (zh, en) if lang() == "zh" else (en, zh)
    return first or second or ""


def jurisdiction_names(sc) -> dict[str, str]:
    """Jurisdiction id -> its name in the session's language."""
    return {j.id: pick(j.name, j.name_en) for j in sc.jurisdictions}


def label(column: str) -> str:
    """A result column's header in the session's language (``collected`` → 征收额)."""
    zh, en = LABELS.get(column, (column, column))
    return zh if lang() == "zh" else en


def money(value: float) -> str:
    """An amount in 万元 with thousands separators and two decimals: ``12,345.67``."""
    return NUMBER_FORMAT.format(value)


def share(value: float) -> str:
    return SHARE_FORMAT.format(value)


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` for the screen: coded values (``vat``, ``allocated``) and headers in the
    session's language. The library's column names stay in the data the user downloads
    only when the language is English, as in the command line's exports."""
    pick_lang = 0 if lang() == "zh" else 1
    out = df.copy()
    for col, names in VALUE_NAMES.items():
        if col in out.columns:
            codes = out[col].astype(object)
            out[col] = codes.map({k: v[pick_lang] for k, v in names.items()}).fillna(codes)
    return out.rename(columns={c: label(c) for c in out.columns if c in LABELS})


def money_columns(columns: list[str]) -> dict[str, st.column_config.NumberColumn]:
    """``column_config`` showing ``columns`` as amounts: ``12,345.67``."""
    return {c: st.column_config.NumberColumn(c, format=COLUMN_FORMAT) for c in columns}
