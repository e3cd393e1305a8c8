"""The annual settlement ledger: hand-worked cases, the FIFO oracle, conservation, 大写,
the .docx statement, templates and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import docx
import numpy as np
import pandas as pd
import pytest
import reference_settlement
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import scenario_dicts

import sharing
from sharing import settlement
from sharing.cli import main
from sharing.engine import compile_scenario
from sharing.numerals import rmb_capital
from sharing.statement import ledger_tables, statement_docx_files, write_ledger

ROOT = Path(__file__).resolve().parents[1]
GAOZHU = ROOT / "scenarios" / "gaozhu.yaml"
GAOZHU_ACTUALS = ROOT / "scenarios" / "actuals" / "gaozhu_actuals.csv"

TWO_SITES = """\
scenario: 1
name: 高竹结算示例
name_en: Gaozhu settlement example
years: {start: 2023, end: 2026}
jurisdictions:
  - {id: guangan, name: 广安市, name_en: Guang'an, province: sichuan}
  - {id: yubei, name: 渝北区, name_en: Yubei, province: chongqing}
retention: {default: {vat: 0.5}}
parks:
  - id: gaozhu
    partners: [guangan, yubei]
    sites:
      - {host: guangan, taxes: {vat: {base: 1000, base_year: 2023, growth: 0.1}}}
      - {host: yubei, taxes: {vat: {base: 800, base_year: 2023, growth: 0.1}}}
agreements:
  - id: gaozhu_revenue
    name: 高竹新区税收分享
    covers: {park: gaozhu}
    rule: {type: stock_increment, base_year: 2023,
           increment: {type: fixed, shares: {guangan: 0.5, yubei: 0.5}}}
    settlement: {channel: central_clearing, late_interest: 0.05}
"""

# Gross VAT collected; retained = half: 广安 500, 700, 900; 渝北 400, 500, 500.
TWO_SITES_ACTUALS = """\
park,host,tax,year,amount
gaozhu,guangan,vat,2023,1000
gaozhu,guangan,vat,2024,1400
gaozhu,guangan,vat,2025,1800
gaozhu,yubei,vat,2023,800
gaozhu,yubei,vat,2024,1000
gaozhu,yubei,vat,2025,1000
"""

TWO_SITES_PAYMENTS = """\
payer,payee,date,amount,note
guangan,yubei,2024-12-20,30,部分拨付
guangan,yubei,2025-06-30,100,
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def row(df: pd.DataFrame, **match) -> pd.Series:
    mask = np.ones(len(df), dtype=bool)
    for k, v in match.items():
        mask &= df[k].to_numpy() == v
    (i,) = np.flatnonzero(mask)
    return df.iloc[i]


# --- hand-worked cases -------------------------------------------------------------------


@pytest.fixture
def two_sites(tmp_path):
    return (write(tmp_path, "s.yaml", TWO_SITES), write(tmp_path, "a.csv", TWO_SITES_ACTUALS),
            write(tmp_path, "p.csv", TWO_SITES_PAYMENTS))


def test_gaozhu_two_years_partial_payment_oldest_first(two_sites):
    # Increments over the 2023 stock, split 50:50: 广安's site 200 (2024) and 400 (2025), so
    # 广安 owes 渝北 100 and 200; 渝北's site 100 and 100, so 渝北 owes 广安 50 and 50. Net
    # 广安 → 渝北: 50 (2024), 150 (2025). 广安 pays 30 in 2024: 20 carried into 2025, with
    # 5% interest = 1.0; the 2025 payment of 100 clears the 2024 debt (20) and the interest
    # (1) first, leaving 71 of 2025's 150.
    scenario, actuals, payments = two_sites
    led = sharing.settle(scenario, actuals=actuals, payments=payments)
    assert led.through == 2025
    book = led.ledger
    assert list(zip(book["payer"], book["payee"], strict=True)) == [("guangan", "yubei")] * 3
    assert book["due"].tolist() == pytest.approx([0, 50, 150])
    assert book["paid"].tolist() == pytest.approx([0, 30, 100])
    assert book["arrears_start"].tolist() == pytest.approx([0, 0, 20])
    assert book["interest"].tolist() == pytest.approx([0, 0, 1.0])
    assert book["arrears_end"].tolist() == pytest.approx([0, 20, 71])
    assert book["credit_end"].tolist() == pytest.approx([0, 0, 0])
    arrears = led.arrears
    assert arrears[arrears["as_of"] == 2024][["origin_year", "kind"]].values.tolist() == \
        [[2024, "due"]]
    end = arrears[arrears["as_of"] == 2025]
    assert end[["origin_year", "kind"]].values.tolist() == [[2025, "due"]]
    assert end["outstanding"].tolist() == pytest.approx([71])
    due = led.due
    assert row(due, year=2024, payer="guangan", payee="yubei")["amount_due"] == pytest.approx(100)
    assert row(due, year=2024, payer="guangan", payee="guangan")["amount_due"] == \
        pytest.approx(600)
    assert row(due, year=2025, payer="yubei", payee="guangan")["amount_due"] == pytest.approx(50)
    assert row(due, year=2024, payer="yubei", payee="yubei")["base_actual"] == pytest.approx(500)
    assert not due["estimated"].any()
    # By the end of 2025 the 2024 due (50) is settled in full, and 79 of 2025's 150
    # (100 − 20 − 1): (50 + 79) / 200.
    assert led.compliance().to_dict() == pytest.approx({"gaozhu_revenue": 129 / 200})


def test_refund_year_is_shared_in_the_ratio_and_credited(tmp_path):
    scenario = write(tmp_path, "q.yaml", """\
scenario: 1
name: 青川–广元
name_en: Qingchuan–Guangyuan
years: {start: 2024, end: 2026}
jurisdictions:
  - {id: qingchuan, name: 青川县, name_en: Qingchuan, province: sichuan}
  - {id: guangyuan, name: 广元经开区, name_en: Guangyuan ETDZ, province: sichuan}
retention: {default: {vat: 0.5}}
streams:
  - {id: park_vat, host: qingchuan, tax: vat, base: 2000}
agreements:
  - id: park_split
    covers: {stream: park_vat}
    rule: {type: fixed, shares: {qingchuan: 0.6, guangyuan: 0.4}}
    settlement: {channel: via_superior, superior: 广元市财政局}
""")
    # Retained 1000, then a refund year of −100 retained (退库 exceeds 入库), then 500.
    actuals = write(tmp_path, "a.csv", "stream,year,amount,basis\n"
                    "park_vat,2024,1000,retained\npark_vat,2025,-100,retained\n"
                    "park_vat,2026,500,retained\n")
    payments = write(tmp_path, "p.csv", "payer,payee,date,amount\n"
                     "qingchuan,guangyuan,2024-12-31,400\n")
    led = sharing.settle(scenario, actuals=actuals, payments=payments)
    book = led.ledger
    # 40% of the refund (−40) comes back from 广元: a credit that the 2026 due (200) uses.
    assert book["due"].tolist() == pytest.approx([400, -40, 200])
    assert book["credit_end"].tolist() == pytest.approx([0, 40, 0])
    assert book["arrears_end"].tolist() == pytest.approx([0, 0, 160])
    assert row(led.due, year=2025, payee="qingchuan")["amount_due"] == pytest.approx(-60)
    refund = led.statement(2025, "zh")
    assert refund.bookings["who"].tolist() == ["广元经开区", "青川县", "广元市财政局",
                                               "广元市财政局"]
    assert refund.bookings["line"].tolist()[:2] == ["上解支出", "补助收入"]
    assert refund.bookings["amount"].tolist() == pytest.approx([40] * 4)


JJJ = """\
scenario: 1
name: 京津冀迁移企业
name_en: Relocated firm
years: {start: 2020, end: 2026}
jurisdictions:
  - {id: beijing, name: 北京市, name_en: Beijing, province: other}
  - {id: hebei, name: 河北省, name_en: Hebei, province: other}
firms:
  - {id: pharma, origin: beijing, destination: hebei, move_year: 2021,
     pre_move: {vat: 2000, eit: 500}, growth: 1.0}
agreements:
  - {id: relocation, covers: {kind: firm}, rule: {type: capped, preset: jjj_2015}}
"""


@pytest.mark.parametrize(("actuals", "expected"), [
    # Retained 1900, 3800, 5000 → origin's half 950, 1900, then 750 reaches the cap; 2024: 0.
    ("3000,1000\n2022,6000,2000\n2023,8000,2500", [950, 1900, 750, 0]),
    # A refund year in the window is shared 50:50 and gives back room under the cap: after
    # three years 3200 < 3600, so (财预〔2015〕92号) sharing goes on two more years and 2024
    # (projected, no actuals) brings the origin to the cap: 3600 − 3200 = 400.
    ("3000,1000\n2022,-1000,0\n2023,8000,2500", [950, -250, 2500, 400]),
], ids=["cap reached", "refund counts against the cap"])
def test_jjj_cap_reached_with_actuals_below_projection(tmp_path, actuals, expected):
    # Pre-move retained 2000·0.5 + 500·0.4 = 1200 a year; cap = 3 × 1200 = 3600. Projected
    # (growth 100%): retained 2400, 4800, 9600, origin 1200, 2400 (cap reached), 0.
    scenario = write(tmp_path, "j.yaml", JJJ)
    lines = ["firm,tax,year,amount"]
    for year_row in ("2021," + actuals).splitlines():
        year, vat, eit = year_row.split(",")
        lines += [f"pharma,vat,{year},{vat}", f"pharma,eit,{year},{eit}"]
    led = sharing.settle(scenario, actuals=write(tmp_path, "a.csv", "\n".join(lines)),
                         through=2024)
    book = led.ledger
    assert (book["payer"] == "hebei").all() and (book["payee"] == "beijing").all()
    assert book["due"].tolist() == pytest.approx([0, *expected])
    assert sum(expected) == pytest.approx(3600)  # the cap, reached either way
    projected = settlement.amounts_due(led.model, led.projected)
    moved = projected[(projected["payer"] == "hebei") & (projected["payee"] == "beijing")]
    assert moved.groupby("year")["amount_due"].sum().loc[2021:2024].tolist() == \
        pytest.approx([1200, 2400, 0, 0])
    at_hebei = led.due[led.due["payer"] == "hebei"]
    assert at_hebei[at_hebei["year"] == 2024]["estimated"].all()  # no actuals for 2024
    assert not led.due[led.due["year"].between(2021, 2023)]["estimated"].any()


# --- the ledger against its oracle ---------------------------------------------------------


amounts = st.integers(-5_000, 10_000).map(lambda v: v / 100)


@st.composite
def pair_books(draw):
    years = draw(st.integers(1, 7))
    dues = draw(st.lists(st.one_of(amounts, st.just(0.0)), min_size=years, max_size=years))
    payments = [draw(st.lists(amounts, max_size=3)) for _ in range(years)]
    rate = draw(st.sampled_from([0.0, 0.05, 0.1]))
    return dues, payments, rate


@settings(max_examples=300, deadline=None)
@given(st.lists(pair_books(), min_size=1, max_size=4).filter(
    lambda books: len({len(b[0]) for b in books}) == 1))
def test_accounts_match_the_fifo_oracle(books):
    dues = np.array([b[0] for b in books])
    paid = np.array([[sum(p) for p in b[1]] for b in books])
    rate = np.array([b[2] for b in books])
    fast = settlement.run_accounts(dues, paid, rate)
    for p, (d, payments, r) in enumerate(books):
        slow = reference_settlement.ledger(d, payments, r)
        for t, want in enumerate(slow):
            for key in ("arrears_start", "interest", "arrears_end", "credit_end"):
                assert getattr(fast, key)[p, t] == pytest.approx(want[key], abs=1e-9), key
            items = {}
            for origin, kind, left in want["items"]:
                items[origin, kind] = items.get((origin, kind), 0.0) + left
            got = {(k // 3, settlement.KINDS[k % 3]): v
                   for k, v in enumerate(fast.outstanding[p, t]) if v > 1e-12}
            assert set(got) == {k for k, v in items.items() if v > 1e-12}
            for key, value in got.items():
                assert value == pytest.approx(items[key], abs=1e-9)
        # Σ paid + arrears_end = Σ due + Σ interest + credit_end
        assert paid[p].sum() + fast.arrears_end[p, -1] == pytest.approx(
            dues[p].sum() + fast.interest[p].sum() + fast.credit_end[p, -1], abs=1e-9)


def _projection_actuals(model) -> pd.DataFrame:
    s = model.streams
    rows, cols = np.nonzero(s.gross)
    return pd.DataFrame({"stream": s.ids[rows], "year": model.years[cols].astype(str),
                         "amount": [repr(float(v)) for v in s.gross[rows, cols]]})


def test_projection_paid_in_full_leaves_no_arrears_and_matches_the_simulation():
    sc = sharing.load_scenario(GAOZHU)
    model = compile_scenario(sc)
    actuals = _projection_actuals(model)
    first = sharing.settle(sc, actuals=actuals)
    book = first.ledger
    payments = pd.DataFrame({
        "payer": np.where(book["due"] > 0, book["payer"], book["payee"]),
        "payee": np.where(book["due"] > 0, book["payee"], book["payer"]),
        "date": book["year"].astype(str) + "-12-31",
        "amount": [repr(abs(float(v))) for v in book["due"]]})
    payments = payments[book["due"].abs().to_numpy() > 0]
    led = sharing.settle(sc, actuals=actuals, payments=payments)
    assert np.abs(led.ledger[["arrears_end", "credit_end", "interest"]].to_numpy()).max() < 1e-9
    assert led.compliance().to_dict() == pytest.approx({"gaozhu_revenue": 1.0})
    res = sharing.simulate(sc)
    received = led.due.pivot_table(index="payee", columns="year", values="amount_due",
                                   aggfunc="sum")
    np.testing.assert_allclose(received.loc[list(model.jurisdictions)].to_numpy(),
                               res.allocated, rtol=0, atol=1e-9)
    moved = led.due[led.due["payer"] != led.due["payee"]]
    net_in = moved.groupby(["payee", "year"])["amount_due"].sum().unstack(fill_value=0)
    net_out = moved.groupby(["payer", "year"])["amount_due"].sum().unstack(fill_value=0)
    transfers = (net_in - net_out).loc[list(model.jurisdictions)].to_numpy()
    np.testing.assert_allclose(transfers, res.allocated - res.retained, rtol=0, atol=1e-9)
    assert not led.due["estimated"].any()
    variance = led.variance
    assert np.abs(variance["difference"]).max() < 1e-9


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario_dicts(), st.data())
def test_due_conserves_the_base_and_rebuilds_the_engine_allocation(data, draws):
    try:
        sc = sharing.parse_scenario(data)
        model = compile_scenario(sc)
        model.run()
    except sharing.ScenarioError:
        return
    factors = draws.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.3, -0.2]),
                                  min_size=len(model.streams), max_size=len(model.streams)))
    actual = model.streams.gross * np.array(factors)[:, None]
    rows, cols = np.nonzero(np.ones_like(actual))
    frame = pd.DataFrame({"stream": model.streams.ids[rows],
                          "year": model.years[cols].astype(str),
                          "amount": [repr(float(v)) for v in actual[rows, cols]]})
    try:
        led = sharing.settle(sc, actuals=frame, through=int(model.years[-1]))
    except sharing.ScenarioError as err:  # a retained-zero stream cannot take a gross actual
        assert all("retained" in p for p in err.problems), err.problems
        return
    due = led.due
    shared = due[due["tax"] != ""]
    sums = shared.groupby(["year", "agreement", "payer", "tax"]).agg(
        amount=("amount_due", "sum"), base=("base_actual", "first"))
    np.testing.assert_allclose(sums["amount"], sums["base"], rtol=0, atol=1e-7)
    # Every jurisdiction's allocation (compliance 1) rebuilt from the due rows.
    everyone = {ag.id: 1.0 for ag in sc.agreements}
    res = model.run(gross=actual, compliance=everyone)
    rebuilt = np.zeros_like(res.allocated)
    index = model.index
    for r in due.itertuples():
        t = r.year - model.years[0]
        if r.tax == "":
            rebuilt[index[r.payee], t] += r.amount_due
            rebuilt[index[r.payer], t] -= r.amount_due
        else:
            rebuilt[index[r.payee], t] += r.amount_due
    uncovered = np.flatnonzero(~model.covered)
    np.add.at(rebuilt, model.streams.host[uncovered], res.alloc.retained[uncovered])
    np.testing.assert_allclose(rebuilt, res.allocated, rtol=0, atol=1e-6)
    book = led.ledger
    assert (book["arrears_end"] >= 0).all() and (book["credit_end"] >= 0).all()
    lhs = book["paid"].sum() + book.groupby(["payer", "payee"])["arrears_end"].last().sum()
    rhs = book["due"].sum() + book["interest"].sum() + \
        book.groupby(["payer", "payee"])["credit_end"].last().sum()
    assert lhs == pytest.approx(rhs, abs=1e-6)


