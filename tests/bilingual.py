"""Checking that a problem reads right in both languages (中文 and English)."""

from __future__ import annotations

import sharing


def says(err: sharing.ScenarioError, zh: str, en: str, *place: str) -> None:
    """One problem of ``err`` reads ``zh`` in 中文 and ``en`` in English, and its place
    (file, line, key path, sheet ...) in English holds every fragment of ``place``."""
    for item in err.items:
        if zh in item.text("zh") and en in item.text("en") and \
                all(fragment in item.text("en") for fragment in place):
            return
    shown = "\n".join(f"{p.text('zh')}\n{p.text('en')}" for p in err.items)
    raise AssertionError(f"no problem reads {zh!r} / {en!r} at {place}:\n{shown}")
