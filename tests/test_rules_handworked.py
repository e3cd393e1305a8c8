"""One hand-worked case per rule, from the policy text (/work/shared/domain/POLICY.md), with the
arithmetic written out. Each case is a small scenario dict → ``sharing.parse_scenario`` →
``sharing.simulate``; assertions read ``res.by_year``, ``res.summary`` or ``res.flows``.

Money in 万元. Unless a case says otherwise, retention is national law: VAT 25% local before
2016 and 50% from 2016, EIT/PIT 40%, every other tax (``other``) 100% local.
"""

from __future__ import annotations

import pytest

import sharing

TOL = 1e-9


def jur(jid: str, province: str = "other") -> dict:
    return {"id": jid, "name": jid, "name_en": jid, "province": province}


def scenario(jids, years, agreements, **extra) -> dict:
    return {"scenario": 1, "name": "手算", "name_en": "hand-worked",
            "years": {"start": years[0], "end": years[1]},
            "jurisdictions": [jur(j) if isinstance(j, str) else jur(*j) for j in jids],
            "agreements": agreements, **extra}


def stream(sid: str, host: str, by_year: dict, tax: str = "other") -> dict:
    return {"id": sid, "host": host, "tax": tax, "by_year": by_year}


def run(data: dict) -> sharing.Result:
    return sharing.simulate(sharing.parse_scenario(data))


def allocated(res: sharing.Result, column: str = "allocated") -> dict[tuple[int, str], float]:
    """{(year, jurisdiction): amount} of a by_year column."""
    df = res.by_year
    return {(int(y), j): float(v) for y, j, v in zip(df["year"], df["jurisdiction"], df[column],
                                                     strict=True)}


def check(res: sharing.Result, expected: dict[tuple[int, str], float],
          column: str = "allocated") -> None:
    got = allocated(res, column)
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, abs=TOL), (key, got[key], want)


def by_jurisdiction(res: sharing.Result, j: str, years, column: str = "allocated"):
    got = allocated(res, column)
    return [got[(y, j)] for y in years]


# =============================================================================================
# 京津冀 (财预〔2015〕92号), preset jjj_2015, from the primary text (POLICY.md §3.1):
#   "迁出地区、迁入地区按 50%:50% 比例分享 ... 完成工商和税务登记变更并达产后三年内" — VAT + EIT
#   local share 50:50 origin:destination for 3 years from production (达产);
#   "以迁出地区分享'三税'达到企业迁移前三年缴纳的'三税'总和为上限" — cap = 3 × the pre-move annual
#   (retained) amount, at the retention of the year before the move;
#   "若三年仍未达到分享上限,分享期限再延长两年,此后迁出地区不再分享,由中央财政一次性给予迁出地区
#   适当补助" — 2 more years while the cap is not reached, then a one-off central subsidy;
#   eligibility (新华社): pre-move annual 三税 ≥ 2000万.
#
# The cases below: firm moves from 北京 to 河北 in 2018, pre-move VAT 2000 + EIT 1000 a year
# (3000 ≥ 2000: eligible), horizon 2016–2026, national retention (VAT 50% from 2016, EIT 40%):
#   retained at the destination per year = 2000·50% + 1000·40% = 1000 + 400 = 1400 · level,
#   the origin's half                    =  700 · level,
#   cap = 3 × (2000·50% + 1000·40%) in 2017 = 3 × 1400 = 4200.
# level = (1 + growth)^(year − 2017).


def jjj(pre_move: dict, growth: float = 0.0, years=(2014, 2022), move_year: int = 2016,
        firm: dict | None = None, **rule) -> dict:
    return scenario(
        ["beijing", "hebei"], years,
        [{"id": "relocation", "covers": {"firm": "f"},
          "rule": {"type": "capped", "preset": "jjj_2015", **rule}}],
        firms=[{"id": "f", "origin": "beijing", "destination": "hebei", "move_year": move_year,
                "pre_move": pre_move, "growth": growth, **(firm or {})}])


def moved_2018(growth: float = 0.0, firm: dict | None = None, **rule) -> dict:
    return jjj({"vat": 2000, "eit": 1000}, growth, (2016, 2026), 2018, firm, **rule)


YEARS_2016_2026 = range(2016, 2027)


def test_jjj_cap_not_reached_in_three_years_gives_five():
    # growth 0: the origin gets 700 a year from 2018.
    #   S_2020 = 3 × 700 = 2100 < 4200 (cap not reached after three years) → 2 more years;
    #   2021: S = 2800, 2022: S = 3500 < 4200; from 2023 the destination keeps all 1400.
    # 2016–2017 the firm is still in 北京: 北京 keeps 1400 (retained VAT 1000 + EIT 400).
    res = run(moved_2018())
    assert by_jurisdiction(res, "beijing", YEARS_2016_2026) == pytest.approx(
        [1400, 1400, 700, 700, 700, 700, 700, 0, 0, 0, 0])
    assert by_jurisdiction(res, "hebei", YEARS_2016_2026) == pytest.approx(
        [0, 0, 700, 700, 700, 700, 700, 1400, 1400, 1400, 1400])
    summary = res.summary.set_index("jurisdiction")
    assert summary.at["beijing", "net_transfer"] == pytest.approx(5 * 700)
    assert summary.at["beijing", "subsidy"] == 0  # the preset has no amount


