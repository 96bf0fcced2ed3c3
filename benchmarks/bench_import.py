"""Import throughput: the bundled sample, a 1M-row API file, and a 100k overlapping-window upsert.

    python benchmarks/bench_import.py [--rows 1000000] [--workdir /tmp/qa-bench-import] [--compare]
                                      [--codecs] [--rebuild]

Prints seconds, rows/s, peak memory and the stored blob's size as a share of the payload (`blob`);
asserts nothing. Each measurement runs in a fresh process so the peak memory belongs to that step
alone. `parse` is read_file (JSON through DuckDB's reader when the rows are plain, the raw
payload's compression started in a background thread); `land` is land_page (derive, then the raw
payload, then COMMIT; it includes any wait for the compression).
--compare also times the same 1M-row file with the Python JSON path (orjson + Arrow from dicts) in
the same run, for a ratio on the same machine load.
--codecs also times the 1M-row file with other raw-payload compressions (zlib level 1 in the
background: the codec before schema v3; zstd on the critical path; zstd level 3), same run.
--rebuild also times `rebuild` of each 1M-row database (decompress + parse + derive every page).
--cli times only `qa-scoring import FILE` as a user runs it (one process with its start-up, a fresh
database, wall time and peak RSS from /usr/bin/time) on the big file; with --against DIR (a checkout
of older code, e.g. `git archive main | tar -x -C DIR`) the same command of that code runs right
before, for a before/after ratio in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, add_profile_option, generator, peak_rss_mib, use_profile  # noqa: E402

STEP = r"""
import json, sys, time
sys.path.insert(0, {bench!r})
from _common import peak_rss_mib
from pathlib import Path
from qa_scoring import parse, store
from qa_scoring.parse import read_file
db, python_path, (codec, level, where), files = sys.argv[1], sys.argv[2] == "python", sys.argv[3].split(":"), sys.argv[4:]
if python_path:
    parse.DUCKDB_MIN_BYTES = 1 << 62
if codec != "default":
    parse.PAYLOAD_CODEC = codec
    parse.CODEC_LEVELS[codec] = int(level)
    if where == "inline":
        parse.BACKGROUND_COMPRESS_BYTES = 1 << 62
con = store.connect(db)
parse_s = land_s = 0.0
totals = dict(rows=0, new=0, updated=0, unchanged=0)
for f in files:
    t = time.perf_counter(); parsed = read_file(Path(f)); parse_s += time.perf_counter() - t
    t = time.perf_counter()
    s = store.land_page(con, parsed, source=f, kind="import", operation="bench", tz="America/Bogota")
    land_s += time.perf_counter() - t
    for k in totals: totals[k] += getattr(s, k)
    del parsed
blob, size = store.fetch_one(con, "SELECT sum(octet_length(payload)), sum(bytes) FROM raw_pages WHERE source IN "
                             "(SELECT unnest($files))", dict(files=files))
