"""The draft agreement: every shipped scenario in both languages, no rule left unrendered, the
scenario's own numbers in the text, and a Word file that is really structured (heading styles,
numbered clauses, footnotes, a bold draft notice)."""

from __future__ import annotations

import io
import typing
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn

import sharing
from sharing import rules
from sharing.agreement_docx import CLAUSE_NUM, SECTION_NUM
from sharing.agreement_text import RENDERERS, SECTIONS, agreement_text, method_name
from sharing.numerals import percent, rmb_capital_wan
from sharing.scenario import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))
IDS = [str(p.relative_to(ROOT / "scenarios")) for p in SCENARIOS]


def full_text(doc) -> str:
    parts = [doc.title, doc.notice]
    for section in doc.sections:
        parts.append(section.title)
        for clause in section.clauses:
            parts += [clause.text, *clause.items, *clause.references, *clause.illustrative]
    return "\n".join(parts)


def numbers_of(rule: rules.RuleBase, lang: str) -> list[str]:
    """What a rule's clause must state: its shares as exact percentages, its money, its
    years."""
    out: list[str] = []
    if isinstance(rule, rules.Fixed):
        out += [percent(v) for v in rule.shares.values()]
    elif isinstance(rule, rules.Factors):
        out += [percent(v) for v in rule.weights.values()]
    elif isinstance(rule, rules.StockIncrement):
        out.append(str(rule.base_year))
        if rule.indexation:
            out.append(percent(rule.indexation))
        for v in (rule.baseline or {}).values():
            out.append(rmb_capital_wan(v) if lang == "zh" else f"{v * 10_000:,.2f}")
    elif isinstance(rule, rules.Schedule):
        out += [str(s.years[0]) for s in rule.stages]
    elif isinstance(rule, rules.Optimized):
        out += [percent(v) for s in rule.stages for v in s.shares.values()]
        out.append(rule.method.strip())
    elif isinstance(rule, rules.Capped):
        out += [percent(rule.share), str(rule.max_years)]
        amounts = [rule.extension.below if rule.extension else None,
                   rule.end_subsidy.amount if rule.end_subsidy else None]
        out += [f"{v * 10_000:,.2f}" if lang == "en" else rmb_capital_wan(v)
                for v in amounts if v is not None]
    elif isinstance(rule, rules.Floor):
        out.append(rmb_capital_wan(rule.minimum) if lang == "zh"
                   else f"{rule.minimum * 10_000:,.2f}")
    elif isinstance(rule, rules.Tiered):
        out += [percent(v) for band in rule.bands for v in band.shares.values()]
    elif isinstance(rule, rules.FixedReturn):
        out.append(percent(rule.rate))
    elif isinstance(rule, rules.Claims):
        out += [rmb_capital_wan(v) if lang == "zh" else f"{v * 10_000:,.2f}"
                for v in rule.claims.values()]
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_every_scenario_drafts_every_rule(path, lang, tmp_path):
    sc = sharing.load_scenario(path)
    doc = agreement_text(sc, lang)
    assert [s.key for s in doc.sections] == list(SECTIONS)
    assert all(s.clauses for s in doc.sections)
    text = full_text(doc)
    for ag in sc.agreements:
        assert (ag.name or ag.id) in text if lang == "zh" else (ag.name_en or ag.name or ag.id) \
            in text
        for rule in rules.walk(ag.rule):
            assert type(rule) in RENDERERS
            for number in numbers_of(rule, lang):
                assert number in text, (ag.id, rule.type, number)
    assert "{" not in text.replace("{{", ""), "an unfilled template field"
    markdown = doc.to_markdown()
    assert markdown.startswith("# ")
    (tmp_path / "draft.md").write_text(markdown, encoding="utf-8")
    doc.to_docx(tmp_path / "draft.docx")
    assert zipfile.is_zipfile(tmp_path / "draft.docx")


def rule_types() -> set[type]:
    return set(typing.get_args(typing.get_args(rules.Rule)[0]))


def test_every_rule_type_has_a_renderer():
    assert len(rule_types()) >= 11
    assert rule_types() <= set(RENDERERS), rule_types() - set(RENDERERS)


