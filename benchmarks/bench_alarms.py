#!/usr/bin/env python3
"""Measure the drift alarms' false-alarm rate on quiet days, and their power on a planted collapse.

Two kinds of quiet data:
  * simulated facts: 30 rules x 2 channels, binomial draws around fixed rates (what the test
    assumes), many seeds of 60 days; every night from day 29 on is checked. The rate of nights
    with any alarm is printed at the shipped family-wise level (alarms.ALPHA) and at looser
    levels, where a rate close to the level shows the test is calibrated, not merely strict.
  * the generator's own data (data/generate_sample.py, anomalies off) through import and score:
    realistic texts, weekday volumes, open interactions on the last day.
Power: the pass rate of one rule on one day set to a lower rate, per day size.

    python benchmarks/bench_alarms.py                     # 40 seeds x 32 nights, 60 generator days
    python benchmarks/bench_alarms.py --seeds 10 --gen-rows 6000

Prints results; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import generator  # noqa: E402

from qa_scoring import alarms, store  # noqa: E402

START = date(2026, 9, 1)


def simulated(seeds: int, levels: list[float]) -> None:
    from test_alarms import quiet_facts  # the same synthetic facts as the tests

    con = store.connect(":memory:")
    nights = {a: 0 for a in levels}
    tests = total = 0
    started = time.perf_counter()
    for seed in range(seeds):
        con.execute("DELETE FROM daily_facts; DELETE FROM daily_rule_facts")
        quiet_facts(con, seed=1000 + seed)
        for d in range(alarms.BASELINE_DAYS, 60):
            day = START + timedelta(days=d)
            total += 1
            for level in levels:
                check = alarms.check_day(con, day, alpha=level)
                nights[level] += bool(check.alarms)
                if level == levels[0]:
                    tests += check.tests
    seconds = time.perf_counter() - started
    print(f"simulated quiet nights: {total} ({seeds} seeds x 32), {tests / total:.1f} tests a night, "
          f"{seconds / (total * len(levels)) * 1000:.0f} ms a check")
    for level in levels:
        print(f"  family-wise level {level:g}: nights with any alarm {nights[level]} / {total} "
              f"= {nights[level] / total:.4f}")
    con.close()


def power(sizes: list[int]) -> None:
    from test_alarms import quiet_facts

    print("power: one rule's pass rate dropped on one day, share of 20 seeds where it alarms")
    for per_day in sizes:
        row = []
        for drop in (0.05, 0.10, 0.20, 0.40):
            hit = 0
            for seed in range(20):
                con = store.connect(":memory:")
                quiet_facts(con, seed=seed, per_day=per_day, collapse=("rule_07", 45, -drop))
                check = alarms.check_day(con, START + timedelta(days=45))
                hit += any(a.rule_id == "rule_07" and a.kind == "rule_pass_rate" for a in check.alarms)
                con.close()
            row.append(f"-{drop:.0%}: {hit / 20:.2f}")
        print(f"  {per_day:>6} interactions a day: " + ", ".join(row))


def generated(rows: int, days: int) -> None:
    from qa_scoring.ingest import import_files
    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    gen = generator("default")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "quiet.json"
        gen.write_file(str(path), "json", rows, days=days, start="2026-09-01", anomalies=False)
        con = store.connect(Path(tmp) / "quiet.duckdb")
        import_files(con, [path], operation="default", tz="America/Bogota")
        score_interactions(con, load_rule_pack(rules_dir()))
        found, tests, nights = [], 0, 0
        for d in range(alarms.BASELINE_DAYS, days):
            check = alarms.check_day(con, START + timedelta(days=d))
            nights += 1
            tests += check.tests
            found += check.alarms
        con.close()
    print(f"generator quiet data: {rows} rows over {days} days, {nights} nights checked, {tests / nights:.1f} tests "
          f"a night: {len(found)} alarm(s) on {len({a.day for a in found})} night(s)")
    for a in found:
        print(f"  {a.day} {a.kind} {a.rule_id or a.channel or ''}: {a.rate:.3f} vs {a.baseline_rate:.3f} "
              f"({a.baseline_low:.3f}-{a.baseline_high:.3f}), n {a.n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--gen-rows", type=int, default=18000)
    parser.add_argument("--gen-days", type=int, default=60)
    args = parser.parse_args()
    simulated(args.seeds, [alarms.ALPHA, 0.05, 0.2])
    power([100, 300, 1000])
    generated(args.gen_rows, args.gen_days)


if __name__ == "__main__":
    main()
