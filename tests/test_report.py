"""sharing.report: the self-contained HTML report, both languages, and `sharing report`."""

import re

import pytest

import sharing
from sharing.cli import main
from sharing.io import export_summary
from sharing.report import report_html
from sharing.scenario import find_scenario


@pytest.fixture(scope="module")
def gaozhu():
    return sharing.simulate(sharing.load_scenario(find_scenario("gaozhu")))


def external_references(page: str) -> list[str]:
    """What a browser would fetch: script src, stylesheets, images, fonts by URL."""
    return re.findall(r"<script[^>]*\bsrc=|<link[^>]*\bhref=|<img[^>]*\bsrc=|@import|"
                      r"@font-face", page, flags=re.I)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_self_contained_with_charts(gaozhu, lang):
    page = report_html(gaozhu, lang)
    assert page.startswith("<!DOCTYPE html>")
    assert external_references(page) == []
    assert page.count("Plotly.newPlot") >= 5  # area, two waterfalls, Sankey, fair bars
    assert page.count("plotly.js v") == 1  # the library inlined once
    assert '<meta charset="utf-8">' in page


def test_languages(gaozhu):
    zh, en = report_html(gaozhu, "zh"), report_html(gaozhu, "en")
    assert "川渝高竹新区 — 存量各自、增量五五：测算报告" in zh
    assert "<h2>汇总</h2>" in zh and "合计" in zh
    assert "净收益现值" in zh and "沙普利值" in zh and 'lang="zh-CN"' in zh
    assert "Chuanyu Gaozhu New Area" in en and "simulation report" in en
    assert "<h2>Summary</h2>" in en and "Shapley value" in en and "Total" in en
    assert "汇总" not in en


def test_summary_numbers_as_exported(gaozhu):
    page = report_html(gaozhu, "en")
    total = export_summary(gaozhu).iloc[-1]["pv_net_benefit"]
    assert f"{total:,.2f}" in page


def test_text_is_escaped(gaozhu):
    sc = gaozhu.scenario.replace({"description": "<script>alert(1)</script>"})
    page = report_html(sharing.simulate(sc), "zh")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_only_web_links(gaozhu):
    sources = [{"title": "evil", "url": "javascript:alert(1)"},
               {"title": "ok", "url": "https://www.gov.cn/"}]
    page = report_html(sharing.simulate(gaozhu.scenario.replace({"sources": sources})), "en")
    assert "javascript:alert(1)" not in page and "<li>evil</li>" in page
    assert '<a href="https://www.gov.cn/">ok</a>' in page


def test_bad_language(gaozhu):
    with pytest.raises(ValueError, match="unknown language"):
        report_html(gaozhu, "fr")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cli_writes_the_report(tmp_path, capsys, lang):
    out = tmp_path / "report.html"
    assert main(["report", "gaozhu", "--lang", lang, "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert external_references(page) == []
    assert ("汇总" if lang == "zh" else "Summary") in page


def test_cli_bad_scenario(tmp_path, capsys):
    assert main(["report", "no_such_scenario", "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "没有这个文件" in err and "no such file" in err
    assert not (tmp_path / "r.html").exists()
