"""What a 局长 reads: the optimizer's result in sentences, 中文 and English.

Every sentence comes from the catalogue (:mod:`sharing.i18n`), so the CLI, the app and the
exports say the same thing. Numbers: money in 万元 with two decimals, shares in percent.
"""

from __future__ import annotations

from sharing.i18n import define, message

# objective: (what it does, what its value is called, unit of the value, better when higher)
OBJECTIVES = {
    "maximin_gain": (("最大化最小收益", "maximise the smallest gain"),
                     ("最小收益", "the minimum gain"), "money"),
    "lexmaximin_gain": (("依次抬高最小收益（字典序最大最小）",
                         "raise the smallest gain, then the next (lexicographic maximin)"),
                        ("最小收益", "the minimum gain"), "money"),
    "proportional": (("使各方在合作收益中的占比接近其权重",
                      "bring each side's share of the joint gain close to its weight"),
                     ("与目标占比的总偏差", "the total deviation from the target"), "money"),
    "closest_to_current": (("满足约束且最少改动现行比例", "meet every constraint with the "
                            "smallest change to the current shares"),
                           ("份额的总改动", "the total change of shares"), "share"),
    "nash": (("纳什议价：最大化各方收益的（加权）乘积",
              "Nash bargaining: maximise the (weighted) product of the gains"),
             ("纳什乘积", "the Nash product"), "log"),
    "least_core": (("最小核心：最大化最小的联盟盈余", "least core: maximise the smallest "
                    "coalition surplus"),
                   ("最小联盟盈余", "the smallest coalition surplus"), "money"),
}