def test_jjj_cap_reached_in_year_two_stops_without_extension():
    # growth 150% a year after the move (a firm ramping up): level 2.5 in 2018, 6.25 in 2019.
    #   2018: retained 1400 · 2.5 = 3500, the origin would get 1750; S = 1750 < 4200 → 1750.
    #   2019: retained 1400 · 6.25 = 8750, would get 4375; S = 6125 ≥ 4200
    #         → 4200 − 1750 = 2450, the destination keeps 8750 − 2450 = 6300.
    #   2020 on: nothing; the cap was reached within three years, so no extension and no
    #   subsidy.
    res = run(moved_2018(growth=1.5, end_subsidy={"amount": 300}))
    assert by_jurisdiction(res, "beijing", range(2018, 2024)) == pytest.approx(
        [1750, 2450, 0, 0, 0, 0])
    assert by_jurisdiction(res, "hebei", range(2018, 2021)) == pytest.approx(
        [3500 - 1750, 6300, 1400 * 2.5 ** 3])
    summary = res.summary.set_index("jurisdiction")
    assert summary.at["beijing", "net_transfer"] == pytest.approx(4200)
    assert summary.at["beijing", "subsidy"] == 0


def test_jjj_production_two_years_after_the_move_starts_two_years_later():
    # Moves (re-registers) in 2018, reaches production (达产) in 2020: the window is
    # 2020–2022, then 2023–2024 (S_2022 = 2100 < 4200). 2018–2019 the destination keeps all
    # 1400. The cap still counts the three years before the move (4200).
    res = run(moved_2018(firm={"production_year": 2020}))
    assert by_jurisdiction(res, "beijing", YEARS_2016_2026) == pytest.approx(
        [1400, 1400, 0, 0, 700, 700, 700, 700, 700, 0, 0])
    assert by_jurisdiction(res, "hebei", range(2018, 2021)) == pytest.approx([1400, 1400, 700])
    # Counting from the move instead (start_from: move) gives the 2018–2022 window again.
    from_move = run(moved_2018(firm={"production_year": 2020}, start_from="move"))
    assert by_jurisdiction(from_move, "beijing", range(2018, 2024)) == pytest.approx(
        [700] * 5 + [0])


def test_jjj_end_subsidy_is_paid_once():
    # The firm of the first case with a central subsidy of 300: sharing ends in 2022 below
    # the cap (3500 < 4200), so 北京 receives 300 once, in 2023, from outside the two.
    res = run(moved_2018(end_subsidy={"amount": 300}))
    assert by_jurisdiction(res, "beijing", YEARS_2016_2026, "subsidy") == pytest.approx(
        [0] * 7 + [300] + [0] * 3)
    assert by_jurisdiction(res, "hebei", YEARS_2016_2026, "subsidy") == pytest.approx([0] * 11)
    summary = res.summary.set_index("jurisdiction")
    assert summary.at["beijing", "subsidy"] == pytest.approx(300)
    # allocated is unchanged (Σ allocated = Σ retained); net_benefit includes the subsidy.
    assert summary.at["beijing", "allocated"] == pytest.approx(2 * 1400 + 5 * 700)
    assert summary.at["beijing", "net_benefit"] == pytest.approx(2 * 1400 + 5 * 700 + 300)
    assert summary["allocated"].sum() == pytest.approx(summary["retained"].sum())
    flows = res.flows[res.flows["kind"] == "subsidy"]
    assert flows[["year", "jurisdiction", "stream", "source", "amount"]].values.tolist() == [
        [2023, "beijing", "relocation", "f", 300.0]]
    # The no-agreement and standalone counterfactuals have no agreement, hence no subsidy.
    assert summary.at["beijing", "no_agreement_pv"] == pytest.approx(2 * 1400)
    # A firm that passes the cap during the two extra years still ends the text's branch
    # ("若三年仍未达到分享上限,分享期限再延长两年,此后 ... 由中央财政一次性给予 ... 补助"):
    # growth 20%: the origin gets 700·1.2 = 840, 700·1.44 = 1008, 700·1.728 = 1209.6
    # (S = 3057.6 < 4200 after three years: extended), then 700·2.0736 = 1451.52 would pass the
    # cap: 4200 − 3057.6 = 1142.4 in 2021, nothing in 2022, and the 300 in 2023.
    late = run(moved_2018(growth=0.2, end_subsidy={"amount": 300}))
    assert by_jurisdiction(late, "beijing", range(2018, 2024)) == pytest.approx(
        [840, 1008, 1209.6, 1142.4, 0, 0])
    assert by_jurisdiction(late, "beijing", range(2018, 2025), "subsidy") == pytest.approx(
        [0, 0, 0, 0, 0, 300, 0])
    # If the horizon ends in 2022, the subsidy year 2023 lies outside it: not shown.
    short = run(moved_2018(end_subsidy={"amount": 300}) | {"years": {"start": 2016,
                                                                      "end": 2022}})
    assert short.summary["subsidy"].sum() == 0


def test_jjj_pre_move_base_does_not_depend_on_the_horizon():
    # Firm moving in 2016 growing 50% a year. The cap uses the retention of 2015, the year
    # before the move, when VAT was 25% local: 3 × (2000·25% + 1000·40%) = 3 × 900 = 2700 —
    # whether the horizon starts in 2014 or in 2016 (2015 then lies before it).
    # The origin would get 700·1.5 = 1050 (2016), 1575 (2017), 2362.5 (2018):
    #   S_2016 = 1050, S_2017 = 2625 < 2700, S_2018 = 4987.5 ≥ 2700 → 2700 − 2625 = 75.
    for years in ((2014, 2022), (2016, 2022)):
        res = run(jjj({"vat": 2000, "eit": 1000}, growth=0.5, years=years))
        assert by_jurisdiction(res, "beijing", range(2016, 2020)) == pytest.approx(
            [1050, 1575, 75, 0]), years
        assert res.summary.set_index("jurisdiction").at["beijing", "net_transfer"] == \
            pytest.approx(2700)


