"""The command line (also ``python -m sharing``)::

    sharing validate SCENARIO...        check scenarios ("ok" or file:line: key.path: problem)
    sharing run SCENARIO [-o DIR] [--format csv|xlsx] [--lang en|zh]
    sharing compare SCENARIO SCENARIO... [--baseline NAME] [--lang en|zh] [-o table.csv]
    sharing list                        the built-in scenarios, one line each
    sharing schema                      the scenario format as JSON Schema
    sharing template firms              a CSV template for `firms_csv`
    sharing template actuals|payments SCENARIO   CSV templates for `sharing settle`
    sharing settle SCENARIO --actuals A.csv [--payments P.csv] [--year Y] [-o DIR]
                   [--lang zh|en]
    sharing export-xlsx SCENARIO -o book.xlsx / sharing import-xlsx book.xlsx -o FILE.yaml
    sharing game SCENARIO [--players a b ...] [--lang en|zh]
                 [--write-back AGREEMENT --solution nucleolus -o FILE.yaml]
    sharing explain SCENARIO --jurisdiction ID [--year Y] [--stream ID] [--column C]
                    [--lang zh|en]
    sharing agreement-text SCENARIO [--agreement ID] [--lang zh|en] [-o draft.docx|draft.md]
    sharing optimize SCENARIO [--objective X] [--spec spec.yaml] [-o optimized.yaml]
    sharing montecarlo SCENARIO [--draws N] [--seed S] [--workers W] [--antithetic] [-o DIR]
    sharing sensitivity SCENARIO [--delta 0.2] [-p KEY.PATH ...] [-o DIR]

A SCENARIO is a file, or the name of a built-in one (``gaozhu``, ``formulary/eu_ccctb``: see
``sharing list``), from any folder. Messages are bilingual (中文 / English). Bad input prints
the file, key path (or sheet, row, column) and problem on stderr and exits with status 2; no
traceback reaches the user. Amounts print as they are exported: rounded to 0.01 万元 so that
the rows add up to the total row, never ``-0.00``. ``sharing optimize`` exits with 3 when it
finds no optimal split (infeasible, after printing the smallest relaxation; or the time limit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sharing import explain, games, io, risk_cli, settlement, statement, writeback
from sharing.agreement_text import agreement_text
from sharing.engine import simulate_file
from sharing.i18n import Lang, define, message
from sharing.optimizer import OBJECTIVES, optimize
from sharing.optimizer.spec import load_spec, with_lines
from sharing.result import LABELS, baseline_name, compare, compare_long
from sharing.rules import describe
from sharing.scenario import (
    ScenarioError,
    builtin_scenarios,
    dump_json_schema,
    find_scenario,
    load_scenario,
)

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_NO_DEAL = 3
LANGS = ("en", "zh")

define({
    "cli.template_needs_scenario": ("sharing template {what} 需要情景文件",
                                    "sharing template {what} needs a scenario file"),
    "cli.later_payments": ("{n} 笔付款记在 {year} 年以后，未计入本次结算",
                           "{n} payment(s) booked after {year} are not in this settlement"),
    "cli.estimated": ("含估算数：{n} 个税源年度没有实际数，按预测计",
                      "includes estimates: {n} stream-year(s) have no actual and use the "
                      "projection"),
    "cli.compare_heading": ("{metric}（万元，基准：{baseline}）",
                            "{metric} (10,000 CNY; baseline: {baseline})"),
    "cli.coalitions_hidden": ("……另有 {n} 个联盟未列出（只列单独、缺一方与全体联盟；"
                              "sharing.games.Game.to_frame() 含全部）",
                              "... {n} more coalitions not shown (only single players, all but "
                              "one, and everyone; sharing.games.Game.to_frame() has them all)"),
    "cli.game_values": ("联盟价值 v(S)，现值（万元）", "coalition values v(S), PV (10,000 CNY)"),
    "cli.game_allocations": ("分配方案，现值（万元）", "allocations, PV (10,000 CNY)"),
    "cli.write_back_needs_out": ("--write-back 需要用 -o FILE.yaml 指定新情景文件",
                                 "--write-back needs -o FILE.yaml for the new scenario"),
    "cli.cannot_read_write": ("无法读写 {file}：{reason}", "cannot read or write {file}: {reason}"),
    "cli.cannot_do": ("无法完成", "cannot do that"),
})

MAX_SHOWN_COALITIONS = 63  # every coalition of up to 6 players

SOLUTIONS = {"shapley": games.shapley, "nucleolus": games.nucleolus,
             "prenucleolus": games.prenucleolus, "tau": games.tau_value,
             "least_core": games.least_core, "scrb": games.scrb}
SOLUTION_LABELS = {"shapley": ("沙普利值", "Shapley"), "nucleolus": ("核仁", "nucleolus"),
                   "prenucleolus": ("预核仁", "prenucleolus"), "tau": ("τ 值", "tau value"),
                   "least_core": ("最小核", "least core"),
                   "scrb": ("可分成本剩余收益", "SCRB")}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sharing",
        description="跨区域财税利益分享模拟器 — cross-region fiscal and tax benefit-sharing "
                    "simulator. SCENARIO: 文件或内置情景名 / a file or a built-in scenario "
                    "name (sharing list)")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="检查情景文件 / check scenario files")
    v.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    r = sub.add_parser("run", help="运行情景 / simulate a scenario")
    r.add_argument("scenario", metavar="SCENARIO")
    r.add_argument("-o", "--out", type=Path,
                   help="输出目录(csv)或工作簿(xlsx) / output directory (csv) or workbook (xlsx)")
    r.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    r.add_argument("--lang", choices=LANGS, default="en",
                   help="表头语言 / column header language")
    c = sub.add_parser("compare", help="情景对比 / compare scenarios side by side")
    c.add_argument("scenarios", nargs="+", metavar="SCENARIO")
    c.add_argument("--baseline", metavar="NAME",
                   help="差额的基准（默认第一个）/ the scenario differences are taken against "
                        "(default: the first)")
    c.add_argument("--lang", choices=LANGS,
                   help="表头与名称的语言（默认终端双语、CSV 英文）/ language of headers and "
                        "names (default: both on screen, English in the CSV)")
    c.add_argument("-o", "--out", type=Path, help="输出 CSV 文件 / write the table as CSV")
    sub.add_parser("list", help="内置情景 / list the built-in scenarios")
    sub.add_parser("schema", help="输出 JSON Schema / print the scenario JSON Schema")
    t = sub.add_parser("template", help="输出模板 / print a template")
    t.add_argument("what", choices=("firms", "actuals", "payments"))
    t.add_argument("scenario", nargs="?", metavar="SCENARIO",
                   help="情景文件（actuals、payments 需要）/ scenario file (actuals, payments)")
    st = sub.add_parser("settle", help="年度结算 / annual settlement: ledger and statements")
    st.add_argument("scenario", metavar="SCENARIO")
    st.add_argument("--actuals", type=Path, required=True,
                    help="实际入库数 CSV / actual taxes CSV")
    st.add_argument("--payments", type=Path, help="已拨付款项 CSV / payments CSV")
    st.add_argument("--year", type=int,
                    help="结算年度（默认：实际数的最后一年）/ settlement year (default: the "
                         "last year with actuals)")
    st.add_argument("-o", "--out", type=Path,
                    help="输出目录：账簿 CSV、工作簿、每对辖区的结算单 .docx / output directory")
    st.add_argument("--lang", choices=("zh", "en"), default="zh",
                    help="结算单与表头语言 / language of statements and headers")
    e = sub.add_parser("export-xlsx", help="情景导出为工作簿 / scenario to a workbook")
    e.add_argument("scenario", metavar="SCENARIO")
    e.add_argument("-o", "--out", type=Path, required=True)
    i = sub.add_parser("import-xlsx", help="从工作簿导入情景 / scenario from a workbook")
    i.add_argument("workbook", type=Path)
    i.add_argument("-o", "--out", type=Path, required=True)
    g = sub.add_parser("game", help="合作博弈分配 / cooperative-game splits of a scenario")
    g.add_argument("scenario", metavar="SCENARIO")
    g.add_argument("--players", nargs="+", help="参与方 / jurisdiction ids (default: all)")
    g.add_argument("--solution", choices=sorted(SOLUTIONS), default="nucleolus")
    g.add_argument("--lang", choices=LANGS, help="名称语言 / language of names (default: both)")
    g.add_argument("--write-back", metavar="AGREEMENT",
                   help="把所选解写回该协议 / write the chosen solution into this agreement")
    g.add_argument("-o", "--out", type=Path, help="写回后的情景 YAML / scenario YAML to write")
    x = sub.add_parser("explain", help="解释一个数字的来历 / explain how a number comes about")
    x.add_argument("scenario", metavar="SCENARIO")
    x.add_argument("--jurisdiction", "-j", required=True, help="辖区 id / jurisdiction id")
    x.add_argument("--year", "-y", type=int,
                   help="年份（缺省为各年合计）/ year (default: the total over the years)")
    x.add_argument("--stream", "-s",
                   help="税源、来源或协议 id（成本分担：成本 id）/ stream, source or agreement "
                        "id (cost_share: a cost id)")
    x.add_argument("--column", "-c", default="allocated",
                   help="指标 / column: " + ", ".join(explain.COLUMNS))
    x.add_argument("--lang", choices=("zh", "en"), default="zh")
    a = sub.add_parser("agreement-text",
                       help="由规则生成协议草案 / draft the agreement text from the rules")
    a.add_argument("scenario", metavar="SCENARIO")
    a.add_argument("--agreement", help="只起草该协议 / draft this agreement only")
    a.add_argument("--lang", choices=("zh", "en"), default="zh")
    a.add_argument("-o", "--out", type=Path,
                   help="写入 .docx 或 .md（缺省时输出 Markdown）/ write .docx or .md (default: "
                        "Markdown on stdout)")
    o = sub.add_parser("optimize", help="公平份额优化 / the fairness optimizer")
    o.add_argument("scenario")
    o.add_argument("--objective", metavar="OBJECTIVE",
                   help="目标 / objective: " + " | ".join(OBJECTIVES) + " (默认 default "
                        "maximin_gain)")
    o.add_argument("--spec", type=Path, help="优化设定 YAML / spec YAML (docs/optimize.md)")
    o.add_argument("-o", "--out", type=Path,
                   help="写回优化份额后的情景 YAML / scenario YAML with the shares written back")
    risk_cli.add_parsers(sub)
    return p


def money(value: float) -> str:
    """An amount as printed: 0.01 万元, thousands separated, never ``-0.00``."""
    return f"{round(float(value), 2) + 0.0:,.2f}"


def _label(key: str, lang: Lang | None) -> str:
    zh, en = LABELS.get(key, (key, key))
    return zh if lang == "zh" else en if lang == "en" else f"{zh} {en}"


def _say(key: str, lang: Lang | None, labels: dict[str, str] = {}, **params) -> str:  # noqa: B006
    """Catalogue message ``key`` in ``lang`` or both; ``labels`` are LABELS keys filled in
    the message's own language."""
    langs = (lang,) if lang else ("zh", "en")
    return " / ".join(message(key, one, **params, **{k: LABELS[v][one == "en"]
                                                     for k, v in labels.items()})
                      for one in langs)