def test_retained_actuals_convert_exactly(tmp_path, two_sites):
    scenario, _, _ = two_sites
    gross = sharing.settle(scenario, actuals=write(tmp_path, "g.csv", TWO_SITES_ACTUALS))
    retained = TWO_SITES_ACTUALS.replace("year,amount", "year,amount,basis")
    retained = "\n".join([retained.splitlines()[0]] + [
        f"{line.rsplit(',', 1)[0]},{float(line.rsplit(',', 1)[1]) / 2},留成"
        for line in retained.splitlines()[1:]])
    led = sharing.settle(scenario, actuals=write(tmp_path, "r.csv", retained))
    np.testing.assert_allclose(led.due["amount_due"], gross.due["amount_due"], atol=1e-9)


# --- 大写 --------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "words"), [
    (1_200_000, "壹佰贰拾万元整"),
    (10_050_000, "壹仟零伍万元整"),
    (1409.50, "壹仟肆佰零玖元伍角"),
    (6007.14, "陆仟零柒元壹角肆分"),
    # Where the rules allow one 零 or none, one 零 right after 元 (as sharing.numerals on the
    # explain branch writes it).
    (1680.32, "壹仟陆佰捌拾元零叁角贰分"),
    (107_000.53, "壹拾万柒仟元零伍角叁分"),
    (1600.30, "壹仟陆佰元零叁角"),
    (16_409.02, "壹万陆仟肆佰零玖元零贰分"),
    (325.04, "叁佰贰拾伍元零肆分"),
    (15, "壹拾伍元整"),
    (1010, "壹仟零壹拾元整"),
    (100_500, "壹拾万零伍佰元整"),
    (100_000_001, "壹亿零壹元整"),
    (100_010_000, "壹亿零壹万元整"),
    (100_001_000, "壹亿零壹仟元整"),
    (1_010_000, "壹佰零壹万元整"),
    (999_999_999_999.99, "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
    (10_000_000_000, "壹佰亿元整"),
    (0.5, "伍角"),
    (0.05, "伍分"),
    (0, "零元整"),
    (-40, "负肆拾元整"),
    ("0.005", "壹分"),  # half up to the fen
], ids=str)
def test_capitals_hand_worked(amount, words):
    assert rmb_capital(amount, prefix="") == words