def test_a_rule_type_without_a_renderer_is_an_error(monkeypatch):
    monkeypatch.delitem(RENDERERS, rules.Fixed)
    with pytest.raises(NotImplementedError, match="fixed"):
        agreement_text(sharing.load_scenario(ROOT / "scenarios" / "gaozhu.yaml"))


# --- the 高竹 draft, read like the policy -------------------------------------------------------


@pytest.fixture(scope="module")
def gaozhu():
    return sharing.load_scenario(ROOT / "scenarios" / "gaozhu.yaml")


def test_gaozhu_clause_reads_like_the_policy(gaozhu):
    doc = agreement_text(gaozhu, "zh")
    ratio = doc.section("ratios").clauses[0]
    assert ("以 2023 年为基期，基期税收存量部分由征收地全额留成，增量部分按 50%:50% 的比例分享"
            "（广安市(邻水县) 50%、渝北区 50%）") in ratio.text
    assert ratio.references == ("川渝高竹新区 利益分享 (中新网 2021-12-27):存量各自、增量五五",)
    assert any("存量基期未公布" in note for note in ratio.illustrative)
    taxes = doc.section("taxes").clauses[0].text
    assert "增值税 50%" in taxes and "企业所得税 40%" in taxes and "城市维护建设税 100%" in taxes
    costs = " ".join(c.text for c in doc.section("costs").clauses)
    assert "75,000.00 万元（大写：人民币柒亿伍仟万元整）" in costs
    assert "按 50%:50% 的比例先行出资" in costs
    parties = doc.section("parties").clauses[0].items
    assert parties == ("甲方：广安市(邻水县)（四川省）", "乙方：渝北区（重庆市）")
    assert "须经各方法制" in doc.notice
    review = doc.section("review").clauses[0]
    assert "每 3 年" in review.text
    settlement = doc.section("settlement").clauses[0]
    assert "通过中央国库清算账户" in settlement.text and not settlement.placeholder
    assert "收款方：结算补助收入（1100208）" in settlement.items
    assert any("结算方式未公布" in note for note in settlement.illustrative)
    assert doc.section("disputes").clauses[0].placeholder
    en = agreement_text(gaozhu, "en")
    assert ("the stock (up to that level) stays in full with the collecting party, and the "
            "increment above it is shared 50%:50%") in en.section("ratios").clauses[0].text
    assert "CNY 750,000,000.00 (seven hundred fifty million yuan)" in full_text(en)


def settlement_scenario(**terms) -> sharing.Scenario:
    data = {"scenario": 1, "name": "结算", "name_en": "settlement",
            "years": {"start": 2024, "end": 2030},
            "jurisdictions": [{"id": j, "name": j, "name_en": j.upper(), "province": "sichuan"}
                              for j in ("a", "b")],
            "streams": [{"id": s, "host": "a", "tax": "other", "base": 100} for s in "st"],
            "agreements": [{"id": "x", "covers": {"stream": "s"}, "settlement": terms,
                            "rule": {"type": "fixed", "shares": {"a": 0.5, "b": 0.5}}},
                           {"id": "y", "covers": {"stream": "t"},
                            "rule": {"type": "fixed", "shares": {"a": 0.6, "b": 0.4}}}]}
    return sharing.parse_scenario(data)


def test_settlement_terms_are_drafted_where_set_and_left_open_where_not():
    sc = settlement_scenario(channel="via_superior", superior="四川省财政厅",
                             timing="quarterly_advance", advance_share=0.8, late_interest=0.035)
    clauses = agreement_text(sc, "zh").section("settlement").clauses
    assert ("「x」项下的应结算金额通过双方共同上级（四川省财政厅）在年终结算中办理；按季度预拨、"
            "年终清算：每季度按预计应结算金额的 80% 预拨，年度终了后多退少补；逾期未付金额自次年"
            "起按年利率 3.5% 计收利息（单利）。") in clauses[0].text
    assert clauses[0].items[:2] == ("付款方：上解支出", "收款方：补助收入")
    assert clauses[1].placeholder and "「y」的结算渠道" in clauses[1].text
    en = agreement_text(sc, "en", agreement="x").section("settlement").clauses
    assert len(en) == 1 and "common superior (四川省财政厅)" in en[0].text
    assert "simple interest at 3.5% a year" in en[0].text
    direct = agreement_text(settlement_scenario(), "zh", agreement="x")
    assert "由付款方直接拨付收款方" in direct.section("settlement").clauses[0].text
    assert "逾期未付金额不计利息" in direct.section("settlement").clauses[0].text
    none = agreement_text(sharing.load_scenario(ROOT / "scenarios" / "zida.yaml"), "zh")
    assert none.section("settlement").clauses[0].text.startswith("【待双方约定】结算渠道")