def _show(df: pd.DataFrame) -> str:
    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.max_colwidth", 60, "display.float_format", money):
        return df.to_string(index=False, na_rep="")


def _game(args) -> None:
    sc = load_scenario(find_scenario(args.scenario))
    game = games.Game.from_scenario(sc, args.players)
    lang = args.lang
    names = {j.id: (j.name, j.name_en) for j in sc.jurisdictions}

    def who(jid: str) -> str:
        zh, en = names[jid]
        return zh if lang == "zh" else en if lang == "en" else f"{zh} {en}"

    values = game.to_frame()
    hidden = len(values) - MAX_SHOWN_COALITIONS
    if hidden > 0:  # the singles, those of all but one, and everyone: 2n + 1 of 2^n − 1 rows
        size = values["coalition"].str.count(r"\+") + 1
        values = values[(size == 1) | (size >= game.n - 1)]
        hidden = 2**game.n - 1 - len(values)
    print(message("cli.game_values", lang))
    print(_show(pd.DataFrame({
        _label("coalition", lang): [" + ".join(who(p) for p in c.split("+"))
                                    for c in values["coalition"]],
        _label("value", lang): values["value"]})))
    if hidden > 0:
        print(message("cli.coalitions_hidden", lang, n=f"{hidden:,}"))
    table = pd.DataFrame({_label("jurisdiction", lang): [who(p) for p in game.players],
                          _label("standalone_pv", lang): [game[(p,)] for p in game.players]})
    for key, solve in SOLUTIONS.items():
        zh, en = SOLUTION_LABELS[key]
        column = zh if lang == "zh" else en if lang == "en" else f"{zh} {en}"
        try:
            table[column] = [solve(game)[p] for p in game.players]
        except games.GameError as err:
            print(f"{column}: {err}")
    print()
    print(message("cli.game_allocations", lang))
    print(_show(table))
    if args.write_back:
        if not args.out:
            raise ValueError(message("cli.write_back_needs_out"))
        _, writes, made = games.write_back(SOLUTIONS[args.solution](game), sc, args.write_back)
        writeback.write_file(find_scenario(args.scenario), args.out, sc, writes, made)
        print(f"写入 wrote {args.out} ({args.solution} → {args.write_back})")