def test_jjj_ineligible_below_2000_pre_move():
    # Pre-move VAT 1200 + EIT 600 = 1800 < 2000: no sharing and no subsidy; the destination
    # keeps 1200·50% + 600·40% = 840 a year.
    res = run(jjj({"vat": 1200, "eit": 600}, end_subsidy={"amount": 300}))
    assert by_jurisdiction(res, "beijing", range(2016, 2023)) == pytest.approx([0] * 7)
    assert by_jurisdiction(res, "hebei", range(2016, 2023)) == pytest.approx([840] * 7)
    summary = res.summary.set_index("jurisdiction")
    assert summary.at["beijing", "net_transfer"] == 0
    assert summary.at["beijing", "subsidy"] == 0


def test_extension_below_a_tax_threshold():
    # The other trigger, for agreements that use a tax threshold (`below`, 万元 gross):
    # pre-move VAT 1500 + EIT 700 = 2200 ≥ 2000 (eligible), moving in 2016, shrinking 10% a
    # year: gross in y = 2200 · 0.9^(y − 2015); 2018: 2200 · 0.729 = 1603.8 < 2000 → 2 more
    # years: window 2016–2020.
    # Retained from 2016: (1500·50% + 700·40%) · 0.9^k = 1030 · 0.9^k, origin gets half:
    # 2016 463.5, 2017 417.15, 2018 375.435, 2019 337.8915, 2020 304.10235; 2021 nothing.
    # Cap 3 · (1500·25% + 700·40%) = 3 · 655 = 1965; cumulative 1898.07885 < 1965.
    below = {"years": 2, "below": 2000}
    res = run(jjj({"vat": 1500, "eit": 700}, growth=-0.1, extension=below))
    assert by_jurisdiction(res, "beijing", range(2016, 2023)) == pytest.approx(
        [463.5, 417.15, 375.435, 337.8915, 304.10235, 0, 0])
    # The same firm without the fall (2200 ≥ 2000 in 2018): 3 years only, 515 a year
    # (although the cap, 1965, is not reached: this trigger is the tax, not the cap).
    flat = run(jjj({"vat": 1500, "eit": 700}, extension=below))
    assert by_jurisdiction(flat, "beijing", range(2016, 2023)) == pytest.approx(
        [515, 515, 515, 0, 0, 0, 0])


def test_jjj_explicit_cap():
    # An explicit cap of 1000 万 on a flat firm (700 a year): 700, then 1000 − 700 = 300,
    # then 0 (reached: no extension).
    capped = run(jjj({"vat": 2000, "eit": 1000}, cap=1000))
    assert by_jurisdiction(capped, "beijing", range(2016, 2022)) == pytest.approx(
        [700, 300, 0, 0, 0, 0])


def test_jjj_preset_parameters_and_source():
    rule = sharing.parse_scenario(jjj({"vat": 2000, "eit": 1000})).agreements[0].rule
    assert (rule.beneficiary, rule.share, rule.max_years) == ("origin", 0.5, 3)
    assert rule.taxes == ("vat", "eit")
    assert rule.start_from == "production"
    assert (rule.extension.years, rule.extension.when, rule.extension.below) == (
        2, "cap_not_reached", None)
    assert rule.eligibility.min_pre_move == 2000.0
    assert rule.cap.pre_move_years == 3
    assert rule.end_subsidy is None
    assert "财预〔2015〕92号" in rule.reference
    assert "以迁出地区分享'三税'达到企业迁移前三年缴纳的'三税'总和为上限" in rule.reference
    assert "recalled" not in rule.reference and "unconfirmed" not in rule.reference


@pytest.mark.parametrize(("rule", "firm", "path", "zh", "en"), [
    ({"extension": {"years": 2}}, {}, "extension",
     "延长期需要且只需要一个触发条件", "an extension needs exactly one trigger"),
    ({"extension": {"years": 2, "when": "cap_not_reached", "below": 2000}}, {}, "extension",
     "延长期需要且只需要一个触发条件", "an extension needs exactly one trigger"),
    ({"cap": None}, {}, "extension.when",
     "when: cap_not_reached 需要设定上限 `cap`", "`when: cap_not_reached` needs a `cap`"),
    ({}, {"production_year": 2015}, "production_year",
     "达产年份 2015 早于迁移年份 2016", "production_year 2015 is before move_year 2016"),
    ({}, {"production_year": 2030}, "production_year",
     "达产年份 2030 比迁移年份 2016 晚 14 年，超过 10 年：是否笔误？",
     "production_year 2030 is 14 years after move_year 2016, more than 10: a typo?"),
])
def test_jjj_bad_parameters_are_refused_in_both_languages(rule, firm, path, zh, en):
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.parse_scenario(jjj({"vat": 2000, "eit": 1000}, firm=firm, **rule))
    [problem] = err.value.problems
    assert path in problem and zh in problem and en in problem, problem


def test_production_year_belongs_to_migrated_firms():
    data = scenario(["a", "b"], (2021, 2022), [], firms=[
        {"id": "p", "introduced_by": "a", "host": "b", "production_year": 2022,
         "taxes": {"vat": {"base": 10}}}])
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.parse_scenario(data)
    [problem] = err.value.problems
    assert "firms[0].production_year" in problem
    assert "只有迁移企业（origin、destination、move_year）才有达产年份 production_year" in problem
    assert "only a migrated firm (origin, destination, move_year) has a production_year" in problem


