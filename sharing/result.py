"""Results of a simulation: tidy flows, the per-jurisdiction summary, per-year views, exports.

A :class:`Result` is frozen: it keeps the engine's arrays (jurisdictions × years) and builds
its DataFrames on first use, so a Monte Carlo loop that only needs ``pv_net_benefit`` never
pays for the long ``flows`` table. Money is in 万元; ``pv_`` columns are discounted to the first
year at the scenario's ``discount_rate``; everything else is a nominal sum over the horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sharing.i18n import Problem, define, did_you_mean
from sharing.scenario import Projection, Scenario, ScenarioError, project
from sharing.taxes import TAXES

if TYPE_CHECKING:
    from sharing.engine import Allocation, Model

SUMMARY_COLUMNS = [
    "jurisdiction", "name", "name_en", "collected", "retained", "allocated", "net_transfer",
    "unpaid", "subsidy", "cost_share", "net_benefit", "pv_net_benefit", "standalone_pv", "gain",
    "no_agreement_pv",
]
FLOW_COLUMNS = ["year", "jurisdiction", "stream", "source", "tax", "kind", "amount"]
LABELS: dict[str, tuple[str, str]] = {
    "jurisdiction": ("辖区", "jurisdiction"),
    "name": ("名称", "name"),
    "name_en": ("英文名", "name (English)"),
    "collected": ("征收额", "collected"),
    "retained": ("留成", "retained"),
    "allocated": ("分享后收入", "allocated"),
    "net_transfer": ("净转移", "net transfer"),
    "unpaid": ("未兑现", "unpaid"),
    "subsidy": ("中央补助", "central subsidy"),
    "cost_share": ("成本分担", "cost share"),
    "net_benefit": ("净收益", "net benefit"),
    "pv_net_benefit": ("净收益现值", "PV net benefit"),
    "standalone_pv": ("不合作现值", "standalone PV"),
    "gain": ("合作收益", "gain"),
    "no_agreement_pv": ("无协议现值", "no-agreement PV"),
    "year": ("年份", "year"),
    "stream": ("税源", "stream"),
    "source": ("来源", "source"),
    "tax": ("税种", "tax"),
    "kind": ("类型", "kind"),
    "amount": ("金额", "amount"),
    "agreement": ("协议", "agreement"),
    "indicator": ("指标", "indicator"),
    "path": ("规则路径", "rule path"),
    "stage_start": ("阶段起", "stage from"),
    "stage_end": ("阶段止", "stage to"),
    "share": ("优化份额", "optimized share"),
    "current_share": ("现行份额", "current share"),
    "current_pv": ("现行净收益现值", "current PV"),
    "current_gain": ("现行合作收益", "current gain"),
    "constraint": ("约束", "constraint"),
    "requested": ("要求值", "requested"),
    "feasible_at": ("可行值", "feasible at"),
    "change": ("变动", "change"),
    "metric": ("指标", "metric"),
    "scenario": ("情景", "scenario"),
    "value": ("数值", "value"),
    "difference": ("与基准之差", "vs baseline"),
    "coalition": ("联盟", "coalition"),
}


@dataclass(frozen=True)
class Result:
    """One simulation, as the engine computed it (``Model.run``). Arrays are
    ``(jurisdictions, years)`` in 万元; ``counterfactual`` is the engine's no-cooperation
    computation, called only when a view needs it."""

    model: Model
    alloc: Allocation
    allocated: np.ndarray
    collected: np.ndarray
    retained: np.ndarray
    counterfactual: Callable[[], np.ndarray]

    @cached_property
    def standalone_pv(self) -> np.ndarray:
        """PV net benefit per jurisdiction if nobody cooperated with it (v({i}))."""
        return self.counterfactual()

    @property
    def scenario(self) -> Scenario:
        return self.model.scenario

    @property
    def years(self) -> np.ndarray:
        return self.model.years

    @property
    def cost_share(self) -> np.ndarray:
        return self.alloc.cost_share

    @property
    def subsidy(self) -> np.ndarray:
        """Central one-off subsidies received (capped rules' ``end_subsidy``)."""
        return self.alloc.subsidy

    @property
    def net_benefit(self) -> np.ndarray:
        """``allocated + subsidy − cost_share``."""
        return self.allocated + self.alloc.subsidy - self.alloc.cost_share

    @property
    def pv_net_benefit(self) -> np.ndarray:
        """Present value of net benefit per jurisdiction (the optimizer's payoff)."""
        return self.net_benefit @ self.model.discount

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per jurisdiction; columns :data:`SUMMARY_COLUMNS`."""
        sc, d = self.scenario, self.model.discount
        pv = self.pv_net_benefit
        no_agreement = (self.retained - self.alloc.cost_booked) @ d
        return pd.DataFrame({
            "jurisdiction": [j.id for j in sc.jurisdictions],
            "name": [j.name for j in sc.jurisdictions],
            "name_en": [j.name_en for j in sc.jurisdictions],
            "collected": self.collected.sum(axis=1),
            "retained": self.retained.sum(axis=1),
            "allocated": self.allocated.sum(axis=1),
            "net_transfer": (self.allocated - self.retained).sum(axis=1),
            "unpaid": self.alloc.unpaid.sum(axis=1),
            "subsidy": self.subsidy.sum(axis=1),
            "cost_share": self.cost_share.sum(axis=1),
            "net_benefit": self.net_benefit.sum(axis=1),
            "pv_net_benefit": pv,
            "standalone_pv": self.standalone_pv,
            "gain": pv - self.standalone_pv,
            "no_agreement_pv": no_agreement,
        })

    @property
    def totals(self) -> pd.Series:
        """Column sums of :attr:`summary` (money columns only)."""
        return self.summary.drop(columns=["jurisdiction", "name", "name_en"]).sum()

    @cached_property
    def by_year(self) -> pd.DataFrame:
        """One row per (year, jurisdiction) with the nominal amounts of that year."""
        ids = list(self.model.jurisdictions)
        n_j, n_t = self.allocated.shape

        def col(a: np.ndarray) -> np.ndarray:
            return a.T.ravel()

        return pd.DataFrame({
            "year": np.repeat(self.years, n_j),
            "jurisdiction": np.tile(ids, n_t),
            "collected": col(self.collected),
            "retained": col(self.retained),
            "allocated": col(self.allocated),
            "net_transfer": col(self.allocated - self.retained),
            "unpaid": col(self.alloc.unpaid),
            "subsidy": col(self.subsidy),
            "cost_share": col(self.cost_share),
            "net_benefit": col(self.net_benefit),
        })

    @cached_property
    def flows(self) -> pd.DataFrame:
        """Tidy money flows: ``year, jurisdiction, stream, source, tax, kind, amount``.

        Kinds: ``collected`` and ``retained`` (at the host), ``allocated`` (to each
        jurisdiction after the agreements and compliance), ``unpaid`` (agreed transfers the
        host kept), ``transfer`` (fixed-return payments, stream = agreement id), ``subsidy``
        (central subsidies, stream = agreement id, source = the firm) and ``cost_share``
        (stream = cost id). Rows with a zero amount are left out.
        """
        m = self.model
        s, ids = m.streams, np.array(m.jurisdictions, dtype=object)
        tax_names = np.array(TAXES, dtype=object)
        frames = []
        frames.append(_long(m.years, ids[s.host], s.ids, s.source, tax_names[s.tax],
                            "collected", self.alloc.gross))
        frames.append(_long(m.years, ids[s.host], s.ids, s.source, tax_names[s.tax],
                            "retained", self.alloc.retained))
        n_j = len(ids)
        for position, rows, split in self.alloc.blocks:
            key = (rows[None, :] * n_j + split.who).ravel()
            uniq, inverse = np.unique(key, return_inverse=True)
            summed = np.zeros((len(uniq), len(m.years)))
            np.add.at(summed, inverse, split.amount.reshape(-1, len(m.years)))
            row, who = uniq // n_j, uniq % n_j
            frames.append(_long(m.years, ids[who], s.ids[row], s.source[row],
                                tax_names[s.tax[row]], "allocated", summed))
            if split.transfers is not None:
                agreement = m.scenario.agreements[position].id
                frames.append(_long(m.years, ids, np.full(n_j, agreement, dtype=object),
                                    np.full(n_j, agreement, dtype=object),
                                    np.full(n_j, "", dtype=object), "transfer",
                                    split.transfers))
            if split.subsidy is not None:
                slot, k = np.nonzero(split.subsidy.amount.any(axis=2))
                n = len(k)
                agreement = m.scenario.agreements[position].id
                frames.append(_long(m.years, ids[split.subsidy.who[slot, k]],
                                    np.full(n, agreement, dtype=object), s.source[rows[k]],
                                    np.full(n, "", dtype=object), "subsidy",
                                    split.subsidy.amount[slot, k]))
        for rows, short in self.alloc.unpaid_rows:
            frames.append(_long(m.years, ids[s.host[rows]], s.ids[rows], s.source[rows],
                                tax_names[s.tax[rows]], "unpaid", short))
        for position, withheld in self.alloc.unpaid_transfers:
            agreement = np.full(n_j, m.scenario.agreements[position].id, dtype=object)
            frames.append(_long(m.years, ids, agreement, agreement,
                                np.full(n_j, "", dtype=object), "unpaid", withheld))
        for cc, shared in zip(m.costs, self.alloc.cost_rows, strict=True):
            cost = m.scenario.costs[cc.position]
            frames.append(_long(m.years, ids, np.full(n_j, cost.id, dtype=object),
                                np.full(n_j, cost.park or "", dtype=object),
                                np.full(n_j, "", dtype=object), "cost_share", shared))
        flows = pd.concat(frames, ignore_index=True)
        return flows[flows["amount"] != 0].reset_index(drop=True)

    @cached_property
    def statistics(self) -> pd.DataFrame:
        """Economic indicators split by agreements (统计分算), apart from money:
        ``year, jurisdiction, agreement, indicator, amount``."""
        m, rows = self.model, []
        for position, ag in enumerate(m.scenario.agreements):
            for stat in ag.statistics:
                total = project(Projection(base=stat.base, base_year=stat.base_year,
                                           growth=stat.growth, by_year=stat.by_year), m.years)
                if stat.shares is not None:
                    weights = np.zeros((len(m.jurisdictions), len(m.years)))
                    for jid, w in stat.shares.items():
                        weights[m.index[jid]] = w
                else:
                    benefit = np.maximum(self.alloc.by_agreement[position], 0.0)
                    denom = benefit.sum(axis=0)
                    weights = np.divide(benefit, denom, out=np.zeros_like(benefit),
                                        where=denom > 0)
                values = weights * total
                for j, jid in enumerate(m.jurisdictions):
                    if not values[j].any():
                        continue
                    rows.append(pd.DataFrame({"year": m.years, "jurisdiction": jid,
                                              "agreement": ag.id, "indicator": stat.indicator,
                                              "amount": values[j]}))
        if not rows:
            return pd.DataFrame(columns=["year", "jurisdiction", "agreement", "indicator",
                                         "amount"])
        return pd.concat(rows, ignore_index=True)

    @cached_property
    def pools(self) -> pd.DataFrame:
        """The base divided by each ratio inside each agreement, per year, with its present
        value: a jurisdiction's PV payoff is ``Σ_pools share × pv_base`` (linear in the
        shares), which is what the fairness optimizer builds on."""
        m, rows = self.model, []
        for position, _, split in self.alloc.blocks:
            if position < 0:
                continue
            ag = m.scenario.agreements[position]
            for path, base in split.pools:
                per_year = base.sum(axis=0)
                rows.append({"agreement": ag.id, "path": path, "compliance": ag.compliance,
                             "base": float(per_year.sum()),
                             "pv_base": float(per_year @ m.discount)})
        return pd.DataFrame(rows, columns=["agreement", "path", "compliance", "base",
                                           "pv_base"])

    def explain(self, jurisdiction: str, year: int | None = None, stream: str | None = None,
                column: str = "allocated"):
        """Why a number is what it is: a :class:`~sharing.explain.Trace` of ``column`` for
        ``jurisdiction`` in ``year`` (``stream`` narrows it); see :func:`sharing.explain.explain`.
        """
        from sharing.explain import explain

        return explain(self, jurisdiction, year=year, stream=stream, column=column)


def _long(years, who, stream, source, tax, kind, amounts) -> pd.DataFrame:
    n, n_t = amounts.shape
    return pd.DataFrame({
        "year": np.tile(years, n),
        "jurisdiction": np.repeat(who, n_t),
        "stream": np.repeat(stream, n_t),
        "source": np.repeat(source, n_t),
        "tax": np.repeat(tax, n_t),
        "kind": kind,
        "amount": amounts.ravel(),
    })


COMPARE_METRICS = ["collected", "retained", "allocated", "net_transfer", "subsidy",
                   "cost_share", "net_benefit", "pv_net_benefit", "gain"]


define({
    "result.unknown_baseline": ("基准情景 {name!r} 不在对比之列（可选：{valid}）",
                                "baseline {name!r} is not one of the scenarios compared "
                                "(valid: {valid})"),
})


def baseline_name(names: list[str], baseline: str | None) -> str:
    """The baseline of a comparison of ``names``: ``baseline``, or the first name; raises
    ScenarioError (with the closest names) when it is not one of them."""
    if baseline is None:
        return names[0]
    if baseline not in names:
        raise ScenarioError([Problem("result.unknown_baseline",
                                     {"name": baseline, "valid": ", ".join(names)},
                                     close=tuple(did_you_mean(baseline, names)))])
    return baseline


def compare(results: Mapping[str, Result], baseline: str | None = None) -> pd.DataFrame:
    """Scenarios side by side: rows are jurisdictions, columns ``(metric, scenario)``, plus
    ``(metric, "<name> − <baseline>")`` differences against the baseline scenario (default:
    the first)."""
    if not results:
        raise ValueError("compare needs at least one scenario")
    names = list(results)
    base = baseline_name(names, baseline)
    frames = {n: r.summary.set_index("jurisdiction")[COMPARE_METRICS] for n, r in results.items()}
    side = pd.concat(frames, axis=1).swaplevel(axis=1)
    blocks = {}
    for metric in COMPARE_METRICS:
        block = side[metric].copy()
        for n in names:
            if n != base:
                block[f"{n} − {base}"] = block[n] - block[base]
        blocks[metric] = block
    out = pd.concat(blocks, axis=1)
    name_map: dict[str, str] = {}
    for r in results.values():
        name_map.update(zip(r.summary["jurisdiction"], r.summary["name"], strict=True))
    out.insert(0, ("name", ""), out.index.map(name_map))
    return out


def compare_long(results: Mapping[str, Result], baseline: str | None = None) -> pd.DataFrame:
    """The same comparison as a long table, narrow enough for a terminal with many scenarios:
    one row per metric, jurisdiction and scenario, with ``value`` and ``difference`` (value −
    the baseline scenario's value for that metric and jurisdiction)."""
    if not results:
        raise ValueError("compare needs at least one scenario")
    base = baseline_name(list(results), baseline)
    rows = []
    for metric in COMPARE_METRICS:
        reference = results[base].summary.set_index("jurisdiction")[metric]
        for name, r in results.items():
            summary = r.summary
            rows.append(pd.DataFrame({
                "metric": metric, "jurisdiction": summary["jurisdiction"],
                "name": summary["name"], "name_en": summary["name_en"], "scenario": name,
                "value": summary[metric].to_numpy(),
                "difference": (summary[metric] - summary["jurisdiction"].map(reference))
                .to_numpy()}))
    out = pd.concat(rows, ignore_index=True)
    order = {j: i for i, j in enumerate(dict.fromkeys(out["jurisdiction"]))}
    out["_j"] = out["jurisdiction"].map(order)
    out["_m"] = out["metric"].map({m: i for i, m in enumerate(COMPARE_METRICS)})
    return out.sort_values(["_m", "_j"], kind="stable").drop(columns=["_j", "_m"]) \
        .reset_index(drop=True)
