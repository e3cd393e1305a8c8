"""Decided shares written back into a scenario, in one place for the optimizer and the games.

Each decided split becomes an ``optimized`` rule at its path (``rule.increment``), with one
share vector per stage, rounded to 1e-6 so that they still sum to exactly 1 (largest
remainder), and its provenance kept structured: ``method`` (``optimize`` or the game solution),
``objective``, ``constraints`` and ``reference``. The agreement's title and reference, and the
scenario's name, say that the shares were replaced, so that nothing still claims the old rule
("存量各自、增量五五" on a nucleolus split would be misleading).

Two forms of the same edit:

- :func:`write_shares` returns the new :class:`~sharing.scenario.Scenario`;
- :func:`edit_yaml` rewrites the user's YAML text in place: only the decided rules and the
  provenance values change; comments, key order, flow style, quoting and line breaks stay
  byte for byte. It finds each node's exact span with PyYAML's composer (nodes only, no
  objects) and splices new text there. A full round-trip dump (ruamel.yaml's, too) re-flows
  multi-line flow mappings, which every shipped scenario uses for its sources, so it would
  change lines the user never asked to change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sharing.rules import Optimized, RuleBase
from sharing.scenario import Scenario, firms_csv_path, read_bytes, read_text

SHARE_DECIMALS = 6
_SUFFIX_ZH = re.compile(r"（份额[^（）]*）$")
_SUFFIX_EN = re.compile(r" \(shares [^()]*\)$")
_FORMERLY = "；原依据 / formerly: "
_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


@dataclass(frozen=True)
class Provenance:
    """What produced the shares: ``method`` (``optimize`` or a game solution such as
    ``nucleolus``), a short bilingual label that starts with 份额 / shares (it is appended to
    titles), the optimizer's ``objective`` and ``constraints`` (as in its spec) and a
    one-line ``reference``."""

    method: str
    label_zh: str
    label_en: str
    reference: str
    objective: str | None = None
    constraints: dict[str, Any] | None = None


@dataclass(frozen=True)
class SharesWrite:
    """New shares for the ratio split at ``path`` of agreement ``position``, per stage."""

    position: int
    path: str
    stages: tuple[tuple[tuple[int, int], dict[str, float]], ...]


def round_shares(shares: Sequence[float] | np.ndarray) -> np.ndarray:
    """Shares rounded to 1e-6 that still sum to exactly 1 (largest remainder: floor every
    share to the unit, then give one unit to the largest remainders, ties to the first).
    A 2-D array is rounded row by row (each row a share vector)."""
    unit = 10**SHARE_DECIMALS
    scaled = np.clip(np.asarray(shares, dtype=float), 0.0, 1.0) * unit
    total = scaled.sum(axis=-1, keepdims=True)
    scaled *= np.where(total > 0, unit / np.where(total > 0, total, 1.0), 1.0)
    floor = np.floor(scaled + 1e-9)
    short = np.round(unit - floor.sum(axis=-1, keepdims=True))
    rank = np.argsort(np.argsort(-(scaled - floor), axis=-1, kind="stable"), axis=-1,
                      kind="stable")
    return (floor + (rank < short)) / unit


def optimized_rule(write: SharesWrite, provenance: Provenance) -> Optimized:
    return Optimized(
        stages=[{"years": years, "shares": dict(shares)} for years, shares in write.stages],
        method=provenance.method, objective=provenance.objective,
        constraints=provenance.constraints, reference=provenance.reference)


def write_shares(scenario: Scenario, writes: Sequence[SharesWrite],
                 provenance: Provenance) -> Scenario:
    """``scenario`` with each write's split replaced by an ``optimized`` rule and the titles
    and references updated."""
    agreements = list(scenario.agreements)
    rules = {}
    for write in writes:
        rule = rules.get(write.position, agreements[write.position].rule)
        rules[write.position] = _replace(rule, _tokens(write.path)[1:],
                                         optimized_rule(write, provenance))
    for position in sorted(rules):
        ag = agreements[position]
        agreements[position] = ag.model_copy(update={"rule": rules[position],
                                                     **_titles(ag, provenance)})
    return scenario.model_copy(update={"agreements": agreements,
                                       **_titles(scenario, provenance, reference=False)})


def _replace(rule: RuleBase, tokens: list, new: RuleBase) -> RuleBase:
    if not tokens:
        return new
    head, rest = tokens[0], tokens[1:]
    if head == "stages" and rest and isinstance(rest[0], int):
        stages = list(rule.stages)
        stage = stages[rest[0]]
        stages[rest[0]] = stage.model_copy(update={rest[1]: _replace(getattr(stage, rest[1]),
                                                                     rest[2:], new)})
        return rule.model_copy(update={"stages": stages})
    return rule.model_copy(update={head: _replace(getattr(rule, head), rest, new)})


def _tokens(path: str) -> list[str | int]:
    return [int(i) if i else k for k, i in _TOKEN.findall(path)]


def _titles(item, provenance: Provenance, reference: bool = True) -> dict[str, str]:
    out = {}
    if getattr(item, "name", None):
        out["name"] = f"{_SUFFIX_ZH.sub('', item.name)}（{provenance.label_zh}）"
    if getattr(item, "name_en", None):
        out["name_en"] = f"{_SUFFIX_EN.sub('', item.name_en)} ({provenance.label_en})"
    if reference:
        label = f"{provenance.label_zh} / {provenance.label_en}"
        old = item.reference or ""
        old = old.split(_FORMERLY, 1)[1] if _FORMERLY in old else old
        out["reference"] = f"{label}{_FORMERLY}{old}" if old else label
    return out


# ---------------------------------------------------------------------------------------------
# The user's YAML text, edited in place


def edit_yaml(text: str, scenario: Scenario, writes: Sequence[SharesWrite],
              provenance: Provenance, firms_csv: str | None = None) -> str:
    """The scenario file ``text`` (from which ``scenario`` was loaded) with the writes
    applied: each decided rule replaced by its ``optimized`` rule, the agreements' and the
    scenario's titles and references updated, and, when given, ``firms_csv`` set to a new
    relative path (a file written to another folder). Every other byte is kept."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    expected = write_shares(scenario, writes, provenance)
    edits: list[tuple[int, int, str]] = []
    agreements = _value(root, "agreements")
    for write in writes:
        parent, key, value = _locate(agreements.value[write.position], _tokens(write.path))
        rule = optimized_rule(write, provenance)
        if parent.flow_style:
            edits.append((value.start_mark.index, _end(value), _scalar(_as_data(rule))))
        else:
            edits.append(_block_edit(text, key, value, _render(rule)))
    for position in sorted({w.position for w in writes}):
        node = agreements.value[position]
        ag = expected.agreements[position]
        for name in ("name", "name_en", "reference"):
            edits.append(_scalar_edit(node, name, getattr(ag, name)))
    for name in ("name", "name_en"):
        edits.append(_scalar_edit(root, name, getattr(expected, name)))
    if firms_csv is not None:
        edits.append(_scalar_edit(root, "firms_csv", firms_csv))
    out = text
    for start, end, new in sorted((e for e in edits if e is not None), reverse=True):
        out = out[:start] + new + out[end:]
    check = Scenario.model_validate(yaml.safe_load(out))
    if (check.agreements, check.name, check.name_en) != (
            expected.agreements, expected.name, expected.name_en):
        raise RuntimeError("the edited YAML does not give the written-back scenario")
    return out


