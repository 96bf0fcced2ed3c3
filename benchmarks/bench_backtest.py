"""Benchmark backtest: a 30-day month of N generated interactions (default 3M), a candidate pack that
changes 3 rules, against a `score --full` of the same month measured in the same run.

    flock /tmp/qa-bench.lock python benchmarks/bench_backtest.py                 # 3M rows (heavy)
    flock /tmp/qa-bench.lock python benchmarks/bench_backtest.py --rows 300000

Prints (asserts nothing): seconds and peak memory (VmHWM of the child process doing the work) of
  - `score --full` with the default pack,
  - `backtest` of the candidate pack over the whole month (the diff report rendered and written),
and their ratio (the issue's goal: backtest <= 1.5 x score --full, peak <= 6 GiB). Every rule of the
candidate is evaluated, the 28 unchanged ones too (see qa_scoring/backtest.py).
Rows come from bench_rules.py's generator (realistic lengths; --profile dense for the worst case).
"""

from __future__ import annotations

import argparse
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
from qa_scoring.resources import rules_dir  # noqa: E402


def candidate_pack(folder: Path) -> Path:
    """The default pack with 3 rules changed: a phrase removed, a phrase added, a weight changed."""
    shutil.copytree(rules_dir(), folder)
    edits = {
        "30_prohibidas.yaml": [('"ya le dije", ', ""), ('"YA LE DIJE QUE NO", ', "")],   # frases_cortantes
        "20_cortesia.yaml": [('"lamento"', '"lamento", "qué pena con usted"')],            # a phrase added
        "10_saludo_cierre.yaml": [("weight: 2", "weight: 3")],                             # first rule's weight
    }
    for name, pairs in edits.items():
        path = folder / name
        text = path.read_text(encoding="utf-8")
        for old, new in pairs:
            assert old in text, (name, old)
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")
    return folder


def child(kind: str, db: str, pack: str, out: str) -> None:
    """In a subprocess: one score --full or one backtest; print seconds and peak memory as JSON."""
    from _common import peak_rss_mib
    from qa_scoring.backtest import load_candidate, run_backtest
    from qa_scoring.config import load_settings
    from qa_scoring.rules import load_rule_pack, score_interactions

    con = store.connect(db)
    start = time.perf_counter()
    if kind == "score":
        summary = score_interactions(con, load_rule_pack(Path(pack)), full=True)
        extra = {"scored": summary.scored}
    else:
        result = run_backtest(con, load_settings(environ={}), load_candidate(Path(pack)), out_dir=Path(out))
        d = result.to_dict()
        extra = {"interactions": d["interactions"],
                 "changed": sorted(k for k, v in d["rules"].items() if v["status"] != "unchanged"),
                 "flipped": sum(v["flipped"] for v in d["rules"].values())}
    seconds = time.perf_counter() - start
    con.close()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mib(), **extra}))


def run_child(kind: str, db: str, pack: Path, out: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, db, str(pack), str(out)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "DB", "PACK", "OUT"), help=argparse.SUPPRESS)
    from _common import add_profile_option, use_profile

    add_profile_option(parser)
    args = parser.parse_args()
    use_profile(args.profile)
    if args.child:
        child(*args.child)
        return
    import bench_rules

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = str(root / "bench.duckdb")
        con = store.connect(db)
        start = time.perf_counter()
        bench_rules.load(con, args.rows, seed=1)
        days = store.fetch_one(con, "SELECT count(DISTINCT created_at::DATE) FROM interactions")[0]
        con.close()
        print(f"generated and loaded {args.rows:,} rows over {days} days ({args.profile} profile) in "
              f"{time.perf_counter() - start:.1f} s ({os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")
        cand = candidate_pack(root / "candidate")
        score = run_child("score", db, rules_dir(), root / "unused")
        backtest = run_child("backtest", db, cand, root / "backtest")
        size = (root / "backtest" / "index.html").stat().st_size
    print(f"score --full: {score['seconds']:.1f} s for {score['scored']:,} interactions, peak {score['peak_mb']:,.0f} MiB")
    print(f"backtest: {backtest['seconds']:.1f} s for {backtest['interactions']:,} interactions, "
          f"peak {backtest['peak_mb']:,.0f} MiB; rules not unchanged: {', '.join(backtest['changed'])}; "
          f"{backtest['flipped']:,} pass/fail flips; report {size / 1024:.0f} KiB")
    print(f"backtest / score --full = {backtest['seconds'] / score['seconds']:.2f} "
          f"(goal <= 1.5; peak goal <= 6144 MiB); unchanged rules are re-evaluated")


if __name__ == "__main__":
    main()
