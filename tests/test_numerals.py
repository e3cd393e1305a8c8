"""Money in capitals (大写) and words, exact percentages.

The worked examples are those of 中国人民银行《支付结算办法》附件《正确填写票据和结算凭证的基本
规定》; a slow reader of capital numerals, written here from the digits and units alone, reads
every generated text back to its amount (a round trip over random amounts).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing.numerals import (
    figures,
    percent,
    ratio,
    rmb_capital,
    rmb_capital_wan,
    rmb_words,
    rmb_words_wan,
)

OFFICIAL = [  # the rules' own examples
    ("1409.50", "人民币壹仟肆佰零玖元伍角"),
    ("6007.14", "人民币陆仟零柒元壹角肆分"),
    ("1680.32", "人民币壹仟陆佰捌拾元零叁角贰分"),
    ("107000.53", "人民币壹拾万柒仟元零伍角叁分"),
    ("16409.02", "人民币壹万陆仟肆佰零玖元零贰分"),
    ("325.04", "人民币叁佰贰拾伍元零肆分"),
]

ZEROS = [
    ("0", "零元整"),
    ("0.5", "伍角"),
    ("0.05", "伍分"),
    ("0.55", "伍角伍分"),
    ("1", "壹元整"),
    ("10", "壹拾元整"),
    ("15", "壹拾伍元整"),
    ("100", "壹佰元整"),
    ("101", "壹佰零壹元整"),
    ("110", "壹佰壹拾元整"),
    ("1001", "壹仟零壹元整"),
    ("10000", "壹万元整"),
    ("10001", "壹万零壹元整"),
    ("10010", "壹万零壹拾元整"),
    ("100000", "壹拾万元整"),
    ("1000500", "壹佰万零伍佰元整"),
    ("1005000", "壹佰万伍仟元整"),
    ("10000000", "壹仟万元整"),
    ("100000000", "壹亿元整"),
    ("100000001", "壹亿零壹元整"),
    ("100050000", "壹亿零伍万元整"),
    ("110000000", "壹亿壹仟万元整"),
    ("1000100000000", "壹万零壹亿元整"),
    ("20.30", "贰拾元零叁角"),
    ("83929000", "捌仟叁佰玖拾贰万玖仟元整"),
    ("-12.5", "负壹拾贰元伍角"),
]


@pytest.mark.parametrize(("amount", "text"), OFFICIAL)
def test_official_examples(amount, text):
    assert rmb_capital(amount) == text
    assert rmb_capital(float(amount)) == text


@pytest.mark.parametrize(("amount", "text"), ZEROS)
def test_zeros_and_groups(amount, text):
    assert rmb_capital(amount, prefix="") == text


def test_floats_read_from_their_shortest_form_and_round_half_up():
    assert rmb_capital(0.29, "") == "贰角玖分"
    assert rmb_capital(1.005, "") == "壹元零壹分"
    assert rmb_capital(2.675, "") == "贰元陆角捌分"
    assert rmb_capital(0.004, "") == "零元整"


def test_wan_and_words():
    assert rmb_capital_wan(8392.9) == "人民币捌仟叁佰玖拾贰万玖仟元整"
    assert rmb_capital_wan(2996.43648333) == "人民币贰仟玖佰玖拾陆万肆仟叁佰陆拾肆元捌角叁分"
    assert rmb_words(1409.5) == "one thousand four hundred nine yuan and fifty fen"
    assert rmb_words(0) == "zero yuan"
    assert rmb_words_wan(500) == "five million yuan"
    assert rmb_words(1_000_021.07) == "one million twenty-one yuan and seven fen"
    assert figures(8392.9) == "8,392.90"
    assert figures(-0.005) == "-0.01"


def test_refuses_what_cannot_be_written():
    for bad in (float("nan"), float("inf"), 1e16):
        with pytest.raises(ValueError):
            rmb_capital(bad)


def test_percentages_are_exact():
    assert percent(0.5) == "50%"
    assert percent(0.35) == "35%"
    assert percent(0.3599) == "35.99%"
    assert percent(1) == "100%"
    assert percent(0.0001) == "0.01%"
    assert percent(1 / 3) == "1/3"
    assert percent(1 / 6) == "1/6"
    assert percent(0.123456789123) == "≈12.345679%"
    assert ratio([0.6, 0.4]) == "60%:40%"


# --- an independent reader of capital numerals --------------------------------------------

DIGIT = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
SMALL = {"拾": 10, "佰": 100, "仟": 1000}


def read_capital(text: str) -> Decimal:
    """Read 中文大写金额 back to yuan: a plain left-to-right accumulator."""
    text = text.removeprefix("人民币")
    sign = -1 if text.startswith("负") else 1
    text = text.removeprefix("负").removesuffix("整")
    total = Decimal(0)
    yi = wan = section = 0
    digit = 0
    for ch in text:
        if ch in DIGIT:
            digit = DIGIT[ch]
        elif ch in SMALL:
            section += digit * SMALL[ch]
            digit = 0
        elif ch == "万":
            wan = (section + digit) * 10_000
            section = digit = 0
        elif ch == "亿":
            yi = (wan + section + digit) * 100_000_000
            wan = section = digit = 0
        elif ch == "元":
            total += yi + wan + section + digit
            yi = wan = section = digit = 0
        elif ch == "角":
            total += Decimal(digit) / 10
            digit = 0
        elif ch == "分":
            total += Decimal(digit) / 100
            digit = 0
        else:
            raise AssertionError(f"unexpected character {ch!r} in {text!r}")
    return sign * total


def well_formed(text: str) -> bool:
    body = text.removeprefix("人民币")
    return ("零零" not in body and not body.startswith("拾")
            and (body.endswith(("整", "角", "分"))) and "元零整" not in body)


@given(st.integers(0, 10**15 - 1))
def test_capitals_read_back_to_the_amount(fen):
    amount = Decimal(fen) / 100
    text = rmb_capital(amount)
    assert read_capital(text) == amount, text
    assert well_formed(text), text


@given(st.integers(0, 10**12))
def test_whole_amounts_end_in_zheng(yuan):
    text = rmb_capital(yuan)
    assert text.endswith("元整")
    assert read_capital(text) == yuan


@pytest.mark.parametrize(("n", "text"), [
    (1, "一"), (9, "九"), (10, "十"), (11, "十一"), (20, "二十"), (21, "二十一"), (99, "九十九"),
    (100, "一百"), (101, "一百零一"), (110, "一百一十"), (1000, "一千"), (1001, "一千零一"),
    (1010, "一千零一十"), (2023, "二千零二十三")])
def test_chinese_clause_numbers(n, text):
    from sharing.numerals import chinese_count

    assert chinese_count(n) == text
