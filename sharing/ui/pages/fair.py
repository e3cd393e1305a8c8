"""公平 Fair split (a placeholder: the page is being built; see issue 10)."""

import streamlit as st


def render() -> None:
    st.info("公平 / Fair split: 建设中 / under construction")
