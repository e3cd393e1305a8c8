"""The command line: ``sharing validate | run | compare | schema`` (also ``python -m sharing``).

Messages are bilingual (中文 / English). Bad input prints ``file:line: key.path: problem`` on
stderr and exits with status 2; no traceback ever reaches the user.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from sharing.engine import compile_scenario
from sharing.io import write_csv
from sharing.result import COMPARE_METRICS, LABELS, compare
from sharing.scenario import ScenarioError, dump_json_schema, load_scenario

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


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
    r.add_argument("-o", "--out", type=Path, help="输出目录 / directory for the CSV files")
    c = sub.add_parser("compare", help="情景对比 / compare scenarios side by side")
    c.add_argument("scenarios", nargs="+", type=Path)
    c.add_argument("-o", "--out", type=Path, help="输出 CSV 文件 / write the table as CSV")
    sub.add_parser("schema", help="输出 JSON Schema / print the scenario JSON Schema")
    return p


def _table(df: pd.DataFrame) -> str:
    shown = df.rename(columns={k: f"{zh} {en}" if zh != en else en
                               for k, (zh, en) in LABELS.items()})
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:,.2f}".format):
        return shown.to_string(index=False)


def _simulate(path: Path):
    return compile_scenario(load_scenario(path)).run()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            for path in args.scenarios:
                _simulate(path)
                print(f"{path}: ok 通过")
        elif args.command == "run":
            res = _simulate(args.scenario)
            print(f"{res.scenario.name} / {res.scenario.name_en}  (万元 / 10,000 CNY)")
            print(_table(res.summary.drop(columns=["name_en"])))
            if args.out:
                for written in res.to_csv(args.out):
                    print(f"写入 wrote {written}")
        elif args.command == "compare":
            table = compare({p.stem: _simulate(p) for p in args.scenarios})
            with pd.option_context("display.width", 200, "display.max_columns", 30,
                                   "display.float_format", "{:,.2f}".format):
                for metric in COMPARE_METRICS:
                    zh, en = LABELS[metric]
                    print(f"\n{zh} {en}  (万元 / 10,000 CNY)")
                    print(table[metric].to_string())
            if args.out:
                flat = table.copy()
                flat.columns = [f"{m}[{s}]" if s else m for m, s in table.columns]
                write_csv(flat.reset_index(), args.out)
                print(f"写入 wrote {args.out}")
        elif args.command == "schema":
            print(dump_json_schema())
    except ScenarioError as err:
        print("输入有误 / bad input:", file=sys.stderr)
        for problem in err.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return 0
    except OSError as err:
        print(f"无法写入 / cannot write: {err.filename}: {err.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # a bug: say so plainly instead of showing a traceback
        print(f"内部错误 / internal error: {type(err).__name__}: {err}\n"
              "请报告此问题 / please report this with the scenario file", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
