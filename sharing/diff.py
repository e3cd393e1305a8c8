"""What changed between two scenarios, as key paths (the paths :meth:`Scenario.replace`
takes), rules first: the "what changed" list of a comparison.

Items of ``agreements``, ``costs``, ``parks``, ``firms``, ``streams`` and ``jurisdictions``
are matched by ``id`` (``agreements.gaozhu_revenue.rule.increment.shares.guangan``), so a
reordered list is not a change; other lists are compared by position.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sharing.rules import describe
from sharing.scenario import Scenario

_BY_ID = ("agreements", "costs", "parks", "firms", "streams", "jurisdictions")
_SKIP = ("sources", "assumptions", "description", "name", "name_en")
MISSING = "—"


def _flat(value: Any, prefix: str, out: dict[str, Any], by_id: bool = False) -> None:
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for k, v in value.items():
            _flat(v, f"{prefix}.{k}" if prefix else str(k), out, k in _BY_ID and not prefix)
    elif isinstance(value, list | tuple) and value and all(isinstance(v, dict) for v in value):
        for i, item in enumerate(value):
            name = f".{item['id']}" if by_id and "id" in item else f"[{i}]"
            _flat(item, prefix + name, out)
    else:
        out[prefix] = list(value) if isinstance(value, tuple) else value


def flatten(sc: Scenario) -> dict[str, Any]:
    """A scenario as ``{key path: value}`` (leaves only)."""
    data = sc.model_dump(mode="python", exclude_none=True)
    for key in _SKIP:
        data.pop(key, None)
    out: dict[str, Any] = {}
    _flat(data, "", out)
    return out


def _is_rule(path: str) -> bool:
    return ".rule" in path or path.startswith("agreements.")


def changes(before: Scenario, after: Scenario) -> pd.DataFrame:
    """``path, before, after``: every value that differs (``—`` where a path exists on one
    side only), rule changes first, then in path order; plus a ``rule`` row per agreement
    whose rule type tree changed (``stock_increment(host, fixed)`` → ``fixed``)."""
    a, b = flatten(before), flatten(after)
    rows = []
    rules_a = {ag.id: describe(ag.rule) for ag in before.agreements}
    rules_b = {ag.id: describe(ag.rule) for ag in after.agreements}
    for aid in dict.fromkeys([*rules_a, *rules_b]):
        if rules_a.get(aid) != rules_b.get(aid):
            rows.append((f"agreements.{aid}.rule", rules_a.get(aid, MISSING),
                         rules_b.get(aid, MISSING)))
    for path in sorted(set(a) | set(b), key=lambda p: (not _is_rule(p), p)):
        old, new = a.get(path, MISSING), b.get(path, MISSING)
        if old != new:
            rows.append((path, old, new))
    return pd.DataFrame(rows, columns=["path", "before", "after"])
