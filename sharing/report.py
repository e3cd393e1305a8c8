"""A self-contained HTML report of one scenario, in Chinese or English.

``report_html(result, lang)`` gives one HTML page: the scenario's title, description and
unit; the summary with its total row (rounded as every export is, so the rows add up); the
charts of :mod:`sharing.charts` (allocated revenue by year, a waterfall per jurisdiction,
who pays whom in present value, the fair splits with the core check); the sources and
assumptions. The plotly.js library is written into the page once, so the file opens offline
and nothing is fetched from the network (no ``<script src>``, no web fonts). The same figures
are what the app shows; ``sharing report SCENARIO --lang zh -o report.html`` writes it.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from sharing import charts
from sharing.i18n import Lang, define, message
from sharing.io import TOTAL, export_summary, translate
from sharing.result import Result

define({
    "report.title": ("{name}：测算报告", "{name}: simulation report"),
    "report.unit": ("单位：万元；现值按贴现率 {rate} 折现到 {year} 年",
                    "Unit: 10,000 CNY (万元); present values discounted at {rate} to {year}"),
    "report.summary": ("汇总", "Summary"),
    "report.by_year": ("逐年分享后收入", "Allocated revenue by year"),
    "report.waterfalls": ("从无协议到净收益", "From no agreement to net benefit"),
    "report.transfers": ("资金流向（现值）", "Who pays whom (present value)"),
    "report.fair": ("公平分配对比", "Fair splits compared"),
    "report.fair_table": ("各分配方案下的净收益现值（万元）",
                          "PV net benefit under each split (10,000 CNY)"),
    "report.core_ok": ("{solution}在核心内。", "The {solution} is in the core."),
    "report.core_blocked": ("{solution}不在核心内：{blocking} 单干可多得 {excess} 万元。",
                            "The {solution} is not in the core: {blocking} would get {excess} "
                            "more on their own."),
    "report.fair_failed": ("联盟博弈无法计算：{error}", "The coalition game cannot be computed: "
                           "{error}"),
    "report.sources": ("来源", "Sources"),
    "report.assumptions": ("假设", "Assumptions"),
    "report.footer": ("由 sharing（跨区域财税利益分享模拟器）生成；图表可离线查看。",
                      "Made with sharing (cross-region fiscal benefit-sharing simulator); "
                      "the charts work offline."),
    "report.total": ("合计", "Total"),
})

STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;white-space:nowrap}td.num{text-align:right}
.wide{overflow-x:auto}
th{background:#f3f3f3}.muted{color:#666;font-size:.9em}.bad{color:#b00}.good{color:#070}
"""


def _say(key: str, lang: Lang, **params) -> str:
    return html.escape(message(key, lang, **params))


def _table(df: pd.DataFrame, money: list[str]) -> str:
    """A table with amounts formatted ``12,345.67`` (right-aligned), text escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for record in df.itertuples(index=False):
        cells = []
        for column, value in zip(df.columns, record, strict=True):
            if column in money and isinstance(value, int | float):
                text = "—" if value != value else f"{value + 0.0:,.2f}"
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{html.escape('' if value is None else str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='wide'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


class _Figures:
    """Figures as HTML divs; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig: go.Figure) -> str:
        out = fig.to_html(full_html=False, include_plotlyjs=self.first,
                          config={"displaylogo": False, "responsive": True})
        self.first = False
        return out


def _summary(res: Result, lang: Lang) -> str:
    table = export_summary(res)
    table["jurisdiction"] = table["jurisdiction"].replace(TOTAL, message("report.total", lang))
    names = table["name"] if lang == "zh" else table["name_en"]
    table["name"] = names.fillna(message("report.total", lang))
    table = table.drop(columns=["name_en"])
    money = [c for c in table.columns if c not in ("jurisdiction", "name")]
    shown = translate(table, "zh") if lang == "zh" else table
    labels = dict(zip(table.columns, shown.columns, strict=True))
    return _table(shown, [labels[c] for c in money])


