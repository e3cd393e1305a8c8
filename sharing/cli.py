"""The command line (also ``python -m sharing``)::

    sharing validate FILE...            check scenarios ("ok" or file:line: key.path: problem)
    sharing run FILE [-o DIR] [--format csv|xlsx] [--lang en|zh]
    sharing compare FILE FILE... [-o table.csv]
    sharing list                        the built-in scenarios, one line each
    sharing schema                      the scenario format as JSON Schema
    sharing template firms              a CSV template for `firms_csv`
    sharing template actuals|payments FILE   CSV templates for `sharing settle`
    sharing settle FILE --actuals A.csv [--payments P.csv] [--year Y] [-o DIR] [--lang zh|en]
    sharing export-xlsx FILE -o book.xlsx / sharing import-xlsx book.xlsx -o FILE.yaml
    sharing game FILE [--players a b ...] [--write-back AGREEMENT --solution nucleolus -o F]
    sharing explain FILE --jurisdiction ID [--year Y] [--stream ID] [--column C] [--lang zh|en]
    sharing agreement-text FILE [--agreement ID] [--lang zh|en] [-o draft.docx|draft.md]
    sharing optimize FILE [--objective X] [--spec spec.yaml] [-o optimized.yaml]

Messages are bilingual (中文 / English). Bad input prints the file, key path (or sheet, row,
column) and problem on stderr and exits with status 2; no traceback reaches the user.
``sharing optimize`` exits with 3 when it finds no optimal split (infeasible, after printing
the smallest relaxation; or the time limit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sharing import explain, games, io, settlement, statement, writeback
from sharing.agreement_text import agreement_text
from sharing.engine import simulate_file
from sharing.i18n import define, message
from sharing.optimizer import OBJECTIVES, optimize
from sharing.optimizer.spec import load_spec, with_lines
from sharing.result import COMPARE_METRICS, LABELS, compare
from sharing.rules import describe
from sharing.scenario import ScenarioError, dump_json_schema, load_scenario

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_NO_DEAL = 3
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sharing",
        description="跨区域财税利益分享模拟器 — cross-region fiscal and tax benefit-sharing "
                    "simulator")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="检查情景文件 / check scenario files")
    v.add_argument("scenarios", nargs="+", type=Path)
    r = sub.add_parser("run", help="运行情景 / simulate a scenario")
    r.add_argument("scenario", type=Path)
    r.add_argument("-o", "--out", type=Path,
                   help="输出目录(csv)或工作簿(xlsx) / output directory (csv) or workbook (xlsx)")
    r.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    r.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="表头语言 / column header language")
    c = sub.add_parser("compare", help="情景对比 / compare scenarios side by side")
    c.add_argument("scenarios", nargs="+", type=Path)
    c.add_argument("-o", "--out", type=Path, help="输出 CSV 文件 / write the table as CSV")
    sub.add_parser("list", help="内置情景 / list the built-in scenarios")
    sub.add_parser("schema", help="输出 JSON Schema / print the scenario JSON Schema")
    t = sub.add_parser("template", help="输出模板 / print a template")
    t.add_argument("what", choices=("firms", "actuals", "payments"))
    t.add_argument("scenario", type=Path, nargs="?",
                   help="情景文件（actuals、payments 需要）/ scenario file (actuals, payments)")
    st = sub.add_parser("settle", help="年度结算 / annual settlement: ledger and statements")
    st.add_argument("scenario", type=Path)
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
    e.add_argument("scenario", type=Path)
    e.add_argument("-o", "--out", type=Path, required=True)
    i = sub.add_parser("import-xlsx", help="从工作簿导入情景 / scenario from a workbook")
    i.add_argument("workbook", type=Path)
    i.add_argument("-o", "--out", type=Path, required=True)
    g = sub.add_parser("game", help="合作博弈分配 / cooperative-game splits of a scenario")
    g.add_argument("scenario", type=Path)
    g.add_argument("--players", nargs="+", help="参与方 / jurisdiction ids (default: all)")
    g.add_argument("--solution", choices=sorted(SOLUTIONS), default="nucleolus")
    g.add_argument("--write-back", metavar="AGREEMENT",
                   help="把所选解写回该协议 / write the chosen solution into this agreement")
    g.add_argument("-o", "--out", type=Path, help="写回后的情景 YAML / scenario YAML to write")
    x = sub.add_parser("explain", help="解释一个数字的来历 / explain how a number comes about")
    x.add_argument("scenario", type=Path)
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
    a.add_argument("scenario", type=Path)
    a.add_argument("--agreement", help="只起草该协议 / draft this agreement only")
    a.add_argument("--lang", choices=("zh", "en"), default="zh")
    a.add_argument("-o", "--out", type=Path,
                   help="写入 .docx 或 .md（缺省时输出 Markdown）/ write .docx or .md (default: "
                        "Markdown on stdout)")
    o = sub.add_parser("optimize", help="公平份额优化 / the fairness optimizer")
    o.add_argument("scenario", type=Path)
    o.add_argument("--objective", metavar="OBJECTIVE",
                   help="目标 / objective: " + " | ".join(OBJECTIVES) + " (默认 default "
                        "maximin_gain)")
    o.add_argument("--spec", type=Path, help="优化设定 YAML / spec YAML (docs/optimize.md)")
    o.add_argument("-o", "--out", type=Path,
                   help="写回优化份额后的情景 YAML / scenario YAML with the shares written back")
    return p


define({
    "cli.template_needs_scenario": ("sharing template {what} 需要情景文件",
                                    "sharing template {what} needs a scenario file"),
    "cli.later_payments": ("{n} 笔付款记在 {year} 年以后，未计入本次结算",
                           "{n} payment(s) booked after {year} are not in this settlement"),
    "cli.estimated": ("含估算数：{n} 个税源年度没有实际数，按预测计",
                      "includes estimates: {n} stream-year(s) have no actual and use the "
                      "projection"),
})


SOLUTIONS = {"shapley": games.shapley, "nucleolus": games.nucleolus,
             "prenucleolus": games.prenucleolus, "tau": games.tau_value,
             "least_core": games.least_core}


def _game(args) -> None:
    sc = load_scenario(args.scenario)
    game = games.Game.from_scenario(sc, args.players)
    with pd.option_context("display.float_format", "{:,.2f}".format):
        print("联盟价值 coalition values v(S), 现值 PV (万元 / 10,000 CNY)")
        print(game.to_frame().to_string(index=False))
        table = pd.DataFrame(index=list(game.players))
        table["standalone 不合作"] = [game[(p,)] for p in game.players]
        for name, solve in SOLUTIONS.items():
            try:
                table[name] = pd.Series(dict(solve(game)))
            except games.GameError as err:
                print(f"{name}: {err}")
        print("\n分配方案 allocations (现值 PV, 万元)")
        print(table.to_string())
    if args.write_back:
        if not args.out:
            raise ValueError("--write-back needs -o FILE.yaml for the new scenario")
        _, writes, made = games.write_back(SOLUTIONS[args.solution](game), sc, args.write_back)
        writeback.write_file(args.scenario, args.out, sc, writes, made)
        print(f"写入 wrote {args.out} ({args.solution} → {args.write_back})")


def _optimize(args) -> int:
    """Print the shares, the payoffs before and after and the explanation; exit 0 when
    optimal, 3 when no optimal split was found (after the relaxation report)."""
    sc = load_scenario(args.scenario)
    spec = load_spec(args.spec) if args.spec else None
    try:
        opt = optimize(sc, spec, objective=args.objective, where=str(args.spec or ""))
    except ScenarioError as err:
        # Problems with the scenario's own rules (costs[0].rule ...) point into its file.
        inside = [p.at(where=str(args.scenario)) if p.path.startswith(("agreements", "costs"))
                  and not p.where else p for p in err.items]
        err = with_lines(ScenarioError(inside), args.spec) if args.spec else \
            ScenarioError(inside)
        raise with_lines(err, args.scenario) from None
    print(f"{sc.name} / {sc.name_en}")
    print(f"目标 objective: {opt.objective}  状态 status: {opt.status}  "
          f"求解器 solver: {opt.solver or '-'}")
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:,.2f}".format):
        if len(opt.shares):
            shares = opt.shares.assign(share=opt.shares["share"].map("{:.4%}".format),
                                       current_share=opt.shares["current_share"]
                                       .map("{:.4%}".format))
            print("\n份额 shares")
            print(_table(shares))
        payoffs = opt.payoffs.assign(current_pv=opt.payoffs["standalone_pv"]
                                     + opt.payoffs["current_gain"])
        payoffs = payoffs[["jurisdiction", "current_pv", "pv_net_benefit", "standalone_pv",
                           "current_gain", "gain"]]
        print("\n收益 payoffs (现值 PV, 万元 / 10,000 CNY): current → optimized")
        print(_table(payoffs))
        if len(opt.relaxation):
            print("\n最小放宽 smallest relaxation")
            print(_table(opt.relaxation.drop(columns=["explanation_zh", "explanation_en"])))
    print("\n说明 explanation")
    print(opt.explain("zh"))
    print(opt.explain("en"))
    if opt.status != "optimal":
        return EXIT_NO_DEAL
    if args.out:
        writeback.write_file(args.scenario, args.out, sc, opt.writes, opt.provenance)
        print(f"写入 wrote {args.out}")
    return 0


def _table(df: pd.DataFrame) -> str:
    shown = df.rename(columns={k: f"{zh} {en}" for k, (zh, en) in LABELS.items()})
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:,.2f}".format):
        return shown.to_string(index=False)


def _list() -> None:
    for path in sorted(SCENARIO_DIR.rglob("*.yaml")):
        sc = load_scenario(path)
        members = ", ".join(j.id for j in sc.jurisdictions)
        rules = "; ".join(describe(a.rule) for a in sc.agreements) or "host"
        print(f"{path.relative_to(SCENARIO_DIR)}\t{sc.name} / {sc.name_en}\t[{members}]\t{rules}")


def _run(args) -> None:
    res = simulate_file(args.scenario)
    print(f"{res.scenario.name} / {res.scenario.name_en}  (万元 / 10,000 CNY)")
    print(_table(res.summary.drop(columns=["name_en"])))
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
    sys.stdout.write(make[args.what](args.scenario))


def _settle(args) -> None:
    led = settlement.settle(args.scenario, actuals=args.actuals, payments=args.payments,
                            through=args.year)
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
    names = [p.stem for p in args.scenarios]
    if len(set(names)) < len(names):  # same file name in two folders, or the same file twice
        names = [f"{p} #{i + 1}" for i, p in enumerate(args.scenarios)]
    table = compare({n: simulate_file(p) for n, p in zip(names, args.scenarios, strict=True)})
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:,.2f}".format):
        for metric in COMPARE_METRICS:
            zh, en = LABELS[metric]
            print(f"\n{zh} {en}  (万元 / 10,000 CNY)")
            print(table[metric].to_string())
    if args.out:
        flat = table.copy()
        flat.columns = [f"{m}[{s}]" if s else m for m, s in table.columns]
        io.write_csv(flat.reset_index(), args.out)
        print(f"写入 wrote {args.out}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            for path in args.scenarios:
                simulate_file(path)
                print(f"{path}: ok 通过")
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
            print(f"写入 wrote {io.export_scenario_xlsx(load_scenario(args.scenario), args.out)}")
        elif args.command == "game":
            _game(args)
        elif args.command == "agreement-text":
            draft = agreement_text(load_scenario(args.scenario), args.lang, args.agreement)
            if args.out:
                print(f"写入 wrote {draft.write(args.out)}")
            else:
                sys.stdout.write(draft.to_markdown())
        elif args.command == "explain":
            res = simulate_file(args.scenario)
            print(res.explain(args.jurisdiction, year=args.year, stream=args.stream,
                              column=args.column).text(args.lang))
        elif args.command == "optimize":
            return _optimize(args)
        elif args.command == "import-xlsx":
            data = io.import_scenario_xlsx(args.workbook)
            args.out.write_text(io.scenario_yaml(data), encoding="utf-8")
            print(f"写入 wrote {args.out}")
    except ScenarioError as err:
        print("输入有误 / bad input:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except OSError as err:
        print(f"无法读写 / cannot read or write: {err.filename}: {err.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:
        print(f"无法完成 / cannot do that: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # a bug: say so plainly instead of showing a traceback
        print(f"内部错误 / internal error: {type(err).__name__}: {err}\n"
              "请报告此问题 / please report this with the scenario file", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
