"""Numbers as documents write them: money in figures and in words, exact percentages.

Chinese financial documents give every amount twice, in figures and in capital numerals
(中文大写金额, e.g. ``￥1,409.50`` → ``人民币壹仟肆佰零玖元伍角``), so that a figure cannot be
altered unnoticed. :func:`rmb_capital` follows the rules of 中国人民银行《支付结算办法》附件
《正确填写票据和结算凭证的基本规定》:

- digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟, groups 万 and 亿; ten is 壹拾;
- one 零 stands for any run of zeros between non-zero digits (``6007.14`` →
  陆仟零柒元壹角肆分); a group below a thousand after a higher group starts with 零
  (``1,000,500`` → 壹佰万零伍佰元整);
- when the 元 digit is 0 but 角 is not, 零 follows 元 (the first of the two forms the rules
  allow: ``1680.32`` → 壹仟陆佰捌拾元零叁角贰分); when 角 is 0 and 分 is not, 零 is required
  (``325.04`` → 叁佰贰拾伍元零肆分);
- 整 after 元 when there is no 角 or 分; nothing after 角 or 分 (``1409.50`` → …元伍角).

Amounts are rounded half up to the 分 from their shortest decimal form (``repr``), so a float
such as ``0.29`` is read as 0.29, not 0.28999…. The simulator keeps money in 万元:
:func:`rmb_capital_wan` converts first. Settlement statements use the same functions.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("", "拾", "佰", "仟")
WAN = Decimal(10_000)
LIMIT = 10**16  # 一亿亿元: far beyond any budget; larger amounts are refused

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
         "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))


def to_decimal(amount: float | int | str | Decimal) -> Decimal:
    """The amount as a Decimal, read from its shortest decimal form."""
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, float):
        value = Decimal(repr(amount))
    else:
        value = Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"amount {amount!r} is not a finite number")
    return value


def _fen(amount: float | int | str | Decimal) -> tuple[bool, int]:
    """(negative, whole number of 分), rounded half up."""
    fen = (to_decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if abs(fen) >= LIMIT * 100:
        raise ValueError(f"amount {amount!r} is too large to write out (limit 10^16 yuan)")
    return fen < 0, abs(int(fen))


def _section(n: int) -> str:
    """1..9999 in capitals: one 零 for any zeros between non-zero digits, none at the end."""
    out, zero = "", False
    for power in (3, 2, 1, 0):
        d = n // 10**power % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += DIGITS[d] + UNITS[power]
    return out


def _capital_int(n: int) -> str:
    """A positive integer in capitals, grouped by 亿 and 万."""
    for size, unit in ((10**8, "亿"), (10**4, "万")):
        if n >= size:
            high, low = divmod(n, size)
            out = (_capital_int(high) if unit == "亿" else _section(high)) + unit
            if low:
                out += ("零" if low < size // 10 else "") + _capital_int(low)
            return out
    return _section(n)


def rmb_capital(amount: float | int | str | Decimal, prefix: str = "人民币") -> str:
    """An amount in yuan as 中文大写金额, e.g. ``1409.5`` → ``人民币壹仟肆佰零玖元伍角``.

    Raises ValueError for a non-finite amount or one of 10^16 yuan or more.
    """
    negative, fen = _fen(amount)
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    out = _capital_int(yuan) + "元" if yuan else ""
    if not cents:
        out = (out or "零元") + "整"
    else:
        if yuan and (jiao == 0 or yuan % 10 == 0):
            out += "零"
        if jiao:
            out += DIGITS[jiao] + "角"
        if fen_digit:
            out += DIGITS[fen_digit] + "分"
    return prefix + ("负" if negative else "") + out


def rmb_capital_wan(amount_wan: float | int | str | Decimal, prefix: str = "人民币") -> str:
    """An amount in 万元 (the simulator's unit) as 中文大写金额 of yuan."""
    return rmb_capital(to_decimal(amount_wan) * WAN, prefix)


def _words_below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        parts.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        parts.append(_ONES[rest])
    return " ".join(parts)


def _words_int(n: int) -> str:
    if n == 0:
        return "zero"
    parts = []
    for size, name in _SCALES:
        if n >= size:
            high, n = divmod(n, size)
            parts.append(f"{_words_int(high)} {name}")
    if n:
        parts.append(_words_below_thousand(n))
    return " ".join(parts)


def rmb_words(amount: float | int | str | Decimal) -> str:
    """An amount in yuan in English words, e.g. ``1409.5`` → ``one thousand four hundred nine
    yuan and fifty fen`` (the English counterpart of 大写)."""
    negative, fen = _fen(amount)
    yuan, cents = divmod(fen, 100)
    out = f"{_words_int(yuan)} yuan"
    if cents:
        out += f" and {_words_int(cents)} fen"
    return ("minus " if negative else "") + out


def rmb_words_wan(amount_wan: float | int | str | Decimal) -> str:
    """An amount in 万元 in English words of yuan."""
    return rmb_words(to_decimal(amount_wan) * WAN)


def figures(amount: float | int | str | Decimal, decimals: int = 2) -> str:
    """Figures with thousands separators, rounded half up: ``8392.9`` → ``8,392.90``."""
    q = Decimal(1).scaleb(-decimals)
    value = to_decimal(amount).quantize(q, rounding=ROUND_HALF_UP)
    return f"{value:,.{decimals}f}"


def percent(share: float | int | str | Decimal) -> str:
    """A share as an exact percentage: ``0.5`` → ``50%``, ``0.3599`` → ``35.99%``.

    A share whose percentage does not terminate within six decimals but is a simple fraction
    is written as that fraction (``1/3`` → ``1/3``, ``1/6`` → ``1/6``), so the text never rounds
    a number the agreement states exactly; anything else shows eight significant digits
    with ``≈``.
    """
    d = to_decimal(share) * 100
    if d == d.quantize(Decimal("0.000001")):
        text = format(d.normalize(), "f")
        return f"{text}%"
    f = Fraction(float(share)).limit_denominator(1000)
    if abs(float(f) - float(share)) < 1e-12:
        return f"{f.numerator}/{f.denominator}"
    return f"≈{float(d):.8g}%"


def ratio(shares: list[float]) -> str:
    """Shares as a ratio of exact percentages: ``[0.6, 0.4]`` → ``60%:40%``."""
    return ":".join(percent(s) for s in shares)


def chinese_count(n: int) -> str:
    """A positive integer below 10,000 in ordinary Chinese numerals, as clause numbers read
    (第十一条, 第一百零一条): ``11`` → ``十一``, ``101`` → ``一百零一``, ``110`` → ``一百一十``."""
    if not 0 < n < 10_000:
        raise ValueError(f"{n} is outside 1..9999")
    digits = "零一二三四五六七八九"
    out, zero = "", False
    for power, unit in ((3, "千"), (2, "百"), (1, "十"), (0, "")):
        d = n // 10**power % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += ("" if (power == 1 and d == 1 and not out) else digits[d]) + unit
    return out
