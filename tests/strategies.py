"""Hypothesis strategies: small, valid scenarios as plain dicts (what a YAML file holds).

``scenario_dicts()`` draws 2–4 jurisdictions over 2–8 years, a park with 1–3 sites, migrated
firms, transferred projects and explicit streams (refunds via negative ``by_year`` values),
1–3 agreements over disjoint groups of streams with randomly nested rules of every type,
contributions for factor formulas, costs with every cost rule and compliance below 1. Every
draw is meant to pass ``sharing.parse_scenario``; a few (an agreement whose host/tax filter
catches nothing, a rule naming a role its streams lack) are meant to be refused by both the
engine and the reference.
"""

from __future__ import annotations

from hypothesis import strategies as st

JIDS = ("j0", "j1", "j2", "j3")
PROVINCES = ("sichuan", "chongqing", "other")
TAXES = ("vat", "eit", "pit", "urban_maintenance", "property", "land_use", "land_vat", "stamp",
         "deed", "other")
FIRM_TAXES = ("vat", "eit", "pit", "urban_maintenance")
FACTORS = ("capital", "land_mu", "payroll", "sales", "assets", "headcount", "revenue",
           "property", "installed_capacity")
FACTOR_PRESETS = ("cn_branch_cit", "de_gewst", "de_gewst_wind_solar", "us_uditpa",
                  "us_double_weighted_sales", "us_single_sales", "ca_provincial", "eu_ccctb")

# Money in 万元 with two decimals: no sub-normal noise, shrinks to readable numbers.
positive_amounts = st.integers(0, 500_000).map(lambda v: v / 100)
signed_amounts = st.one_of(positive_amounts, positive_amounts,
                           st.integers(-60_000, -1).map(lambda v: v / 100))
fractions = st.integers(0, 100).map(lambda v: v / 100)
growths = st.sampled_from([0.0, 0.05, 0.1, 0.25, -0.1, -0.3])


def amounts(negative: bool):
    return signed_amounts if negative else positive_amounts


@st.composite
def share_dicts(draw, keys: list[str], max_size: int = 3) -> dict[str, float]:
    """Shares over 1..max_size distinct keys, summing to 1."""
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=max_size, unique=True))
    weights = draw(st.lists(st.integers(0, 10), min_size=len(chosen), max_size=len(chosen)))
    if sum(weights) == 0:
        weights[0] = 1
    total = sum(weights)
    return {k: w / total for k, w in zip(chosen, weights, strict=True)}


@st.composite
def projections(draw, y0: int, y1: int, negative: bool) -> dict:
    if draw(st.integers(0, 2)) > 0:
        years = draw(st.lists(st.integers(y0 - 1, y1 + 1), min_size=1, max_size=y1 - y0 + 3,
                              unique=True))
        out: dict = {"by_year": {y: draw(amounts(negative)) for y in sorted(years)}}
    else:
        out = {"base": draw(positive_amounts), "growth": draw(growths)}
        if draw(st.booleans()):
            out["base_year"] = draw(st.integers(y0 - 2, y1))
    if draw(st.integers(0, 3)) == 0:
        out["start"] = draw(st.integers(y0, y1))
    if draw(st.integers(0, 3)) == 0:
        out["end"] = draw(st.integers(out.get("start", y0), y1 + 1))
    return out


# ---------------------------------------------------------------------------------------------
# Rules


