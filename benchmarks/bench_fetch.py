#!/usr/bin/env python3
"""Benchmark: fetch DAYS × PER_DAY rows from the sandbox into a fresh DuckDB file.

    python benchmarks/bench_fetch.py                       # 30 days × 100,000 rows/day (the issue's size)
    python benchmarks/bench_fetch.py --per-day 10000       # a quick run

The rows come from data/generate_sample.py's generator (streamed to an NDJSON file, cached under
--cache). The sandbox runs in its own process (`qa-scoring sandbox`) so the fetch's peak memory is
its own; the fetch runs in a child process that times, per window, the HTTP call (server time and
transfer), JSON parsing (`parse.parse_payload`) and the DuckDB writes (`store.land_page`: compress,
raw page insert, typed upsert). Prints results; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_profile_option, generator, peak_rss_mib  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def generate(path: Path, days: int, per_day: int, seed: int, start: str, profile: str) -> None:
    gen = generator(profile)
    tmp = path.with_suffix(".tmp")
    started = time.perf_counter()
    with tmp.open("w", encoding="utf-8") as out:
        batch = []
        for row in gen.generate_rows(days * per_day, days, seed, start):
            batch.append(json.dumps(row, ensure_ascii=False))
            if len(batch) >= 10000:
                out.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            out.write("\n".join(batch) + "\n")
    tmp.replace(path)
    print(f"generated {days * per_day:,} rows in {time.perf_counter() - started:.1f} s "
          f"({path.stat().st_size / 1e6:,.0f} MB) -> {path}")


def child(args: argparse.Namespace) -> None:
    """Run the fetch with timers around the stages; print one JSON line."""
    from qa_scoring import parse, store, wolkvox
    from qa_scoring.config import load_settings

    timers = {"http": 0.0, "json_parse": 0.0, "duckdb_window": 0.0, "duckdb_land": 0.0, "duckdb_derive": 0.0}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timers[name] += time.perf_counter() - t
        return wrapper

    parse.parse_payload = timed("json_parse", parse.parse_payload)
    store.land_page = timed("duckdb_land", store.land_page)
    store.derive_page = timed("duckdb_derive", store.derive_page)
    wolkvox.WolkvoxClient._send = timed("http", wolkvox.WolkvoxClient._send)
    wolkvox._land_window = timed("duckdb_window", wolkvox._land_window)  # land_page + watermark + COMMIT
    if args.duckdb_setting:
        print(f"(with SET {args.duckdb_setting})", file=sys.stderr)

    settings = load_settings(environ={}, overrides={
        "wolkvox.base_url": args.base_url, "wolkvox.min_interval": 0.0, "wolkvox.lock_dir": args.lock_dir})
    con = store.connect(args.db)
    if args.duckdb_setting:
        con.execute("SET " + args.duckdb_setting)
    start = datetime.fromisoformat(args.start)
    end = start + timedelta(days=args.days) - timedelta(seconds=1)
    t = time.perf_counter()
    summary = wolkvox.fetch_interactions(con, settings, "bench-token", since=start, until=end,
                                         now=end + timedelta(days=5))
    total = time.perf_counter() - t
    rows = store.fetch_one(con, "SELECT count(*) FROM interactions")[0]
    con.close()
    peak_mb = peak_rss_mib()  # VmHWM: ru_maxrss would carry the parent's RSS across exec
    print(json.dumps({"summary": summary.to_dict(), "seconds": total, "interactions": rows,
                      "peak_rss_mb": peak_mb, "timers": timers}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", default="2026-10-01")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "qa-scoring-bench"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--lock-dir", help=argparse.SUPPRESS)
    ap.add_argument("--duckdb-setting", default="", help="e.g. \"checkpoint_threshold='1GB'\" (an experiment)")
    add_profile_option(ap)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    import psutil

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.profile == "default" else f"-{args.profile}"
    data = cache / f"chat4-{args.days}d-{args.per_day}-{args.seed}-{args.start}{suffix}.ndjson"
    if not data.exists():
        generate(data, args.days, args.per_day, args.seed, args.start, args.profile)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    t = time.perf_counter()
    sandbox = subprocess.Popen([sys.executable, "-m", "qa_scoring", "sandbox", "--port", "0",
                                "--token", "bench-token", str(data)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base_url = sandbox.stdout.readline().strip()
        index_seconds = time.perf_counter() - t
        mem = psutil.Process(sandbox.pid).memory_info()
        print(f"sandbox: indexed {args.days * args.per_day:,} rows in {index_seconds:.1f} s "
              f"(process start included), RSS {mem.rss / 2**20:,.0f} MB, of which "
              f"{mem.shared / 2**20:,.0f} MB file-backed (the memory-mapped NDJSON, page cache)")
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.duckdb"
            out = subprocess.run([sys.executable, __file__, "--child", "--base-url", base_url, "--db", str(db),
                                  "--lock-dir", tmp, "--start", args.start, "--days", str(args.days),
                                  "--duckdb-setting", args.duckdb_setting],
                                 capture_output=True, text=True)
            if out.returncode:
                print(out.stderr)
                raise SystemExit(out.returncode)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            db_mb = db.stat().st_size / 2**20
        mem_after = psutil.Process(sandbox.pid).memory_info()
    finally:
        sandbox.terminate()
        sandbox.wait(10)

    s, timers, total = result["summary"], result["timers"], result["seconds"]
    derive = timers["duckdb_derive"]
    land = timers["duckdb_land"]
    window = timers["duckdb_window"]
    print(f"fetch: {s['rows']:,} rows in {total:.1f} s = {s['rows'] / total:,.0f} rows/s; "
          f"{s['windows']} windows, {s['calls']} calls, {s['splits']} splits; interactions {result['interactions']:,}")
    print(f"peak RSS of the fetch process: {result['peak_rss_mb']:,.0f} MB; database {db_mb:,.0f} MB; "
          f"sandbox RSS after {mem_after.rss / 2**20:,.0f} MB ({(mem_after.rss - mem_after.shared) / 2**20:,.0f} MB "
          f"not file-backed)")
    print("share of fetch time:")
    for name, value in (("HTTP (server + transfer)", timers["http"]), ("JSON parsing (parse_payload)", timers["json_parse"]),
                        ("DuckDB typed upsert (derive_page)", derive),
                        ("DuckDB raw page (compress + insert)", land - derive),
                        ("DuckDB COMMIT (WAL, checkpoints)", window - land),
                        ("other (sizing, bookkeeping)", total - timers["http"] - timers["json_parse"] - window)):
        print(f"  {name:<38} {value:7.1f} s  {100 * value / total:5.1f} %")


if __name__ == "__main__":
    main()