def test_capped_negative_amounts_count_against_the_cap():
    # Explicit stream at a; b gets 50% from 2020 for 3 years, cap 70:
    # desired 60 (2020), −20 (2021, a refund), 50 (2022):
    #   S = 60 < 70 → 60;  S = 40 < 70 → −20;  S = 90 ≥ 70 → 70 − 40 = 30.
    data = scenario(["a", "b"], (2020, 2023), [
        {"id": "c", "covers": {"stream": "s"},
         "rule": {"type": "capped", "beneficiary": "b", "share": 0.5, "start": 2020,
                  "max_years": 3, "cap": 70}}],
        streams=[stream("s", "a", {2020: 120, 2021: -40, 2022: 100, 2023: 100})])
    res = run(data)
    assert by_jurisdiction(res, "b", range(2020, 2024)) == pytest.approx([60, -20, 30, 0])
    assert by_jurisdiction(res, "a", range(2020, 2024)) == pytest.approx([60, -20, 70, 100])


# =============================================================================================
# 川浙合作产业园 青川–广元 (POLICY.md §3.6): VAT and income tax split 青川 : 广元经开区 = 6 : 4, and
# 青川 is guaranteed ≥ 500万/year from one year after the infrastructure aid (here: from 2022).


def qingchuan(by_year: dict, extra_streams=()) -> dict:
    return scenario(
        [("qingchuan", "sichuan"), ("guangyuan", "sichuan")], (2021, 2025),
        [{"id": "chuanzhe", "covers": {"kind": "stream"},
          "rule": {"type": "floor", "beneficiary": "qingchuan", "minimum": 500,
                   "from_year": 2022,
                   "rule": {"type": "fixed", "shares": {"qingchuan": 0.6, "guangyuan": 0.4}}}}],
        streams=[stream("vat", "guangyuan", by_year, "vat"), *extra_streams])


def test_qingchuan_floor_tops_up_to_500():
    # Gross VAT collected in 广元经开区, retained 50%: 700, 700, 300, 2000, −100.
    #   2021 (before the floor): 60/40 → 420 / 280.
    #   2022: 60% = 420 < 500 → 80 taken from 广元: 500 / 200.
    #   2023: the pool (300) is below 500 → 青川 gets all of it: 300 / 0.
    #   2024: 1200 ≥ 500 → 1200 / 800.
    #   2025: a refund, −60 / −40; negative allocations are never raised to pay the floor.
    res = run(qingchuan({2021: 1400, 2022: 1400, 2023: 600, 2024: 4000, 2025: -200}))
    assert by_jurisdiction(res, "qingchuan", range(2021, 2026)) == pytest.approx(
        [420, 500, 300, 1200, -60])
    assert by_jurisdiction(res, "guangyuan", range(2021, 2026)) == pytest.approx(
        [280, 200, 0, 800, -40])


def test_qingchuan_floor_takes_only_positive_allocations():
    # 2022: VAT retained 700, EIT retained −250·40% = −100.
    # 6:4 → 青川 420 − 60 = 360, 广元 280 − 40 = 240. Top-up min(500 − 360, 280) = 140 comes
    # out of 广元's positive VAT share only: 青川 500, 广元 (280 − 140) − 40 = 100.
    eit = stream("eit", "guangyuan", {2022: -250}, "eit")
    res = run(qingchuan({2022: 1400}, [eit]))
    check(res, {(2022, "qingchuan"): 500, (2022, "guangyuan"): 100})
    flows = res.flows
    rows = flows[(flows["kind"] == "allocated") & (flows["year"] == 2022)]
    per = {(s, j): a for s, j, a in zip(rows["stream"], rows["jurisdiction"], rows["amount"],
                                         strict=True)}
    assert per[("eit", "guangyuan")] == pytest.approx(-40)
    assert per[("eit", "qingchuan")] == pytest.approx(-60)
    assert per[("vat", "guangyuan")] == pytest.approx(140)
    assert per[("vat", "qingchuan")] == pytest.approx(560)


# =============================================================================================
# 川渝高竹新区 (POLICY.md §2.1): 存量各自、增量五五 — the base-year level stays with its host,
# the increment is split 50:50.


def gaozhu(**rule) -> dict:
    return scenario(
        [("guangan", "sichuan"), ("yubei", "chongqing")], (2021, 2024),
        [{"id": "gaozhu", "covers": {"park": "gaozhu"},
          "rule": {"type": "stock_increment", "base_year": 2021,
                   "increment": {"type": "fixed", "shares": {"guangan": 0.5, "yubei": 0.5}},
                   **rule}}],
        parks=[{"id": "gaozhu", "partners": ["guangan", "yubei"], "sites": [
            {"host": "guangan", "taxes": {
                "vat": {"by_year": {2021: 2000, 2022: 2600, 2023: 1600, 2024: -400}},
                "eit": {"by_year": {2023: 500}}}},
            {"host": "yubei", "taxes": {
                "vat": {"by_year": {2021: 1000, 2022: 1500, 2023: 1500, 2024: 1500}}}}]}])


