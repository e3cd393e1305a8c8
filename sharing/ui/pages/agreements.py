"""placeholder"""

import streamlit as st

from sharing.ui import workspace
from sharing.ui.text import t


def render() -> None:
    ws = workspace.get()
    st.title(t("page.agreements"))
    st.write(ws.scenario.name)