def _fair(res: Result, lang: Lang, figure: _Figures) -> str:
    try:
        data = charts.fair_split(res, lang)
        core = charts.core_check(res, lang)
    except Exception as err:  # more players than the game handles: say so, keep the report
        return f"<p class='muted'>{_say('report.fair_failed', lang, error=str(err))}</p>"
    pick = 0 if lang == "zh" else 1
    labels = {k: charts.CHART_LABELS[k][pick] for k in ("name", "standalone_pv",
                                                         *charts.FAIR_SOLUTIONS)
              if k in charts.CHART_LABELS}
    labels["name"] = "名称" if lang == "zh" else "name"
    labels["standalone_pv"] = "单干现值" if lang == "zh" else "standalone PV"
    shown = data.drop(columns=["jurisdiction"]).rename(columns=labels)
    parts = [figure(charts.fair_bars(data, lang)),
             f"<p>{_say('report.fair_table', lang)}</p>",
             _table(shown, [v for k, v in labels.items() if k != "name"])]
    for row in core.itertuples():
        solution = charts.CHART_LABELS[row.solution][pick]
        if row.in_core:
            parts.append(f"<p class='good'>{_say('report.core_ok', lang, solution=solution)}"
                         "</p>")
        else:
            parts.append("<p class='bad'>" + _say("report.core_blocked", lang,
                                                  solution=solution, blocking=row.blocking,
                                                  excess=f"{row.excess:,.2f}") + "</p>")
    return "\n".join(parts)


def _provenance(res: Result, lang: Lang) -> str:
    sc = res.scenario
    parts = []
    if sc.sources:
        items = []
        for src in sc.sources:
            title = html.escape(src.title)
            if src.url and src.url.lower().startswith(("https://", "http://")):
                title = f'<a href="{html.escape(src.url, quote=True)}">{title}</a>'
            extra = f" ({html.escape(str(src.date))})" if src.date else ""
            extra += f" — {html.escape(src.note)}" if src.note else ""
            items.append(f"<li>{title}{extra}</li>")
        parts.append(f"<h2>{_say('report.sources', lang)}</h2><ul>{''.join(items)}</ul>")
    if sc.assumptions:
        items = []
        for item in sc.assumptions:
            zh, sep, en = item.note.partition(" / ")
            note = item.note if not sep else (zh if lang == "zh" else en)
            items.append(f"<li><code>{html.escape(item.path)}</code>: {html.escape(note)}</li>")
        parts.append(f"<h2>{_say('report.assumptions', lang)}</h2><ul>{''.join(items)}</ul>")
    return "\n".join(parts)


def report_html(res: Result, lang: Lang = "zh") -> str:
    """The report of ``res`` (a :class:`~sharing.Result`) as one self-contained HTML page in
    ``lang`` (``"zh"`` or ``"en"``)."""
    if lang not in ("zh", "en"):
        raise ValueError(f"unknown language {lang!r}; use zh or en")
    sc = res.scenario
    name = (sc.name if lang == "zh" else sc.name_en) or sc.name
    other = sc.name_en if lang == "zh" else sc.name
    figure = _Figures()
    body = [f"<h1>{_say('report.title', lang, name=name)}</h1>"]
    if other and other != name:
        body.append(f"<p class='muted'>{html.escape(other)}</p>")
    if sc.description:
        body.append(f"<p>{html.escape(sc.description)}</p>")
    unit = _say("report.unit", lang, rate=f"{sc.discount_rate:.1%}", year=int(res.years[0]))
    body.append(f"<p class='muted'>{unit}</p>")
    body.append(f"<h2>{_say('report.summary', lang)}</h2>{_summary(res, lang)}")
    body.append(f"<h2>{_say('report.by_year', lang)}</h2>")
    body.append(figure(charts.allocated_area(charts.allocated_by_year(res, lang), lang)))
    body.append(f"<h2>{_say('report.waterfalls', lang)}</h2>")
    steps = charts.waterfall(res, lang)
    body.extend(figure(charts.waterfall_figure(steps, jid, lang))
                for jid in res.summary["jurisdiction"])
    flows = charts.transfers(res, None, lang)
    if len(flows):
        body.append(f"<h2>{_say('report.transfers', lang)}</h2>")
        body.append(figure(charts.transfers_sankey(flows, None, lang)))
    body.append(f"<h2>{_say('report.fair', lang)}</h2>{_fair(res, lang, figure)}")
    body.append(_provenance(res, lang))
    body.append(f"<hr><p class='muted'>{_say('report.footer', lang)}</p>")
    title = html.escape(message("report.title", lang, name=name))
    return (f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n'
            f'<meta charset="utf-8">\n<title>{title}</title>\n<style>{STYLE}</style>\n'
            "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def write_report(res: Result, path: str | Path, lang: Lang = "zh") -> Path:
    """Write :func:`report_html` to ``path`` (UTF-8)."""
    path = Path(path)
    path.write_text(report_html(res, lang), encoding="utf-8")
    return path


__all__ = ["report_html", "write_report"]
