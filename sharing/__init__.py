"""sharing — cross-region fiscal and tax benefit-sharing simulator (跨区域财税利益分享模拟器).

Public API::

    sc = sharing.load_scenario("scenarios/gaozhu.yaml")
    res = sharing.simulate(sc)          # -> Result: res.summary, res.flows, res.by_year
    sharing.compare({"a": sc, "b": sc2})
    sc2 = sc.replace({"agreements.gaozhu_revenue.rule.increment.shares": {"guangan": 0.6,
                                                                         "yubei": 0.4}})
    sharing.sweep(sc, "discount_rate", [0.0, 0.03, 0.05])   # one summary row per value
    opt = sharing.optimize(sc, objective="maximin_gain")   # -> OptimizationResult
    res.explain("yubei", year=2030)      # -> Trace: why a number is what it is
    sharing.agreement_text(sc, lang="zh").to_docx("draft.docx")   # the draft agreement
    led = sharing.settle(sc, actuals="actuals.csv", payments="payments.csv", through=2025)
    mc = sharing.monte_carlo(sc, draws=10_000, seed=7)   # mc.summary, mc.draws, mc.paths
    sens = sharing.sensitivity(sc)       # sens.table (tornado), sens.break_even
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from sharing.agreement_text import AgreementText, agreement_text
from sharing.engine import Model, compile_scenario, simulate_file
from sharing.explain import Trace
from sharing.optimizer import OptimizationResult, OptimizationSpec, optimize
from sharing.result import Result
from sharing.result import compare as _compare_results
from sharing.risk import MonteCarloResult, SensitivityResult, monte_carlo, sensitivity
from sharing.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from sharing.settlement import Ledger, settle

__all__ = [
    "AgreementText", "Ledger", "Model", "MonteCarloResult", "OptimizationResult",
    "OptimizationSpec", "Result", "Scenario", "ScenarioError", "SensitivityResult", "Trace",
    "agreement_text", "compare", "compile_scenario", "load_scenario", "monte_carlo",
    "optimize", "parse_scenario", "sensitivity", "settle", "simulate", "simulate_file",
    "sweep",
]


def simulate(scenario: Scenario | Model) -> Result:
    """Run a scenario (or an already compiled Model) and return its Result."""
    model = scenario if isinstance(scenario, Model) else compile_scenario(scenario)
    return model.run()


def compare(scenarios: Mapping[str, Scenario | Model | Result],
            baseline: str | None = None) -> pd.DataFrame:
    """Scenarios side by side, with differences against ``baseline`` (a key of
    ``scenarios``; default the first; see result.compare)."""
    return _compare_results({
        name: s if isinstance(s, Result) else simulate(s) for name, s in scenarios.items()},
        baseline)


def sweep(scenario: Scenario, path: str, values: Iterable[Any]) -> pd.DataFrame:
    """Run ``scenario`` once per value at the key ``path`` (see :meth:`Scenario.replace`).

    Returns one row per value and jurisdiction: a ``value`` column, then the columns of
    :attr:`Result.summary`. Every edited scenario is validated; the first bad value raises
    ScenarioError naming the path.
    """
    frames = []
    for value in values:
        summary = simulate(scenario.replace({path: value})).summary
        summary.insert(0, "value", [value] * len(summary))
        frames.append(summary)
    if not frames:
        raise ValueError("sweep needs at least one value")
    return pd.concat(frames, ignore_index=True)
