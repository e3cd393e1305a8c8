"""The built-in scenario library, ``scenarios/**/*.yaml``: every file loads, validates and runs,
reproduces its golden summary, and says where its numbers come from.

Golden summaries live in ``tests/golden/``, one per scenario, named after the file's path
under ``scenarios/`` without ``.yaml``, with ``/`` replaced by ``__``::

    scenarios/gaozhu.yaml             -> tests/golden/gaozhu.summary.csv
    scenarios/formulary/eu_ccctb.yaml -> tests/golden/formulary__eu_ccctb.summary.csv

Each holds the columns of ``Result.summary`` (``sharing.result.SUMMARY_COLUMNS``) with the
amounts rounded to 2 decimals (万元); a run must match them within 0.01 万元.

After an intended change to a scenario, a rule or the engine, regenerate the goldens and
review the diff before committing it::

    .venv/bin/python tests/test_scenario_library.py --regenerate

(only the goldens of scenarios that exist are written; other files in ``tests/golden/`` are
left alone). The provenance checks: every scenario has ``sources``, bilingual names for itself
and for each jurisdiction, and at least one ``assumptions`` entry unless its description says
that all numbers are real; every assumption ``path`` points at a key of the file; each member
of the nine founding platforms (``platforms.csv``) appears, with its id, Chinese name and
province, in its platform's scenario; and the library as a whole uses every rule type.
"""

from __future__ import annotations

import csv
import re
import sys
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sharing
from sharing import cli
from sharing.result import SUMMARY_COLUMNS
from sharing.rules import Rule, walk

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DIR = ROOT / "scenarios"
GOLDEN_DIR = ROOT / "tests" / "golden"
SCENARIOS = sorted(SCENARIO_DIR.rglob("*.yaml"))
IDS = [p.relative_to(SCENARIO_DIR).with_suffix("").as_posix() for p in SCENARIOS]
TEXT_COLUMNS = ["jurisdiction", "name", "name_en"]
MONEY_COLUMNS = [c for c in SUMMARY_COLUMNS if c not in TEXT_COLUMNS]
TOLERANCE = 0.01  # 万元
# The shared domain notes sit next to the repository (../shared/domain) where they exist.
PLATFORMS_CSV = ROOT.parent / "shared" / "domain" / "platforms.csv"

# The nine platforms of 渝府办发〔2020〕97号 and their members (from platforms.csv):
# platform id -> [(member id, Chinese name, English place name, province)].
PLATFORMS: dict[str, list[tuple[str, str, str, str]]] = {
    "wandakai": [("wanzhou", "万州区", "Wanzhou", "chongqing"),
                 ("dazhou", "达州市", "Dazhou", "sichuan"),
                 ("kaizhou", "开州区", "Kaizhou", "chongqing")],
    "mingyueshan": [("liangping", "梁平区", "Liangping", "chongqing"),
                    ("dianjiang", "垫江县", "Dianjiang", "chongqing"),
                    ("dachuan", "达川区", "Dachuan", "sichuan"),
                    ("dazhu", "大竹县", "Dazhu", "sichuan"),
                    ("kaijiang", "开江县", "Kaijiang", "sichuan"),
                    ("linshui", "邻水县", "Linshui", "sichuan")],
    "chengxuanwan": [("chengkou", "城口县", "Chengkou", "chongqing"),
                     ("xuanhan", "宣汉县", "Xuanhan", "sichuan"),
                     ("wanyuan", "万源市", "Wanyuan", "sichuan")],
    "gaozhu": [("guangan", "广安市(邻水县)", "Guang'an", "sichuan"),
               ("yubei", "渝北区", "Yubei", "chongqing")],
    "heguangchang": [("hechuan", "合川区", "Hechuan", "chongqing"),
                     ("guangan", "广安市", "Guang'an", "sichuan"),
                     ("changshou", "长寿区", "Changshou", "chongqing")],
    "suitong": [("suining", "遂宁市", "Suining", "sichuan"),
                ("tongnan", "潼南区", "Tongnan", "chongqing")],
    "zida": [("ziyang", "资阳市", "Ziyang", "sichuan"),
             ("dazu", "大足区", "Dazu", "chongqing")],
    "neirong": [("neijiang", "内江市", "Neijiang", "sichuan"),
                ("rongchang", "荣昌区", "Rongchang", "chongqing")],
    "luyongjiang": [("luzhou", "泸州市", "Luzhou", "sichuan"),
                    ("yongchuan", "永川区", "Yongchuan", "chongqing"),
                    ("jiangjin", "江津区", "Jiangjin", "chongqing")],
}