def test_gaozhu_stock_stays_increment_halved():
    # Retained (VAT 50%, EIT 40%): 广安 VAT 1000, 1300, 800, −200; 广安 EIT 0, 0, 200, 0;
    # 渝北 VAT 500, 750, 750, 750. Baselines (2021 level): 广安 VAT 1000, 渝北 VAT 500, EIT 0.
    #   2021: all stock → 1000 / 500.
    #   2022: 广安 inc 300, 渝北 inc 250 → 广安 1000 + 150 + 125 = 1275, 渝北 500 + 150 + 125 = 775.
    #   2023: 广安 VAT 800 < 1000 → all stock; the new EIT stream (no 2021 level) is all
    #         increment: 200 → 100 each; 渝北 inc 250 → 广安 800 + 100 + 125 = 1025,
    #         渝北 500 + 100 + 125 = 725.
    #   2024: 广安's refund −200 stays in its stock → 广安 −200 + 125 = −75, 渝北 500 + 125 = 625.
    res = run(gaozhu())
    assert by_jurisdiction(res, "guangan", range(2021, 2025)) == pytest.approx(
        [1000, 1275, 1025, -75])
    assert by_jurisdiction(res, "yubei", range(2021, 2025)) == pytest.approx(
        [500, 775, 725, 625])


def test_gaozhu_indexed_baseline():
    # Indexation 10%: 2022 baselines 1100 and 550 → increments 200 and 200 → 100 each:
    # 广安 1100 + 100 + 100 = 1300, 渝北 550 + 100 + 100 = 750.
    res = run(gaozhu(indexation=0.1))
    check(res, {(2022, "guangan"): 1300, (2022, "yubei"): 750})


def test_gaozhu_baseline_amounts_per_host():
    # Baseline given per host: 广安 1200, 渝北 400 (not indexed).
    #   2021: 广安 1000 < 1200 → all stock; 渝北 500 − 400 = 100 increment → 50 each:
    #         广安 1050, 渝北 450.
    #   2022: 广安 1300 − 1200 = 100, 渝北 750 − 400 = 350 → 225 each: 广安 1425, 渝北 625.
    res = run(gaozhu(baseline={"guangan": 1200, "yubei": 400}))
    check(res, {(2021, "guangan"): 1050, (2021, "yubei"): 450,
                (2022, "guangan"): 1425, (2022, "yubei"): 625})


def test_stock_increment_base_year_before_a_schedule_stage():
    # A finance officer fixes the 存量 once (2021) and changes the increment split later.
    # Stage 2023-2024: increment 50:50 over the 2021 baseline, as in the un-staged case:
    # 2023 广安 1025 / 渝北 725, 2024 −75 / 625 (see test_gaozhu_stock_stays_increment_halved).
    data = gaozhu()
    inner = data["agreements"][0]["rule"]
    data["agreements"][0]["rule"] = {
        "type": "schedule", "stages": [{"years": [2023, 2024], "rule": inner}]}
    res = run(data)
    check(res, {(2023, "guangan"): 1025, (2023, "yubei"): 725,
                (2024, "guangan"): -75, (2024, "yubei"): 625})


def test_stock_increment_baseline_rejects_roles():
    # `baseline` is "the given annual amount per host jurisdiction": a role there (host) is
    # not a jurisdiction and must be refused, not silently read as a zero baseline.
    data = gaozhu(baseline={"host": 1000})
    with pytest.raises(sharing.ScenarioError):
        run(data)


# =============================================================================================
# Staged ratios


def staged(stages, by_year=None) -> dict:
    by_year = by_year or {y: 1000 for y in range(2021, 2032)}
    return scenario(["a", "b"], (2021, 2031),
                    [{"id": "staged", "covers": {"stream": "s"},
                      "rule": {"type": "schedule", "stages": stages}}],
                    streams=[stream("s", "a", by_year)])


