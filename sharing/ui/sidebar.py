"""The sidebar under the page list: the scenario picker (titles, not file names) and uploads."""

from __future__ import annotations

import streamlit as st

from sharing.i18n import define
from sharing.scenario import ScenarioError
from sharing.ui import upload, workspace
from sharing.ui.text import pick, t
from sharing.ui.widgets import show_problems

PICK_KEY = "sidebar_scenario"
UPLOAD_KEY = "sidebar_upload"
DONE_KEY = "sidebar_upload_done"

define({
    "ui.sidebar.builtin": ("内置情景", "Built-in scenarios"),
    "ui.sidebar.current": ("当前：{name}", "Current: {name}"),
    "ui.sidebar.upload": ("上传情景或企业名单", "Upload a scenario or a firm list"),
    "ui.sidebar.upload_help": (
        "情景 YAML、情景工作簿（import-xlsx 格式）或企业名单 CSV（UTF-8 或 GBK），不超过 "
        "{mb} MB；企业名单加入当前情景",
        "A scenario YAML, a scenario workbook (import-xlsx format) or a firm list CSV "
        "(UTF-8 or GBK), at most {mb} MB; firms are added to the current scenario"),
    "ui.sidebar.loaded": ("已载入 {name}", "Loaded {name}"),
    "ui.sidebar.firms_added": ("已加入 {n} 家企业", "Added {n} firm(s)"),
})


def _pick_builtin() -> None:
    name = st.session_state[PICK_KEY]
    workspace.get().load(workspace.Origin("builtin", name), workspace.load_builtin(name))


def scenario_picker(ws: workspace.Workspace) -> None:
    titles = workspace.builtin_titles()
    st.session_state.setdefault(PICK_KEY, workspace.DEFAULT_SCENARIO)
    choice = st.sidebar.selectbox(t("sidebar.builtin"), list(titles), key=PICK_KEY,
                                  format_func=lambda name: titles[name][0],
                                  on_change=_pick_builtin)
    st.sidebar.caption(titles[choice][1])
    if ws.origin.kind != "builtin" or ws.origin.name != choice:
        st.sidebar.info(t("sidebar.current", name=pick(ws.base.name, ws.base.name_en)))


def uploader(ws: workspace.Workspace) -> None:
    with st.sidebar.expander(t("sidebar.upload")):
        file = st.file_uploader(t("sidebar.upload"), type=["yaml", "yml", "xlsx", "csv"],
                                key=UPLOAD_KEY, label_visibility="collapsed",
                                help=t("sidebar.upload_help", mb=upload.MAX_BYTES // 2**20))
        st.caption(t("sidebar.upload_help", mb=upload.MAX_BYTES // 2**20))
        if file is None:
            return
        data = file.getvalue()
        done = (file.name, file.size, file.file_id)
        if st.session_state.get(DONE_KEY) != done:
            st.session_state[DONE_KEY] = done
            read(ws, file.name, data)
        show_problems(ws.problems.get("upload", []))


def read(ws: workspace.Workspace, name: str, data: bytes) -> None:
    """Load an uploaded scenario, or add an uploaded firm list to the current scenario;
    problems are kept under ``ws.problems["upload"]``, the session goes on."""
    try:
        got = upload.read_upload(name, data, set(ws.scenario.jurisdiction_ids))
    except ScenarioError as err:
        ws.problems["upload"] = list(err.items)
        return
    ws.problems.pop("upload", None)
    if got.scenario is not None:
        ws.load(got.origin, got.scenario)
        st.toast(t("sidebar.loaded", name=got.origin.name))
        return
    firms = [*(f.model_dump(exclude_none=True) for f in ws.scenario.firms),
             *(f.model_dump(exclude_none=True) for f in got.firms)]
    if ws.edit({"firms": firms}, field="upload"):
        st.toast(t("sidebar.firms_added", n=len(got.firms)))


def render() -> None:
    ws = workspace.get()
    scenario_picker(ws)
    uploader(ws)
    st.sidebar.caption(t("app_title"))
