"""Benchmark reviews: `reviews import` of N verdicts (default 50k) and `reviews agreement` over them, on a
scored month of M generated interactions (default 3M), each timed in its own process with start-up.

    flock /tmp/qa-bench.lock python benchmarks/bench_reviews.py                      # 3M rows, 50k verdicts
    flock /tmp/qa-bench.lock python benchmarks/bench_reviews.py --rows 300000 --profile dense

Prints (asserts nothing) seconds and peak memory (VmHWM of the child). The issue's goals: import of
50k rows <= 5 s, agreement over 50k verdicts on a 3M-row month <= 5 s. The verdicts are two
reviewers' (a quarter of the pairs judged by both), matched by case id and channel, in the
project's own CSV shape; a tenth of them contradict the rule.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from qa_scoring import store  # noqa: E402


def child(kind: str, db: str, path: str) -> None:
    from _common import peak_rss_mib

    con = store.connect(db)
    start = time.perf_counter()
    if kind == "import":
        from qa_scoring.reviews.stored import import_reviews

        summary = import_reviews(con, [Path(path)]).to_dict()
        extra = {"imported": summary["imported"], "unmatched": sum(summary["unmatched"].values()),
                 "overridden": summary["overridden"]}
    else:
        from qa_scoring.reviews.agreement import agreement

        result = agreement(con).to_dict()
        extra = {"rules": len(result["rules"]), "n": result["overall"]["n"], "kappa": result["overall"]["kappa"]}
    seconds = time.perf_counter() - start
    con.close()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mib(), **extra}))


def run_child(kind: str, db: str, path: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", kind, db, str(path)],
                          check=True, capture_output=True, text=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - start
    return out


def write_verdicts(con, path: Path, n: int) -> int:
    """n verdicts on distinct (interaction, rule) pairs with a unique case id; returns how many were written."""
    pairs = con.execute(f"""
        WITH u AS (SELECT interaction_id FROM interactions
                   QUALIFY count(*) OVER (PARTITION BY trim(case_id)) = 1)
        SELECT i.case_id, i.channel, r.rule_id, r.applicable, r.passed
        FROM (SELECT * FROM rule_results WHERE interaction_id IN (SELECT interaction_id FROM u)
              USING SAMPLE reservoir({int(n * 0.8) + 1} ROWS) REPEATABLE (7)) r
        JOIN interactions i USING (interaction_id)""").fetchall()
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["case_id", "channel", "rule_id", "verdict", "reviewer", "reviewed_at", "note"])
        for k, (case, channel, rule, applicable, passed) in enumerate(pairs):
            auto = "na" if not applicable else "pass" if passed else "fail"
            for reviewer in ("Ana", "Beto") if k % 4 == 0 else ("Ana",):
                if rows >= n:
                    return rows
                verdict = {"pass": "fail", "fail": "pass", "na": "pass"}[auto] if (k + rows) % 10 == 0 else auto
                w.writerow([case, channel, rule, verdict, reviewer, "2026-11-20 10:00", "nota de revisión"])
                rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--verdicts", type=int, default=50_000)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="build the scored database and verdicts in DIR once and reuse them on later runs "
                             "(each measurement works on a copy)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "DB", "FILE"), help=argparse.SUPPRESS)
    from _common import add_profile_option, use_profile

    add_profile_option(parser)
    args = parser.parse_args()
    use_profile(args.profile)
    if args.child:
        child(*args.child)
        return
    import bench_rules

    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = str(root / "bench.duckdb")
        kept = args.keep / f"bench-{args.rows}-{args.verdicts}-{args.profile}.duckdb" if args.keep else None
        verdicts_file = kept.with_suffix(".csv") if kept else root / "verdicts.csv"
        if kept and kept.exists() and verdicts_file.exists():
            shutil.copy(kept, db)
            print(f"reusing {kept} ({os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")
        else:
            con = store.connect(db)
            start = time.perf_counter()
            bench_rules.load(con, args.rows, seed=1)
            score_interactions(con, load_rule_pack(rules_dir()), full=True)
            verdicts = write_verdicts(con, verdicts_file, args.verdicts)
            con.close()
            print(f"generated, loaded and scored {args.rows:,} rows ({args.profile} profile), wrote {verdicts:,} "
                  f"verdicts in {time.perf_counter() - start:.1f} s ({os.cpu_count()} cpus, "
                  f"load {os.getloadavg()[0]:.1f})")
            if kept:
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(db, kept)
        imported = run_child("import", db, verdicts_file)
        agreed = run_child("agreement", db, verdicts_file)
    print(f"reviews import: {imported['seconds']:.2f} s ({imported['process_seconds']:.2f} s with start-up) for "
          f"{imported['imported']:,} verdicts, {imported['unmatched']} unmatched, {imported['overridden']:,} "
          f"interactions overridden, peak {imported['peak_mb']:,.0f} MiB (goal <= 5 s)")
    print(f"reviews agreement: {agreed['seconds']:.2f} s ({agreed['process_seconds']:.2f} s with start-up) over "
          f"{agreed['n']:,} judgments on {agreed['rules']} rules, overall kappa {agreed['kappa']}, "
          f"peak {agreed['peak_mb']:,.0f} MiB (goal <= 5 s)")


if __name__ == "__main__":
    main()