# Scenarios that predate the `assumptions` key and do not list their assumed numbers yet.
# strict: the test starts failing (XPASS) once the file is fixed, so the entry gets removed.
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
ALL_REAL = re.compile(
    r"(所有|全部)(数字|数据)(均|都)?(为|是)?真实|all (the )?numbers[^.]* are real", re.IGNORECASE)


def golden_path(path: Path) -> Path:
    rel = path.relative_to(SCENARIO_DIR).with_suffix("").as_posix()
    return GOLDEN_DIR / f"{rel.replace('/', '__')}.summary.csv"


def golden_frame(path: Path) -> pd.DataFrame:
    """The summary of one scenario as stored in its golden file (amounts rounded)."""
    summary = sharing.simulate(sharing.load_scenario(path)).summary[SUMMARY_COLUMNS].copy()
    summary[MONEY_COLUMNS] = summary[MONEY_COLUMNS].round(2) + 0.0  # no "-0.00"
    return summary


def regenerate() -> list[Path]:
    """Write the golden summary of every scenario; return the files written."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for path in SCENARIOS:
        out = golden_path(path)
        golden_frame(path).to_csv(out, index=False, float_format="%.2f", encoding="utf-8",
                                  lineterminator="\n")
        written.append(out)
    return written


def raw(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Every file runs and reproduces its golden summary


def test_library_is_there():
    assert len(SCENARIOS) >= 14, [p.name for p in SCENARIOS]
    for platform in PLATFORMS:
        assert (SCENARIO_DIR / f"{platform}.yaml").exists(), f"no scenario for {platform}"


def test_cli_validates_every_scenario(capsys):
    assert cli.main(["validate", *map(str, SCENARIOS)]) == 0
    out = capsys.readouterr().out
    assert out.count("ok") == len(SCENARIOS)


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_summary_matches_golden(path):
    golden = golden_path(path)
    assert golden.exists(), (f"no golden {golden.relative_to(ROOT)}; run "
                             "`.venv/bin/python tests/test_scenario_library.py --regenerate`")
    expected = pd.read_csv(golden, encoding="utf-8", dtype={c: str for c in TEXT_COLUMNS},
                           keep_default_na=False)
    res = sharing.simulate(sharing.load_scenario(path))
    actual = res.summary
    assert list(expected.columns) == SUMMARY_COLUMNS
    assert list(actual.columns) == SUMMARY_COLUMNS
    for col in TEXT_COLUMNS:
        assert list(actual[col]) == list(expected[col]), col
    diff = np.abs(actual[MONEY_COLUMNS].to_numpy(float) - expected[MONEY_COLUMNS].to_numpy(float))
    bad = np.argwhere(diff > TOLERANCE)
    assert not bad.size, "; ".join(
        f"{actual['jurisdiction'].iat[i]}.{MONEY_COLUMNS[j]}: golden "
        f"{expected[MONEY_COLUMNS[j]].iat[i]:.2f}, now {actual[MONEY_COLUMNS[j]].iat[i]:.4f}"
        for i, j in bad[:10])
    # Conservation: sharing moves revenue between jurisdictions, it creates none.
    assert actual["allocated"].sum() == pytest.approx(actual["retained"].sum(), abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Provenance


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_names_and_sources(path):
    sc = sharing.load_scenario(path)
    assert CJK.search(sc.name), f"name {sc.name!r} has no Chinese"
    assert LATIN.search(sc.name_en) and not CJK.search(sc.name_en), sc.name_en
    assert sc.sources, "no sources"
    assert all(s.title.strip() for s in sc.sources)
    assert sc.description and CJK.search(sc.description) and LATIN.search(sc.description), \
        "the description should be bilingual"
    for j in sc.jurisdictions:
        assert CJK.search(j.name), f"{j.id}: name {j.name!r} has no Chinese"
        assert LATIN.search(j.name_en) and not CJK.search(j.name_en), f"{j.id}: {j.name_en!r}"


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_assumptions_are_listed(path):
    sc = sharing.load_scenario(path)
    assert sc.assumptions or ALL_REAL.search(sc.description or ""), (
        "list the assumed numbers under `assumptions`, or say in `description` that all "
        "numbers are real")
    for a in sc.assumptions:
        assert CJK.search(a.note) and LATIN.search(a.note), f"{a.path}: note should be bilingual"


def resolve(data, dotted: str):
    """The value at a key path such as ``agreements[0].rule.base_year`` (KeyError if none)."""
    node = data
    for piece in dotted.split("."):
        name, *indices = piece.split("[")
        if name:
            if not isinstance(node, dict) or name not in node:
                raise KeyError(dotted)
            node = node[name]
        for index in indices:
            k = int(index.rstrip("]"))
            if not isinstance(node, list) or k >= len(node):
                raise KeyError(dotted)
            node = node[k]
    return node


@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_assumption_paths_exist(path):
    data = raw(path)
    for a in data.get("assumptions", []):
        try:
            resolve(data, a["path"])
        except KeyError:
            pytest.fail(f"assumption path {a['path']!r} is not a key of {path.name}")


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_platform_members_present(platform):
    sc = sharing.load_scenario(SCENARIO_DIR / f"{platform}.yaml")
    by_id = {j.id: j for j in sc.jurisdictions}
    for member, name, place_en, province in PLATFORMS[platform]:
        assert member in by_id, f"{platform}: member {member} missing"
        j = by_id[member]
        assert (j.name, j.province) == (name, province), f"{platform}.{member}"
        assert place_en in j.name_en, f"{platform}.{member}: {j.name_en!r}"
    partners = {p for park in sc.parks for p in park.partners}
    firms = {j for f in sc.firms for j in (f.from_id, f.to_id)}
    hosts = {s.host for s in sc.streams}
    unused = set(by_id) - partners - firms - hosts
    assert not unused, f"{platform}: members take no part: {sorted(unused)}"


def test_platform_table_matches_platforms_csv():
    if not PLATFORMS_CSV.exists():
        pytest.skip(f"{PLATFORMS_CSV} not available")
    with PLATFORMS_CSV.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    from_csv: dict[str, list[tuple[str, str, str]]] = {}
    for r in rows:
        from_csv.setdefault(r["platform_id"], []).append(
            (r["member_id"], r["member_zh"], r["province"]))
    assert from_csv == {k: [(m, zh, p) for m, zh, _, p in v] for k, v in PLATFORMS.items()}
    english = {(r["platform_id"], r["member_id"]): r["member_en"] for r in rows}
    for platform, members in PLATFORMS.items():
        for member, _, place_en, _ in members:
            assert english[platform, member].startswith(place_en)


def test_mingyueshan_has_six_partners():
    sc = sharing.load_scenario(SCENARIO_DIR / "mingyueshan.yaml")
    ids = {m for m, *_ in PLATFORMS["mingyueshan"]}
    assert any(set(p.partners) == ids for p in sc.parks)


def test_formulary_files_differ_only_in_rule():
    """scenarios/formulary/: one firm and one set of numbers, apportioned by each formula."""
    files = sorted((SCENARIO_DIR / "formulary").glob("*.yaml"))
    assert len(files) >= 6
    keep = ("years", "discount_rate", "jurisdictions", "retention", "streams", "contributions",
            "parks", "firms", "costs", "standalone")
    first = raw(files[0])
    for path in files[1:]:
        data = raw(path)
        for key in keep:
            assert data.get(key) == first.get(key), f"{path.name}: {key} differs"
        strip = [{k: v for k, v in ag.items() if k not in ("rule", "reference")}
                 for ag in data["agreements"]]
        assert strip == [{k: v for k, v in ag.items() if k not in ("rule", "reference")}
                         for ag in first["agreements"]], path.name
    presets = {raw(p)["agreements"][0]["rule"].get("preset") for p in files}
    assert {"cn_branch_cit", "de_gewst", "us_uditpa", "us_double_weighted_sales",
            "ca_provincial", "eu_ccctb"} <= presets


def test_library_uses_every_rule_type():
    union = typing.get_args(Rule)[0]
    all_types = {cls.model_fields["type"].default for cls in typing.get_args(union)}
    used = set()
    for path in SCENARIOS:
        for ag in sharing.load_scenario(path).agreements:
            used |= {r.type for r in walk(ag.rule)}
    assert all_types <= used, f"no built-in scenario uses {sorted(all_types - used)}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit("usage: python tests/test_scenario_library.py --regenerate")
    for written in regenerate():
        print(f"wrote {written.relative_to(ROOT)}")
