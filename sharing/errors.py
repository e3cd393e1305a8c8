"""Pydantic's validation errors as catalogue problems (中文 and English), with "did you mean".

Pydantic reports each problem as a type (``missing``, ``extra_forbidden``, ``less_than_equal``,
...), a location and a context. :func:`problem_of` turns one into a
:class:`~sharing.i18n.Problem` by its type, so every field of every model (scenario,
optimizer spec) gets the same bilingual words without a message per field; a type not listed
here still gets a Chinese line around pydantic's English. A value above 1 where a share
(0–1) or a rate (a growth of at most 5) is expected, up to 100, is taken for a percentage and
said so.

:func:`valid_keys` finds the model behind a location by walking the models' annotations, so an
unknown key is answered with the closest valid keys of that very model.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from sharing.i18n import Problem, define, did_you_mean

define({
    "valid.missing": ("缺少必填的键", "required key is missing"),
    "valid.unknown_key": ("未知的键 {key!r}（请检查拼写；参见 docs/scenario-format.md）",
                          "unknown key {key!r} (check the spelling; see "
                          "docs/scenario-format.md)"),
    "valid.unknown_type": ("未知的类型 {tag!r}；可选：{valid}",
                           "unknown type {tag!r}; valid: {valid}"),
    "valid.no_type": ("缺少 `type`；可选：{valid}", "`type` is missing; valid: {valid}"),
    "valid.not_one_of": ("{value!r} 不是可选值之一：{valid}",
                         "{value!r} is not one of {valid}"),
    "valid.not_finite": ("必须是有限数（不能是 NaN 或无穷大）",
                         "must be a finite number (not NaN or infinity)"),
    "valid.percentage": ("{value} 像是百分数，请写 {fraction}",
                         "{value} looks like a percentage; write {fraction}"),
    "valid.ge": ("{value} 小于下限 {limit}", "{value} is below the minimum {limit}"),
    "valid.gt": ("{value} 须大于 {limit}", "{value} must be greater than {limit}"),
    "valid.le": ("{value} 大于上限 {limit}", "{value} is above the maximum {limit}"),
    "valid.lt": ("{value} 须小于 {limit}", "{value} must be less than {limit}"),
    "valid.not_integer": ("{value!r} 不是整数", "{value!r} is not a whole number"),
    "valid.not_number": ("{value!r} 不是数", "{value!r} is not a number"),
    "valid.not_bool": ("{value!r} 不是 true 或 false", "{value!r} is not true or false"),
    "valid.not_text": ("{value!r} 不是文本", "{value!r} is not text"),
    "valid.text_too_short": ("文本不能为空", "the text must not be empty"),
    "valid.text_too_long": ("文本超过 {limit} 个字符", "the text is longer than {limit} "
                            "characters"),
    "valid.bad_id": ("{value!r} 不是有效的 id：只能用英文字母、数字和 _ - .",
                     "{value!r} is not a valid id: use only letters, digits and _ - ."),
    "valid.too_few": ("至少需要 {limit} 项", "at least {limit} item(s) are needed"),
    "valid.too_many": ("最多 {limit} 项", "at most {limit} item(s) are allowed"),
    "valid.not_mapping": ("应是键值映射（键: 值），而不是 {value!r}",
                          "should be a mapping (key: value), not {value!r}"),
    "valid.not_list": ("应是列表 [..]，而不是 {value!r}", "should be a list [...], not {value!r}"),
    "valid.invalid": ("取值有误：{detail}", "bad value: {detail}"),
})

_RANGE = {"greater_than_equal": ("valid.ge", "ge"), "greater_than": ("valid.gt", "gt"),
          "less_than_equal": ("valid.le", "le"), "less_than": ("valid.lt", "lt")}
_SIMPLE = {
    "missing": "valid.missing", "finite_number": "valid.not_finite",
    "int_type": "valid.not_integer", "int_parsing": "valid.not_integer",
    "int_from_float": "valid.not_integer", "int_parsing_size": "valid.not_integer",
    "float_type": "valid.not_number", "float_parsing": "valid.not_number",
    "bool_type": "valid.not_bool", "bool_parsing": "valid.not_bool",
    "string_type": "valid.not_text", "string_too_short": "valid.text_too_short",
    "string_pattern_mismatch": "valid.bad_id",
    "dict_type": "valid.not_mapping", "model_type": "valid.not_mapping",
    "model_attributes_type": "valid.not_mapping", "mapping_type": "valid.not_mapping",
    "list_type": "valid.not_list", "tuple_type": "valid.not_list",
    "iterable_type": "valid.not_list",
}
_LENGTH = {"string_too_long": "valid.text_too_long", "too_short": "valid.too_few",
           "too_long": "valid.too_many"}


def _number(x: Any) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _shown(value: Any) -> Any:
    """An input as quoted in a message: long text and containers cut short."""
    text = repr(value)
    return value if len(text) <= 60 else _Cut(text[:57] + "...")


class _Cut(str):
    def __repr__(self) -> str:
        return str(self)


def _choices(expected: str) -> list[str]:
    """``"'a', 'b' or 'c'"`` (pydantic's list of expected values) as ``[a, b, c]``."""
    return [c.strip().strip("'\"") for c in expected.replace(" or ", ",").split(",")
            if c.strip()]


def problem_of(error: dict, model: type[BaseModel] | None = None) -> Problem:
    """One pydantic error (an item of ``ValidationError.errors()``) as a Problem, without
    its place. ``model`` is what was validated: an unknown key is answered with the closest
    keys of the model at that place, a missing ``type`` with the types there."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    loc = tuple(error.get("loc", ()))
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else ""
        keys = valid_keys(model, loc) if model is not None else []
        return Problem("valid.unknown_key", {"key": key}, close=tuple(did_you_mean(key, keys)))
    if kind == "union_tag_invalid":
        valid = _choices(ctx["expected_tags"])
        return Problem("valid.unknown_type", {"tag": ctx["tag"], "valid": ", ".join(valid)},
                       close=tuple(did_you_mean(ctx["tag"], valid)))
    if kind == "union_tag_not_found":
        tags = [t for t in (_tag(m) for m in _models(_types_at(model, loc)))
                if isinstance(t, str)] if model is not None else []
        return Problem("valid.no_type", {"valid": ", ".join(tags) or "-"})
    if kind in ("literal_error", "enum"):
        valid = _choices(ctx.get("expected", ""))
        close = did_you_mean(str(value).strip().lower(), valid) if isinstance(value, str) \
            else []
        return Problem("valid.not_one_of", {"value": _shown(value), "valid": ", ".join(valid)},
                       close=tuple(close))
    if kind in _RANGE:
        key, bound = _RANGE[kind]
        limit = ctx.get(bound)
        if (kind == "less_than_equal" and isinstance(limit, int | float) and limit <= 5
                and isinstance(value, int | float) and max(1, limit) < value <= 100):
            return Problem("valid.percentage", {"value": _number(value),
                                                "fraction": _number(value / 100)})
        return Problem(key, {"value": _number(value), "limit": _number(limit)})
    if kind in _LENGTH:
        limit = ctx.get("max_length", ctx.get("min_length"))
        return Problem(_LENGTH[kind], {"limit": limit})
    if kind in _SIMPLE:
        return Problem(_SIMPLE[kind], {"value": _shown(value)})
    return Problem("valid.invalid", {"detail": error.get("msg", kind).removeprefix(
        "Value error, ")})


# ---------------------------------------------------------------------------------------------
# The model behind a location


def _leaves(tp: Any) -> list[Any]:
    """A type annotation without Annotated and Optional/Union wrappers: its member types."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _leaves(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [leaf for arg in typing.get_args(tp) for leaf in _leaves(arg)]
    return [tp]


def _tag(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("type")
    return field.default if field is not None else None


def _step(tp: Any, part: str | int) -> list[Any]:
    out = []
    for leaf in _leaves(tp):
        origin, args = typing.get_origin(leaf), typing.get_args(leaf)
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            if isinstance(part, str) and part in leaf.model_fields:
                out.append(leaf.model_fields[part].annotation)
            elif _tag(leaf) == part:  # pydantic puts the tag of a discriminated union
                out.append(leaf)
        elif origin in (tuple, list) and args and isinstance(part, int):
            out.append(args[0])
        elif origin is dict and len(args) == 2:
            out.append(args[1])
    return out


def _types_at(model: type[BaseModel], loc: Iterable[str | int]) -> list[Any]:
    current: list[Any] = [model]
    for part in loc:
        current = [t for tp in current for t in _step(tp, part)]
    return current


def _models(types_: list[Any]) -> list[type[BaseModel]]:
    found = [leaf for tp in types_ for leaf in _leaves(tp)
             if isinstance(leaf, type) and issubclass(leaf, BaseModel)]
    return list(dict.fromkeys(found))


def valid_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys of the model(s) that hold the last part of ``loc`` (empty when unknown)."""
    return list(dict.fromkeys(k for m in _models(_types_at(model, loc[:-1]))
                              for k in m.model_fields))
