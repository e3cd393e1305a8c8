"""Export benchmark: the result workbook (xlsxwriter, streamed) against CSV and against the
previous openpyxl writer (``ws.max_row`` after every row, quadratic), kept here as the baseline.

A synthetic scenario sized to about 100,000 flow rows (migrated firms under ``jjj_2015``) is
exported as CSV and as a workbook (to a file and to a buffer, both languages). The old writer
runs on a slice of the flows only: it is quadratic, so the full table would take minutes.

Run: ``.venv/bin/python benchmarks/bench_io.py [--firms N]``. Prints times, peak traced memory
and ratios; asserts nothing about time (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from io import BytesIO
from pathlib import Path

from openpyxl import Workbook

from sharing import io
from sharing.engine import compile_scenario
from sharing.synth import synthetic_scenario


def timed(fn):
    """Wall time (untraced: tracemalloc slows per-cell code several-fold), peak traced memory
    of a second, traced call, and the result."""
    wall = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - wall
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, peak, out


def old_writer(df, path: Path) -> None:
    """The writer this benchmark replaced: openpyxl in normal mode, one ws.max_row per row."""
    book = Workbook()
    ws = book.active
    ws.append(list(df.columns))
    for row in df.itertuples(index=False):
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--firms", type=int, default=720)
    parser.add_argument("--slices", type=int, nargs="+", default=[2_000, 4_000])
    args = parser.parse_args()

    res = compile_scenario(synthetic_scenario(args.firms, 5, 10)).run()
    flows = io.export_tables(res)["flows"]
    print(f"export benchmark: {args.firms:,} firms → {len(flows):,} flow rows "
          f"({len(res.by_year):,} by_year rows)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        csv_s, csv_mib, _ = timed(lambda: io.write_result_csv(res, out / "csv"))
        print(f"  CSV, 4 tables                  {csv_s:7.2f} s  peak {csv_mib:6.0f} MiB")
        xlsx_s, xlsx_mib, _ = timed(lambda: io.write_result_xlsx(res, out / "r.xlsx"))
        size = (out / "r.xlsx").stat().st_size / 2**20
        print(f"  xlsx to a file (en)            {xlsx_s:7.2f} s  peak {xlsx_mib:6.0f} MiB  "
              f"{size:.1f} MB   ratio xlsx/CSV {xlsx_s / csv_s:5.1f}×")
        zh_s, zh_mib, buf = timed(lambda: io.write_result_xlsx(res, BytesIO(), "zh"))
        print(f"  xlsx to a buffer (zh)          {zh_s:7.2f} s  peak {zh_mib:6.0f} MiB  "
              f"{len(buf.getvalue()) / 2**20:.1f} MB")
        per_row = xlsx_s / len(flows)
        print(f"  per flow row (whole workbook)  {per_row * 1e6:7.1f} µs")
        print("\nbaseline: the previous openpyxl writer on slices of the flows table")
        for n in args.slices:
            part = flows.head(n)
            old_s = _wall(lambda part=part: old_writer(part, out / "old.xlsx"))
            new_s = _wall(lambda part=part: _new_flows_only(part, out / "new.xlsx"))
            print(f"  {n:7,d} rows: old {old_s:7.2f} s   new {new_s:6.2f} s   "
                  f"ratio {old_s / new_s:6.1f}×")


def _wall(fn) -> float:
    wall = time.perf_counter()
    fn()
    return time.perf_counter() - wall


def _new_flows_only(df, path: Path) -> None:
    with io._Book(path) as book:
        book.frame("flows", df, "flows")


if __name__ == "__main__":
    main()