@st.composite
def rules(draw, ctx: dict, seen: tuple[int, ...], depth: int = 0) -> dict:
    """A rule that will be applied to the years ``seen`` (all simulated years, or a schedule
    stage's). ``ctx``: jids, roles (usable role names), migrated (True when every covered
    stream has a move year), y0/y1 (the horizon)."""
    lo, hi = min(seen), max(seen)
    leaves = ["host", "fixed", "factors", "tiered", "claims", "optimized", "capped",
              "fixed_return"]
    nodes = ["stock_increment", "stock_increment", "schedule", "floor"]
    kind = draw(st.sampled_from(leaves + (nodes if depth < 2 else [])))
    keys = list(ctx["jids"]) + list(ctx["roles"])
    jids = list(ctx["jids"])
    child = rules(ctx, seen, depth + 1)
    money = amounts(False)
    if kind == "host":
        return {"type": "host"}
    if kind == "fixed":
        return {"type": "fixed", "shares": draw(share_dicts(keys))}
    if kind == "factors":
        if draw(st.booleans()):
            return {"type": "factors", "preset": draw(st.sampled_from(FACTOR_PRESETS))}
        return {"type": "factors", "weights": draw(share_dicts(list(FACTORS)))}
    if kind == "tiered":
        n = draw(st.integers(1, 3))
        limits = sorted(draw(st.lists(st.integers(1, 5000), min_size=n - 1, max_size=n - 1,
                                      unique=True)))
        bands = []
        for k in range(n):
            band: dict = {"shares": draw(share_dicts(keys))}
            if k < n - 1:
                band["upto"] = float(limits[k])
            bands.append(band)
        return {"type": "tiered", "bands": bands}
    if kind == "claims":
        claimants = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True))
        out = {"type": "claims",
               "method": draw(st.sampled_from(["proportional", "cea", "cel", "talmud"])),
               "claims": {k: draw(money) for k in claimants}}
        if draw(st.booleans()):
            out["remainder"] = draw(st.sampled_from(keys))
        return out
    if kind == "optimized":
        return {"type": "optimized", "method": "test",
                "stages": [{"years": list(span), "shares": draw(share_dicts(keys))}
                           for span in draw(spans(lo, hi))]}
    if kind == "capped":
        return draw(capped_rules(ctx, lo, hi))
    if kind == "stock_increment":
        out = {"type": "stock_increment", "increment": draw(child)}
        if draw(st.booleans()):
            out["stock"] = draw(child)
        if draw(st.booleans()):
            out["indexation"] = draw(st.sampled_from([0.05, 0.1, -0.05]))
        if draw(st.booleans()):
            # baseline amounts per host: base_year may lie outside the simulated years
            out["base_year"] = draw(st.integers(ctx["y0"] - 2, hi))
            hosts = draw(st.lists(st.sampled_from(jids), min_size=1, unique=True))
            out["baseline"] = {j: draw(money) for j in hosts}
        else:
            # a year the rule sees: the engine measures the baseline inside the rule's own
            # years only (see test_rules_handworked for a base year before a stage)
            out["base_year"] = draw(st.sampled_from(seen))
        return out
    if kind == "schedule":
        stages, rest = [], set(seen)
        for a, b in draw(spans(lo, hi)):
            mine = tuple(t for t in seen if a <= t <= b)
            rest -= set(mine)
            stages.append({"years": [a, b],
                           "rule": draw(rules(ctx, mine or seen, depth + 1))})
        out = {"type": "schedule", "stages": stages}
        if draw(st.booleans()):
            out["otherwise"] = draw(rules(ctx, tuple(sorted(rest)) or seen, depth + 1))
        return out
    if kind == "floor":
        out = {"type": "floor", "beneficiary": draw(st.sampled_from(keys)),
               "minimum": draw(money), "rule": draw(child)}
        if draw(st.booleans()):
            out["from_year"] = draw(st.integers(lo - 1, hi + 1))
        return out
    # fixed_return: payer and beneficiary are jurisdiction ids
    out = {"type": "fixed_return", "payer": draw(st.sampled_from(jids)),
           "beneficiary": draw(st.sampled_from(jids)), "rate": draw(fractions)}
    if draw(st.booleans()):
        out["capital"] = draw(money)
    else:
        years = draw(st.lists(st.integers(ctx["y0"] - 2, ctx["y1"] + 1), min_size=1,
                              max_size=4, unique=True))
        out["capital"] = {y: draw(money) for y in sorted(years)}
    if draw(st.booleans()):
        out["from_year"] = draw(st.integers(lo - 1, hi))
    if draw(st.booleans()):
        out["to_year"] = draw(st.integers(out.get("from_year", lo), hi + 1))
    if depth < 2 and draw(st.booleans()):
        out["rule"] = draw(child)
    return out


@st.composite
def spans(draw, lo: int, hi: int) -> list[tuple[int, int]]:
    """1–2 non-overlapping year ranges, possibly reaching outside lo..hi."""
    cut = draw(st.integers(lo, hi))
    first = (draw(st.integers(lo - 1, cut)), cut)
    if cut < hi and draw(st.booleans()):
        return [first, (cut + 1, draw(st.integers(cut + 1, hi + 1)))]
    return [first]