DIGIT = {c: i for i, c in enumerate("零壹贰叁肆伍陆柒捌玖")}
UNIT = {"拾": 10, "佰": 100, "仟": 1000}


def _section(text: str) -> int:
    total = digit = 0
    for ch in text:
        if ch in DIGIT:
            digit = DIGIT[ch]
        else:
            total, digit = total + digit * UNIT[ch], 0
    return total + digit


def _parse(words: str) -> int:
    """Cents from 大写 (written independently of the converter: split at 亿, 万, 元)."""
    sign = -1 if words.startswith("负") else 1
    words = words.removeprefix("负").removesuffix("整")
    whole, _, cents = words.rpartition("元") if "元" in words else ("", "", words)
    value = 0
    for unit, scale in (("亿", 10**8), ("万", 10**4)):
        if unit in whole:
            head, whole = whole.split(unit)
            value += _section(head) * scale
    value += _section(whole)
    jiao = re.search(r"(.)角", cents)
    fen = re.search(r"(.)分", cents)
    return sign * (value * 100 + (DIGIT[jiao[1]] * 10 if jiao else 0)
                   + (DIGIT[fen[1]] if fen else 0))


@settings(max_examples=500, deadline=None)
@given(st.integers(-(10**13), 10**14 - 1))
def test_capitals_read_back_and_follow_the_zero_rules(cents):
    words = rmb_capital(f"{cents / 100:.2f}", prefix="")
    assert _parse(words) == cents
    assert "零零" not in words
    assert cents == 0 or not re.search(r"零[元万亿角]", words)
    assert words.endswith("整") == (cents % 100 == 0)
    if abs(cents) >= 1000:
        assert not words.lstrip("负").startswith("拾")