def _optimize(args) -> int:
    """Print the shares, the payoffs before and after and the explanation; exit 0 when
    optimal, 3 when no optimal split was found (after the relaxation report)."""
    path = find_scenario(args.scenario)
    sc = load_scenario(path)
    spec = load_spec(args.spec) if args.spec else None
    try:
        opt = optimize(sc, spec, objective=args.objective, where=str(args.spec or ""))
    except ScenarioError as err:
        # Problems with the scenario's own rules (costs[0].rule ...) point into its file.
        inside = [p.at(where=str(path)) if p.path.startswith(("agreements", "costs"))
                  and not p.where else p for p in err.items]
        err = with_lines(ScenarioError(inside), args.spec) if args.spec else \
            ScenarioError(inside)
        raise with_lines(err, path) from None
    print(f"{sc.name} / {sc.name_en}")
    print(f"目标 objective: {opt.objective}  状态 status: {opt.status}  "
          f"求解器 solver: {opt.solver or '-'}")
    if len(opt.shares):
        shares = opt.shares.assign(share=opt.shares["share"].map("{:.4%}".format),
                                   current_share=opt.shares["current_share"]
                                   .map("{:.4%}".format))
        print("\n份额 shares")
        print(_show(shares.rename(columns={k: _label(k, None) for k in shares.columns})))
    payoffs = opt.payoffs.assign(current_pv=opt.payoffs["standalone_pv"]
                                 + opt.payoffs["current_gain"])
    payoffs = payoffs[["jurisdiction", "current_pv", "pv_net_benefit", "standalone_pv",
                       "current_gain", "gain"]]
    for column in payoffs.columns[1:]:  # rounded as `sharing run` rounds them: rows add up
        if payoffs[column].notna().all():
            payoffs[column] = io.round_reconciled(payoffs[column].to_numpy())
    print("\n收益 payoffs (现值 PV, 万元 / 10,000 CNY): current → optimized")
    print(_show(payoffs.rename(columns={k: _label(k, None) for k in payoffs.columns})))
    if len(opt.relaxation):
        relaxation = opt.relaxation.drop(columns=["explanation_zh", "explanation_en"])
        print("\n最小放宽 smallest relaxation")
        print(_show(relaxation.rename(columns={k: _label(k, None) for k in relaxation.columns})))
    print("\n说明 explanation")
    print(opt.explain("zh"))
    print(opt.explain("en"))
    if opt.status != "optimal":
        return EXIT_NO_DEAL
    if args.out:
        writeback.write_file(path, args.out, sc, opt.writes, opt.provenance)
        print(f"写入 wrote {args.out}")
    return 0


