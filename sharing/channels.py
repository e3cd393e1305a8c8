"""How an agreement's amounts are settled (结算方式): the channel the money takes, the timing,
late interest, and the booking lines each side enters.

An agreement's ``settlement:`` key (all optional)::

    settlement:
      channel: via_superior        # direct | via_superior | central_clearing
      superior: 四川省财政厅         # the common superior (via_superior, required)
      timing: annual               # annual | quarterly_advance
      advance_share: 0.8           # quarterly_advance: share of the projected amount advanced
      late_interest: 0.0           # simple annual rate on arrears carried into a year

Sources (SETTLEMENT.md §1): within one province the common superior books a 上解 line for the
payer and a 补助 line for the payee in its 年终结算 (四川省财政厅 2014); across provinces the
2025 horizontal-compensation scheme clears through a holding sub-account of the central
treasury, the receiving side booking 1100208 结算补助收入 (财政部 2018); multi-site income tax
is prepaid quarterly and trued up after year-end (财预〔2012〕40号). The booking lines of the
``direct`` channel (横向转移支出 / 横向转移收入) are our inference, not a cited subject code.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sharing.frozen import Frozen
from sharing.i18n import define, message
from sharing.rules import Share, fault

Channel = Literal["direct", "via_superior", "central_clearing"]
Timing = Literal["annual", "quarterly_advance"]
CENTRAL_CLEARING = "财政部（中央国库暂存款专户）"

define({
    "channels.superior_required": (
        "via_superior 需要写明共同上级 superior（如 四川省财政厅）",
        "via_superior needs the common superior named in `superior` (e.g. 四川省财政厅)"),
    "channels.superior_unused": (
        "direct 渠道不经过上级，请删除 superior",
        "the direct channel has no superior; remove `superior`"),
    "channels.advance_required": (
        "quarterly_advance 需要 advance_share（季度预拨占预测金额的比例，如 0.8）",
        "quarterly_advance needs advance_share (the share of the projected amount advanced "
        "each quarter, e.g. 0.8)"),
    "channels.advance_unused": (
        "advance_share 只用于 timing: quarterly_advance",
        "advance_share applies only with timing: quarterly_advance"),
    "channels.line.remit": ("上解支出", "remittance to the superior (上解支出)"),
    "channels.line.grant": ("补助收入", "grant from the superior (补助收入)"),
    "channels.line.superior_in": ("上解收入", "remittance received (上解收入)"),
    "channels.line.superior_out": ("补助支出", "grant paid (补助支出)"),
    "channels.line.clearing_out": ("上解支出（缴入清算账户）",
                                   "payment into the clearing account (上解支出)"),
    "channels.line.clearing_in": ("结算补助收入（1100208）",
                                  "settlement grant revenue, item 1100208 (结算补助收入)"),
    "channels.line.clearing_account": ("清算账户收付", "clearing account in and out"),
    "channels.line.direct_out": ("横向转移支出", "horizontal transfer paid (横向转移支出)"),
    "channels.line.direct_in": ("横向转移收入", "horizontal transfer received (横向转移收入)"),
    "channels.channel.direct": ("双方直接拨付", "paid directly"),
    "channels.channel.via_superior": ("通过共同上级年终结算", "through the common superior's "
                                      "year-end settlement"),
    "channels.channel.central_clearing": ("通过中央国库清算账户", "through the central "
                                          "treasury's clearing account"),
    "channels.timing.annual": ("年终清算", "annual, after year-end"),
    "channels.timing.quarterly_advance": ("季度预拨、年终清算", "quarterly advances, year-end "
                                          "true-up"),
})


class Settlement(Frozen):
    """How one agreement is settled. Every key is optional; the default is a direct annual
    payment without interest.

    Booking lines for an amount ``x > 0`` owed by payer P to payee Q (a negative amount swaps
    P and Q):

    - ``direct``: P 横向转移支出 x; Q 横向转移收入 x;
    - ``via_superior``: P 上解支出 x, Q 补助收入 x; the superior S books 上解收入 x from P and
      补助支出 x to Q in its 年终结算;
    - ``central_clearing``: P pays x into the clearing account (上解支出); Q receives x as
      结算补助收入 (1100208); the clearing account shows x in and x out.
    """

    channel: Channel = "direct"
    superior: str | None = Field(None, min_length=1, max_length=80)
    timing: Timing = "annual"
    advance_share: Share | None = None
    late_interest: float = Field(0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> Settlement:
        if self.channel == "via_superior" and not self.superior:
            raise fault("superior", "channels.superior_required")
        if self.channel == "direct" and self.superior:
            raise fault("superior", "channels.superior_unused")
        if self.timing == "quarterly_advance" and self.advance_share is None:
            raise fault("advance_share", "channels.advance_required")
        if self.timing == "annual" and self.advance_share is not None:
            raise fault("advance_share", "channels.advance_unused")
        return self

    @property
    def advance(self) -> float:
        """Share of the projected amount advanced during the year (0 for annual timing)."""
        return self.advance_share if self.timing == "quarterly_advance" else 0.0

    def bookings(self, payer: str, payee: str, amount: float,
                 lang: Literal["zh", "en"] | None = None) -> list[tuple[str, str, float]]:
        """``(who, line, amount)`` booking lines for ``amount`` owed by ``payer`` to ``payee``
        (names as shown); a negative amount is owed the other way."""
        if amount < 0:
            payer, payee, amount = payee, payer, -amount

        def line(key: str) -> str:
            return message(f"channels.line.{key}", lang)

        if self.channel == "via_superior":
            return [(payer, line("remit"), amount), (payee, line("grant"), amount),
                    (self.superior or "", line("superior_in"), amount),
                    (self.superior or "", line("superior_out"), amount)]
        if self.channel == "central_clearing":
            clearing = self.superior or CENTRAL_CLEARING
            return [(payer, line("clearing_out"), amount), (payee, line("clearing_in"), amount),
                    (clearing, line("clearing_account"), amount)]
        return [(payer, line("direct_out"), amount), (payee, line("direct_in"), amount)]

    def describe(self, lang: Literal["zh", "en"] | None = None) -> str:
        """The channel and timing in words, e.g. 通过共同上级年终结算（四川省财政厅），年终清算."""
        channel = message(f"channels.channel.{self.channel}", lang)
        if self.superior:
            channel += f"（{self.superior}）" if lang == "zh" else f" ({self.superior})"
        timing = message(f"channels.timing.{self.timing}", lang)
        if self.timing == "quarterly_advance":
            timing += f" {self.advance:.0%}"
        return f"{channel}，{timing}" if lang == "zh" else f"{channel}; {timing}"