# --- documents ------------------------------------------------------------------------------


def test_statement_docx_contents(tmp_path, two_sites):
    scenario, actuals, payments = two_sites
    led = sharing.settle(scenario, actuals=actuals, payments=payments)
    (path,) = statement_docx_files(led, 2025, tmp_path)
    assert path.name == "结算单_2025_guangan_yubei.docx"
    document = docx.Document(path)
    text = "\n".join(p.text for p in document.paragraphs)
    assert "2025 年度财税利益分享结算单" in text
    assert "付款方：广安市" in text and "收款方：渝北区" in text
    assert "本年应结算金额：1,500,000.00 元（大写：人民币壹佰伍拾万元整）" in text
    assert "年末应付余额：710,000.00 元（大写：人民币柒拾壹万元整）" in text
    assert "广安市：上解支出（缴入清算账户） 1,500,000.00 元" in text
    lines, account = document.tables
    assert len(lines.rows) == 1 + 1 + 1  # header, one agreement, total
    assert [c.text for c in lines.rows[1].cells] == [
        "高竹新区税收分享", "通过中央国库清算账户，年终清算", "2,000,000.00", "500,000.00",
        "1,500,000.00"]
    assert [r.cells[1].text for r in account.rows] == [
        "200,000.00", "1,500,000.00", "10,000.00", "1,000,000.00", "710,000.00", "0.00"]
    english = docx.Document(statement_docx_files(led, 2025, tmp_path / "en", "en")[0])
    text = "\n".join(p.text for p in english.paragraphs)
    assert "Tax-sharing settlement statement 2025" in text and "Payer: Guang'an" in text


