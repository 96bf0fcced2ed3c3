"""The commands as a user runs them: `qa-scoring import` and `qa-scoring score --full`, one process each.

    python benchmarks/bench_cli.py --profile dense --rows 200000 --rows 1000000
    python benchmarks/bench_cli.py --profile default --rows 200000 --exe /path/to/other/qa-scoring

Each command is timed from process start to exit (Python start-up, imports, the work, the commit
and DuckDB's checkpoint at close) with its own peak resident memory (wait4's ru_maxrss of that
child alone). `score --full` is also given as a multiple of a plain DuckDB scan of the text the
rules read (`sum(length(body) + length(answer))`, timed in this process on the same database right
after), so the ratio holds on a loaded machine. Files are generated once per profile and size into
--workdir (data/generate_sample.py; dense: see its --profile). Prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, add_profile_option, generator  # noqa: E402


def run(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak MiB) of one command (wait4: the peak of that child alone); fails loudly."""
    with open(os.devnull, "wb") as out, open(Path("/tmp") / f"qa-bench-cli-{os.getpid()}.err", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read().decode(errors='replace')[-2000:]}")
    os.unlink(err.name)
    return seconds, usage.ru_maxrss / 1024


def plain_scan(db: Path) -> tuple[float, float]:
    """(first, best of 3) seconds of a plain scan of the text the rules read, in a fresh connection:
    the floor any text rule pays. The first one reads the file as a command would."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            con.execute("SELECT sum(length(body) + length(answer)) FROM interactions").fetchall()
            times.append(time.perf_counter() - start)
        return times[0], min(times)
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_profile_option(ap)
    ap.add_argument("--rows", type=int, action="append", help="rows per file (repeatable; default 200,000)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/qa-bench-cli"))
    ap.add_argument("--exe", default=str(Path(sys.executable).with_name("qa-scoring")),
                    help="the qa-scoring command to time (default: the one beside this Python)")
    ap.add_argument("--no-score", action="store_true", help="time import only")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    gen = generator(args.profile)
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for rows in args.rows or [200_000]:
        data = args.workdir / f"chat_4_{args.profile}_{rows}.json"
        if not data.exists():
            gen.write_file(str(data), "json", rows, days=31, jobs=2)
        db = args.workdir / f"{args.profile}_{rows}.duckdb"
        for old in args.workdir.glob(db.name + "*"):
            old.unlink()
        size = data.stat().st_size / 2**20
        seconds, peak = run([args.exe, "--db", str(db), "import", str(data)])
        print(f"{args.profile:<8} {rows:>9,} rows  import          {seconds:6.2f} s  {rows / seconds:>9,.0f} rows/s  "
              f"peak {peak:,.0f} MiB  (file {size:,.0f} MiB)", flush=True)
        if args.no_score:
            continue
        seconds, peak = run([args.exe, "--db", str(db), "score", "--full"])
        first, best = plain_scan(db)
        print(f"{args.profile:<8} {rows:>9,} rows  score --full    {seconds:6.2f} s  {rows / seconds:>9,.0f} rows/s  "
              f"peak {peak:,.0f} MiB  plain scan {first:.3f} s (warm {best:.3f} s)  "
              f"ratio {seconds / first:,.0f}x (warm {seconds / best:,.0f}x)", flush=True)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
