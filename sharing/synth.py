"""Synthetic scenarios of any size, reproducible from a seed, for benchmarks and demos.

Every number here is random and illustrative; the rules are the real presets (``jjj_2015``
for migrated firms, 川渝高竹新区's stock/increment 50:50 for parks).
"""

from __future__ import annotations

import numpy as np

from sharing.scenario import Firm, Scenario

PROVINCES = ("sichuan", "chongqing")


def synthetic_scenario(n_firms: int = 1000, n_parks: int = 10, n_jurisdictions: int = 10,
                       start: int = 2021, n_years: int = 15, seed: int = 0) -> Scenario:
    """A scenario with ``n_firms`` migrated firms (VAT, EIT, PIT) under ``jjj_2015`` and
    ``n_parks`` two-partner parks under stock/increment 50:50."""
    rng = np.random.default_rng(seed)
    end = start + n_years - 1
    jur = [{"id": f"j{i}", "name": f"辖区{i}", "name_en": f"Jurisdiction {i}",
            "province": PROVINCES[i % 2]} for i in range(n_jurisdictions)]
    origin = rng.integers(0, n_jurisdictions, n_firms)
    dest = (origin + rng.integers(1, n_jurisdictions, n_firms)) % n_jurisdictions
    move = rng.integers(start + 1, end, n_firms)
    growth = rng.normal(0.03, 0.05, n_firms).clip(-0.3, 0.3)
    vat = rng.lognormal(7.0, 1.0, n_firms).round(2)
    firms = [
        Firm.model_construct(
            id=f"f{k}", name=None, name_en=None, origin=f"j{o}", destination=f"j{d}",
            move_year=int(m), pre_move={"vat": float(v), "eit": float(v) * 0.5,
                                        "pit": float(v) * 0.1},
            growth=float(g), introduced_by=None, host=None, taxes=None, illustrative=True)
        for k, (o, d, m, g, v) in enumerate(zip(origin, dest, move, growth, vat, strict=True))
    ]
    parks, agreements = [], []
    for p in range(n_parks):
        a, b = (2 * p) % n_jurisdictions, (2 * p + 1) % n_jurisdictions
        sites = [{"host": f"j{h}", "taxes": {
            "vat": {"base": float(rng.uniform(1000, 9000)), "base_year": start,
                    "growth": float(rng.uniform(0.0, 0.15))},
            "eit": {"base": float(rng.uniform(500, 4000)), "base_year": start,
                    "growth": float(rng.uniform(0.0, 0.12))}}} for h in (a, b)]
        parks.append({"id": f"park{p}", "partners": [f"j{a}", f"j{b}"], "sites": sites})
        agreements.append({"id": f"park{p}_sharing", "covers": {"park": f"park{p}"},
                           "rule": {"type": "stock_increment", "base_year": start,
                                    "increment": {"type": "fixed",
                                                  "shares": {f"j{a}": 0.5, f"j{b}": 0.5}}}})
    if n_firms:
        agreements.append({"id": "relocation", "covers": {"kind": "firm"},
                           "rule": {"type": "capped", "preset": "jjj_2015"}})
    data = {"name": "合成情景", "name_en": "Synthetic scenario",
            "years": {"start": start, "end": end}, "discount_rate": 0.03,
            "jurisdictions": jur, "parks": parks, "agreements": agreements}
    return Scenario.model_validate({**data, "firms": firms})