def write_file(source: str | Path, target: str | Path, scenario: Scenario,
               writes: Sequence[SharesWrite], provenance: Provenance) -> Path:
    """Write the scenario file ``source`` with the writes applied to ``target`` (see
    :func:`edit_yaml`). A ``firms_csv`` is copied next to a target in another folder, since
    a scenario reads CSV files only inside its own folder (:func:`sharing.scenario.firms_csv_path`);
    a different file of that name already there is kept, and the copy is named after the
    target (``t_firms.csv``)."""
    source, target = Path(source), Path(target)
    firms_csv = None
    target.parent.mkdir(parents=True, exist_ok=True)
    if scenario.firms_csv and source.resolve().parent != target.resolve().parent:
        original = firms_csv_path(scenario.firms_csv, source.parent)
        data = read_bytes(original)
        copy = target.parent / original.name
        if copy.exists() and read_bytes(copy) != data:
            copy = target.parent / f"{target.stem}_{original.name}"
        copy.write_bytes(data)
        firms_csv = copy.name
    text = edit_yaml(read_text(source), scenario, writes, provenance, firms_csv)
    target.write_text(text, encoding="utf-8")
    return target


def _value(mapping: yaml.MappingNode, key: str):
    for k, v in mapping.value:
        if k.value == key:
            return v
    return None