def test_statement_text_and_tables(two_sites):
    scenario, actuals, payments = two_sites
    led = sharing.settle(scenario, actuals=actuals, payments=payments)
    text = led.statement(2025, "zh").text
    assert "2025 年度财税利益分享结算单" in text and "付款方 广安市 → 收款方 渝北区" in text
    assert "年末欠款：710,000.00" in text and "（单位：元）" in text
    assert "Settlement statement 2025" in led.statement(2025, "en").text
    tables = ledger_tables(led, "zh")
    assert list(tables["ledger"].columns)[:4] == ["年度", "付款方", "收款方", "本年应结算"]
    assert set(tables["due"]["税种"]) == {"增值税"}
    with pytest.raises(sharing.ScenarioError) as err:
        led.statement(2030)
    assert "没有年度 2030 的结算" in str(err.value) and "no settlement for 2030" in str(err.value)


def test_settle_cli_from_the_readme(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["settle", str(GAOZHU), "--actuals", str(GAOZHU_ACTUALS), "--year", "2024",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2024 年度财税利益分享结算单" in printed
    names = {p.name for p in out.iterdir()}
    assert {"ledger.csv", "due.csv", "arrears.csv", "variance.csv", "compliance.csv",
            "payments.csv", "settlement_2024.xlsx", "结算单_2024_guangan_yubei.docx"} <= names
    ledger = pd.read_csv(out / "ledger.csv", encoding="utf-8-sig")
    assert ledger.loc[ledger["年度"] == 2024, "本年应结算"].tolist() == [196.0]
    assert "示例数据" in GAOZHU_ACTUALS.read_text(encoding="utf-8")


def test_templates_fill_and_settle(tmp_path, capsys):
    assert main(["template", "actuals", str(GAOZHU)]) == 0
    template = capsys.readouterr().out
    df = pd.read_csv(pd.io.common.StringIO(template), dtype=str, keep_default_na=False)
    assert list(df.columns) == ["stream", "year", "amount", "basis", "note"]
    assert len(df) == 6 * 13 and set(df["basis"]) == {"gross"}
    df.loc[df["year"] == "2023", "amount"] = "100"
    led = sharing.settle(GAOZHU, actuals=df)
    assert led.through == 2023 and not led.due["estimated"].any()
    assert main(["template", "payments", str(GAOZHU)]) == 0
    payments = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out), dtype=str,
                           keep_default_na=False)
    assert list(payments.columns) == ["payer", "payee", "date", "amount", "year", "note"]
    assert main(["template", "payments"]) == 2
    assert "需要情景文件" in capsys.readouterr().err


