"""Streamlit entry point: ``make run`` (``streamlit run app.py``). The app is sharing.ui."""

from sharing.ui import main

main()
