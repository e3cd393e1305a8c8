"""``sharing montecarlo`` and ``sharing sensitivity``: the risk commands of the CLI.

Both print bilingual tables and write CSVs (UTF-8 with BOM, formulas neutralised, headers in
``--lang``); Monte Carlo shows a progress bar (tqdm) when stderr is a terminal. Bad input
raises ScenarioError, which the CLI prints with its key path and exits with status 2.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import sys
from pathlib import Path

import pandas as pd

from sharing import io
from sharing.i18n import define, message
from sharing.risk import monte_carlo, sensitivity
from sharing.scenario import find_scenario, load_scenario

LABELS = {
    "draw": ("抽样", "draw"), "jurisdiction": ("辖区", "jurisdiction"),
    "pv_net_benefit": ("净收益现值", "PV net benefit"),
    "standalone_pv": ("不合作现值", "standalone PV"), "gain": ("合作收益", "gain"),
    "mean": ("均值", "mean"), "std": ("标准差", "std"),
    "p5": ("5%分位", "p5"), "p25": ("25%分位", "p25"), "p50": ("中位数", "p50"),
    "p75": ("75%分位", "p75"), "p95": ("95%分位", "p95"),
    "prob_loss": ("亏损概率", "probability of loss"),
    "expected_shortfall": ("最差5%均值", "expected shortfall (5%)"),
    "mean_gain": ("平均合作收益", "mean gain"), "se_mean": ("均值标准误", "SE of mean"),
    "se_mean_antithetic": ("均值标准误(对偶)", "SE of mean (antithetic)"),
    "year": ("年份", "year"), "parameter": ("参数", "parameter"), "base": ("基准值", "base"),
    "value_low": ("低值", "low value"), "value_high": ("高值", "high value"),
    "pv_base": ("基准净收益现值", "PV at base"), "low": ("低值时净收益现值", "PV at low"),
    "high": ("高值时净收益现值", "PV at high"), "swing": ("摆幅", "swing"),
    "value": ("盈亏平衡值", "break-even value"),
}

define({
    "risk_cli.heading": ("{name}：{n:,} 次抽样，种子 {seed}（万元）",
                         "{name_en}: {n:,} draws, seed {seed} (10,000 CNY)"),
    "risk_cli.sens_heading": ("{name}：敏感性分析（±{delta:.0%}，万元）",
                              "{name_en}: sensitivity (±{delta:.0%}, 10,000 CNY)"),
    "risk_cli.progress": ("抽样", "draws"),
})


def add_parsers(sub) -> None:
    m = sub.add_parser("montecarlo", help="蒙特卡洛风险分析 / Monte Carlo risk analysis")
    m.add_argument("scenario", metavar="SCENARIO")
    m.add_argument("--draws", type=int, default=10_000, help="抽样次数 / number of draws")
    m.add_argument("--seed", type=int, default=0, help="随机种子 / random seed")
    m.add_argument("--chunk", type=int, help="每批抽样数 / draws per chunk")
    m.add_argument("--threads", type=int,
                   help="线程数（默认每个 CPU 核一个）/ threads in this process (default: one per "
                        "CPU core)")
    m.add_argument("--workers", type=int, default=1,
                   help="进程数（>1 时用进程池）/ worker processes (>1: a process pool)")
    m.add_argument("--antithetic", action="store_true", help="对偶抽样 / antithetic draws")
    m.add_argument("-o", "--out", type=Path,
                   help="输出目录：draws.csv、summary.csv、paths.csv / output directory")
    m.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="CSV 表头语言 / CSV header language")
    s = sub.add_parser("sensitivity", help="敏感性分析（龙卷风图）/ one-at-a-time sensitivity")
    s.add_argument("scenario", metavar="SCENARIO")
    s.add_argument("--delta", type=float, default=0.2, help="相对变动幅度 / relative change")
    s.add_argument("--parameter", "-p", action="append", metavar="KEY.PATH",
                   help="参数键路径（可重复；缺省为默认参数集）/ a key path (repeatable; "
                        "default: a sensible set)")
    s.add_argument("-o", "--out", type=Path,
                   help="输出目录：tornado.csv、break_even.csv / output directory")
    s.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="CSV 表头语言 / CSV header language")


def _headers(df: pd.DataFrame, lang: str | None) -> pd.DataFrame:
    def label(col: str) -> str:
        zh, en = LABELS.get(col, (col, col))
        return zh if lang == "zh" else en if lang == "en" else f"{zh} {en}"
    return df.rename(columns={c: label(c) for c in df.columns})


def _write(frames: dict[str, pd.DataFrame], out: Path, lang: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, df in frames.items():
        path = io.write_csv(_headers(df, lang), out / f"{name}.csv", float_format="%.4f")
        print(message("wrote", None, path=path))


def _bar(total: int):
    """A tqdm progress bar on a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=message("risk_cli.progress", "zh") + " draws",
                file=sys.stderr, unit_scale=True, leave=False)


def run_montecarlo(args: argparse.Namespace, show) -> None:
    sc = load_scenario(find_scenario(args.scenario))
    bar = _bar(args.draws) if isinstance(args.draws, int) and args.draws > 0 else None

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    pool = cf.ProcessPoolExecutor(max_workers=args.workers) if args.workers > 1 else None
    try:
        mc = monte_carlo(sc, draws=args.draws, seed=args.seed, progress=progress,
                         executor=pool, chunk=args.chunk, antithetic=args.antithetic,
                         threads=args.threads)
    finally:
        if bar is not None:
            bar.close()
        if pool is not None:
            pool.shutdown()
    print(message("risk_cli.heading", None, name=sc.name, name_en=sc.name_en, n=mc.n_draws,
                  seed=args.seed))
    print(show(_headers(mc.summary, None)))
    print()
    print(mc.explain())
    if args.out:
        _write({"summary": mc.summary, "draws": mc.draws, "paths": mc.paths}, args.out,
               args.lang)


def run_sensitivity(args: argparse.Namespace, show) -> None:
    sc = load_scenario(find_scenario(args.scenario))
    sens = sensitivity(sc, parameters=args.parameter, delta=args.delta)
    print(message("risk_cli.sens_heading", None, name=sc.name, name_en=sc.name_en,
                  delta=args.delta))
    print(show(_headers(sens.table.head(20), None)))
    found = sens.break_even.dropna()
    if len(found):
        print()
        print(show(_headers(found, None)))
    if args.out:
        _write({"tornado": sens.table, "break_even": sens.break_even}, args.out, args.lang)