def _list() -> None:
    for name, path in builtin_scenarios().items():
        sc = load_scenario(path)
        members = ", ".join(j.id for j in sc.jurisdictions)
        rules = "; ".join(describe(a.rule) for a in sc.agreements) or "host"
        print(f"{name}\t{sc.name} / {sc.name_en}\t[{members}]\t{rules}")


def _run(args) -> None:
    res = simulate_file(find_scenario(args.scenario))
    print(f"{res.scenario.name} / {res.scenario.name_en}  (万元 / 10,000 CNY)")
    shown = io.export_summary(res).drop(columns=["name_en"])
    print(_show(shown.rename(columns={k: _label(k, None) for k in shown.columns})))
    if args.out and args.format == "csv":
        for written in io.write_result_csv(res, args.out, args.lang):
            print(f"写入 wrote {written}")
    elif args.out:
        out = args.out if args.out.suffix == ".xlsx" else args.out / "result.xlsx"
        print(f"写入 wrote {io.write_result_xlsx(res, out, args.lang)}")


def _template(args) -> None:
    if args.what == "firms":
        sys.stdout.write(io.firms_template())
        return
    if args.scenario is None:
        raise ValueError(message("cli.template_needs_scenario", None, what=args.what))
    make = {"actuals": settlement.actuals_template, "payments": settlement.payments_template}
    sys.stdout.write(make[args.what](find_scenario(args.scenario)))