def test_gbk_actuals(tmp_path, two_sites):
    scenario, _, _ = two_sites
    header, *rows = TWO_SITES_ACTUALS.strip().splitlines()
    gbk = write(tmp_path, "gbk.csv", "\n".join([header + ",note", *(r + ",入库数" for r in rows)]),
                "gbk")
    led = sharing.settle(scenario, actuals=gbk)
    assert led.ledger["due"].tolist() == pytest.approx([0, 50, 150])


# --- bad input ------------------------------------------------------------------------------


def _problems(call) -> list[str]:
    with pytest.raises(sharing.ScenarioError) as err:
        call()
    return err.value.problems


@pytest.mark.parametrize(("edit", "zh", "en", "place"), [
    (lambda t: t.replace("gaozhu,yubei,vat,2024", "gaozhu,yubel,vat,2024"),
     "未知辖区 'yubel'", "unknown jurisdiction 'yubel'", "a.csv:6: host"),
    (lambda t: t.replace("gaozhu,guangan,vat,2025", "gaozu,guangan,vat,2025"),
     "未知园区 'gaozu'；您是否指 'gaozhu'", "unknown park 'gaozu'; did you mean 'gaozhu'",
     "a.csv:4: park"),
    (lambda t: t.replace("vat,2025,1800", "vat,2031,1800"),
     "年份 2031 不在情景年份 2023–2026 内", "year 2031 is outside the scenario's years 2023-2026",
     "a.csv:4: year"),
    (lambda t: t.replace("vat,2025,1800", "vat,2024,1800"),
     "与第 3 行重复", "duplicates row 3", "a.csv:4: year"),
    (lambda t: t.replace("1800", "一千八"),
     "'一千八' 不是数字", "'一千八' is not a number", "a.csv:4: amount"),
    (lambda t: t.replace("vat,2023,1000", "vta,2023,1000"),
     "未知税种 'vta'", "unknown tax 'vta'", "a.csv:2: tax"),
    (lambda t: t.replace("park,host", "parc,host"),
     "未知列 'parc'", "unknown column 'parc'", "a.csv:1: parc"),
], ids=["unknown jurisdiction", "unknown park", "year outside", "duplicate row", "text amount",
        "unknown tax", "unknown column"])