print(json.dumps(dict(parse_s=parse_s, land_s=land_s, peak_mib=peak_rss_mib(), blob=blob / size, **totals)))
"""

REBUILD = r"""
import json, sys, time
sys.path.insert(0, {bench!r})
from _common import peak_rss_mib
from qa_scoring import store
con = store.connect(sys.argv[1])
t = time.perf_counter(); s = store.rebuild_interactions(con); took = time.perf_counter() - t
codecs = dict(con.execute("SELECT payload_codec, count(*) FROM raw_pages GROUP BY ALL").fetchall())
print(json.dumps(dict(seconds=took, rows=s.rows, pages=s.pages, codecs=codecs, peak_mib=peak_rss_mib())))
"""


def run_step(db: Path, files: list[Path], python_path: bool = False, codec: str = "default:0:bg") -> dict:
    """`codec` is codec:level:bg|inline, or default (parse.PAYLOAD_CODEC in the background)."""
    code = STEP.format(bench=str(Path(__file__).resolve().parent))
    out = subprocess.run([sys.executable, "-c", code, str(db), "python" if python_path else "auto", codec,
                          *map(str, files)], check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_rebuild(db: Path) -> None:
    code = REBUILD.format(bench=str(Path(__file__).resolve().parent))
    out = subprocess.run([sys.executable, "-c", code, str(db)], check=True, capture_output=True, text=True, cwd=REPO)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"rebuild {db.name:<26} rows {r['rows']:>9,}  total {r['seconds']:6.2f} s  "
          f"({r['rows'] / r['seconds']:>9,.0f} rows/s)  pages {r['codecs']}  peak {r['peak_mib']:,.0f} MiB")


def run_cli(src: Path, db: Path, file: Path) -> tuple[float, float]:
    """(seconds, peak MiB) of `qa-scoring --db DB import FILE` run from the code in `src`."""
    for old in db.parent.glob(db.name + "*"):
        old.unlink()
    code = "from qa_scoring.cli import main; main()"
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", sys.executable, "-c", code, "--db", str(db), "import", str(file)],
                         check=True, capture_output=True, text=True, cwd=src, env={**os.environ, "PYTHONPATH": str(src)})
    seconds, kib = out.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024


def report(name: str, r: dict) -> None:
    total = r["parse_s"] + r["land_s"]
    print(f"{name:<34} rows {r['rows']:>9,}  total {total:6.2f} s  ({r['rows'] / total:>9,.0f} rows/s)  "
          f"parse {r['parse_s']:5.2f} s  land {r['land_s']:5.2f} s  new {r['new']:,} updated {r['updated']:,}  "
          f"peak {r['peak_mib']:,.0f} MiB  blob {r['blob']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=100_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/qa-bench-import"))
    ap.add_argument("--compare", action="store_true", help="also time the Python JSON path on the big file")
    ap.add_argument("--codecs", action="store_true", help="also time other raw-payload compressions on the big file")
    ap.add_argument("--rebuild", action="store_true", help="also time rebuild of each 1M-row database")
    ap.add_argument("--cli", action="store_true", help="only time `qa-scoring import` of the big file, per process")
    ap.add_argument("--against", type=Path, help="with --cli: also run the import of the code in this directory, first")
    ap.add_argument("--file", type=Path, help="with --cli: import this file instead of the generated one")
    add_profile_option(ap)
    args = ap.parse_args()
    use_profile(args.profile)
    args.workdir.mkdir(parents=True, exist_ok=True)
    gen = generator()
    suffix = "" if args.profile == "default" else f"_{args.profile}"

    big = args.workdir / f"chat_4_{args.rows}{suffix}.json"
    if args.file is None and not big.exists():
        t = time.perf_counter()
        gen.write_file(str(big), "json", args.rows, days=30, seed=7, jobs=2)
        print(f"generated {big} ({big.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t:.1f} s")

    if args.cli:
        rows = args.rows  # (of --file too: say how many it holds)
        for name, src in ([("before", args.against.resolve())] if args.against else []) + [("after", REPO)]:
            seconds, peak = run_cli(src, args.workdir / "cli.duckdb", args.file or big)
            rate = f"({rows / seconds:>9,.0f} rows/s)" if rows else ""
            print(f"import {name:<6} {(args.file or big).name:<28} {seconds:6.2f} s {rate}  peak {peak:,.0f} MiB  "
                  "load {:.2f}".format(os.getloadavg()[0]))
        return

    # The overlapping window: the last half-window of the big file with surveys/comments changed
    # (a re-fetch after late surveys), plus half a window of new interactions.
    window = args.workdir / f"window_{args.window}{suffix}.json"
    if not window.exists():
        rows = json.loads(big.read_text(encoding="utf-8"))["data"][-(args.window // 2):]
        for i, row in enumerate(rows):
            row["evaluation_survey"] = str(1 + i % 5)
            row["comments"] = (row.get("comments") or "") + " (encuesta tardía)"
        rows += list(gen.generate_rows(args.window - len(rows), days=1, seed=99, start="2026-12-01"))
        gen.write_rows(rows, str(window))

    sample = sorted((REPO / "data" / "sample").glob("*.json"))
    print(f"profile: {args.profile}")
    for db in args.workdir.glob("*.duckdb*"):
        db.unlink()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    report("sample (bundled)", run_step(args.workdir / "sample.duckdb", sample))
    report(f"{args.rows:,}-row API file", run_step(args.workdir / "big.duckdb", [big]))
    report(f"{args.window:,}-row overlapping window", run_step(args.workdir / "big.duckdb", [window]))
    if args.compare:
        report(f"{args.rows:,} rows, Python JSON path", run_step(args.workdir / "python.duckdb", [big], True))
    variants = ["zlib:1:bg", "zstd:1:inline", "zstd:3:bg"] if args.codecs else []
    for spec in variants:
        report(f"{args.rows:,} rows, {spec}", run_step(args.workdir / f"codec-{spec.replace(':', '-')}.duckdb",
                                                       [big], codec=spec))
    if args.rebuild:
        for name in ["big"] + [f"codec-{spec.replace(':', '-')}" for spec in variants]:
            run_rebuild(args.workdir / f"{name}.duckdb")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"(peak of this driver process: {peak_rss_mib():,.0f} MiB)")


if __name__ == "__main__":
    main()
