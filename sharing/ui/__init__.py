"""Streamlit front door (the only package that imports Streamlit): ``app.py`` calls :func:`main`.

The UI never computes: it loads a scenario file, calls the library (cached on the file's path
and modification time), displays the result and offers every table behind a chart as CSV.
"""

from sharing.ui.page import main

__all__ = ["main"]