def test_bad_actuals(tmp_path, two_sites, edit, zh, en, place):
    scenario, _, _ = two_sites
    actuals = write(tmp_path, "a.csv", edit(TWO_SITES_ACTUALS))
    problems = _problems(lambda: sharing.settle(scenario, actuals=actuals))
    hit = [p for p in problems if zh in p]
    assert hit, problems
    assert en in hit[0] and hit[0].startswith(f"{tmp_path / place}: ")


def test_bad_stream_and_firm_ids(tmp_path):
    scenario = write(tmp_path, "j.yaml", JJJ)
    actuals = write(tmp_path, "a.csv", "stream,firm,tax,year,amount\n"
                    "pharma/vat@destinaton,,,2021,100\n,farma,vat,2021,100\n"
                    ",pharma,pit,2022,100\n")
    problems = _problems(lambda: sharing.settle(scenario, actuals=actuals))
    assert len(problems) == 3
    assert "a.csv:2: stream: 未知税源 'pharma/vat@destinaton'；您是否指 " \
           "'pharma/vat@destination'" in problems[0]
    assert "unknown stream 'pharma/vat@destinaton'; did you mean" in problems[0]
    assert "a.csv:3: firm: 未知企业 'farma'" in problems[1] and "unknown firm 'farma'" in \
        problems[1]
    assert "a.csv:4: tax: firm 'pharma' 在 2022 年没有 pit 税源" in problems[2]
    assert "firm 'pharma' has no pit stream in 2022" in problems[2]


def test_bad_payments(tmp_path, two_sites):
    three = TWO_SITES.replace(
        "  - {id: yubei, name: 渝北区, name_en: Yubei, province: chongqing}\n",
        "  - {id: yubei, name: 渝北区, name_en: Yubei, province: chongqing}\n"
        "  - {id: linshui, name: 邻水县, name_en: Linshui, province: sichuan}\n")
    scenario = write(tmp_path, "three.yaml", three)
    _, actuals, _ = two_sites
    payments = write(tmp_path, "p.csv", "payer,payee,date,amount\n"
                     "guangan,linshui,2024-12-20,30\n"
                     "guangan,yubei,2024-13-01,30\n"
                     "guangan,yubei,2024-12-20,-5\n"
                     "guangan,yubei,2024-12-20,三十\n"
                     "guangan,yubei,2024-12-20,30\n"
                     "guangan,yubei,2024-12-20,30\n")
    problems = _problems(lambda: sharing.settle(scenario, actuals=actuals, payments=payments))
    assert len(problems) == 5, problems
    assert "p.csv:2: payee: guangan 与 linshui 之间没有分享协议（有协议的辖区对：guangan–yubei）" \
        in problems[0]
    assert "guangan and linshui have no agreement between them" in problems[0]
    assert "p.csv:3: date: '2024-13-01' 不是日期" in problems[1] and "is not a date" in \
        problems[1]
    assert "p.csv:4: amount: 付款金额应为正数" in problems[2] and \
        "money paid back is a payment from yubei to guangan" in problems[2]
    assert "p.csv:5: amount: '三十' 不是数字" in problems[3]
    assert "p.csv:7: amount: 与第 6 行重复" in problems[4] and "duplicates row 6" in problems[4]


