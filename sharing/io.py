"""Files in and out: safe CSV export (spreadsheet formulas neutralised, UTF-8 with BOM)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# A text cell starting with one of these is run as a formula by Excel and LibreOffice
# (CSV/formula injection); jurisdiction and firm names come from user files.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix a formula-looking text cell with an apostrophe so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell neutralised (numbers untouched)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as UTF-8 CSV with BOM (Excel on a Chinese Windows reads it)."""
    path = Path(path)
    safe_frame(df).to_csv(path, index=False, encoding="utf-8-sig")
    return path
