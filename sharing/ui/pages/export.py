"""导出 Export (a placeholder: the page is being built; see issue 10)."""

import streamlit as st


def render() -> None:
    st.info("导出 / Export: 建设中 / under construction")
