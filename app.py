"""Streamlit entry point: ``make run`` (``streamlit run app.py``). The page is sharing.ui."""

from pathlib import Path

from sharing.ui import main

main(Path(__file__).parent / "scenarios")