def _settle(args) -> None:
    led = settlement.settle(find_scenario(args.scenario), actuals=args.actuals,
                            payments=args.payments, through=args.year)
    year = led.through
    print(led.statement(year, args.lang).text)
    missing = int((~led.known[:, led.model.years <= year]).sum())
    if missing:
        print(message("cli.estimated", None, n=missing))
    if len(led.later_payments):
        print(message("cli.later_payments", None, n=len(led.later_payments), year=year))
    if args.out:
        for path in statement.write_ledger(led, year, args.out, args.lang):
            print(f"写入 wrote {path}")


def _compare(args) -> None:
    names = [Path(s).stem for s in args.scenarios]
    if len(set(names)) < len(names):  # same file name in two folders, or the same file twice
        names = [f"{s} #{i + 1}" for i, s in enumerate(args.scenarios)]
    baseline = args.baseline  # a name, or one of the arguments as given
    if baseline not in names and baseline in args.scenarios:
        baseline = names[args.scenarios.index(baseline)]
    base = baseline_name(names, baseline)
    results = {n: simulate_file(find_scenario(s))
               for n, s in zip(names, args.scenarios, strict=True)}
    lang = args.lang
    long = compare_long(results, baseline)
    long["name"] = long["name_en"] if lang == "en" else long["name"]
    for metric, block in long.groupby("metric", sort=False):
        print()
        print(_say("cli.compare_heading", lang, {"metric": metric}, baseline=base))
        shown = block[["name", "scenario", "value", "difference"]]
        print(_show(shown.rename(columns={
            "name": _label("jurisdiction", lang), "scenario": _label("scenario", lang),
            "value": _label("value", lang), "difference": _label("difference", lang)})))
    if args.out:
        io.write_csv(io.compare_table(compare(results, baseline), lang or "en"), args.out)
        print(f"写入 wrote {args.out}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            for name in args.scenarios:
                simulate_file(find_scenario(name))
                print(f"{name}: ok 通过")
        elif args.command == "run":
            _run(args)
        elif args.command == "compare":
            _compare(args)
        elif args.command == "list":
            _list()
        elif args.command == "schema":
            print(dump_json_schema())
        elif args.command == "template":
            _template(args)
        elif args.command == "settle":
            _settle(args)
        elif args.command == "export-xlsx":
            sc = load_scenario(find_scenario(args.scenario))
            print(f"写入 wrote {io.export_scenario_xlsx(sc, args.out)}")
        elif args.command == "game":
            _game(args)
        elif args.command == "optimize":
            return _optimize(args)
        elif args.command == "agreement-text":
            draft = agreement_text(load_scenario(find_scenario(args.scenario)), args.lang,
                                   args.agreement)
            if args.out:
                print(f"写入 wrote {draft.write(args.out)}")
            else:
                sys.stdout.write(draft.to_markdown())
        elif args.command == "explain":
            res = simulate_file(find_scenario(args.scenario))
            print(res.explain(args.jurisdiction, year=args.year, stream=args.stream,
                              column=args.column).text(args.lang))
        elif args.command == "montecarlo":
            risk_cli.run_montecarlo(args, _show)
        elif args.command == "sensitivity":
            risk_cli.run_sensitivity(args, _show)
        elif args.command == "import-xlsx":
            data = io.import_scenario_xlsx(args.workbook)
            args.out.write_text(io.scenario_yaml(data), encoding="utf-8")
            print(f"写入 wrote {args.out}")
    except ScenarioError as err:
        print(f"{message('bad_input')}:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except OSError as err:
        print(message("cli.cannot_read_write", None, file=err.filename, reason=err.strerror),
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:
        print(f"{message('cli.cannot_do')}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # a bug: say so plainly instead of showing a traceback
        print(message("internal_error", None, error=f"{type(err).__name__}: {err}"),
              file=sys.stderr)
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