@st.composite
def capped_rules(draw, ctx: dict, lo: int, hi: int) -> dict:
    """A capped rule (``start`` is required unless every stream is a migrated firm's)."""
    keys = list(ctx["jids"]) + list(ctx["roles"])
    subsidy = {"amount": draw(positive_amounts)}
    if ctx["migrated"] and draw(st.integers(0, 3)) == 0:
        out: dict = {"type": "capped", "preset": "jjj_2015"}
        if draw(st.booleans()):
            out["extension"] = {"years": 2, "below": draw(positive_amounts)}
            out["eligibility"] = {"min_pre_move": draw(st.sampled_from([0.0, 500.0, 2000.0]))}
        if draw(st.booleans()):
            out["end_subsidy"] = subsidy
        return out
    out = {"type": "capped", "share": draw(fractions), "max_years": draw(st.integers(1, 4)),
           "beneficiary": draw(st.sampled_from(keys))}
    if not ctx["migrated"] or draw(st.integers(0, 3)) == 0:
        out["start"] = draw(st.integers(lo - 1, hi))
    elif draw(st.booleans()):
        out["start_from"] = draw(st.sampled_from(["production", "move"]))
    choice = draw(st.integers(0, 2))
    if choice == 1:
        out["cap"] = draw(positive_amounts)
    elif choice == 2:
        out["cap"] = {"pre_move_years": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        years = draw(st.integers(1, 2))
        if choice and draw(st.booleans()):
            out["extension"] = {"years": years, "when": "cap_not_reached"}
        else:
            out["extension"] = {"years": years, "below": draw(positive_amounts)}
    if draw(st.integers(0, 2)) == 0:
        out["end_subsidy"] = subsidy
    if draw(st.integers(0, 2)) == 0:
        out["eligibility"] = {"min_pre_move": draw(st.sampled_from([0.0, 100.0, 1000.0]))}
    if draw(st.booleans()):
        out["taxes"] = draw(st.lists(st.sampled_from(FIRM_TAXES), min_size=1, unique=True))
    return out


# ---------------------------------------------------------------------------------------------
# Scenarios


@st.composite
def contributions_for(draw, jids: list[str]) -> dict:
    """Values of every factor by jurisdiction (a few draws, rotated per factor: cheap to
    generate and to shrink)."""
    n = len(jids)
    drawn = draw(st.lists(st.integers(0, 100), min_size=n, max_size=n))
    if not any(drawn):
        drawn[0] = 1
    return {factor: {j: float(drawn[(i + k) % n]) for i, j in enumerate(jids)}
            for k, factor in enumerate(FACTORS)}


@st.composite
def scenario_dicts(draw, negative: bool = True) -> dict:
    n_j = draw(st.integers(2, 4))
    jids = list(JIDS[:n_j])
    y0 = draw(st.integers(2013, 2022))
    y1 = y0 + draw(st.integers(1, 7))
    data: dict = {
        "scenario": 1, "name": "随机情景", "name_en": "random scenario",
        "years": {"start": y0, "end": y1},
        "discount_rate": draw(st.sampled_from([0.0, 0.03, 0.08])),
        "jurisdictions": [{"id": j, "name": f"辖区{j}", "name_en": j.upper(),
                           "province": draw(st.sampled_from(PROVINCES))} for j in jids],
    }
    retention: dict = {}
    if draw(st.booleans()):
        retention["default"] = {t: draw(fractions) for t in
                                draw(st.lists(st.sampled_from(TAXES), max_size=3, unique=True))}
    if draw(st.booleans()):
        prov = draw(st.sampled_from(PROVINCES))
        retention["provinces"] = {prov: {draw(st.sampled_from(FIRM_TAXES)): draw(fractions)}}
    if draw(st.booleans()):
        # a fraction for every year, or for some years only (the rest fall through)
        value = draw(fractions | st.dictionaries(st.integers(y0 - 1, y1 + 1), fractions,
                                                 min_size=1, max_size=3))
        retention["jurisdictions"] = {draw(st.sampled_from(jids)):
                                      {draw(st.sampled_from(FIRM_TAXES)): value}}
    if retention:
        data["retention"] = retention

    # the park
    partners = draw(st.lists(st.sampled_from(jids), min_size=2, max_size=n_j, unique=True))
    sites = []
    for _ in range(draw(st.integers(1, 3))):
        taxes = draw(st.lists(st.sampled_from(TAXES), min_size=1, max_size=2, unique=True))
        sites.append({"host": draw(st.sampled_from(partners)),
                      "taxes": {t: draw(projections(y0, y1, negative)) for t in taxes}})
    data["parks"] = [{"id": "p0", "partners": partners, "sites": sites}]

    # migrated firms and transferred projects
    firms, migrated_ids, project_ids = [], [], []
    for i in range(draw(st.integers(0, 2))):
        origin, destination = draw(st.lists(st.sampled_from(jids), min_size=2, max_size=2,
                                            unique=True))
        taxes = draw(st.lists(st.sampled_from(FIRM_TAXES), min_size=1, max_size=3, unique=True))
        pre_move = {t: draw(positive_amounts) for t in taxes}
        if not any(pre_move.values()):
            pre_move[taxes[0]] = draw(st.integers(1, 500_000).map(lambda v: v / 100))
        firm = {"id": f"m{i}", "origin": origin, "destination": destination,
                "move_year": draw(st.integers(y0 - 1, y1 + 1)), "pre_move": pre_move,
                "growth": draw(growths)}
        if draw(st.booleans()):  # reaches production (达产) later than it moves
            firm["production_year"] = firm["move_year"] + draw(st.integers(0, 3))
        firms.append(firm)
        migrated_ids.append(f"m{i}")
    for i in range(draw(st.integers(0, 2))):
        introduced_by, host = draw(st.lists(st.sampled_from(jids), min_size=2, max_size=2,
                                            unique=True))
        taxes = draw(st.lists(st.sampled_from(TAXES), min_size=1, max_size=2, unique=True))
        firms.append({"id": f"q{i}", "introduced_by": introduced_by, "host": host,
                      "taxes": {t: draw(projections(y0, y1, negative)) for t in taxes}})
        project_ids.append(f"q{i}")
    if firms:
        data["firms"] = firms
    streams = []
    for i in range(draw(st.integers(0, 2))):
        streams.append({"id": f"s{i}", "host": draw(st.sampled_from(jids)),
                        "tax": draw(st.sampled_from(TAXES)),
                        **draw(projections(y0, y1, negative))})
    if streams:
        data["streams"] = streams

    # agreements over disjoint groups of streams
    groups = [("park", {"park": "p0"}, ["host"], False)]
    if migrated_ids:
        groups.append(("migrated", {"firm": migrated_ids}, ["host", "origin", "destination"],
                       True))
    if project_ids:
        groups.append(("projects", {"firm": project_ids}, ["host", "origin", "destination"],
                       False))
    if streams:
        groups.append(("streams", {"kind": "stream"}, ["host"], False))
    if migrated_ids and project_ids and draw(st.integers(0, 3)) == 0:
        # one agreement for all firms: capped then needs `start`
        groups = [g for g in groups if g[0] not in ("migrated", "projects")]
        groups.append(("firms", {"kind": "firm"}, ["host", "origin", "destination"], False))
    chosen = draw(st.lists(st.sampled_from(groups), min_size=1, max_size=3,
                           unique_by=lambda g: g[0]))
    agreements, contributions = [], {}
    for k, (name, covers, roles, migrated) in enumerate(chosen):
        covers = dict(covers)
        if draw(st.integers(0, 15)) == 5:  # an extra filter; may catch nothing (then refused)
            if draw(st.booleans()):
                covers["tax"] = draw(st.lists(st.sampled_from(TAXES), min_size=1, max_size=3,
                                              unique=True))
            else:
                covers["host"] = draw(st.sampled_from(jids))
        ctx = {"jids": jids, "roles": roles, "migrated": migrated, "y0": y0, "y1": y1}
        ag = {"id": f"a{k}", "covers": covers,
              "rule": draw(rules(ctx, tuple(range(y0, y1 + 1))))}
        if draw(st.integers(0, 4)) == 0:
            ag["base"] = "gross"
        if draw(st.booleans()):
            ag["compliance"] = draw(st.integers(50, 99).map(lambda v: v / 100))
        agreements.append(ag)
        if name == "park" and draw(st.booleans()):
            contributions["p0"] = draw(contributions_for(jids))  # looked up via the park
        else:
            contributions[f"a{k}"] = draw(contributions_for(jids))
    data["agreements"] = agreements

    costs = []
    for i in range(draw(st.integers(0, 2))):
        cost: dict = {"id": f"c{i}"}
        if draw(st.booleans()):
            cost["park"] = "p0"
        else:
            cost["parties"] = draw(st.lists(st.sampled_from(jids), min_size=1, unique=True))
        years = draw(st.lists(st.integers(y0, y1), min_size=1, unique=True))
        cost["by_year"] = {y: draw(positive_amounts) for y in sorted(years)}
        cost["paid_by"] = (draw(st.sampled_from(jids)) if draw(st.booleans())
                           else draw(share_dicts(jids)))
        kind = draw(st.sampled_from(["none", "fixed", "factors", "by_benefit"]))
        if kind == "fixed":
            cost["rule"] = {"type": "fixed", "shares": draw(share_dicts(jids))}
        elif kind == "factors":
            if draw(st.booleans()):
                cost["rule"] = {"type": "factors", "preset": draw(st.sampled_from(FACTOR_PRESETS))}
            else:
                cost["rule"] = {"type": "factors", "weights": draw(share_dicts(list(FACTORS)))}
            if not ("park" in cost and "p0" in contributions and draw(st.booleans())):
                contributions[f"c{i}"] = draw(contributions_for(jids))
        elif kind == "by_benefit":
            rule = {"type": "by_benefit", "agreement": draw(st.sampled_from(agreements))["id"]}
            if draw(st.booleans()):
                rule["parties"] = draw(st.lists(st.sampled_from(jids), min_size=1, unique=True))
            cost["rule"] = rule
        costs.append(cost)
    if costs:
        data["costs"] = costs
    data["contributions"] = contributions
    if draw(st.booleans()):
        data["standalone"] = {"p0": {j: draw(fractions) for j in partners}}
    return data


@st.composite
def capped_scenario_dicts(draw) -> dict:
    """Migrated firms under one capped rule (alone or inside a schedule stage): the rule's
    clock (move, production, fixed start), extension triggers, cap and end subsidy, drawn
    often enough to be checked every run."""
    jids = list(JIDS[:draw(st.integers(2, 3))])
    y0 = draw(st.integers(2013, 2022))
    y1 = y0 + draw(st.integers(1, 9))
    firms = []
    for i in range(draw(st.integers(1, 4))):
        origin, destination = draw(st.lists(st.sampled_from(jids), min_size=2, max_size=2,
                                            unique=True))
        taxes = draw(st.lists(st.sampled_from(FIRM_TAXES), min_size=1, max_size=3, unique=True))
        move = draw(st.integers(y0 - 2, y1))
        firm = {"id": f"m{i}", "origin": origin, "destination": destination, "move_year": move,
                "pre_move": {t: draw(st.integers(1, 500_000).map(lambda v: v / 100))
                             for t in taxes},
                "growth": draw(growths)}
        if draw(st.booleans()):
            firm["production_year"] = move + draw(st.integers(0, 4))
        firms.append(firm)
    ctx = {"jids": jids, "roles": ["host", "origin", "destination"], "migrated": True,
           "y0": y0, "y1": y1}
    rule = draw(capped_rules(ctx, y0, y1))
    if "preset" not in rule and draw(st.integers(0, 3)) > 0:
        rule["beneficiary"] = "origin"  # the usual deal: other beneficiaries share less often
    if draw(st.booleans()):
        rule["end_subsidy"] = {"amount": draw(positive_amounts)}
    if draw(st.integers(0, 3)) == 0:
        cut = draw(st.integers(y0, y1))
        rule = {"type": "schedule", "stages": [{"years": [y0 - 1, cut], "rule": rule}]}
    agreement: dict = {"id": "a0", "covers": {"kind": "firm"}, "rule": rule}
    if draw(st.integers(0, 3)) == 0:
        agreement["base"] = "gross"
    if draw(st.integers(0, 3)) == 0:
        agreement["compliance"] = 0.8
    return {
        "scenario": 1, "name": "随机迁移企业", "name_en": "random relocations",
        "years": {"start": y0, "end": y1},
        "discount_rate": draw(st.sampled_from([0.0, 0.05])),
        "jurisdictions": [{"id": j, "name": f"辖区{j}", "name_en": j.upper(),
                           "province": draw(st.sampled_from(PROVINCES))} for j in jids],
        "firms": firms, "agreements": [agreement],
    }
