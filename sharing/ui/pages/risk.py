"""风险 Risk (a placeholder: the page is being built; see issue 10)."""

import streamlit as st


def render() -> None:
    st.info("风险 / Risk: 建设中 / under construction")