def test_review_period_is_a_parameter(gaozhu):
    doc = agreement_text(gaozhu, "zh", review_years=5)
    assert "每 5 年" in doc.section("review").clauses[0].text


def test_one_agreement_alone():
    sc = sharing.load_scenario(ROOT / "scenarios" / "heguangchang.yaml")
    doc = agreement_text(sc, "zh", agreement="relocation")
    text = full_text(doc)
    assert "迁移企业限期分享" in text and "园区存量按基数" not in text
    scope = doc.section("scope").clauses
    assert "机械制造企业" in scope[0].text and "分别统计、共同确认" in scope[1].text
    assert any("迁移前 2 年" in c.text for c in doc.section("term").clauses)
    costs = " ".join(c.text for c in doc.section("costs").clauses)
    assert "联合招商办公室" in costs and "园区基础设施" not in costs


def test_unknown_agreement_is_refused_in_both_languages(gaozhu):
    with pytest.raises(ScenarioError) as err:
        agreement_text(gaozhu, agreement="gaozhu_revenu")
    assert "未知协议" in err.value.text("zh")[0]
    assert "did you mean 'gaozhu_revenue'" in err.value.text("en")[0]


def test_optimized_rule_names_its_method_and_quotes_it():
    assert method_name("nucleolus")[0] == "核仁分配方案"
    assert method_name("prenucleolus of the park game")[1] == "the prenucleolus"
    assert method_name("shapley (= nucleolus for two players)")[1] == "the Shapley value"
    assert method_name("hand-tuned")[0] == "优化测算"
    data = {"scenario": 1, "name": "优化", "name_en": "optimized",
            "years": {"start": 2024, "end": 2030},
            "jurisdictions": [{"id": j, "name": j, "name_en": j, "province": "other"}
                              for j in ("a", "b")],
            "streams": [{"id": "s", "host": "a", "tax": "other", "base": 100}],
            "agreements": [{"id": "o", "covers": {"stream": "s"}, "rule": {
                "type": "optimized",
                "method": "nucleolus; objective: maximin gain; constraints: IR, shares sum to 1",
                "reference": "sharing optimize 2025-01-01",
                "stages": [{"years": [2024, 2027], "shares": {"a": 0.6, "b": 0.4}}]}}]}
    sc = sharing.parse_scenario(data)
    def with_method(method: str) -> dict:
        return {**data, "agreements": [{**data["agreements"][0], "rule": {
            **data["agreements"][0]["rule"], "method": method}}]}

    with pytest.raises(sharing.ScenarioError, match="control character"):
        sharing.parse_scenario(with_method("nucleolus\x01"))  # refused: no docx can hold it
    weird = sharing.parse_scenario(with_method("nucleolus *bold* [x]"))
    assert "\\*bold\\* \\[x\\]" in agreement_text(weird).to_markdown()  # escaped
    assert zipfile.is_zipfile(io.BytesIO(agreement_text(weird).docx_bytes()))
    zh = agreement_text(sc, "zh").section("ratios").clauses[0]
    assert "按核仁分配方案确定的比例分享" in zh.text
    assert "objective: maximin gain; constraints: IR, shares sum to 1" in zh.text
    assert "sharing optimize 2025-01-01" in zh.references
    assert zh.items == ("2024 年至 2027 年：按 60%:40% 的比例分享（a 60%、b 40%）",
                        "其余年度：由征收地全额留成")
    en = agreement_text(sc, "en").section("ratios").clauses[0]
    assert "shared in the proportions set by the nucleolus" in en.text


def test_markdown_escapes_and_footnotes(gaozhu):
    md = agreement_text(gaozhu, "zh").to_markdown()
    assert "## 一、合作各方" in md and "**第一条**" in md and "（一）" in md
    assert "[^1]: 川渝高竹新区" in md
    assert "**【待双方约定】**" in md
    assert "**※示例**" in md


