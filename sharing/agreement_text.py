"""Draft agreement text from the scenario's rules: the simulation and the text are one source.

``sharing.agreement_text(sc, lang="zh")`` returns an :class:`AgreementText`: a title, a notice
that the text is a draft generated from the simulation, and sections in the order real
agreements use (SETTLEMENT.md §2: 财预〔2015〕92号's headings, 云南 2025, 昆明 2024):

合作各方 parties · 分享范围 scope · 分享税种 taxes · 分享比例 ratios · 分享期限及上限 term and
caps · 基数核定 base · 结算方式 settlement · 统计分算 statistics · 成本分担 costs ·
调整机制 review · 争议解决 disputes.

Each section holds numbered :class:`Clause` s; a clause carries its footnote (the rule's or
agreement's ``reference``) and a marker with the scenario's note where it states a number the
scenario flags as illustrative (``assumptions`` paths, ``illustrative: true``). Every rule type
registers how it reads as a clause (:func:`renders`); nested rules compose. Numbers are the
scenario's own: shares as exact percentages, money in figures and in 大写 (Chinese) or words
(English). :meth:`AgreementText.to_docx` writes Word (real heading styles, numbered clauses,
footnotes); :meth:`AgreementText.to_markdown` writes Markdown.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sharing.channels import CENTRAL_CLEARING
from sharing.engine import KINDS, compile_scenario
from sharing.i18n import Lang, define, message
from sharing.numerals import chinese_count, figures, percent, rmb_capital_wan, rmb_words_wan
from sharing.rules import (
    PRESETS,
    ROLES,
    Capped,
    Claims,
    Factors,
    Fixed,
    FixedReturn,
    Floor,
    Host,
    Optimized,
    PreMoveCap,
    RuleBase,
    Schedule,
    StockIncrement,
    Tiered,
    walk,
)
from sharing.scenario import ByBenefit, Scenario, ScenarioError
from sharing.taxes import NATIONAL_REFERENCE, TAX_NAMES, TAXES

SECTIONS = ("parties", "scope", "taxes", "ratios", "term", "base", "settlement", "statistics",
            "costs", "review", "disputes")
REVIEW_YEARS = 3

define({
    "agreement.title": ("{name}\n财税利益分享协议（草案）",
                        "Draft agreement on sharing fiscal and tax benefits:\n{name_en}"),
    "agreement.title_parties": ("{names}\n财税利益分享协议（草案）",
                                "Draft agreement between {names}\non sharing fiscal and tax "
                                "benefits"),
    "agreement.notice": (
        "本文件是依据模拟情景「{name}」自动生成的协议草案，仅供各方讨论，不具法律效力；"
        "须经各方法制（法律顾问）部门审核修改后方可签署。文中数字均取自该模拟情景；标有"
        "“※示例”的数字为情景中的示例或假设数字，签署前须以核实数据替换。",
        "This is a draft agreement generated automatically from the simulation scenario "
        "\"{name_en}\", for discussion only and without legal effect; it must be reviewed and "
        "revised by each party's legal office before anyone signs it. Every number comes from "
        "that scenario; numbers marked \"※ illustrative\" are examples or assumptions in the "
        "scenario and must be replaced by verified figures before signing."),
    "agreement.marker": ("※示例", "※ illustrative"),
    "agreement.marker_note": ("示例数字：{note}", "Illustrative number: {note}"),
    "agreement.marker_flag": ("情景将{what}标为示例（illustrative）数字",
                              "the scenario flags {what_en} as illustrative"),
    "agreement.flag_firm": ("{n} 户企业（{names}）的数据", "the data of {n} firm(s) "
                            "({names_en})"),
    "agreement.flag_statistic": ("{name}数据", "the {name_en} figures"),
    "agreement.flag_cost": ("「{name}」的金额", "the amounts of \"{name_en}\""),
    "agreement.same_note": ("同注 {n}。", "See note {n}."),
    "agreement.to_be_agreed": ("【待双方约定】", "[TO BE AGREED]"),
    # section titles
    "agreement.section.parties": ("合作各方", "Parties"),
    "agreement.section.scope": ("分享范围", "Scope"),
    "agreement.section.taxes": ("分享税种", "Taxes shared"),
    "agreement.section.ratios": ("分享比例", "Sharing ratios"),
    "agreement.section.term": ("分享期限及上限", "Term and caps"),
    "agreement.section.base": ("基数核定", "Determining the base"),
    "agreement.section.settlement": ("结算方式", "Settlement"),
    "agreement.section.statistics": ("统计分算", "Splitting statistics"),
    "agreement.section.costs": ("成本分担", "Sharing costs"),
    "agreement.section.review": ("调整机制", "Review and adjustment"),
    "agreement.section.disputes": ("争议解决", "Disputes"),
    # parties
    "agreement.parties": ("本协议由以下各方共同订立：", "This agreement is made between:"),
    "agreement.party": ("{label}：{name}（{province}）", "{label}: {name_en} ({province_en})"),
    "agreement.party_plain": ("{label}：{name}", "{label}: {name_en}"),
    "agreement.roles": ("本协议所称“征收地”指税款入库的一方；“迁出地”指企业迁出的一方或引进项目的"
                        "一方；“迁入地”指企业迁入或项目落户的一方。",
                        "In this agreement, the \"collecting party\" is the party where a tax is "
                        "paid in; the \"origin\" is the party a firm moved from or that "
                        "introduced a project; the \"destination\" is the party a firm moved to "
                        "or where a project is located."),
    # scope
    "agreement.scope": ("「{agreement}」适用于：{what}。", "\"{agreement_en}\" covers {what}."),
    "agreement.scope_park": ("共建园区{park}（{sites}）", "the joint park {park} ({sites})"),
    "agreement.scope_site": ("{host}片区", "the {host} site"),
    "agreement.scope_firms": ("迁移企业 {n} 户：{firms}", "{n} relocated firm(s): {firms}"),
    "agreement.scope_firm": ("{firm}（自{origin}迁往{destination}，{year} 年迁移）",
                             "{firm} (from {origin} to {destination}, moved in {year})"),
    "agreement.scope_projects": ("异地流转项目 {n} 个：{firms}", "{n} transferred "
                                 "project(s): {firms}"),
    "agreement.scope_project": ("{firm}（由{origin}引进，落户{destination}）",
                                "{firm} (introduced by {origin}, located in {destination})"),
    "agreement.scope_streams": ("其他税源：{streams}", "other tax streams: {streams}"),
    "agreement.scope_stream": ("{host}{tax}（{id}）", "{tax} collected by {host} ({id})"),
    "agreement.scope_many": ("共 {n} 户，名单见附件", "{n} in all, listed in an annex"),
    "agreement.scope_confirm": ("企业（项目）名单由各方分别统计、共同确认。",
                                "The list of firms (projects) is compiled by each party "
                                "separately and confirmed jointly."),
    # taxes
    "agreement.taxes": ("「{agreement}」分享的税种为{taxes}，{base}。各税种地方留成比例："
                        "{rates}。",
                        "\"{agreement_en}\" shares {taxes}, {base}. Local retention rates: "
                        "{rates}."),
    "agreement.base_retained": ("仅限各方地方留成部分（中央及上级分享部分不在分享之列）",
                                "the local retained part only (the shares of the centre and of "
                                "higher levels are not shared)"),
    "agreement.base_gross": ("分享比例按税收征收额计算，实际划转以各方地方留成部分为限、按同一比例"
                             "执行", "the split is computed on gross collections and applied in "
                             "the same proportion to each party's local retained part"),
    "agreement.rate": ("{tax} {rate}（{hosts}）", "{tax} {rate} ({hosts})"),
    "agreement.rate_years": ("{span} {rate}", "{rate} in {span}"),
    # ratios
    "agreement.ratio": ("「{agreement}」项下，{subject}{phrase}。",
                        "Under \"{agreement_en}\", {subject} {phrase}."),
    "agreement.subject_retained": ("上述税收的地方留成部分", "the local retained part of these "
                                   "taxes"),
    "agreement.subject_gross": ("上述税收（按征收额计算）", "these taxes (computed on gross "
                                "collections)"),
    "agreement.none": ("情景未设分享协议，各方税收由征收地全额留成。", "The scenario has no "
                       "sharing agreement: every party keeps what it collects."),
    "agreement.host": ("由征收地全额留成", "stays in full with the collecting party"),
    "agreement.fixed": ("按 {ratio} 的比例分享（{parts}）", "is shared {ratio} ({parts})"),
    "agreement.fixed_one": ("全部归{who}", "goes wholly to {who}"),
    "agreement.factors": ("按要素法确定的比例分享：各方比例 = Σ（要素权重 × 本方要素值 ÷ 各方要素值"
                          "合计），权重为{weights}{shares}",
                          "is shared in proportions set by a factor formula: each party's share "
                          "= Σ (factor weight × its factor value ÷ the parties' total), with "
                          "weights {weights}{shares}"),
    "agreement.factors_preset": ("采用「{preset}」公式（{weights}）分享{shares}",
                                 "is shared by the {preset_en} formula ({weights}){shares}"),
    "agreement.factors_shares": ("；按现有要素数据测算，{shares}", "; on the current factor "
                                 "data, {shares}"),
    "agreement.about": ("约 {pct}", "about {pct}"),
    "agreement.stock_increment": ("以 {year} 年为基期{index}，基期税收存量部分{stock}，"
                                  "增量部分{inc}",
                                  "is split at its level in the base year {year}{index}: the "
                                  "stock (up to that level) {stock}, and the increment above it "
                                  "{inc}"),
    "agreement.stock_baseline": ("以 {year} 年为基期{index}，各征收地存量基数以内部分{stock}，"
                                 "超出基数的增量部分{inc}",
                                 "is split at each collecting party's baseline (base year "
                                 "{year}){index}: the part within the baseline {stock}, and the "
                                 "increment above it {inc}"),
    "agreement.indexation": ("（存量基数每年按 {rate} 递增）", " (the baseline grows by {rate} a "
                             "year)"),
    "agreement.schedule": ("分阶段分享（各阶段办法见本条所列各项）",
                           "is shared in stages (see the items of this article)"),
    "agreement.stage": ("{span}：{phrase}", "{span}: {phrase}"),
    "agreement.otherwise": ("其余年度：{phrase}", "other years: {phrase}"),
    "agreement.label_stock": ("存量部分：", "the stock: "),
    "agreement.label_increment": ("增量部分：", "the increment: "),
    "agreement.label_span": ("{span}：", "{span}: "),
    "agreement.label_otherwise": ("其余年度：", "other years: "),
    "agreement.capped": ("自{start}起 {years} 年内（含当年），{taxes}的 {share} 归{who}，其余"
                         "由征收地留成", "is shared for {years} year(s) from {start_en} "
                         "(inclusive): {share} of {taxes_en} goes to {who}, the rest stays with "
                         "the collecting party"),
    "agreement.capped_move": ("企业迁入当年", "the year the firm moves"),
    "agreement.capped_production": ("企业迁入后达产当年", "the year the moved firm reaches "
                                    "production"),
    "agreement.capped_year": ("{year} 年", "{year}"),
    "agreement.capped_all_taxes": ("各税种", "each tax"),
    "agreement.floor": ("{inner}；自 {start} 年起，{who}每年分得金额不低于 {minimum}，"
                        "不足部分由其他各方按当年分得金额（正数部分）的比例补足，以当年可分配额为限，差额不结转"
                        "以后年度",
                        "{inner}; from {start}, {who} receives at least {minimum} a year: the "
                        "others pay any shortfall in proportion to their positive allocations "
                        "that year, up to what the pool holds, and a shortfall is not carried "
                        "forward"),
    "agreement.tiered": ("按年度分享总额分档分享（各档办法见本条所列各项）",
                         "is shared in bands of the annual total (see the items of this "
                         "article)"),
    "agreement.band": ("年度总额中超过 {lower}、不超过 {upper} 的部分：{phrase}",
                       "the part of the annual total above {lower} up to {upper}: {phrase}"),
    "agreement.band_first": ("年度总额中不超过 {upper} 的部分：{phrase}",
                             "the part of the annual total up to {upper}: {phrase}"),
    "agreement.band_last": ("年度总额中超过 {lower} 的部分：{phrase}",
                            "the part of the annual total above {lower}: {phrase}"),
    "agreement.band_only": ("年度总额全部：{phrase}", "the whole annual total: {phrase}"),
    "agreement.fixed_return": ("{inner}；此外，{payer}自 {start} 年至 {end} 年每年按{who}投资额的 "
                               "{rate} 向{who}支付固定回报，投资额{capital}",
                               "{inner}; in addition, {payer} pays {who} a fixed return of "
                               "{rate} of {who}'s investment each year from {start} to {end}, "
                               "the investment being {capital}"),
    "agreement.capital_fixed": ("为 {money}", "{money}"),
    "agreement.capital_by_year": ("按累计计算（{items}）", "counted cumulatively ({items})"),
    "agreement.capital_item": ("{year} 年投入 {money}", "{money} invested in {year}"),
    "agreement.claims": ("按年度合计数，依{method}在下列诉求之间分配：{claims}；"
                         "超出诉求总额的部分归{remainder}",
                         "is divided each year, as one pool, among these claims by the "
                         "{method_en}: {claims}; what exceeds the total claims goes to "
                         "{remainder}"),
    "agreement.claim": ("{who} {money}", "{who} {money}"),
    "agreement.optimized": ("按{method}确定的比例分享（各阶段比例见本条所列各项）",
                            "is shared in the proportions set by {method_en} (see the items "
                            "of this article)"),
    "agreement.optimized_source": ("比例测算依据（原文）：“{text}”。", "How the shares were "
                                   "computed (verbatim): \"{text}\"."),
    # term and caps
    "agreement.term": ("本协议分享期为 {start} 年至 {end} 年。", "Sharing under this agreement "
                       "runs from {start} to {end}."),
    "agreement.term_stages": ("「{agreement}」分阶段执行：{spans}。", "\"{agreement_en}\" runs "
                              "in stages: {spans}."),
    "agreement.term_capped": ("「{agreement}」对每户企业的分享期为 {years} 年，自{start}起算。",
                              "\"{agreement_en}\" shares each firm's taxes for {years} "
                              "year(s) from {start_en}."),
    "agreement.term_extension": ("分享期满当年该企业上述税收（征收额）低于 {below} 的，分享期延长 "
                                 "{years} 年。", "If the firm's taxes (gross) in the last year "
                                 "of the term are below {below}, the term is extended by {years} "
                                 "year(s)."),
    "agreement.term_extension_cap": ("分享期满仍未达到分享上限的，分享期再延长 {years} 年。",
                                     "If the cap is not reached by the end of the term, the "
                                     "term is extended by {years} year(s)."),
    "agreement.term_subsidy_cap": ("最初 {n} 年内未达到分享上限的，分享期（含延长期）结束后，"
                                   "{who}不再分享，由中央财政一次性给予{who}补助 {amount}。",
                                   "If the cap is not reached within the first {n} year(s), "
                                   "then after the term (with any extension) {who} shares no "
                                   "more and the central government pays {who} a one-off "
                                   "subsidy of {amount}."),
    "agreement.term_subsidy": ("分享期结束后，由中央财政一次性给予{who}补助 {amount}。",
                               "After the term the central government pays {who} a one-off "
                               "subsidy of {amount}."),
    "agreement.term_cap_pre_move": ("{who}累计分享额以企业迁移前 {n} 年缴纳的上述税收（{base}）"
                                    "总额为上限，达到上限后不再分享。",
                                    "{who}'s cumulative share is capped at the firm's total of "
                                    "these taxes ({base_en}) over the {n} year(s) before the "
                                    "move; nothing is shared once the cap is reached."),
    "agreement.term_cap_amount": ("{who}累计分享额以每户企业 {cap} 为上限，达到上限后不再分享。",
                                  "{who}'s cumulative share is capped at {cap} per firm; "
                                  "nothing is shared once the cap is reached."),
    "agreement.term_floor": ("「{agreement}」的保底安排自 {start} 年起执行。",
                             "The minimum in \"{agreement_en}\" applies from {start}."),
    "agreement.term_fixed_return": ("固定回报支付期为 {start} 年至 {end} 年。",
                                    "The fixed return is paid from {start} to {end}."),
    "agreement.pre_move_retained": ("地方留成部分", "local retained part"),
    "agreement.pre_move_gross": ("征收额", "gross collections"),
    # base
    "agreement.base_general": ("各方税收以国库实际入库数为准，包含缴纳和退库（含退税、留抵退税）。",
                               "Each party's tax is the amount actually paid into the treasury, "
                               "net of refunds (including VAT credit refunds)."),
    "agreement.base_stock_year": ("「{agreement}」的存量以各税源 {year} 年实际入库数为基数{index}；"
                                  "基期以前年度的税收全部为存量；退库（负数）计入存量，由征收地承担。",
                                  "In \"{agreement_en}\" each stream's stock is its amount paid "
                                  "in {year}{index}; before the base year everything is stock; "
                                  "refunds (negative amounts) stay in the stock, with the "
                                  "collecting party."),
    "agreement.base_stock_amounts": ("「{agreement}」的存量基数为：{amounts}{index}，按各征收地"
                                     "税源当年正数金额比例分摊；退库计入存量，由征收地承担。",
                                     "In \"{agreement_en}\" the baselines are: "
                                     "{amounts}{index}, spread over each collecting party's "
                                     "streams in proportion to their positive amounts; refunds "
                                     "stay in the stock, with the collecting party."),
    "agreement.base_ratio_refunds": ("「{agreement}」项下的退库按当年分享比例共同承担。",
                                     "Under \"{agreement_en}\" refunds are borne in the same "
                                     "proportions as the year's sharing."),
    "agreement.base_capped": ("「{agreement}」所称迁移前税收包含缴纳和退库；分享期内的退库按同一"
                              "比例分担，并计入分享上限。",
                              "In \"{agreement_en}\" pre-move taxes are net of refunds; a "
                              "refund in the term is shared in the same proportion and counts "
                              "against the cap."),
    "agreement.base_eligibility": ("迁移前年缴纳上述税收（征收额）不低于 {min} 的企业方可分享。",
                                   "Only firms that paid at least {min} a year of these taxes "
                                   "(gross) before moving share."),
    "agreement.base_factors": ("「{agreement}」所用要素数据：{factors}。",
                               "Factor data used in \"{agreement_en}\": {factors}."),
    "agreement.base_tiered": ("「{agreement}」年度总额不为正时，按第一档比例分担。",
                              "In \"{agreement_en}\" a year whose total is not positive is "
                              "shared by the first band's proportions."),
    "agreement.base_claims": ("「{agreement}」年度合计数不为正时，全部计入余额方。",
                              "In \"{agreement_en}\" a year whose total is not positive goes "
                              "wholly to the party that takes the remainder."),
    "agreement.factor_values": ("{factor}：{values}", "{factor}: {values}"),
    # settlement
    "agreement.settlement": ("{placeholder}结算渠道（双方直接划转；通过共同上级财政在年终结算中列"
                             "上解、补助；或经中央国库清算）、结算时间（按年结算，或按季预拨、年终"
                             "清算）以及逾期未付的处理，由各方另行约定。",
                             "{placeholder} The settlement channel (a direct transfer between "
                             "the parties; remittance and grant lines in the common superior's "
                             "year-end settlement; or clearing through the central treasury), "
                             "its timing (annual, or quarterly advances with a year-end "
                             "true-up) and what happens to late payments are to be agreed by "
                             "the parties."),
    "agreement.settlement_open": ("{placeholder}{agreements}的结算渠道、结算时间以及逾期未付的"
                                  "处理，由各方另行约定。",
                                  "{placeholder} For {agreements}, the settlement channel, its "
                                  "timing and what happens to late payments are to be agreed "
                                  "by the parties."),
    "agreement.settlement_terms": ("「{agreement}」项下的应结算金额{channel}；{timing}；"
                                   "{interest}。各方按下列科目记账：",
                                   "Under \"{agreement_en}\", the amounts due are {channel}; "
                                   "{timing}; {interest}. The parties book:"),
    "agreement.channel_direct": ("由付款方直接拨付收款方", "paid by the paying party "
                                 "directly to the receiving party"),
    "agreement.channel_via_superior": ("通过双方共同上级（{superior}）在年终结算中办理",
                                       "settled through the parties' common superior "
                                       "({superior}) in its year-end settlement"),
    "agreement.channel_central_clearing": (
        "通过中央国库清算账户（{clearing}）办理：付款方在规定期限内缴入清算账户，再由财政部划转"
        "收款方",
        "cleared through the central treasury's clearing account ({clearing}): the paying party "
        "pays into the clearing account and the Ministry of Finance passes the money on to the "
        "receiving party"),
    "agreement.timing_annual": ("按年度结算，于年度终了后清算", "they are settled once a year, "
                                "after the year ends"),
    "agreement.timing_quarterly": ("按季度预拨、年终清算：每季度按预计应结算金额的 {advance} "
                                   "预拨，年度终了后多退少补",
                                   "they are advanced quarterly, {advance} of the projected "
                                   "amount each quarter, and trued up after the year ends"),
    "agreement.interest": ("逾期未付金额自次年起按年利率 {rate} 计收利息（单利）",
                           "arrears carried into a later year bear simple interest at {rate} a "
                           "year"),
    "agreement.no_interest": ("逾期未付金额不计利息", "arrears bear no interest"),
    "agreement.payer": ("付款方", "the paying party"),
    "agreement.payee": ("收款方", "the receiving party"),
    "agreement.booking": ("{who}：{line}", "{who}: {line}"),
    "agreement.settlement_ref": ("四川省财政厅等 2014 年总分机构企业所得税年终结算上解、补助；"
                                 "财政部等 2025 年横向生态保护补偿（中央国库暂存户清算）",
                                 "Sichuan finance department et al. 2014 (year-end remittance "
                                 "and grant lines); Ministry of Finance et al. 2025 horizontal "
                                 "eco-compensation (clearing through the central treasury)"),
    # statistics
    "agreement.statistic_shares": ("「{agreement}」项下，{indicator}按 {ratio} 的比例分算"
                                   "（{parts}）"
                                   "，与财政资金分开统计。",
                                   "Under \"{agreement_en}\", {indicator_en} is split {ratio} "
                                   "({parts}), reported apart from money."),
    "agreement.statistic_benefit": ("「{agreement}」项下，{indicator}按各方当年分得收入的比例分算，"
                                    "与财政资金分开统计。",
                                    "Under \"{agreement_en}\", {indicator_en} is split in "
                                    "proportion to what each party receives that year, "
                                    "reported apart from money."),
    "agreement.statistics_none": ("本协议不约定统计指标分算，各项经济指标按属地原则统计。",
                                  "This agreement splits no statistics: economic indicators "
                                  "are counted where they arise."),
    # costs
    "agreement.cost": ("{cost}共计 {total}，投入年度为 {years}，由{payers}先行出资，{rule}。",
                       "{cost}, {total} in all over {years}, is paid up front by {payers}, "
                       "and {rule}."),
    "agreement.payers": ("{names}按 {ratio} 的比例", "{names} in the ratio {ratio}"),
    "agreement.cost_booked": ("不再分摊", "is not reallocated"),
    "agreement.cost_fixed": ("最终按 {ratio} 的比例分担（{parts}）", "is finally borne "
                             "{ratio} ({parts})"),
    "agreement.cost_factors": ("最终按要素法分担，权重为{weights}{shares}", "is finally borne by "
                               "a factor formula with weights {weights}{shares}"),
    "agreement.cost_benefit": ("最终按各方当年从「{agreement}」分得收入的比例分担",
                               "is finally borne in proportion to what each party receives "
                               "from \"{agreement_en}\" that year"),
    "agreement.costs_none": ("本协议不涉及共建成本分担。", "This agreement shares no "
                             "co-investment costs."),
    # review and disputes
    "agreement.review": ("本协议执行期间，各方每 {n} 年对分享范围、分享比例、基数和成本分担进行一次"
                         "评估，并可根据评估结果协商调整。",
                         "While this agreement runs, the parties evaluate its scope, ratios, "
                         "base and cost sharing every {n} years and may adjust them by "
                         "agreement."),
    "agreement.review_ref": ("财政部等 2025 年横向生态保护补偿办法：每三年评估调整；"
                             "财预〔2015〕92号"
                             "：加强绩效评估", "Ministry of Finance et al. 2025 horizontal "
                             "eco-compensation scheme (evaluated and adjusted every three "
                             "years); 财预〔2015〕92号 (performance evaluation)"),
    "agreement.disputes": ("{placeholder}执行本协议发生争议的，由各方协商解决；协商不成的，"
                           "（例如）提请各方共同的上级人民政府或联席会议协调。",
                           "{placeholder} Disputes over this agreement are settled by "
                           "consultation; failing that, (for example) they are referred to the "
                           "parties' common superior government or joint committee."),
    "agreement.unknown_agreement": ("未知协议 {id!r}（可选：{valid}）",
                                    "unknown agreement {id!r} (valid: {valid})"),
    "agreement.no_renderer": ("规则类型 {type} 没有条款写法", "rule type {type} has no clause "
                              "rendering"),
    "agreement.bad_suffix": ("无法写出 {path}：请用 .docx 或 .md 结尾",
                             "cannot write {path}: use a .docx or .md file name"),
})

PARTY_LABELS_ZH = "甲乙丙丁戊己庚辛壬癸"
PROVINCE_NAMES = {"sichuan": ("四川省", "Sichuan"), "chongqing": ("重庆市", "Chongqing")}
ROLE_TEXT = {"host": ("征收地", "the collecting party"), "origin": ("迁出地", "the origin"),
             "destination": ("迁入地", "the destination")}
FACTOR_NAMES = {
    "capital": ("出资额", "capital"), "land_mu": ("用地（亩）", "land (mu)"),
    "land": ("用地", "land"), "area_km2": ("面积（平方公里）", "area (km²)"),
    "payroll": ("职工薪酬", "payroll"), "sales": ("销售额", "sales"),
    "assets": ("资产总额", "assets"), "headcount": ("职工人数", "headcount"),
    "revenue": ("营业收入", "revenue"), "property": ("财产", "property"),
    "installed_capacity": ("装机容量", "installed capacity"),
    "gdp": ("地区生产总值", "GDP"), "gdp_per_capita": ("人均地区生产总值", "GDP per capita"),
    "equal": ("均等份额", "equal shares"), "hq": ("总机构", "head office"),
    "industrial_output": ("规上工业产值", "industrial output"),
    "tourism_revenue": ("旅游收入", "tourism revenue"),
    "agricultural_output": ("农业总产值", "agricultural output"),
    "fixed_asset_investment": ("固定资产投资", "fixed-asset investment"),
    "value_added": ("增加值", "value added"),
}
CLAIMS_METHODS = {"proportional": ("按诉求额比例分配法", "proportional rule"),
                  "cea": ("受限等额获配法", "constrained equal awards rule"),
                  "cel": ("受限等额损失法", "constrained equal losses rule"),
                  "talmud": ("塔木德规则（Aumann–Maschler）", "Talmud rule (Aumann–Maschler)")}
# What produced optimized shares, by the first keyword found in the rule's `method`.
METHODS = (("prenucleolus", ("前核仁分配方案", "the prenucleolus")),
           ("per-capita nucleolus", ("人均核仁分配方案", "the per-capita nucleolus")),
           ("nucleolus", ("核仁分配方案", "the nucleolus")),
           ("shapley", ("沙普利值（Shapley 值）", "the Shapley value")),
           ("tau", ("τ 值", "the tau value")),
           ("least core", ("最小核心", "the least core")),
           ("least_core", ("最小核心", "the least core")),
           ("scrb", ("可分离成本剩余收益法", "separable costs remaining benefits")),
           ("lexicographic", ("字典序最大最小收益", "lexicographic maximin gain")),
           ("lexmaximin", ("字典序最大最小收益", "lexicographic maximin gain")),
           ("closest_to_current", ("对现行比例改动最小的方案", "the smallest change to the "
                                   "current shares")),
           ("proportional", ("按权重分配合作收益的方案", "gains in proportion to the weights")),
           ("maximin", ("最大化最小收益", "maximin gain")),
           ("nash", ("纳什议价解", "the Nash bargaining solution")))


# ---------------------------------------------------------------------------------------------
# The document


@dataclass(frozen=True)
class Clause:
    """One numbered clause: its text, sub-items, footnote references and illustrative notes.

    ``paths`` are the scenario key paths the clause states (to match ``assumptions``);
    ``placeholder`` marks a clause the parties must still write.
    """

    text: str
    items: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    illustrative: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    placeholder: bool = False


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class AgreementText:
    """A draft agreement in one language: ``sections`` in :data:`SECTIONS` order."""

    lang: Lang
    title: str
    notice: str
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)

    def to_markdown(self) -> str:
        """The draft as Markdown, clauses numbered (第一条 / Article 1), footnotes at the end."""
        lines = [f"# {_md(self.title.replace(chr(10), ' '))}", "", f"**{_md(self.notice)}**", ""]
        notes: list[str] = []
        first: dict[str, int] = {}

        def note(text: str) -> str:
            notes.append(repeat_note(text, first, len(notes) + 1, self.lang))
            return f"[^{len(notes)}]"

        for s, (section, numbers) in enumerate(zip(self.sections, self.numbered(),
                                                   strict=True)):
            lines += [f"## {section_number(s + 1, self.lang)}{_md(section.title)}", ""]
            for clause, n in zip(section.clauses, numbers, strict=True):
                text = _md(clause.text)
                if clause.placeholder:
                    mark = message("agreement.to_be_agreed", self.lang)
                    text = text.replace(_md(mark), f"**{_md(mark)}**", 1)
                if clause.references:
                    text += note(_md(("；" if self.lang == "zh" else "; ").join(
                        clause.references)))
                if clause.illustrative:
                    marker = message("agreement.marker", self.lang)
                    text += f" **{marker}**" + note(_md(_illustrative(clause, self.lang)))
                lines += [f"**{clause_number(n, self.lang)}**{SPACE[self.lang]}{text}", ""]
                for k, item in enumerate(clause.items):
                    lines += [f"{item_number(k + 1, self.lang)}{SPACE[self.lang]}{_md(item)}",
                              ""]
        if notes:
            lines += ["---", ""] + [f"[^{i + 1}]: {t}" for i, t in enumerate(notes)]
        return "\n".join(lines).rstrip() + "\n"

    def numbered(self) -> list[list[int]]:
        """Clause numbers per section, running through the whole document."""
        out, n = [], 0
        for section in self.sections:
            out.append(list(range(n + 1, n + 1 + len(section.clauses))))
            n += len(section.clauses)
        return out

    def to_docx(self, path: str | Path) -> Path:
        """Write the draft as a Word document: heading styles, numbered clauses, footnotes."""
        from sharing.agreement_docx import write_docx

        path = Path(path)
        write_docx(self, path)
        return path

    def docx_bytes(self) -> bytes:
        """The Word document as bytes (for a download button)."""
        from sharing.agreement_docx import write_docx

        buffer = io.BytesIO()
        write_docx(self, buffer)
        return buffer.getvalue()

    def write(self, path: str | Path) -> Path:
        """Write ``.docx`` or ``.md`` by the file name."""
        path = Path(path)
        if path.suffix.lower() == ".docx":
            return self.to_docx(path)
        if path.suffix.lower() in (".md", ".markdown"):
            path.write_text(self.to_markdown(), encoding="utf-8")
            return path
        raise ValueError(message("agreement.bad_suffix", None, path=str(path)))


# ---------------------------------------------------------------------------------------------
# Rendering context


@dataclass
class Ctx:
    """What a renderer needs: the scenario, the language, the agreement being rendered."""

    sc: Scenario
    lang: Lang
    agreement: int = -1
    contributions: dict[str, dict[str, float]] = field(default_factory=dict)
    path: str = "rule"
    years: tuple[int, int] = (0, 0)

    def at(self, name: str, years: tuple[int, int] | None = None) -> Ctx:
        """The context of a nested rule (its key path; a stage's years)."""
        return replace(self, path=f"{self.path}.{name}", years=years or self.years)

    def t(self, key: str, **params: Any) -> str:
        return message(key, self.lang, **params)

    def zh(self) -> bool:
        return self.lang == "zh"

    def who(self, key: str) -> str:
        if key in ROLES:
            zh, en = ROLE_TEXT[key]
            return zh if self.zh() else en
        jur = next(j for j in self.sc.jurisdictions if j.id == key)
        return jur.name if self.zh() else jur.name_en

    def money(self, amount: float) -> str:
        """Figures and words: ``8,392.90 万元（大写：人民币捌仟…元整）``."""
        if self.zh():
            return f"{figures(amount)} 万元（大写：{rmb_capital_wan(amount)}）"
        return f"CNY {figures(float(amount) * 10_000)} ({rmb_words_wan(amount)})"

    def year_span(self, a: int, b: int) -> str:
        if a == b:
            return f"{a} 年" if self.zh() else f"{a}"
        return f"{a} 年至 {b} 年" if self.zh() else f"{a} to {b}"

    def join(self, parts: Iterable[str]) -> str:
        parts = list(parts)
        if self.zh():
            return "、".join(parts)
        if len(parts) <= 2:
            return " and ".join(parts)
        return ", ".join(parts[:-1]) + " and " + parts[-1]

    def shares(self, shares: dict[str, float]) -> tuple[str, str]:
        """(``50%:50%``, ``广安市 50%、渝北区 50%``)."""
        ratio = ":".join(percent(v) for v in shares.values())
        sep = "、" if self.zh() else ", "
        return ratio, sep.join(f"{self.who(k)} {percent(v)}" for k, v in shares.items())

    def factor(self, key: str) -> str:
        zh, en = FACTOR_NAMES.get(key, (key, key.replace("_", " ")))
        return zh if self.zh() else en

    def weights(self, weights: dict[str, float]) -> str:
        return self.join(f"{self.factor(f)} {percent(w)}" for f, w in weights.items())

    def agreement_names(self) -> dict[str, str]:
        ag = self.sc.agreements[self.agreement]
        return {"agreement": ag.name or ag.id,
                "agreement_en": ag.name_en or ag.name or ag.id}


@dataclass
class Rendered:
    """A rule as text: a predicate phrase (``按 50%:50% 的比例分享``), sub-items, notes that
    follow the clause, (sentence, key path) pairs for the term and base sections, and the
    references of the rule and its children."""

    phrase: str
    items: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    term: list[tuple[str, str]] = field(default_factory=list)
    base: list[tuple[str, str]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)

    def adopt(self, child: Rendered, label: str = "") -> Rendered:
        """Take a child's items (prefixed with ``label``), notes, term, base and
        references."""
        self.items.extend(label + item for item in child.items)
        self.notes.extend(child.notes)
        self.term.extend(child.term)
        self.base.extend(child.base)
        self.references.extend(child.references)
        return self


RENDERERS: dict[type, Callable[[Any, Ctx], Rendered]] = {}


def renders(rule_type: type) -> Callable[[Callable], Callable]:
    """Register how a rule type reads as clause text."""

    def register(fn: Callable) -> Callable:
        RENDERERS[rule_type] = fn
        return fn

    return register


def render(rule: RuleBase, ctx: Ctx) -> Rendered:
    """A rule (and everything nested in it) as text."""
    renderer = RENDERERS.get(type(rule))
    if renderer is None:
        raise NotImplementedError(message("agreement.no_renderer", None, type=rule.type))
    out = renderer(rule, ctx)
    if rule.reference:
        out.references.insert(0, rule.reference)
    return out


# ---------------------------------------------------------------------------------------------
# Rule renderers


@renders(Host)
def _host(rule: Host, ctx: Ctx) -> Rendered:
    return Rendered(ctx.t("agreement.host"))


def _fixed_phrase(shares: dict[str, float], ctx: Ctx) -> str:
    if len(shares) == 1:
        return ctx.t("agreement.fixed_one", who=ctx.who(next(iter(shares))))
    ratio, parts = ctx.shares(shares)
    return ctx.t("agreement.fixed", ratio=ratio, parts=parts)


@renders(Fixed)
def _fixed(rule: Fixed, ctx: Ctx) -> Rendered:
    return Rendered(_fixed_phrase(rule.shares, ctx),
                    base=[(ctx.t("agreement.base_ratio_refunds", **ctx.agreement_names()),
                           ctx.path)])


def _factor_shares(rule: Factors, contributions: dict, ctx: Ctx) -> str:
    try:
        shares = rule.shares(contributions)
    except ValueError:
        return ""
    listed = ctx.join(f"{ctx.who(j)} {ctx.t('agreement.about', pct=f'{100 * w:.2f}%')}"
                      for j, w in shares.items())
    return ctx.t("agreement.factors_shares", shares=listed)


def _factor_values(weights: Iterable[str], contributions: dict, ctx: Ctx) -> str:
    parts = []
    for factor in weights:
        values = contributions.get(factor, {})
        listed = ("、" if ctx.zh() else ", ").join(f"{ctx.who(j)} {v:,.6g}"
                                                  for j, v in values.items())
        parts.append(ctx.t("agreement.factor_values", factor=ctx.factor(factor), values=listed))
    return ("；" if ctx.zh() else "; ").join(parts)


@renders(Factors)
def _factors(rule: Factors, ctx: Ctx) -> Rendered:
    shares = _factor_shares(rule, ctx.contributions, ctx)
    weights = ctx.weights(rule.weights)
    if rule.preset:
        preset = PRESETS[rule.preset]
        phrase = ctx.t("agreement.factors_preset", preset=preset.name, preset_en=preset.name_en,
                       weights=weights, shares=shares)
    else:
        phrase = ctx.t("agreement.factors", weights=weights, shares=shares)
    values = ctx.t("agreement.base_factors", factors=_factor_values(rule.weights,
                                                                    ctx.contributions, ctx),
                   **ctx.agreement_names())
    return Rendered(phrase, base=[(values, "contributions"),
                                  (ctx.t("agreement.base_ratio_refunds",
                                         **ctx.agreement_names()), ctx.path)])


@renders(StockIncrement)
def _stock_increment(rule: StockIncrement, ctx: Ctx) -> Rendered:
    stock = render(rule.stock, ctx.at("stock"))
    inc = render(rule.increment, ctx.at("increment"))
    key = "agreement.stock_increment" if rule.baseline is None else "agreement.stock_baseline"
    index = ctx.t("agreement.indexation", rate=percent(rule.indexation)) if rule.indexation \
        else ""
    phrase = ctx.t(key, year=rule.base_year, stock=stock.phrase, inc=inc.phrase, index=index)
    names = ctx.agreement_names()
    if rule.baseline is None:
        base = (ctx.t("agreement.base_stock_year", year=rule.base_year, index=index, **names),
                f"{ctx.path}.base_year")
    else:
        amounts = ctx.join(f"{ctx.who(j)} {ctx.money(v)}" for j, v in rule.baseline.items())
        base = (ctx.t("agreement.base_stock_amounts", amounts=amounts, index=index, **names),
                f"{ctx.path}.baseline")
    out = Rendered(phrase, base=[base])
    return (out.adopt(stock, ctx.t("agreement.label_stock"))
            .adopt(inc, ctx.t("agreement.label_increment")))


def _stages(stages: list[tuple[tuple[int, int], Callable[[Ctx], Rendered]]],
            otherwise: Callable[[Ctx], Rendered], ctx: Ctx) -> Rendered:
    """Stage items (each rendered with the stage's years); ``otherwise`` only when some year
    of the enclosing span falls outside every stage."""
    lo, hi = ctx.years
    out = Rendered("")
    spans = []
    for k, ((a, b), make) in enumerate(stages):
        span = ctx.year_span(a, b)
        spans.append(span)
        child = make(ctx.at(f"stages[{k}]", (max(a, lo), min(b, hi))))
        out.items.append(ctx.t("agreement.stage", span=span, phrase=child.phrase))
        out.adopt(child, ctx.t("agreement.label_span", span=span))
    if not all(any(a <= y <= b for (a, b), _ in stages) for y in range(lo, hi + 1)):
        child = otherwise(ctx.at("otherwise"))
        out.items.append(ctx.t("agreement.otherwise", phrase=child.phrase))
        out.adopt(child, ctx.t("agreement.label_otherwise"))
    out.term.insert(0, (ctx.t("agreement.term_stages", spans=ctx.join(spans),
                              **ctx.agreement_names()), f"{ctx.path}.stages"))
    return out


@renders(Schedule)
def _schedule(rule: Schedule, ctx: Ctx) -> Rendered:
    out = _stages([(s.years, lambda c, r=s.rule: render(r, c.at("rule"))) for s in rule.stages],
                  lambda c: render(rule.otherwise, c), ctx)
    out.phrase = ctx.t("agreement.schedule")
    return out


def method_name(method: str) -> tuple[str, str]:
    """(中文, English) name of what produced optimized shares, from its ``method`` text."""
    text = method.lower()
    found = [(text.find(k), names) for k, names in METHODS if k in text]
    if not found:
        return ("优化测算", "an optimization")
    return min(found, key=lambda f: f[0])[1]


@renders(Optimized)
def _optimized(rule: Optimized, ctx: Ctx) -> Rendered:
    zh, en = method_name(rule.objective or rule.method)  # the optimizer names its objective
    out = _stages([(s.years, lambda c, sh=s.shares: Rendered(_fixed_phrase(sh, c)))
                   for s in rule.stages], lambda c: render(Host(), c), ctx)
    out.phrase = ctx.t("agreement.optimized", method=zh, method_en=en)
    out.notes.append(ctx.t("agreement.optimized_source", text=rule.method.strip()))
    return out


@renders(Capped)
def _capped(rule: Capped, ctx: Ctx) -> Rendered:
    names, path = ctx.agreement_names(), ctx.path
    if rule.start is None:
        key = f"agreement.capped_{rule.start_from}"
        start, start_en = message(key, "zh"), message(key, "en")
    else:
        start = message("agreement.capped_year", "zh", year=rule.start)
        start_en = message("agreement.capped_year", "en", year=rule.start)
    if rule.taxes:
        taxes_zh = "、".join(TAX_NAMES[t][0] for t in rule.taxes)
        taxes_en = Ctx(ctx.sc, "en").join(TAX_NAMES[t][1] for t in rule.taxes)
    else:
        taxes_zh = message("agreement.capped_all_taxes", "zh")
        taxes_en = message("agreement.capped_all_taxes", "en")
    who = ctx.who(rule.beneficiary)
    phrase = ctx.t("agreement.capped", start=start, start_en=start_en, years=rule.max_years,
                   taxes=taxes_zh, taxes_en=taxes_en, share=percent(rule.share), who=who)
    term = [(ctx.t("agreement.term_capped", years=rule.max_years, start=start,
                   start_en=start_en, **names), f"{path}.max_years")]
    if rule.extension is not None and rule.extension.below is not None:
        term.append((ctx.t("agreement.term_extension", below=ctx.money(rule.extension.below),
                           years=rule.extension.years), f"{path}.extension"))
    elif rule.extension is not None:
        term.append((ctx.t("agreement.term_extension_cap", years=rule.extension.years),
                     f"{path}.extension"))
    base_key = "agreement.pre_move_gross" if ctx.sc.agreements[ctx.agreement].base == "gross" \
        else "agreement.pre_move_retained"
    if isinstance(rule.cap, PreMoveCap):
        term.append((ctx.t("agreement.term_cap_pre_move", who=who, n=rule.cap.pre_move_years,
                           base=message(base_key, "zh"), base_en=message(base_key, "en")),
                     f"{path}.cap"))
    elif rule.cap is not None:
        term.append((ctx.t("agreement.term_cap_amount", who=who, cap=ctx.money(rule.cap)),
                     f"{path}.cap"))
    if rule.end_subsidy is not None:
        key = "agreement.term_subsidy" if rule.cap is None else "agreement.term_subsidy_cap"
        term.append((ctx.t(key, who=who, n=rule.max_years,
                           amount=ctx.money(rule.end_subsidy.amount)), f"{path}.end_subsidy"))
    base = [(ctx.t("agreement.base_capped", **names), f"{path}.cap")]
    if rule.eligibility is not None:
        base.append((ctx.t("agreement.base_eligibility",
                           min=ctx.money(rule.eligibility.min_pre_move)),
                     f"{path}.eligibility"))
    return Rendered(phrase, term=term, base=base)


@renders(Floor)
def _floor(rule: Floor, ctx: Ctx) -> Rendered:
    inner = render(rule.rule, ctx.at("rule"))
    start = rule.from_year if rule.from_year is not None else ctx.years[0]
    phrase = ctx.t("agreement.floor", inner=inner.phrase, start=start,
                   who=ctx.who(rule.beneficiary), minimum=ctx.money(rule.minimum))
    out = Rendered(phrase, term=[(ctx.t("agreement.term_floor", start=start,
                                        **ctx.agreement_names()), f"{ctx.path}.from_year")])
    return out.adopt(inner)


@renders(Tiered)
def _tiered(rule: Tiered, ctx: Ctx) -> Rendered:
    out = Rendered(ctx.t("agreement.tiered"),
                   base=[(ctx.t("agreement.base_tiered", **ctx.agreement_names()),
                          f"{ctx.path}.bands")])
    lower = None
    for band in rule.bands:
        phrase = _fixed_phrase(band.shares, ctx)
        if lower is None and band.upto is None:
            out.items.append(ctx.t("agreement.band_only", phrase=phrase))
        elif lower is None:
            out.items.append(ctx.t("agreement.band_first", upper=ctx.money(band.upto),
                                   phrase=phrase))
        elif band.upto is None:
            out.items.append(ctx.t("agreement.band_last", lower=ctx.money(lower), phrase=phrase))
        else:
            out.items.append(ctx.t("agreement.band", lower=ctx.money(lower),
                                   upper=ctx.money(band.upto), phrase=phrase))
        lower = band.upto
    return out


@renders(FixedReturn)
def _fixed_return(rule: FixedReturn, ctx: Ctx) -> Rendered:
    inner = render(rule.rule, ctx.at("rule"))
    start = rule.from_year if rule.from_year is not None else ctx.years[0]
    end = rule.to_year if rule.to_year is not None else ctx.years[1]
    if isinstance(rule.capital, dict):
        items = ctx.join(ctx.t("agreement.capital_item", year=y, money=ctx.money(v))
                         for y, v in sorted(rule.capital.items()))
        capital = ctx.t("agreement.capital_by_year", items=items)
    else:
        capital = ctx.t("agreement.capital_fixed", money=ctx.money(rule.capital))
    phrase = ctx.t("agreement.fixed_return", inner=inner.phrase, payer=ctx.who(rule.payer),
                   who=ctx.who(rule.beneficiary), start=start, end=end,
                   rate=percent(rule.rate), capital=capital)
    out = Rendered(phrase, term=[(ctx.t("agreement.term_fixed_return", start=start, end=end),
                                  ctx.path)])
    return out.adopt(inner)


@renders(Claims)
def _claims(rule: Claims, ctx: Ctx) -> Rendered:
    zh, en = CLAIMS_METHODS[rule.method]
    claims = ctx.join(ctx.t("agreement.claim", who=ctx.who(k), money=ctx.money(v))
                      for k, v in rule.claims.items())
    phrase = ctx.t("agreement.claims", method=zh, method_en=en, claims=claims,
                   remainder=ctx.who(rule.remainder))
    return Rendered(phrase, base=[(ctx.t("agreement.base_claims", **ctx.agreement_names()),
                                   ctx.path)])


# ---------------------------------------------------------------------------------------------
# Sections


def agreement_text(sc: Scenario, lang: Lang = "zh", agreement: str | None = None,
                   review_years: int = REVIEW_YEARS) -> AgreementText:
    """A draft agreement from the scenario's rules, in ``lang`` (zh or en).

    Parameters
    ----------
    sc : the scenario (its agreements, streams, costs, statistics and assumptions).
    lang : ``"zh"`` or ``"en"``.
    agreement : an agreement id to draft alone (default: every agreement, one document).
    review_years : how often the parties review the terms (default 3, as in the 2025
        horizontal compensation scheme).

    Raises
    ------
    ScenarioError
        For an unknown agreement id (with the closest valid ids), or a scenario the engine
        refuses.
    """
    from sharing.i18n import Problem, did_you_mean

    if lang not in ("zh", "en"):
        raise ValueError(f"unknown language {lang!r}; use zh or en")
    ids = [a.id for a in sc.agreements]
    if agreement is not None and agreement not in ids:
        raise ScenarioError([Problem("agreement.unknown_agreement",
                                     {"id": agreement, "valid": ", ".join(ids)},
                                     path="agreement", close=tuple(did_you_mean(agreement, ids)))])
    model = compile_scenario(sc)
    chosen = [ca for ca in model.agreements
              if agreement is None or sc.agreements[ca.position].id == agreement]
    b = _Drafter(sc, lang, model, chosen, review_years, single=agreement is not None)
    return b.build()


class _Drafter:
    def __init__(self, sc: Scenario, lang: Lang, model, chosen, review_years: int,
                 single: bool):
        self.sc, self.lang, self.model, self.chosen = sc, lang, model, chosen
        self.review_years = review_years
        self.single = single
        self.ctx = Ctx(sc, lang)
        self.rendered: dict[int, Rendered] = {}
        for ca in chosen:
            ctx = self.for_agreement(ca)
            self.rendered[ca.position] = render(sc.agreements[ca.position].rule, ctx)

    def for_agreement(self, ca) -> Ctx:
        return Ctx(self.sc, self.lang, ca.position, dict(ca.template.contributions),
                   years=(self.sc.years.start, self.sc.years.end))

    def t(self, key: str, **params: Any) -> str:
        return message(key, self.lang, **params)

    def clause(self, text: str, *, items=(), references=(), paths=(), flags=(),
               placeholder: bool = False) -> Clause:
        notes = [a.note for a in self.sc.assumptions
                 if any(_overlaps(p, a.path) for p in paths)]
        for key, params in flags:
            what = message(key, "zh", **params)
            what_en = message(key, "en", **params)
            notes.append(self.t("agreement.marker_flag", what=what, what_en=what_en))
        if self.lang == "en":  # sentences and items start with a capital
            text = _capital(text)
            items = [_capital(item) for item in items]
        return Clause(text, tuple(items), tuple(dict.fromkeys(r for r in references if r)),
                      tuple(dict.fromkeys(notes)), tuple(paths), placeholder)

    def build(self) -> AgreementText:
        sc = self.sc
        sections = []
        for key in SECTIONS:
            clauses = getattr(self, f"_{key}")()
            sections.append(Section(key, self.t(f"agreement.section.{key}"), tuple(clauses)))
        parties = [next(j for j in sc.jurisdictions if j.id == p) for p in self.parties()]
        if len(parties) <= 4:
            title = self.t("agreement.title_parties",
                           names=self.ctx.join(p.name if self.lang == "zh" else p.name_en
                                               for p in parties))
        else:
            title = self.t("agreement.title", name=sc.name, name_en=sc.name_en)
        return AgreementText(self.lang, title,
                             self.t("agreement.notice", name=sc.name, name_en=sc.name_en),
                             tuple(sections))

    # -- who is involved --------------------------------------------------------------------

    def parties(self) -> list[str]:
        if not self.single:
            return [j.id for j in self.sc.jurisdictions]
        s, ids = self.model.streams, set()
        for ca in self.chosen:
            rows = ca.rows
            ids.update(int(x) for x in s.host[rows])
            ids.update(int(x) for x in s.origin[rows] if x >= 0)
            ids.update(int(x) for x in s.destination[rows] if x >= 0)
            for rule in walk(self.sc.agreements[ca.position].rule):
                ids.update(self.model.index[k] for k in rule.keys() if k in self.model.index)
        return [self.model.jurisdictions[i] for i in sorted(ids)]

    def _parties(self) -> list[Clause]:
        items = []
        for n, jid in enumerate(self.parties()):
            jur = next(j for j in self.sc.jurisdictions if j.id == jid)
            if self.lang == "zh":
                label = (PARTY_LABELS_ZH[n] + "方") if n < len(PARTY_LABELS_ZH) \
                    else f"第{chinese_count(n + 1)}方"
            else:
                label = f"Party {chr(65 + n)}" if n < 26 else f"Party {n + 1}"
            province = PROVINCE_NAMES.get(jur.province)
            if province:
                items.append(self.t("agreement.party", label=label, name=jur.name,
                                    name_en=jur.name_en, province=province[0],
                                    province_en=province[1]))
            else:
                items.append(self.t("agreement.party_plain", label=label, name=jur.name,
                                    name_en=jur.name_en))
        return [self.clause(self.t("agreement.parties"), items=items, paths=("jurisdictions",)),
                self.clause(self.t("agreement.roles"))]

    # -- scope and taxes ----------------------------------------------------------------------

    def _scope(self) -> list[Clause]:
        out, any_firms = [], False
        for ca in self.chosen:
            ag = self.sc.agreements[ca.position]
            what, paths, flags = self._covered(ca)
            any_firms |= any(p.startswith("firms[") for p in paths)
            text = self.t("agreement.scope", what=("；" if self.lang == "zh" else "; ").join(what),
                          agreement=ag.name or ag.id, agreement_en=ag.name_en or ag.name or ag.id)
            out.append(self.clause(text, references=(ag.reference,),
                                   paths=(f"agreements[{ca.position}].covers", *paths),
                                   flags=flags))
        if any_firms:
            out.append(self.clause(self.t("agreement.scope_confirm"),
                                   references=("财预〔2015〕92号",)))
        return out

    def _covered(self, ca) -> tuple[list[str], list[str], list[str]]:
        sc, s, ctx = self.sc, self.model.streams, self.ctx
        rows = ca.rows
        kinds = s.kind[rows]
        what, paths, flags = [], [], []
        for p in sorted(set(s.park[rows][kinds == KINDS.index("park")].tolist())):
            park = sc.parks[p]
            hosts = sorted(set(s.host[rows][(kinds == KINDS.index("park"))
                                            & (s.park[rows] == p)].tolist()))
            sites = ctx.join(self.t("agreement.scope_site",
                                    host=ctx.who(self.model.jurisdictions[h])) for h in hosts)
            name = park.name or park.id if self.lang == "zh" else \
                park.name_en or park.name or park.id
            what.append(self.t("agreement.scope_park", park=name, sites=sites))
        firm_ids = sorted(set(s.firm[rows][kinds == KINDS.index("firm")].tolist()))
        migrated = [f for f in firm_ids if sc.firms[f].move_year is not None]
        projects = [f for f in firm_ids if sc.firms[f].move_year is None]
        for group, key, one in ((migrated, "agreement.scope_firms", "agreement.scope_firm"),
                                (projects, "agreement.scope_projects",
                                 "agreement.scope_project")):
            if not group:
                continue
            listed, flagged = [], []
            for f in group:
                firm = sc.firms[f]
                name = (firm.name or firm.id) if self.lang == "zh" else \
                    (firm.name_en or firm.name or firm.id)
                listed.append(self.t(one, firm=name, origin=ctx.who(firm.from_id),
                                     destination=ctx.who(firm.to_id), year=firm.move_year))
                paths.append(f"firms[{f}]")
                if firm.illustrative:
                    flagged.append(firm)
            firms = ctx.join(listed) if len(listed) <= 10 else \
                self.t("agreement.scope_many", n=len(listed))
            if flagged:
                flags.append(("agreement.flag_firm", {
                    "n": len(flagged),
                    "names": "、".join(f.name or f.id for f in flagged[:10]),
                    "names_en": ", ".join(f.name_en or f.name or f.id for f in flagged[:10])}))
            what.append(self.t(key, n=len(group), firms=firms))
        direct = rows[kinds == KINDS.index("stream")]
        if direct.size:
            listed = [self.t("agreement.scope_stream", id=s.id_of(int(r)),
                             host=ctx.who(self.model.jurisdictions[int(s.host[r])]),
                             tax=TAX_NAMES[TAXES[s.tax[r]]][0 if self.lang == "zh" else 1])
                      for r in direct]
            what.append(self.t("agreement.scope_streams", streams=ctx.join(listed)))
        return what, paths, flags

    def _taxes(self) -> list[Clause]:
        out = []
        s, years, ctx = self.model.streams, self.model.years, self.ctx
        for ca in self.chosen:
            ag = self.sc.agreements[ca.position]
            rows = ca.rows
            taxes = [t for t in range(len(TAXES)) if np.any(s.tax[rows] == t)]
            rates = []
            for t in taxes:
                by_text: dict[str, list[str]] = {}
                for h in sorted(set(s.host[rows][s.tax[rows] == t].tolist())):
                    row = rows[(s.tax[rows] == t) & (s.host[rows] == h)][0]
                    text = _rate_text(s.retention[row], years, ctx)
                    by_text.setdefault(text, []).append(ctx.who(self.model.jurisdictions[h]))
                for text, hosts in by_text.items():
                    rates.append(self.t("agreement.rate", tax=_tax(TAXES[t], self.lang),
                                        rate=text, hosts=ctx.join(hosts)))
            text = self.t("agreement.taxes", taxes=ctx.join(_tax(TAXES[t], self.lang)
                                                            for t in taxes),
                          base=self.t(f"agreement.base_{ag.base}"),
                          rates=("；" if self.lang == "zh" else "; ").join(rates),
                          agreement=ag.name or ag.id, agreement_en=ag.name_en or ag.name or ag.id)
            out.append(self.clause(text, references=(self.sc.retention.reference
                                                     or NATIONAL_REFERENCE,),
                                   paths=("retention",)))
        return out

    # -- ratios, term, base ---------------------------------------------------------------------

    def _ratios(self) -> list[Clause]:
        if not self.chosen:
            return [self.clause(self.t("agreement.none"))]
        out = []
        for ca in self.chosen:
            ag = self.sc.agreements[ca.position]
            r = self.rendered[ca.position]
            subject = self.t(f"agreement.subject_{ag.base}")
            text = self.t("agreement.ratio", subject=subject, phrase=r.phrase,
                          agreement=ag.name or ag.id, agreement_en=ag.name_en or ag.name or ag.id)
            text = " ".join([text, *r.notes]) if self.lang == "en" else "".join([text, *r.notes])
            owner = self._contributions_owner(ca)
            paths = [f"agreements[{ca.position}].rule"]
            if owner and any(isinstance(x, Factors) for x in walk(ag.rule)):
                paths.append(f"contributions.{owner}")
            out.append(self.clause(text, items=r.items, references=(ag.reference,
                                                                   *r.references),
                                   paths=paths))
        return out

    def _contributions_owner(self, ca) -> str | None:
        ag = self.sc.agreements[ca.position]
        if ag.id in self.sc.contributions:
            return ag.id
        parks = ag.covers.listed("park") or []
        return parks[0] if len(parks) == 1 and parks[0] in self.sc.contributions else None

    def _term(self) -> list[Clause]:
        sc = self.sc
        out = [self.clause(self.t("agreement.term", start=sc.years.start, end=sc.years.end),
                           paths=("years",))]
        for ca in self.chosen:
            out.extend(self._rule_clauses(ca, self.rendered[ca.position].term))
        return out

    def _base(self) -> list[Clause]:
        out = [self.clause(self.t("agreement.base_general"),
                           references=("财预〔2015〕92号：包含缴纳和退库",))]
        for ca in self.chosen:
            out.extend(self._rule_clauses(ca, self.rendered[ca.position].base))
        return out

    def _rule_clauses(self, ca, sentences: list[tuple[str, str]]) -> list[Clause]:
        """One clause per distinct sentence a rule contributes to a section, marked by the
        assumptions on its own key path."""
        ag = self.sc.agreements[ca.position]
        refs = (ag.reference, *self.rendered[ca.position].references)
        out = []
        for text, path in dict.fromkeys(sentences):
            if path == "contributions":
                owner = self._contributions_owner(ca)
                paths = (f"contributions.{owner}",) if owner else ()
            else:
                paths = (f"agreements[{ca.position}].{path}",)
            out.append(self.clause(text, references=refs, paths=paths))
        return out

    # -- settlement, statistics, costs, review, disputes ---------------------------------------

    def _settlement(self) -> list[Clause]:
        """Each agreement's ``settlement:`` terms; a marked placeholder where none are set."""
        out, open_terms = [], []
        for ca in self.chosen:
            ag = self.sc.agreements[ca.position]
            if ag.settlement is None:
                open_terms.append(ag)
                continue
            out.append(self._settlement_terms(ca.position, ag))
        if open_terms or not out:
            names = self.ctx.join(f"「{a.name or a.id}」" if self.lang == "zh"
                                  else f"\"{a.name_en or a.name or a.id}\"" for a in open_terms)
            key = "agreement.settlement_open" if out else "agreement.settlement"
            out.append(self.clause(self.t(key, placeholder=self.t("agreement.to_be_agreed"),
                                          agreements=names),
                                   references=(self.t("agreement.settlement_ref"),),
                                   placeholder=True))
        return out

    def _settlement_terms(self, position: int, ag) -> Clause:
        terms, lang = ag.settlement, self.lang
        channel = self.t(f"agreement.channel_{terms.channel}",
                         superior=terms.superior or "", clearing=terms.superior or
                         CENTRAL_CLEARING)
        if terms.timing == "quarterly_advance":
            timing = self.t("agreement.timing_quarterly", advance=percent(terms.advance))
        else:
            timing = self.t("agreement.timing_annual")
        interest = (self.t("agreement.interest", rate=percent(terms.late_interest))
                    if terms.late_interest else self.t("agreement.no_interest"))
        text = self.t("agreement.settlement_terms", channel=channel, timing=timing,
                      interest=interest, agreement=ag.name or ag.id,
                      agreement_en=ag.name_en or ag.name or ag.id)
        payer, payee = self.t("agreement.payer"), self.t("agreement.payee")
        items = [self.t("agreement.booking", who=who, line=line)
                 for who, line, _ in terms.bookings(payer, payee, 1.0, lang)]
        return self.clause(text, items=items, references=(self.t("agreement.settlement_ref"),),
                           paths=(f"agreements[{position}].settlement",))

    def _statistics(self) -> list[Clause]:
        out, ctx = [], self.ctx
        for ca in self.chosen:
            ag = self.sc.agreements[ca.position]
            for k, stat in enumerate(ag.statistics):
                names = {"agreement": ag.name or ag.id,
                         "agreement_en": ag.name_en or ag.name or ag.id,
                         "indicator": FACTOR_NAMES.get(stat.indicator, (stat.indicator,))[0],
                         "indicator_en": FACTOR_NAMES.get(stat.indicator,
                                                          (None, stat.indicator))[1]}
                if stat.shares is not None:
                    ratio, parts = ctx.shares(stat.shares)
                    text = self.t("agreement.statistic_shares", ratio=ratio, parts=parts,
                                  **names)
                else:
                    text = self.t("agreement.statistic_benefit", **names)
                path = f"agreements[{ca.position}].statistics[{k}]"
                flag = ("agreement.flag_statistic", {"name": names["indicator"],
                                                     "name_en": names["indicator_en"]})
                out.append(self.clause(text, references=(ag.reference,), paths=(path,),
                                       flags=(flag,) if stat.illustrative else ()))
        return out or [self.clause(self.t("agreement.statistics_none"))]

    def _costs(self) -> list[Clause]:
        sc, ctx, out = self.sc, self.ctx, []
        chosen_ids = {sc.agreements[ca.position].id for ca in self.chosen}
        parks = {p for ca in self.chosen
                 for p in (sc.agreements[ca.position].covers.listed("park") or [])}
        parties = set(self.parties())
        for c, cost in enumerate(sc.costs):
            if self.single and not (
                    (isinstance(cost.rule, ByBenefit) and cost.rule.agreement in chosen_ids)
                    or (cost.park is not None and cost.park in parks)
                    or (cost.parties and set(cost.parties) <= parties)):
                continue
            years = sorted(cost.by_year)
            payers = {cost.paid_by: 1.0} if isinstance(cost.paid_by, str) else cost.paid_by
            if len(payers) == 1:
                payer_text = ctx.who(next(iter(payers)))
            else:
                payer_text = self.t("agreement.payers", names=ctx.join(map(ctx.who, payers)),
                                    ratio=":".join(percent(v) for v in payers.values()))
            rule = cost.rule
            paths = [f"costs[{c}]"]
            if rule is None:
                rule_text = self.t("agreement.cost_booked")
            elif isinstance(rule, Fixed):
                ratio, parts = ctx.shares(rule.shares)
                rule_text = self.t("agreement.cost_fixed", ratio=ratio, parts=parts)
            elif isinstance(rule, Factors):
                owner = cost.id if cost.id in sc.contributions else cost.park
                contributions = sc.contributions.get(owner or "", {})
                rule_text = self.t("agreement.cost_factors", weights=ctx.weights(rule.weights),
                                   shares=_factor_shares(rule, contributions, ctx))
                if owner:
                    paths.append(f"contributions.{owner}")
            else:
                ag = next(a for a in sc.agreements if a.id == rule.agreement)
                rule_text = self.t("agreement.cost_benefit", agreement=ag.name or ag.id,
                                   agreement_en=ag.name_en or ag.name or ag.id)
            name = (cost.name or cost.id) if self.lang == "zh" else \
                (cost.name_en or cost.name or cost.id)
            text = self.t("agreement.cost", cost=name, years=ctx.year_span(years[0], years[-1]),
                          total=ctx.money(sum(cost.by_year.values())), payers=payer_text,
                          rule=rule_text)
            flag = ("agreement.flag_cost", {"name": cost.name or cost.id,
                                            "name_en": cost.name_en or cost.name or cost.id})
            out.append(self.clause(text, paths=paths,
                                   flags=(flag,) if cost.illustrative else ()))
        return out or [self.clause(self.t("agreement.costs_none"))]

    def _review(self) -> list[Clause]:
        return [self.clause(self.t("agreement.review", n=self.review_years),
                            references=(self.t("agreement.review_ref"),))]

    def _disputes(self) -> list[Clause]:
        return [self.clause(self.t("agreement.disputes",
                                   placeholder=self.t("agreement.to_be_agreed")),
                            placeholder=True)]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _overlaps(path: str, flagged: str) -> bool:
    """True when one key path lies inside the other (``a.b`` and ``a.b.c``, ``a`` and
    ``a[0]``)."""
    if path == flagged:
        return True
    longer, shorter = (path, flagged) if len(path) > len(flagged) else (flagged, path)
    return longer.startswith(shorter) and longer[len(shorter)] in ".["


SPACE = {"zh": "\u3000", "en": " "}


def repeat_note(text: str, first: dict[str, int], n: int, lang: Lang) -> str:
    """A footnote's text, or "同注 3 / See note 3" when an earlier note says the same."""
    if text in first:
        return message("agreement.same_note", lang, n=first[text])
    first[text] = n
    return text


def section_number(n: int, lang: Lang) -> str:
    return f"{chinese_count(n)}、" if lang == "zh" else f"{n}. "


def clause_number(n: int, lang: Lang) -> str:
    return f"第{chinese_count(n)}条" if lang == "zh" else f"Article {n}."


def item_number(n: int, lang: Lang) -> str:
    return f"（{chinese_count(n)}）" if lang == "zh" else f"({chr(96 + n) if n <= 26 else n})"


def _illustrative(clause: Clause, lang: Lang) -> str:
    sep = "；" if lang == "zh" else "; "
    return sep.join(message("agreement.marker_note", lang, note=n) for n in clause.illustrative)


def _md(text: str) -> str:
    """Markdown-escape plain text (so ``*``, ``_``, ``[`` and the like print as themselves)."""
    out = text.replace("\\", "\\\\")
    for ch in "*_[]<>`#|":
        out = out.replace(ch, "\\" + ch)
    return out


def _tax(tax: str, lang: Lang) -> str:
    return TAX_NAMES[tax][0 if lang == "zh" else 1]


def _rate_text(rates: np.ndarray, years: np.ndarray, ctx: Ctx) -> str:
    """``50%``, or runs of years with their rates: ``2014 年至 2015 年 25%、2016 年至 2024 年
    50%``."""
    runs: list[tuple[int, int, float]] = []
    for y, r in zip(years.tolist(), rates.tolist(), strict=True):
        if runs and runs[-1][2] == r:
            runs[-1] = (runs[-1][0], y, r)
        else:
            runs.append((y, y, r))
    if len(runs) == 1:
        return percent(runs[0][2])
    return ctx.join(ctx.t("agreement.rate_years", span=ctx.year_span(a, b), rate=percent(r))
                    for a, b, r in runs)