define({
    "optimize.effect.participation": (
        "{who}的参与约束起作用：每多保证{who} 1 万元收益，{objective}{verb} {amount}",
        "{who_en}'s participation constraint binds: each extra 万元 guaranteed to {who_en} "
        "{verb_en} {objective_en} by {amount}"),
    "optimize.effect.bounds_lower": (
        "{who}的份额下限 {value} 起作用：下限每提高 1 个百分点，{objective}{verb} {amount}",
        "{who_en}'s minimum share of {value} binds: each percentage point more {verb_en} "
        "{objective_en} by {amount}"),
    "optimize.effect.bounds_upper": (
        "{who}的份额上限 {value} 起作用：上限每降低 1 个百分点，{objective}{verb} {amount}",
        "{who_en}'s maximum share of {value} binds: each percentage point less {verb_en} "
        "{objective_en} by {amount}"),
    "optimize.effect.host_minimum": (
        "所在地最低份额 {value} 起作用：每提高 1 个百分点，{objective}{verb} {amount}",
        "the host minimum of {value} binds: each percentage point more {verb_en} "
        "{objective_en} by {amount}"),
    "optimize.effect.yearly_floor": (
        "{who}每年 {value} 万元的保底起作用：保底每提高 1 万元，{objective}{verb} {amount}",
        "{who_en}'s yearly floor of {value} 万元 binds: each extra 万元 a year {verb_en} "
        "{objective_en} by {amount}"),
    "optimize.effect.net_transfer_max": (
        "{who}的净转移上限 {value} 万元起作用：上限每降低 1 万元，{objective}{verb} {amount}",
        "{who_en}'s cap of {value} 万元 on net transfers binds: each 万元 less {verb_en} "
        "{objective_en} by {amount}"),
    "optimize.effect.monotone": (
        "{who}的份额须逐阶段{direction}：该要求每收紧 1 个百分点，{objective}{verb} {amount}",
        "{who_en}'s share must {direction_en} over the stages: each percentage point more "
        "{verb_en} {objective_en} by {amount}"),
    "optimize.effect.core": (
        "联盟 {members} 的核心约束起作用：每多保证该联盟 1 万元，{objective}{verb} {amount}",
        "the core constraint of coalition {members_en} binds: each extra 万元 guaranteed to it "
        "{verb_en} {objective_en} by {amount}"),
    "optimize.effect.floor": (
        "{who}的保底规则（每年 {value} 万元）不得被触发：保底每提高 1 万元，{objective}{verb}"
        " {amount}",
        "{who_en}'s floor rule ({value} 万元 a year) must not top up: each extra 万元 of floor "
        "{verb_en} {objective_en} by {amount}"),
    "optimize.relax.participation": (
        "把{who}的参与底线从 {requested} 降到 {at}",
        "lower {who_en}'s participation margin from {requested} to {at}"),
    "optimize.relax.bounds_lower": (
        "把{who}的份额下限从 {requested} 降到 {at}",
        "lower {who_en}'s minimum share from {requested} to {at}"),
    "optimize.relax.bounds_upper": (
        "把{who}的份额上限从 {requested} 提高到 {at}",
        "raise {who_en}'s maximum share from {requested} to {at}"),
    "optimize.relax.host_minimum": (
        "把所在地最低份额从 {requested} 降到 {at}",
        "lower the host minimum from {requested} to {at}"),
    "optimize.relax.yearly_floor": (
        "把{who}的每年保底从 {requested} 降到 {at}",
        "lower {who_en}'s yearly floor from {requested} to {at}"),
    "optimize.relax.net_transfer_max": (
        "把{who}的净转移上限从 {requested} 提高到 {at}",
        "raise {who_en}'s cap on net transfers from {requested} to {at}"),
    "optimize.verb.up": ("提高", "raises"),
    "optimize.verb.down": ("降低", "lowers"),
    "optimize.increasing": ("递增", "increase"),
    "optimize.decreasing": ("递减", "decrease"),
    "optimize.unit.money": ("{value} 万元", "{value} 万元"),
    "optimize.unit.points": ("{value} 个百分点", "{value} percentage points"),
    "optimize.unit.percent": ("{value}%", "{value}%"),
    "optimize.weights.equal": ("等权", "equal weights"),
    "optimize.weights.given": ("权重 {weights}", "weights {weights}"),
    "optimize.paragraph": (
        "目标：{goal}（{weights}）。{outcome}",
        "Objective: {goal} ({weights}). {outcome}"),
    "optimize.outcome.optimal": (
        "结果：{value_name}为 {value}。份额：{shares}。合作收益（现行→优化后）：{gains}。{binding}",
        "Result: {value_name} is {value}. Shares: {shares}. Gains (current → optimized): "
        "{gains}. {binding}"),

    "optimize.outcome.level": ("由{who}取得", "reached by {who_en}"),
    "optimize.outcome.no_binding": ("没有约束限制结果。", "No constraint limits the result."),
    "optimize.outcome.binding": ("起作用的约束：{sentences}。", "What binds: {sentences}."),
    "optimize.outcome.infeasible": (
        "无解：没有份额能同时满足全部要求。最小的放宽：{relaxation}。",
        "Infeasible: no shares meet every demand at once. The smallest relaxation that makes "
        "it feasible: {relaxation}."),
    "optimize.outcome.infeasible_hard": (
        "无解：即使放宽全部可放宽的要求也无解（冲突来自核心约束、保底规则、单调要求或步长）。",
        "Infeasible even with every relaxable demand relaxed: the conflict lies in the core "
        "rows, a floor rule, a monotone demand or the step."),
    "optimize.outcome.time_limit": (
        "在 {seconds:g} 秒的时间上限内未证明最优；请放宽时间上限（time_limit）或简化问题。",
        "No split proven optimal within the time limit of {seconds:g} s; raise time_limit or "
        "simplify the model."),
    "optimize.outcome.best_found": ("时限内找到的最好方案：{value_name}为 {value}。",
                                    "The best split found in time: {value_name} is {value}."),
    "optimize.outcome.unbounded": ("无界：目标可以无限增大（请报告此问题）。",
                                   "Unbounded: the objective can grow without limit (please "
                                   "report this)."),
    "optimize.outcome.error": ("求解器出错：{notes}", "The solver failed: {notes}"),
    "optimize.note_constant_gain": (
        "{who}的合作收益 {gain} 低于其参与底线，且不受这些份额影响",
        "{who_en}'s gain of {gain} is below its participation margin and these shares "
        "cannot change it"),
    "optimize.note_not_party": ("{who}不是任何被决定分成的参与方，其份额界限不起作用",
                                "{who_en} is no party of a decided split: its bounds do nothing"),
    "optimize.note_nash_undefined": (
        "纳什解要求每一方的收益都为正，但最好的最小收益只有 {level}",
        "the Nash solution needs every gain to be positive, but the best minimum gain is "
        "{level}"),
    "optimize.note_nash_gap": ("切平面迭代达到上限，剩余差距 {gap:.3g}",
                               "tangent cuts stopped at the round limit with a gap of {gap:.3g}"),
    "optimize.note_no_players": ("这些份额不影响任何一方的收益",
                                 "these shares change no one's payoff"),
})