def paragraph_num(paragraph) -> tuple[int, int] | None:
    num_pr = paragraph._p.find(f"{qn('w:pPr')}/{qn('w:numPr')}")
    if num_pr is None:
        return None
    return (int(num_pr.find(qn("w:numId")).get(qn("w:val"))),
            int(num_pr.find(qn("w:ilvl")).get(qn("w:val"))))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_word_file_has_real_structure(gaozhu, lang, tmp_path):
    draft = agreement_text(gaozhu, lang)
    path = draft.to_docx(tmp_path / "draft.docx")
    doc = Document(str(path))
    paragraphs = doc.paragraphs
    assert paragraphs[0].style.name == "Title"
    notice = paragraphs[1]
    assert notice.text == draft.notice and all(run.bold for run in notice.runs)
    headings = [p for p in paragraphs if p.style.name == "Heading 1"]
    assert [h.text for h in headings] == [s.title for s in draft.sections]
    assert all(paragraph_num(h) == (SECTION_NUM, 0) for h in headings)
    clauses = [p for p in paragraphs if paragraph_num(p) == (CLAUSE_NUM, 0)]
    items = [p for p in paragraphs if paragraph_num(p) == (CLAUSE_NUM, 1)]
    assert len(clauses) == sum(len(s.clauses) for s in draft.sections)
    assert len(items) == sum(len(c.items) for s in draft.sections for c in s.clauses)
    placeholders = [r for p in clauses for r in p.runs if r.font.highlight_color is not None]
    marked = sum(c.placeholder for s in draft.sections for c in s.clauses)
    assert len(placeholders) == marked >= 1 and all(r.bold for r in placeholders)
    with zipfile.ZipFile(path) as z:
        footnotes = z.read("word/footnotes.xml").decode("utf-8")
        body = z.read("word/document.xml").decode("utf-8")
        numbering = z.read("word/numbering.xml").decode("utf-8")
        types = z.read("[Content_Types].xml").decode("utf-8")
    expected = sum(bool(c.references) + bool(c.illustrative)
                   for s in draft.sections for c in s.clauses)
    assert body.count("<w:footnoteReference") == expected
    assert footnotes.count("<w:footnote ") == expected + 2  # + Word's two separators
    assert "川渝高竹新区 利益分享" in footnotes
    assert "footnotes+xml" in types
    assert ("chineseCounting" if lang == "zh" else "Article %1.") in numbering
    assert zipfile.ZipFile(io.BytesIO(draft.docx_bytes())).read("word/footnotes.xml")


# --- the command line -------------------------------------------------------------------------


def cli(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "sharing", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, encoding="utf-8", timeout=120,
                          stdin=subprocess.DEVNULL)


def test_cli_writes_docx_and_markdown(tmp_path):
    out = cli("agreement-text", "scenarios/gaozhu.yaml", "--lang", "en", "-o",
              tmp_path / "draft.docx")
    assert out.returncode == 0, out.stderr
    assert Document(str(tmp_path / "draft.docx")).paragraphs[0].style.name == "Title"
    out = cli("agreement-text", "scenarios/heguangchang.yaml", "--agreement", "relocation",
              "-o", tmp_path / "draft.md")
    assert out.returncode == 0, out.stderr
    assert "迁移企业限期分享" in (tmp_path / "draft.md").read_text(encoding="utf-8")
    out = cli("agreement-text", "scenarios/zida.yaml")
    assert out.returncode == 0 and out.stdout.startswith("# ")


@pytest.mark.parametrize(("args", "zh", "en"), [
    (("--agreement", "gaozhu_revenu"), "未知协议", "did you mean 'gaozhu_revenue'"),
    (("-o", "draft.pdf"), "请用 .docx 或 .md 结尾", "use a .docx or .md file name"),
])
def test_cli_bad_requests_exit_2(args, zh, en, tmp_path):
    out = cli("agreement-text", "scenarios/gaozhu.yaml", *args)
    assert out.returncode == 2
    assert zh in out.stderr and en in out.stderr and "Traceback" not in out.stderr
