"""A plain-loop reference for Monte Carlo: each draw through ``sharing.simulate`` on a
scenario edited to hold that draw's inputs.

The draw's random inputs (growth multipliers, exit years, delays, compliance, parameter
values) are taken from :func:`sharing.risk.sample`; everything after that is done here, one
draw at a time, by editing the scenario with :meth:`Scenario.replace` (validated) and running
the deterministic engine: park site and explicit stream taxes become ``by_year`` amounts
(projection × multiplier × alive), a delayed firm's ``move_year`` (and ``production_year``)
moves, compliance and parameters are set by key path. Firm growth noise and firm survival
cannot be written into a scenario, so the cases checked against this reference leave firms
without them.
"""

from __future__ import annotations

import numpy as np

import sharing
from sharing.scenario import project


def draw_scenario(plan, smp, d: int) -> sharing.Scenario:
    sc = plan.scenario
    years = np.arange(sc.years.start, sc.years.end + 1)
    s = plan.model.streams
    changes: dict = {}
    park_rows = iter(np.flatnonzero(s.park >= 0))
    for park in sc.parks:
        for i, site in enumerate(park.sites):
            for tax, proj in site.taxes.items():
                row = next(park_rows)
                path = project(proj, years) * _factor(plan, smp, d, row, len(years))
                changes[f"parks.{park.id}.sites[{i}].taxes.{tax}"] = {
                    "by_year": {int(y): float(v) for y, v in zip(years, path, strict=True)}}
    spec_rows = iter(np.flatnonzero(s.spec >= 0))
    for spec in sc.streams:
        row = next(spec_rows)
        path = project(spec, years) * _factor(plan, smp, d, row, len(years))
        changes[f"streams.{spec.id}"] = {"id": spec.id, "host": spec.host, "tax": spec.tax,
                                         "by_year": {int(y): float(v)
                                                     for y, v in zip(years, path, strict=True)}}
    if smp.delay is not None:
        of = plan.uncertainty.move_delay.firms.of
        for k, f in enumerate(plan.delayed):
            firm = sc.firms[f]
            shift = int(smp.delay[d, k])
            if of == "move":
                changes[f"firms.{firm.id}.move_year"] = firm.move_year + shift
            if firm.production_year is not None or of == "production":
                changes[f"firms.{firm.id}.production_year"] = firm.producing_from + shift
    for a, ag in enumerate(sc.agreements):
        changes[f"agreements.{ag.id}.compliance"] = float(smp.compliance[d, a])
    for p, value in zip(plan.parameters, smp.values[d], strict=True):
        changes[p.path] = float(value)
    return sc.replace(changes)


def _factor(plan, smp, d: int, row: int, n_years: int) -> np.ndarray:
    out = np.ones(n_years)
    if smp.multiplier is not None:
        out = out * smp.multiplier[d, plan.unit_of_row[row]]
    if smp.exit_at is not None and plan.exit_of_row[row] >= 0:
        out = out * (np.arange(n_years) < smp.exit_at[d, plan.exit_of_row[row]])
    return out


def reference(plan, smp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PV net benefit, standalone PV and allocations per draw, draw by draw."""
    pv, alone, alloc = [], [], []
    for d in range(len(smp)):
        res = sharing.simulate(draw_scenario(plan, smp, d))
        pv.append(res.pv_net_benefit)
        alone.append(res.standalone_pv)
        alloc.append(res.allocated)
    return np.array(pv), np.array(alone), np.array(alloc)