def test_bad_input_writes_nothing(tmp_path, capsys):
    bad = write(tmp_path, "a.csv", GAOZHU_ACTUALS.read_text(encoding="utf-8").replace(
        "9850", "98S0"))
    out = tmp_path / "out"
    assert main(["settle", str(GAOZHU), "--actuals", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "输入有误 / bad input" in err and "a.csv:2: amount: '98S0' 不是数字" in err
    assert not out.exists()


def test_settlement_key_is_validated(tmp_path):
    text = TWO_SITES.replace("settlement: {channel: central_clearing, late_interest: 0.05}",
                             "settlement: {channel: via_superior, timing: quarterly_advance}")
    problems = _problems(lambda: sharing.load_scenario(write(tmp_path, "s.yaml", text)))
    joined = "\n".join(problems)
    assert "agreements[0].settlement.superior" in joined
    assert "via_superior 需要写明共同上级 superior" in joined
    assert "via_superior needs the common superior named in `superior`" in joined
    text = TWO_SITES.replace("settlement: {channel: central_clearing, late_interest: 0.05}",
                             "settlement: {timing: quarterly_advance}")
    joined = "\n".join(_problems(lambda: sharing.load_scenario(write(tmp_path, "t.yaml", text))))
    assert "agreements[0].settlement.advance_share" in joined
    assert "quarterly_advance 需要 advance_share" in joined and "quarterly_advance needs" in joined


def test_quarterly_advance_expected_from_the_projection(tmp_path, two_sites):
    _, actuals, payments = two_sites
    text = TWO_SITES.replace("settlement: {channel: central_clearing, late_interest: 0.05}",
                             "settlement: {channel: via_superior, superior: 某市财政局, "
                             "timing: quarterly_advance, advance_share: 0.8}")
    led = sharing.settle(write(tmp_path, "s.yaml", text), actuals=actuals, payments=payments)
    # Projected retained: 广安 500·1.1^k, 渝北 400·1.1^k; increments 50 and 40 in 2024 →
    # net 广安 → 渝北 25 − 20 = 5; 2025: (105 − 84) / 2 = 10.5.
    assert led.ledger["advance_expected"].tolist() == pytest.approx([0, 4.0, 8.4])
    assert "季度预拨、年终清算 80%" in led.statement(2025).lines["channel"].iloc[0]


def test_write_ledger_workbook(tmp_path, two_sites):
    import openpyxl

    scenario, actuals, payments = two_sites
    led = sharing.settle(scenario, actuals=actuals, payments=payments)
    written = write_ledger(led, 2025, tmp_path, "zh")
    book = openpyxl.load_workbook(tmp_path / "settlement_2025.xlsx")
    assert book.sheetnames == ["账簿", "应结算明细", "欠款账龄", "预测与实际", "兑现率",
                               "付款记录"]
    assert "单位：万元" in book["账簿"]["A1"].value
    assert [c.value for c in book["账簿"][2]][:3] == ["年度", "付款方", "收款方"]
    assert len(written) == 6 + 1 + 1


def test_documented_worked_example(tmp_path):
    docs = (ROOT / "docs" / "settlement.md").read_text(encoding="utf-8")
    out = tmp_path / "settle"
    assert main(["settle", str(GAOZHU), "--actuals", str(GAOZHU_ACTUALS), "--payments",
                 str(ROOT / "scenarios" / "actuals" / "gaozhu_payments.csv"), "--year", "2025",
                 "--lang", "en", "-o", str(out)]) == 0
    for name in ("ledger.csv", "arrears.csv", "compliance.csv"):
        shown = docs.split(f"$ cat out/settle/{name}\n", 1)[1].split("\n$", 1)[0]
        shown = shown.split("\n```", 1)[0]
        assert (out / name).read_text(encoding="utf-8-sig").replace("\r\n", "\n").strip() == \
            shown.strip(), name


def test_payments_after_the_settlement_year_are_reported_not_applied(capsys):
    payments = ROOT / "scenarios" / "actuals" / "gaozhu_payments.csv"
    led = sharing.settle(GAOZHU, actuals=GAOZHU_ACTUALS, payments=payments, through=2024)
    assert led.payments["amount"].tolist() == [150.0]  # booked to 2024 though paid in 2025
    assert led.later_payments["year"].tolist() == [2025]
    assert led.ledger["arrears_end"].tolist() == pytest.approx([0, 46])
    assert main(["settle", str(GAOZHU), "--actuals", str(GAOZHU_ACTUALS), "--payments",
                 str(payments), "--year", "2024"]) == 0
    out = capsys.readouterr().out
    assert "1 笔付款记在 2024 年以后，未计入本次结算" in out
    assert "1 payment(s) booked after 2024 are not in this settlement" in out
