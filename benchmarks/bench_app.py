"""App benchmark: how long a rerun takes after an edit on the default scenario (川渝高竹新区),
measured with Streamlit's AppTest (the script run, without a browser). Target: median under
150 ms for an edit.

Each edit moves the two-party share slider on the agreements page to a value not used before,
so every edit validates a new scenario and simulates it (no cache hit). Also timed: a table
edit (costs by year), the overview page after an edit (three charts), a rerun with nothing
changed (Streamlit's own cost), and the library alone (``replace`` + ``simulate`` + the
summary) as the baseline the app adds to.

Run: ``.venv/bin/python benchmarks/bench_app.py [--edits N]``. Prints medians and ratios;
asserts nothing about time (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

import sharing
from sharing.scenario import find_scenario

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SHARES = "agreements.gaozhu_revenue.rule.increment.shares"


def timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def app_on(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at._page_hash = calc_hash(page)  # pages are functions: open one by its url path's hash
    at.run()
    return at


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms (min {min(values) * 1000:.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=30)
    args = parser.parse_args()
    values = [round(0.2 + 0.6 * i / args.edits, 4) for i in range(args.edits)]

    at = app_on("agreements")
    slider_edits = []
    for v in values:
        slider = at.slider(key=f"{SHARES}@{at.session_state['workspace'].revision}:zh")
        slider.set_value(v)
        slider_edits.append(timed(at.run))
        assert not at.exception and not at.error
    noop = [timed(at.run) for _ in range(args.edits)]

    table_edits = []
    for i in range(args.edits):
        key = f"costs#table@{at.session_state['workspace'].revision}:zh"
        at.session_state[key] = {"edited_rows": {0: {"infrastructure": 20000.0 + i + 1}},
                                 "added_rows": [], "deleted_rows": []}
        table_edits.append(timed(at.run))
        assert not at.exception and not at.error

    over = app_on("overview")
    overview = []
    for v in values:
        over.session_state["workspace"].edit({SHARES: {"guangan": v + 0.001,
                                                       "yubei": round(0.999 - v, 12)}}, "x")
        overview.append(timed(over.run))
        assert not over.exception

    sc = sharing.load_scenario(find_scenario("gaozhu"))
    library = [timed(lambda v=v: sharing.simulate(
        sc.replace({SHARES: {"guangan": v + 0.0005, "yubei": round(0.9995 - v, 12)}})).summary)
        for v in values]

    edit = statistics.median(slider_edits)
    print(f"bench_app: default scenario (gaozhu), {args.edits} edits each, AppTest")
    print(f"  edit, share slider (agreements page)   {ms(slider_edits)}   target < 150 ms")
    print(f"  edit, costs table (agreements page)    {ms(table_edits)}")
    print(f"  overview after an edit (3 charts)      {ms(overview)}")
    print(f"  rerun, nothing changed (agreements)    {ms(noop)}")
    print(f"  library: replace + simulate + summary  {ms(library)}")
    print(f"  ratio edit / library                   {edit / statistics.median(library):7.1f}x")
    print(f"  ratio edit / unchanged rerun           {edit / statistics.median(noop):7.1f}x")


if __name__ == "__main__":
    main()
