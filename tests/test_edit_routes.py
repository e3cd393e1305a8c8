"""Every way a script can change a loaded scenario is validated, or refused.

The routes: ``Scenario.replace`` (documented), pydantic's ``model_copy(update=...)`` at any
level, ``model_construct`` (no validation at all) and in-place mutation of the nested
objects. An edit either raises ScenarioError (or, for in-place mutation, the immutability
error) or gives exactly the numbers of the same edit made in the YAML file.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import sharing
from sharing.frozen import FrozenDict

ROOT = Path(__file__).resolve().parents[1]
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"
SHARES = "agreements.gaozhu_revenue.rule.increment.shares"


@pytest.fixture(scope="module")
def gaozhu() -> sharing.Scenario:
    return sharing.load_scenario(GAOZHU)


def summary(sc) -> pd.DataFrame:
    return sharing.simulate(sc).summary


# ---------------------------------------------------------------------------------------------
# The cases a new user tried (issue 7, §2)


def test_in_place_mutation_is_refused(gaozhu):
    before = summary(gaozhu)
    shares = gaozhu.agreements[0].rule.increment.shares
    with pytest.raises(TypeError) as err:
        shares["guangan"] = 0.6
    assert "sc.replace" in str(err.value)
    assert "情景对象只读" in str(err.value) and "a scenario is read-only" in str(err.value)
    for attempt in (lambda: shares.update(yubei=0.5), lambda: shares.pop("yubei"),
                    lambda: shares.clear(), lambda: shares.setdefault("x", 1.0),
                    lambda: shares.__delitem__("yubei"), lambda: shares.__ior__({"x": 1})):
        with pytest.raises(TypeError):
            attempt()
    with pytest.raises(AttributeError):
        gaozhu.agreements.append(gaozhu.agreements[0])  # a tuple
    with pytest.raises(TypeError):
        gaozhu.parks[0].partners[0] = "yubei"  # type: ignore[index]
    with pytest.raises(ValidationError):
        gaozhu.discount_rate = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        gaozhu.costs[0].by_year[2023] = 0.0  # type: ignore[index]
    pd.testing.assert_frame_equal(summary(gaozhu), before)


@pytest.mark.parametrize("shares", [
    {"guangan": 0.9, "yubei": 0.4},    # ran with 渝北 effectively at 0.1
    {"guangan": 0.4, "yubei": 0.4},    # gave the results of 0.4/0.6
    {"guangan": 0.6, "yubei": 0.5},
])
def test_model_copy_with_bad_shares_is_refused(gaozhu, shares):
    rule = gaozhu.agreements[0].rule
    edited = rule.model_copy(update={"increment": rule.increment.model_copy(
        update={"shares": shares})})
    agreement = gaozhu.agreements[0].model_copy(update={"rule": edited})
    with pytest.raises(sharing.ScenarioError) as err:
        gaozhu.model_copy(update={"agreements": [agreement]})
    [problem] = err.value.problems
    assert "agreements[0].rule.increment.shares" in problem and "sum to 1" in problem
    assert "各份额之和须为 1" in problem
    # Built without any validation, the engine refuses it.
    constructed = type(gaozhu).model_construct(**{**fields(gaozhu), "agreements": (agreement,)})
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.simulate(constructed)
    assert "agreements[0].rule.increment.shares" in err.value.problems[0]


def test_model_copy_with_an_unknown_id_is_a_scenario_error_not_a_key_error(gaozhu):
    rule = gaozhu.agreements[0].rule
    edited = rule.model_copy(update={"increment": rule.increment.model_copy(
        update={"shares": {"guangan": 0.5, "yubie": 0.5}})})
    agreement = gaozhu.agreements[0].model_copy(update={"rule": edited})
    with pytest.raises(sharing.ScenarioError) as err:
        gaozhu.model_copy(update={"agreements": [agreement]})
    zh, en = err.value.text("zh")[0], err.value.text("en")[0]
    assert "未知的辖区或角色 'yubie'（辖区：guangan, yubei；角色：host, origin, destination）" in zh
    assert "您是否指 'yubei'？" in zh
    assert "unknown jurisdiction or role 'yubie' (jurisdictions: guangan, yubei; roles: " \
        "host, origin, destination); did you mean 'yubei'?" in en
    constructed = type(gaozhu).model_construct(**{**fields(gaozhu), "agreements": (agreement,)})
    with pytest.raises(sharing.ScenarioError):
        sharing.simulate(constructed)


def test_replace_returns_a_new_validated_scenario(gaozhu):
    edited = gaozhu.replace({SHARES: {"guangan": 0.6, "yubei": 0.4}})
    assert edited.agreements[0].rule.increment.shares == {"guangan": 0.6, "yubei": 0.4}
    assert gaozhu.agreements[0].rule.increment.shares == {"guangan": 0.5, "yubei": 0.5}
    assert isinstance(edited.agreements[0].rule.increment.shares, FrozenDict)
    assert edited.parks[0] is gaozhu.parks[0]  # what did not change is not copied
    by_index = gaozhu.replace({"agreements[0].rule.increment.shares.guangan": 0.6,
                               "agreements[-1].rule.increment.shares.yubei": 0.4})
    pd.testing.assert_frame_equal(summary(by_index), summary(edited))
    # The same edit in the file gives the same numbers, to the last bit.
    data = yaml.safe_load(GAOZHU.read_text(encoding="utf-8"))
    data["agreements"][0]["rule"]["increment"]["shares"] = {"guangan": 0.6, "yubei": 0.4}
    pd.testing.assert_frame_equal(summary(sharing.parse_scenario(data)), summary(edited))
    # Year keys and several changes at once
    both = gaozhu.replace({"costs.infrastructure.by_year.2024": 0, "discount_rate": 0.05})
    assert both.costs[0].by_year[2024] == 0 and both.discount_rate == 0.05


def test_replace_refuses_bad_values_with_key_paths(gaozhu):
    with pytest.raises(sharing.ScenarioError) as err:
        gaozhu.replace({SHARES: {"guangan": 0.6, "yubei": 0.5}})
    [problem] = err.value.problems
    assert "agreements[0].rule.increment.shares" in problem
    assert "各份额之和须为 1，现为 1.1" in problem and "shares must sum to 1, got 1.1" in problem


@pytest.mark.parametrize(("path", "zh", "en"), [
    ("agreements.gaozhu_revnue.rule",
     "agreements 中没有 id 为 'gaozhu_revnue' 的项（id：gaozhu_revenue；也可用序号 agreements[0]）"
     "；您是否指 'gaozhu_revenue'？",
     "agreements has no item with id 'gaozhu_revnue' (ids: gaozhu_revenue; or use an index, "
     "agreements[0]); did you mean 'gaozhu_revenue'?"),
    ("agreements[0].rule.incremnt", "agreements[0].rule 下没有键 'incremnt'（可选：",
     "agreements[0].rule has no key 'incremnt' (valid: reference, type, base_year"),
    ("agreements[0].rule.incremnt", "您是否指 'increment'？", "did you mean 'increment'?"),
    ("discount_rat", "scenario 下没有键 'discount_rat'", "did you mean 'discount_rate'?"),
    ("agreements[3].rule", "agreements 有 1 项，没有第 [3] 项",
     "agreements has 1 item(s); there is no [3]"),
    ("name.x", "name 是一个值，其中没有 'x'", "name is a value; there is no 'x' inside it"),
    ("agreements..rule", "无法解读键路径 'agreements..rule'",
     "cannot read the key path 'agreements..rule'"),
])
def test_replace_unknown_path_says_so_in_both_languages(gaozhu, path, zh, en):
    with pytest.raises(sharing.ScenarioError) as err:
        gaozhu.replace({path: 1})
    [problem] = err.value.problems
    assert problem.startswith(f"{path}: ")
    assert zh in problem and en in problem, problem
    assert zh in err.value.text("zh")[0] and en not in err.value.text("zh")[0]
    assert en in err.value.text("en")[0] and zh not in err.value.text("en")[0]


def test_replace_reports_every_bad_path_at_once(gaozhu):
    with pytest.raises(sharing.ScenarioError) as err:
        gaozhu.replace({"nme": "x", "agreements.nope.rule": 1, "discount_rate": 0.1})
    assert [p.split(":")[0] for p in err.value.problems] == ["nme", "agreements.nope.rule"]


def test_sweep_one_row_per_value_and_jurisdiction(gaozhu):
    values = [0.4, 0.5, 0.6]
    table = sharing.sweep(gaozhu, "agreements.gaozhu_revenue.rule.increment.shares",
                          [{"guangan": v, "yubei": round(1 - v, 10)} for v in values])
    assert len(table) == 3 * 2 and table.columns[0] == "value"
    assert list(table.columns[1:]) == list(summary(gaozhu).columns)
    guangan = table[table["jurisdiction"] == "guangan"]["pv_net_benefit"].to_numpy()
    assert guangan[0] < guangan[1] < guangan[2]  # more of the increment, more for 广安
    middle = table.iloc[2:4, 1:].reset_index(drop=True)
    pd.testing.assert_frame_equal(middle, summary(gaozhu))  # 0.5/0.5 is the file's own deal
    rates = sharing.sweep(gaozhu, "discount_rate", [0.0, 0.03])
    assert rates["value"].tolist() == [0.0, 0.0, 0.03, 0.03]
    with pytest.raises(sharing.ScenarioError):
        sharing.sweep(gaozhu, "discount_rate", [0.03, 2.0])


def test_frozen_scenario_still_dumps_pickles_and_exports(gaozhu, tmp_path):
    data = gaozhu.model_dump(mode="python")
    assert type(data["agreements"][0]["rule"]["increment"]["shares"]) is dict
    assert sharing.parse_scenario(gaozhu.model_dump(mode="json")) == gaozhu
    assert pickle.loads(pickle.dumps(gaozhu)) == gaozhu
    assert hash(gaozhu) == hash(pickle.loads(pickle.dumps(gaozhu)))
    schema = sharing.Scenario.model_json_schema()
    assert schema["properties"]["agreements"]["type"] == "array"
    from sharing import io
    yaml.safe_load(io.scenario_yaml(gaozhu.model_dump(mode="json", exclude_none=True)))
    book = io.export_scenario_xlsx(gaozhu, tmp_path / "book.xlsx")
    assert sharing.parse_scenario(io.import_scenario_xlsx(book)) == gaozhu


# ---------------------------------------------------------------------------------------------
# Random edits through every route


EDITS = {
    SHARES: st.one_of(
        st.builds(lambda a, b: {"guangan": a, "yubei": b},
                  st.sampled_from([0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 60.0]),
                  st.sampled_from([0.0, 0.25, 0.4, 0.5, 0.6, 0.75, -0.1])),
        st.just({"guangan": 0.5, "yubie": 0.5}), st.just({"guangan": 1.0}), st.just({})),
    f"{SHARES}.guangan": st.sampled_from([0.0, 0.5, 0.7, 1.0, 1.5]),
    "agreements.gaozhu_revenue.rule.base_year": st.sampled_from([2022, 2023, 2026, 2040]),
    "agreements.gaozhu_revenue.compliance": st.sampled_from([0.0, 0.8, 1.0, 1.2]),
    "agreements.gaozhu_revenue.covers.park": st.sampled_from(["gaozhu", "gaozu"]),
    "discount_rate": st.sampled_from([0.0, 0.03, 0.08, -0.01, 1.5]),
    "costs.infrastructure.by_year": st.sampled_from([{2023: 100.0}, {2024: 0.0, 2025: 5.0},
                                                     {2040: 1.0}, {2023: -5.0}]),
    "costs.infrastructure.paid_by": st.sampled_from(["guangan", "yubei", "nowhere",
                                                     {"guangan": 0.3, "yubei": 0.7},
                                                     {"guangan": 0.3, "yubei": 0.3}]),
    "standalone.gaozhu.guangan": st.sampled_from([0.0, 0.3, 1.0, 2.0]),
    "jurisdictions.yubei.province": st.sampled_from(["chongqing", "sichuan", "mars"]),
    "parks.gaozhu.sites[0].taxes.vat.growth": st.sampled_from([0.0, 0.12, -0.5, 9.0]),
}


def tokens(path: str) -> list[str | int]:
    out: list[str | int] = []
    for piece in path.split("."):
        name, _, index = piece.partition("[")
        out.append(name)
        if index:
            out.append(int(index.rstrip("]")))
    return out


def step(node: Any, token: str | int) -> str | int:
    """The key of ``token`` in ``node``: list items by id, year keys as numbers."""
    if isinstance(node, list | tuple) and isinstance(token, str):
        ids = [item["id"] if isinstance(item, dict) else item.id for item in node]
        return ids.index(token)
    return token


def edit_data(data: Any, path: list[str | int], value: Any) -> None:
    """The edit a user makes in the YAML file."""
    for token in path[:-1]:
        data = data[step(data, token)]
    data[step(data, path[-1])] = value


def copied(node: Any, path: list[str | int], value: Any, build) -> Any:
    """``node`` with ``value`` at ``path``, rebuilt bottom-up by ``build(model, update)``."""
    if not path:
        return value
    key = step(node, path[0])
    if isinstance(node, BaseModel):
        return build(node, {key: copied(getattr(node, key), path[1:], value, build)})
    if isinstance(node, tuple):
        items = list(node)
        items[key] = copied(items[key], path[1:], value, build)
        return items
    return {**node, key: copied(node.get(key), path[1:], value, build)}


def via_model_copy(model: BaseModel, update: dict) -> BaseModel:
    return model.model_copy(update=update)


def fields(model: BaseModel) -> dict:
    return {k: getattr(model, k) for k in type(model).model_fields}


def via_construct(model: BaseModel, update: dict) -> BaseModel:
    return type(model).model_construct(**{**fields(model), **update})


def outcome(run) -> pd.DataFrame | type:
    try:
        return summary(run())
    except sharing.ScenarioError:
        return sharing.ScenarioError


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EDITS)).flatmap(lambda p: st.tuples(st.just(p), EDITS[p])))
def test_every_route_validates_or_matches_the_yaml_edit(gaozhu, edit):
    path, value = edit
    data = yaml.safe_load(GAOZHU.read_text(encoding="utf-8"))
    edit_data(data, tokens(path), value)
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "edited.yaml"
        file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                        encoding="utf-8")
        expected = outcome(lambda: sharing.load_scenario(file))
    routes = {
        "replace": lambda: gaozhu.replace({path: value}),
        "model_copy": lambda: copied(gaozhu, tokens(path), value, via_model_copy),
        "model_construct": lambda: copied(gaozhu, tokens(path), value, via_construct),
    }
    for name, route in routes.items():
        got = outcome(route)
        if expected is sharing.ScenarioError:
            assert got is sharing.ScenarioError, (name, path, value)
        else:
            assert got is not sharing.ScenarioError, (name, path, value)
            pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=name)
    # In place: refused, and the loaded scenario is unchanged.
    *parent, last = tokens(path)
    node: Any = gaozhu
    for token in parent:
        key = step(node, token)
        node = getattr(node, key) if isinstance(node, BaseModel) else node[key]
    with pytest.raises((TypeError, ValidationError, AttributeError)):
        if isinstance(node, BaseModel):
            setattr(node, step(node, last), value)
        else:
            node[step(node, last)] = value
    pd.testing.assert_frame_equal(summary(gaozhu), summary(sharing.load_scenario(GAOZHU)))