def test_schedule_two_stages_then_host():
    # 2021-2025 50:50, 2026-2030 70:30, 2031 outside every stage → the host keeps.
    # 2027 is a refund of −100: it follows its stage's 70:30 → −70 / −30.
    by_year = {y: 1000 for y in range(2021, 2032)}
    by_year[2027] = -100
    res = run(staged([
        {"years": [2021, 2025], "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}},
        {"years": [2026, 2030], "rule": {"type": "fixed", "shares": {"a": 0.7, "b": 0.3}}}],
        by_year))
    assert by_jurisdiction(res, "a", range(2021, 2032)) == pytest.approx(
        [500] * 5 + [700, -70, 700, 700, 700, 1000])
    assert by_jurisdiction(res, "b", range(2021, 2032)) == pytest.approx(
        [500] * 5 + [300, -30, 300, 300, 300, 0])


def test_schedule_overlap_is_reported_with_its_key_path():
    data = staged([
        {"years": [2021, 2025], "rule": {"type": "host"}},
        {"years": [2024, 2030], "rule": {"type": "host"}}])
    with pytest.raises(sharing.ScenarioError) as err:
        sharing.parse_scenario(data)
    [problem] = err.value.items
    assert problem.path == "agreements[0].rule.stages[0]"
    assert problem.message("zh") == "年份 2021-2025 与 stages[1]（2024-2030）重叠"
    assert problem.message("en") == "years 2021-2025 overlap stages[1] (2024-2030)"


def test_optimized_stages():
    # Shares written back per stage: 2021-2022 30:70, 2023 100:0, 2024 outside → host keeps.
    # A refund in 2022 (−200) is split 30:70 like revenue.
    data = scenario(["a", "b"], (2021, 2024), [
        {"id": "opt", "covers": {"stream": "s"},
         "rule": {"type": "optimized", "method": "maximin gain", "stages": [
             {"years": [2021, 2022], "shares": {"a": 0.3, "b": 0.7}},
             {"years": [2023, 2023], "shares": {"a": 1.0}}]}}],
        streams=[stream("s", "b", {2021: 1000, 2022: -200, 2023: 1000, 2024: 1000})])
    res = run(data)
    assert by_jurisdiction(res, "a", range(2021, 2025)) == pytest.approx([300, -60, 1000, 0])
    assert by_jurisdiction(res, "b", range(2021, 2025)) == pytest.approx([700, -140, 0, 1000])


# =============================================================================================
# Factor formulas (presets)


def factors(preset: str, contributions: dict, amount: float = 1000.0) -> sharing.Result:
    return run(scenario(["a", "b"], (2021, 2022), [
        {"id": "apportion", "covers": {"stream": "s"},
         "rule": {"type": "factors", "preset": preset}}],
        streams=[stream("s", "b", {2021: amount, 2022: -200})],
        contributions={"apportion": contributions}))


def test_cn_branch_cit_preset():
    # 国家税务总局公告2012年第57号: 0.35 revenue + 0.35 payroll + 0.30 assets.
    # a: revenue 600/1000, payroll 300/400, assets 500/1000
    # → 0.35·0.6 + 0.35·0.75 + 0.30·0.5 = 0.21 + 0.2625 + 0.15 = 0.6225.
    res = factors("cn_branch_cit", {"revenue": {"a": 600, "b": 400},
                                    "payroll": {"a": 300, "b": 100},
                                    "assets": {"a": 500, "b": 500}})
    check(res, {(2021, "a"): 622.5, (2021, "b"): 377.5,
                (2022, "a"): -124.5, (2022, "b"): -75.5})  # refunds in the same ratio


def test_eu_ccctb_preset():
    # COM(2011) 121 Art. 86: ⅓ sales + ⅓ labour (½ payroll + ½ headcount) + ⅓ assets.
    # a: sales 300/400 = 0.75, payroll 100/200 = 0.5, headcount 10/40 = 0.25, assets 0.5
    # → ⅓·0.75 + ⅓·(½·0.5 + ½·0.25) + ⅓·0.5 = 0.25 + 0.125 + 0.1666… = 0.541666…
    res = factors("eu_ccctb", {"sales": {"a": 300, "b": 100}, "payroll": {"a": 100, "b": 100},
                               "headcount": {"a": 10, "b": 30}, "assets": {"a": 200, "b": 200}})
    check(res, {(2021, "a"): 1000 * (0.25 + 0.125 + 0.5 / 3)})


def test_us_uditpa_worked_example():
    # UDITPA §9: (property + payroll + sales) / 3. State a holds 50% of sales, 100% of property
    # and 100% of payroll → (0.5 + 1 + 1) / 3 = 83.33%.
    res = factors("us_uditpa", {"sales": {"a": 50, "b": 50}, "property": {"a": 100, "b": 0},
                                "payroll": {"a": 100, "b": 0}})
    check(res, {(2021, "a"): 1000 * 2.5 / 3, (2021, "b"): 1000 * 0.5 / 3})


def test_de_gewst_wind_solar_preset():
    # §29(1) Nr. 2 a) GewStG: 1/10 payroll + 9/10 installed capacity.
    # a: payroll 100/400 = 0.25, capacity 60/100 = 0.6 → 0.025 + 0.54 = 0.565.
    res = factors("de_gewst_wind_solar", {"payroll": {"a": 100, "b": 300},
                                          "installed_capacity": {"a": 60, "b": 40}})
    check(res, {(2021, "a"): 565, (2021, "b"): 435})


def test_ca_provincial_preset():
    # Income Tax Regulations s. 402(3): ½ gross revenue + ½ salaries and wages.
    # a: revenue 0.7, payroll 0.2 → 0.45.
    res = factors("ca_provincial", {"revenue": {"a": 700, "b": 300},
                                    "payroll": {"a": 200, "b": 800}})
    check(res, {(2021, "a"): 450, (2021, "b"): 550})


def test_factors_contributions_looked_up_by_park():
    # Contributions under the park's id serve an agreement covering that one park.
    # capital 60:40 → a gets 60% of the park's retained VAT (2000 · 50% = 1000).
    res = run(scenario(["a", "b"], (2021, 2021), [
        {"id": "park_deal", "covers": {"park": "p"},
         "rule": {"type": "factors", "weights": {"capital": 1.0}}}],
        parks=[{"id": "p", "partners": ["a", "b"],
                "sites": [{"host": "b", "taxes": {"vat": {"base": 2000}}}]}],
        contributions={"p": {"capital": {"a": 60000, "b": 40000}}}))
    check(res, {(2021, "a"): 600, (2021, "b"): 400})


# =============================================================================================
# Tiered bands, fixed return, claims


def test_tiered_bands():
    # Bands: 0-1000 all to a; 1000-3000 50:50; above 3000 20:80. Collected by b.
    #   4000: a 1000 + 1000 + 200 = 2200, b 1000 + 800 = 1800.
    #   2000: a 1000 + 500 = 1500, b 500.
    #   500: a 500.
    #   −300 (net refund): the whole year follows the first band → a −300.
    res = run(scenario(["a", "b"], (2021, 2024), [
        {"id": "tiers", "covers": {"stream": "s"},
         "rule": {"type": "tiered", "bands": [
             {"upto": 1000, "shares": {"a": 1.0}},
             {"upto": 3000, "shares": {"a": 0.5, "b": 0.5}},
             {"shares": {"a": 0.2, "b": 0.8}}]}}],
        streams=[stream("s", "b", {2021: 4000, 2022: 2000, 2023: 500, 2024: -300})]))
    assert by_jurisdiction(res, "a", range(2021, 2025)) == pytest.approx([2200, 1500, 500, -300])
    assert by_jurisdiction(res, "b", range(2021, 2025)) == pytest.approx([1800, 500, 0, 0])


def pinghu(compliance: float = 1.0, **rule) -> dict:
    return scenario(["pinghu", "qingtian"], (2020, 2023), [
        {"id": "enclave", "covers": {"stream": "s"}, "compliance": compliance,
         "rule": {"type": "fixed_return", "payer": "pinghu", "beneficiary": "qingtian",
                  "rate": 0.1, "capital": {2020: 1000, 2022: 500}, **rule}}],
        streams=[stream("s", "pinghu", {2020: 5000, 2021: -300, 2022: 6000, 2023: 6000})])


def test_fixed_return_pinghu_qingtian():
    # 平湖–青田: 青田 receives 10% of the capital invested so far, whatever the tax does:
    # K = 1000 (2020), 1000 (2021), 1500 (2022, 2023) → 100, 100, 150, 150.
    # The tax (a refund of −300 in 2021 included) stays with 平湖, which pays the return.
    res = run(pinghu())
    assert by_jurisdiction(res, "qingtian", range(2020, 2024)) == pytest.approx(
        [100, 100, 150, 150])
    assert by_jurisdiction(res, "pinghu", range(2020, 2024)) == pytest.approx(
        [4900, -400, 5850, 5850])
    flows = res.flows
    transfers = flows[flows["kind"] == "transfer"]
    assert set(transfers["stream"]) == {"enclave"}
    assert transfers["amount"].sum() == pytest.approx(0)
    # from/to years limit the payments: 2021-2022 only.
    limited = run(pinghu(from_year=2021, to_year=2022))
    assert by_jurisdiction(limited, "qingtian", range(2020, 2024)) == pytest.approx(
        [0, 100, 150, 0])


def test_fixed_return_counts_capital_invested_in_other_stages():
    # K_t is "the capital invested so far": in a schedule's `otherwise` years 2024-2025 the
    # 1000 invested in 2022 (a stage year) still counts: 10% · (100 + 1000) = 110.
    data = scenario(["a", "b"], (2020, 2025), [
        {"id": "ret", "covers": {"stream": "s"},
         "rule": {"type": "schedule",
                  "stages": [{"years": [2022, 2023], "rule": {"type": "host"}}],
                  "otherwise": {"type": "fixed_return", "payer": "a", "beneficiary": "b",
                                "rate": 0.1, "capital": {2020: 100, 2022: 1000}}}}],
        streams=[{"id": "s", "host": "a", "tax": "other", "base": 100}])
    res = run(data)
    assert by_jurisdiction(res, "b", range(2020, 2026)) == pytest.approx(
        [10, 10, 0, 0, 110, 110])


def test_fixed_return_with_a_role_is_refused_cleanly():
    # Validation accepts roles wherever a rule names a jurisdiction; a fixed return needs real
    # jurisdictions, so a role must give a ScenarioError (not a crash).
    data = pinghu()
    data["agreements"][0]["rule"]["payer"] = "host"
    with pytest.raises(sharing.ScenarioError):
        run(data)


@pytest.mark.parametrize(("method", "estate", "awards"), [
    # Aumann & Maschler (1985), Table 1: claims 100, 200, 300.
    ("talmud", 100, [100 / 3, 100 / 3, 100 / 3]),
    ("talmud", 200, [50, 75, 75]),
    ("talmud", 300, [50, 100, 150]),
    ("proportional", 300, [50, 100, 150]),  # 300 · (1, 2, 3) / 6
    ("cea", 300, [100, 100, 100]),          # λ = 100
    ("cel", 300, [0, 100, 200]),            # losses 300 shared equally: μ = 100
])
def test_claims_rules(method, estate, awards):
    res = run(scenario(["h", "w1", "w2", "w3"], (2021, 2023), [
        {"id": "estate", "covers": {"stream": "s"},
         "rule": {"type": "claims", "method": method,
                  "claims": {"w1": 100, "w2": 200, "w3": 300}}}],
        streams=[stream("s", "h", {2021: estate, 2022: 700, 2023: -50})]))
    check(res, {(2021, "w1"): awards[0], (2021, "w2"): awards[1], (2021, "w3"): awards[2],
                (2021, "h"): 0})
    # 700 > 600 claimed: every claim is paid in full, the 100 left goes to the host.
    check(res, {(2022, "w1"): 100, (2022, "w2"): 200, (2022, "w3"): 300, (2022, "h"): 100})
    # A net refund (estate ≤ 0) goes wholly to the remainder (the host).
    check(res, {(2023, "w1"): 0, (2023, "w2"): 0, (2023, "w3"): 0, (2023, "h"): -50})


# =============================================================================================
# Compliance


def test_compliance_unpaid_is_reported():
    # 50:50 of a's 1000: b is owed 500 but only 80% is paid → b 400, a 600, unpaid 100 at a.
    res = run(scenario(["a", "b"], (2021, 2022), [
        {"id": "deal", "covers": {"stream": "s"}, "compliance": 0.8,
         "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}],
        streams=[stream("s", "a", {2021: 1000, 2022: 1000})]))
    check(res, {(2021, "a"): 600, (2021, "b"): 400})
    check(res, {(2021, "a"): 100, (2021, "b"): 0}, column="unpaid")
    summary = res.summary.set_index("jurisdiction")
    assert summary.at["a", "unpaid"] == pytest.approx(200)
    assert summary.at["b", "net_transfer"] == pytest.approx(800)
    flows = res.flows
    unpaid = flows[flows["kind"] == "unpaid"]
    assert list(unpaid["jurisdiction"]) == ["a", "a"]
    assert unpaid["amount"].tolist() == pytest.approx([100, 100])


def test_compliance_unpaid_fixed_return_is_reported():
    # 80% compliance on the 平湖–青田 return: 青田 receives 80, 80, 120, 120; the 20% 平湖 keeps
    # (20, 20, 30, 30) is an agreed transfer not honoured, so it is reported as unpaid.
    res = run(pinghu(compliance=0.8))
    assert by_jurisdiction(res, "qingtian", range(2020, 2024)) == pytest.approx(
        [80, 80, 120, 120])
    assert by_jurisdiction(res, "pinghu", range(2020, 2024), "unpaid") == pytest.approx(
        [20, 20, 30, 30])


# =============================================================================================
# Negative amounts (refunds, 留抵退税), one year per rule


NEGATIVE_CASES = {
    # rule: (rule dict, expected (a, b) for a refund of −100 collected by a)
    "host": ({"type": "host"}, (-100, 0)),
    "fixed": ({"type": "fixed", "shares": {"a": 0.6, "b": 0.4}}, (-60, -40)),
    "factors": ({"type": "factors", "weights": {"capital": 1.0}}, (-25, -75)),
    "stock_increment": ({"type": "stock_increment", "base_year": 2021,
                         "increment": {"type": "fixed", "shares": {"b": 1.0}}}, (-100, 0)),
    "schedule": ({"type": "schedule", "stages": [
        {"years": [2022, 2022], "rule": {"type": "fixed", "shares": {"a": 0.3, "b": 0.7}}}]},
        (-30, -70)),
    "capped": ({"type": "capped", "beneficiary": "b", "share": 0.5, "start": 2021,
                "max_years": 3, "cap": 1000}, (-50, -50)),
    "floor": ({"type": "floor", "beneficiary": "b", "minimum": 500,
               "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}, (-50, -50)),
    "tiered": ({"type": "tiered", "bands": [{"upto": 50, "shares": {"b": 1.0}},
                                            {"shares": {"a": 1.0}}]}, (0, -100)),
    "fixed_return": ({"type": "fixed_return", "payer": "a", "beneficiary": "b", "rate": 0.1,
                      "capital": 300}, (-130, 30)),
    "claims": ({"type": "claims", "method": "cea", "claims": {"b": 50}}, (-100, 0)),
    "optimized": ({"type": "optimized", "method": "test",
                   "stages": [{"years": [2021, 2022], "shares": {"a": 0.2, "b": 0.8}}]},
                  (-20, -80)),
}


@pytest.mark.parametrize("kind", sorted(NEGATIVE_CASES))
def test_negative_amounts(kind):
    # 2021: +200 (positive year), 2022: −100 (a refund) collected by a.
    # factors: capital 1:3 → 25% / 75%. stock_increment: the refund stays in a's stock.
    # capped: 2021 receipt 100, 2022 −50 (the cumulative falls to 50 < 1000).
    # floor: b's −50 is not raised (a has nothing positive to give).
    # tiered: a net refund follows the first band (b). claims: estate ≤ 0 → remainder (host).
    # fixed_return: the 30 payment does not change with the refund.
    rule, (want_a, want_b) = NEGATIVE_CASES[kind]
    res = run(scenario(["a", "b"], (2021, 2022), [
        {"id": "deal", "covers": {"stream": "s"}, "rule": rule}],
        streams=[stream("s", "a", {2021: 200, 2022: -100})],
        contributions={"deal": {"capital": {"a": 1, "b": 3}}}))
    check(res, {(2022, "a"): want_a, (2022, "b"): want_b})
    total = res.by_year.groupby("year")["allocated"].sum()
    assert total[2022] == pytest.approx(-100)


# =============================================================================================
# Costs


def test_cost_rules():
    # 1000 of infrastructure in 2021, booked by a:
    #   no rule → a pays it all; fixed 30:70; factors capital 1:3 → 250 / 750;
    #   by_benefit of a 50:50 agreement (a 400, b 400 of a's 800) → 500 / 500;
    #   by_benefit in a year with no positive benefit (2022 refund) → equal 200 / 200.
    def cost(rule):
        c = {"id": "infra", "parties": ["a", "b"], "by_year": {2021: 1000, 2022: 400},
             "paid_by": "a"}
        if rule is not None:
            c["rule"] = rule
        data = scenario(["a", "b"], (2021, 2022), [
            {"id": "deal", "covers": {"stream": "s"},
             "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}}],
            streams=[stream("s", "a", {2021: 800, 2022: -100})],
            contributions={"infra": {"capital": {"a": 1, "b": 3}}}, costs=[c])
        return run(data)

    check(cost(None), {(2021, "a"): 1000, (2021, "b"): 0}, "cost_share")
    check(cost({"type": "fixed", "shares": {"a": 0.3, "b": 0.7}}),
          {(2021, "a"): 300, (2021, "b"): 700}, "cost_share")
    check(cost({"type": "factors", "weights": {"capital": 1.0}}),
          {(2021, "a"): 250, (2021, "b"): 750}, "cost_share")
    res = cost({"type": "by_benefit", "agreement": "deal"})
    check(res, {(2021, "a"): 500, (2021, "b"): 500, (2022, "a"): 200, (2022, "b"): 200},
          "cost_share")
    summary = res.summary.set_index("jurisdiction")
    # no-agreement PV: a keeps its 800 − 100 and pays the 1400 it booked; discount rate 0.
    assert summary.at["a", "no_agreement_pv"] == pytest.approx(700 - 1400)
    assert summary.at["b", "no_agreement_pv"] == pytest.approx(0)
    # PV net benefit: a 400 − 50 − 700 = −350, b the same.
    assert summary.at["a", "pv_net_benefit"] == pytest.approx(-350)
