"""Key paths in words: ``agreements[0].rule.base_year`` → 协议「高竹新区税收分享」· 规则 · 基期,
for the assumptions on the overview and the "what changed" list of a comparison."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from sharing.scenario import Scenario
from sharing.taxes import TAX_NAMES
from sharing.ui.text import lang

WORDS: dict[str, tuple[str, str]] = {
    "agreements": ("协议", "agreement"), "costs": ("成本", "cost"), "parks": ("园区", "park"),
    "firms": ("企业", "firm"), "streams": ("税源", "stream"),
    "jurisdictions": ("辖区", "jurisdiction"), "contributions": ("投入要素", "contributions"),
    "standalone": ("不合作时的收入比例", "standalone share"),
    "retention": ("留成比例", "retention"), "years": ("年份范围", "years"),
    "discount_rate": ("贴现率", "discount rate"), "rule": ("规则", "rule"),
    "base_year": ("基期", "base year"), "sites": ("片区", "sites"), "site": ("片区", "site"),
    "shares": ("份额", "shares"), "increment": ("增量", "increment"),
    "stock": ("存量", "stock"), "statistics": ("统计分算", "statistics split"),
    "settlement": ("结算方式", "settlement"), "compliance": ("履约率", "compliance"),
    "from_year": ("起始年", "from year"), "minimum": ("保底额", "minimum"),
    "payer": ("支付方", "payer"), "beneficiary": ("受益方", "beneficiary"),
    "capital": ("投入资本", "capital"), "end_subsidy": ("中央一次性补助", "central subsidy"),
    "claims": ("诉求额", "claims"), "baseline": ("基数", "baseline"),
    "by_year": ("分年金额", "amounts by year"), "base": ("基数", "base"),
    "growth": ("增速", "growth"), "taxes": ("税种", "taxes"), "stages": ("阶段", "stages"),
    "weights": ("权重", "weights"), "land_mu": ("土地（亩）", "land (mu)"),
    "area_km2": ("面积（平方公里）", "area (km²)"),
    "gdp_per_capita": ("人均 GDP", "GDP per capita"),
    "cap": ("上限", "cap"), "max_years": ("分享年限", "years of sharing"),
    "share": ("比例", "share"), "rate": ("回报率", "rate"),
    "pre_move": ("迁移前税收", "pre-move taxes"),
    "move_year": ("迁移年份", "move year"), "paid_by": ("出资方", "paid by"),
    "bands": ("分档", "bands"), "type": ("规则类型", "rule type"), "start": ("起", "start"),
    "end": ("止", "end"), "indexation": ("基数调整率", "indexation"),
    "reference": ("依据", "reference"), "method": ("方法", "method"),
    **TAX_NAMES,
}
_TOKEN = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")


def word(key: str) -> str:
    zh, en = WORDS.get(key, (key, key))
    return zh if lang() == "zh" else en


def _item_name(item: Any) -> str:
    zh, en = getattr(item, "name", None), getattr(item, "name_en", None)
    name = (zh or en) if lang() == "zh" else (en or zh)
    return name or str(getattr(item, "id", ""))


def in_words(sc: Scenario, path: str) -> str:
    """A key path as a reader says it, naming items by their names in the session's
    language (unknown keys are kept as they are)."""
    parts: list[str] = []
    node: Any = sc
    owners = {x.id: x for x in (*sc.agreements, *sc.costs, *sc.parks)}
    jurisdictions = {j.id: j for j in sc.jurisdictions}
    for index, key in _TOKEN.findall(path):
        if index:
            items = node if isinstance(node, tuple) else ()
            k = int(index)
            item = items[k] if -len(items) <= k < len(items) else None
            name = _item_name(item) if item is not None and hasattr(item, "id") else ""
            if item is not None and hasattr(item, "host"):  # a park's site
                name = _item_name(jurisdictions.get(item.host))
            parts[-1] = f"{parts[-1]}「{name or k + 1}」"
            node = item
            continue
        if isinstance(node, tuple) and any(getattr(x, "id", None) == key for x in node):
            item = next(x for x in node if getattr(x, "id", None) == key)
            parts[-1] = f"{parts[-1]}「{_item_name(item)}」"
            node = item
            continue
        if isinstance(node, BaseModel) and key in type(node).model_fields:
            parts.append(word(key))
            node = getattr(node, key)
        elif key in owners or key in jurisdictions:
            parts.append(_item_name(owners.get(key) or jurisdictions[key]))
            node = node.get(key) if hasattr(node, "get") else None
        else:
            parts.append(word(key))
            node = node.get(key) if hasattr(node, "get") else None
    return " · ".join(parts)
