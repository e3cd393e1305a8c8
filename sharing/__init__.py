"""sharing — cross-region fiscal and tax benefit-sharing simulator (跨区域财税利益分享模拟器).

Public API::

    sc = sharing.load_scenario("scenarios/gaozhu.yaml")
    res = sharing.simulate(sc)          # -> Result: res.summary, res.flows, res.by_year
    sharing.compare({"a": sc, "b": sc2})
    opt = sharing.optimize(sc, objective="maximin_gain")   # -> OptimizationResult
    res.explain("yubei", year=2030)      # -> Trace: why a number is what it is
    sharing.agreement_text(sc, lang="zh").to_docx("draft.docx")   # the draft agreement
    led = sharing.settle(sc, actuals="actuals.csv", payments="payments.csv", through=2025)
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from sharing.agreement_text import AgreementText, agreement_text
from sharing.engine import Model, compile_scenario, simulate_file
from sharing.explain import Trace
from sharing.optimizer import OptimizationResult, OptimizationSpec, optimize
from sharing.result import Result
from sharing.result import compare as _compare_results
from sharing.scenario import Scenario, ScenarioError, load_scenario, parse_scenario
from sharing.settlement import Ledger, settle

__all__ = [
    "AgreementText", "Ledger", "Model", "OptimizationResult", "OptimizationSpec", "Result",
    "Scenario", "ScenarioError", "Trace", "agreement_text", "compare", "compile_scenario",
    "load_scenario", "optimize", "parse_scenario", "settle", "simulate", "simulate_file",
]


def simulate(scenario: Scenario | Model) -> Result:
    """Run a scenario (or an already compiled Model) and return its Result."""
    model = scenario if isinstance(scenario, Model) else compile_scenario(scenario)
    return model.run()


def compare(scenarios: Mapping[str, Scenario | Model | Result]) -> pd.DataFrame:
    """Scenarios side by side, with differences against the first (see result.compare)."""
    return _compare_results({
        name: s if isinstance(s, Result) else simulate(s) for name, s in scenarios.items()})