def _locate(node, tokens: list):
    """The mapping, key node and value node at ``tokens`` (``rule``, ``stages``, 1 ...)."""
    parent = key = None
    for token in tokens:
        if isinstance(token, int):
            node = node.value[token]
            continue
        parent = node
        key, node = next((k, v) for k, v in node.value if k.value == token)
    return parent, key, node


def _end(node) -> int:
    """Where a node's own text ends: the last character of its last scalar or of its
    closing bracket, never the comments and blank lines that follow a block collection."""
    if isinstance(node, yaml.ScalarNode) or node.flow_style:
        return node.end_mark.index
    children = [c for pair in node.value for c in pair] if isinstance(
        node, yaml.MappingNode) else list(node.value)
    return max((_end(c) for c in children), default=node.end_mark.index)


def _block_edit(text: str, key, value, lines: list[str]) -> tuple[int, int, str]:
    """Replace a mapping value by a block mapping (as ``lines``)."""
    start, end = value.start_mark.index, _end(value)
    block_value = isinstance(value, yaml.MappingNode) and not value.flow_style \
        and value.start_mark.line > key.start_mark.line
    if block_value:
        indent = " " * value.start_mark.column
        return start, end, ("\n" + indent).join(lines)
    indent = " " * (key.start_mark.column + 2)
    line_start = text.rfind("\n", 0, start) + 1
    return line_start + len(text[line_start:start].rstrip()), end, \
        "".join("\n" + indent + line for line in lines)


def _scalar_edit(mapping, key: str, value: str | None) -> tuple[int, int, str] | None:
    if value is None:
        return None
    node = _value(mapping, key)
    if node is not None:
        return node.start_mark.index, _end(node), _scalar(value)
    keys = [k for k, _ in mapping.value]
    if mapping.flow_style:
        at = mapping.end_mark.index - 1
        return at, at, f", {key}: {_scalar(value)}"
    at = _end(mapping)
    return at, at, "\n" + " " * keys[0].start_mark.column + f"{key}: {_scalar(value)}"


def _scalar(value: Any) -> str:
    """One value as YAML text on one line, quoted only where YAML needs it."""
    out = yaml.safe_dump(value, allow_unicode=True, width=1_000_000, default_flow_style=True,
                         sort_keys=False)
    return out.strip().removesuffix("\n...").removesuffix("...").strip()


def _as_data(rule: Optimized) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "optimized", "method": rule.method}
    for key in ("objective", "constraints", "reference"):
        if getattr(rule, key) is not None:
            data[key] = getattr(rule, key)
    data["stages"] = [{"years": list(s.years), "shares": dict(s.shares)} for s in rule.stages]
    return data


def _render(rule: Optimized) -> list[str]:
    lines = ["type: optimized", f"method: {_scalar(rule.method)}"]
    if rule.objective is not None:
        lines.append(f"objective: {_scalar(rule.objective)}")
    if rule.constraints is not None:
        lines.append(f"constraints: {_scalar(rule.constraints)}")
    if rule.reference is not None:
        lines.append(f"reference: {_scalar(rule.reference)}")
    lines.append("stages:")
    for stage in rule.stages:
        shares = ", ".join(f"{_scalar(k)}: {_share(v)}" for k, v in stage.shares.items())
        lines.append(f"  - {{years: [{stage.years[0]}, {stage.years[1]}], "
                     f"shares: {{{shares}}}}}")
    return lines


def _share(value: float) -> str:
    text = f"{value:.{SHARE_DECIMALS}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text