def money(value: float) -> str:
    return message("optimize.unit.money", "en", value=f"{value:,.2f}")


def percent(value: float) -> str:
    return f"{value * 100:.4g}%"


def names(scenario) -> dict[int, tuple[str, str]]:
    return {i: (j.name, j.name_en) for i, j in enumerate(scenario.jurisdictions)}


def effect(group, value: float, objective: str, who: dict[int, tuple[str, str]],
           scenario) -> tuple[str, str]:
    """One binding constraint in both languages."""
    _, (obj_zh, obj_en), unit = OBJECTIVES[objective]
    per = 0.01 if group.unit == "share" else 1.0
    scaled = value * per * (100.0 if unit in ("share", "log") else 1.0)
    amount_key = {"money": "optimize.unit.money", "share": "optimize.unit.points",
                  "log": "optimize.unit.percent"}[unit]
    amount = f"{abs(scaled):,.4g}"
    verb = "optimize.verb.up" if value > 0 else "optimize.verb.down"
    params = {"objective": obj_zh, "objective_en": obj_en,
              "verb": message(verb, "zh"), "verb_en": message(verb, "en"),
              "value": percent(group.requested) if group.unit == "share"
              else f"{group.requested:,.2f}"}
    j = group.jurisdiction
    if j is not None:
        params["who"], params["who_en"] = who[j]
    if group.kind == "core":
        members = group.detail["members"]
        params["members"] = "、".join(who[m][0] for m in members)
        params["members_en"] = ", ".join(who[m][1] for m in members)
    if group.kind == "monotone":
        params["direction"] = message(f"optimize.{group.detail['direction']}", "zh")
        params["direction_en"] = message(f"optimize.{group.detail['direction']}", "en")
    key = f"optimize.effect.{group.kind}"
    zh = message(key, "zh", **params, amount=message(amount_key, "zh", value=amount))
    en = message(key, "en", **params, amount=message(amount_key, "en", value=amount))
    return zh, en


def relaxation(group, at: float, who: dict[int, tuple[str, str]]) -> tuple[str, str]:
    fmt = percent if group.unit == "share" else money
    params = {"requested": fmt(group.requested), "at": fmt(at)}
    if group.jurisdiction is not None:
        params["who"], params["who_en"] = who[group.jurisdiction]
    key = f"optimize.relax.{group.kind}"
    return message(key, "zh", **params), message(key, "en", **params)


def shares(table, scenario, lang: str) -> str:
    """The decided shares, one group per split and stage: ``高竹新区税收分享 rule.increment
    2023–2035：广安 46.06%、渝北 53.94%``."""
    agreements = {a.id: a for a in scenario.agreements}
    who = {j.id: (j.name, j.name_en) for j in scenario.jurisdictions}
    parts = []
    for (agreement, path, start, end), rows in table.groupby(
            ["agreement", "path", "stage_start", "stage_end"], sort=False):
        ag = agreements[agreement]
        title = (ag.name if lang == "zh" else ag.name_en) or agreement
        items = ("、" if lang == "zh" else ", ").join(
            f"{who.get(r.jurisdiction, (r.jurisdiction,) * 2)[0 if lang == 'zh' else 1]} "
            f"{percent(r.share)}" for r in rows.itertuples())
        parts.append(f"{title} {path} {start}–{end}{'：' if lang == 'zh' else ': '}{items}")
    return ("；" if lang == "zh" else "; ").join(parts)
