#!/usr/bin/env python3
"""The nightly job at the issue's size: 30 days × 100k interactions (3M rows), with and without HTTP.

    python benchmarks/bench_nightly.py                                   # 30 × 100,000 (issue 8's size)
    python benchmarks/bench_nightly.py --per-day 10000                   # a quick run (≈ 3 min)
    python benchmarks/bench_nightly.py --days 10 --scenarios A,B         # a smaller month, no sandbox

Data: one NDJSON file per day, `data/generate_sample.py`'s `write_file(n=PER_DAY, days=1, seed=SEED +
day ordinal, start=day)` (2 worker processes), cached under --workdir. By default the last day is
yesterday in the operation's zone (America/Bogota), so that `qa-scoring run` — which reports "the
last complete day and the month to date" of the wall clock — reports on the benchmark's last day.
(Each file is generated as its own one-day range, so every day has the generator's "last day"
share of still-open interactions, ~25%, instead of ~2.5%: a little less text per row than a month
generated in one go.)

Every step is the real CLI in its own process (`python -m qa_scoring --db DB <command> --json`), timed
from the outside; its peak memory is measured twice: the largest single process (ru_maxrss from
wait4, exact; it cannot be below this driver's own peak, printed at the end) and the sum over the
process tree (psutil, sampled every 50 ms; includes the predict worker processes).

Scenario A  "a month by import, then one night": import days 1..D-1 (one `import` per day, as a
            nightly import would), then score / train / predict / report once (printed, not a goal),
            then THE NIGHT: import day D, then the stages `run` goes through after fetching —
            score, predict, report day-D and report month-to-date — timed one by one; their sum is
            the figure for the goal "non-fetch stages of a 100k night < 30 s". `train` is not due
            on a normal night (run.train = auto, model younger than 7 days), so it is timed on its
            own line afterwards.
Scenario B  "rebuild and re-report the month", same database: rebuild, score --full,
            predict --full, report (the whole month); the sum is for the goal "< 5 minutes".
            An incremental `predict` (what `rebuild --help` recommends) is timed too, not summed.
            `--scenarios B` alone reuses the database an earlier run of A left in --workdir.
Scenario C  "the nightly run through the sandbox": `qa-scoring sandbox` (its own process) serves
            all D day files; `qa-scoring run --since 'D 00:00:00' --until 'D 23:59:59' --json` on a
            copy of Scenario A's database taken just before its night, with wolkvox.min_interval = 0.
            Per-stage seconds come from run's --json summary.

Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, add_profile_option, generator, peak_rss_mib, use_profile  # noqa: E402

TOKEN = "bench-nightly-token"
NIGHT_GOAL_S = 30.0
MONTH_GOAL_S = 300.0


# --- data -------------------------------------------------------------------------------------

def day_files(data_dir: Path, days: list[date], per_day: int, seed: int) -> list[Path]:
    """One NDJSON file per day (generated once, then cached)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    gen = None
    paths = []
    for day in days:
        path = data_dir / f"chat4-{day:%Y-%m-%d}-{per_day}-s{seed}.ndjson"
        if not path.exists():
            gen = gen or generator()
            started = time.perf_counter()
            part = path.with_name(path.name + ".part")
            gen.write_file(str(part), "ndjson", per_day, days=1, seed=seed + day.toordinal(),
                           start=day.isoformat(), jobs=2)
            part.replace(path)
            print(f"  generated {path.name}: {per_day:,} rows, {path.stat().st_size / 2**20:,.0f} MiB "
                  f"in {time.perf_counter() - started:.1f} s", flush=True)
        paths.append(path)
    return paths


# --- one measured CLI process -----------------------------------------------------------------

@dataclass
class Step:
    name: str
    seconds: float
    peak_proc_mib: float  # largest single process of the tree (wait4 ru_maxrss), exact
    peak_tree_mib: float  # sum over the process tree, sampled
    rows: int | None = None  # rows handled, for rows/s
    summary: dict = field(default_factory=dict)
    note: str = ""

    @property
    def rate(self) -> str:
        return f"{self.rows / self.seconds:>10,.0f}" if self.rows and self.seconds > 0 else f"{'':>10}"


def measure(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, log: Path) -> tuple[float, float, float, str, int]:
    """Run cmd; return (seconds, peak process MiB, peak tree MiB, stdout, exit status)."""
    import psutil

    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not done.is_set():
                try:
                    total = root.memory_info().rss
                    for child in root.children(recursive=True):
                        try:
                            total += child.memory_info().rss
                        except psutil.Error:
                            pass
                    peak[0] = max(peak[0], total)
                except psutil.Error:
                    return
                done.wait(0.05)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        thread.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, peak[0] / 2**20, out_path.read_text(), proc.returncode


class Bench:
    def __init__(self, workdir: Path, env: dict, logs: Path):
        self.workdir = workdir
        self.logs = logs  # each process's stdout and stderr
        self.env = env
        self.n = 0

    def cli(self, name: str, db: Path, *args: str, config: Path | None = None, rows_key: str | None = None,
            rows: int | None = None) -> Step:
        """One `qa-scoring [--config C] --db DB <args> --json` process, measured."""
        self.n += 1
        cmd = [sys.executable, "-m", "qa_scoring"] + (["--config", str(config)] if config else []) + \
              ["--db", str(db), *args, "--json"]
        log = self.logs / f"{self.n:03d}-{name.replace(' ', '_').replace('/', '_')}"
        log.parent.mkdir(exist_ok=True)
        seconds, proc_mib, tree_mib, stdout, status = measure(cmd, env=self.env, cwd=self.workdir, log=log)
        if status != 0:
            tail = log.with_suffix(".err").read_text().strip().splitlines()[-5:]
            print(f"  !! {name}: exit {status}: {' | '.join(tail)}", flush=True)
            return Step(name, seconds, proc_mib, tree_mib, note=f"FAILED (exit {status}, see {log}.err)")
        lines = [line for line in stdout.strip().splitlines() if line.strip()]
        summary = json.loads(lines[-1]) if lines else {}
        if rows is None and rows_key:
            rows = summary.get(rows_key)
        return Step(name, seconds, proc_mib, tree_mib, rows=rows, summary=summary)


def print_table(title: str, steps: list[Step], total_of: list[Step] | None = None, goal: float | None = None,
                goal_text: str = "") -> float:
    print(f"\n{title}")
    print(f"  {'stage':<34} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak MiB':>9} {'tree MiB':>9}  note")
    for s in steps:
        rows = f"{s.rows:>10,}" if s.rows is not None else f"{'':>10}"
        mem = (f"{s.peak_proc_mib:>9,.0f} {s.peak_tree_mib:>9,.0f}" if s.peak_proc_mib == s.peak_proc_mib
               else f"{'-':>9} {'-':>9}")  # NaN: a stage inside one process, measured as a whole
        print(f"  {s.name:<34} {rows} {s.seconds:>8.1f} {s.rate} {mem}  {s.note}")
    total = sum(s.seconds for s in (total_of if total_of is not None else steps))
    if goal is not None:
        verdict = "MET" if total < goal and not any(s.note.startswith("FAILED") for s in total_of or steps) else "NOT MET"
        print(f"  {'total ' + goal_text:<34} {'':>10} {total:>8.1f}   goal < {goal:.0f} s: {verdict} "
              f"({100 * total / goal:.0f}% of the budget)")
    return total


# --- the scenarios ----------------------------------------------------------------------------

def report_periods(day_d: date) -> list[tuple[str, date, date]]:
    """What `run` reports the night after day_d (pipeline.report_periods with the default settings)."""
    from qa_scoring import pipeline
    from qa_scoring.config import load_settings

    settings = load_settings(environ={}, overrides={"database.path": "unused.duckdb"})
    return [(p.name, p.since, p.until) for p in pipeline.report_periods(settings, day_d + timedelta(days=1))]


def report_step(bench: Bench, db: Path, out: Path, name: str, since: date, until: date) -> Step:
    step = bench.cli(f"report {name}", db, "report", "--out", str(out / name), "--since", since.isoformat(),
                     "--until", until.isoformat())
    if step.summary:
        step.note = f"{step.summary.get('agents')} agents, {step.summary.get('pages')} pages"
    return step


def interactions_in(db: Path, since: date, until: date) -> int:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM interactions WHERE created_at >= ? AND created_at < ?",
                           [since, until + timedelta(days=1)]).fetchall()[0][0]
    finally:
        con.close()


def remove_db(db: Path) -> None:
    for p in (db, db.with_name(db.name + ".wal")):
        if p.exists():
            p.unlink()


def scenario_a(bench: Bench, db: Path, files: list[Path], days: list[date], snapshot: Path | None) -> dict:
    remove_db(db)
    out = bench.workdir / "reports-A"
    shutil.rmtree(out, ignore_errors=True)
    print(f"\nScenario A: import days 1..{len(files) - 1}, one `import` process per day", flush=True)
    imports = []
    for i, (day, path) in enumerate(zip(days[:-1], files[:-1]), 1):
        step = bench.cli(f"import day {i} ({day})", db, "import", str(path), rows_key="rows")
        imports.append(step)
        print(f"  {step.name:<30} {step.seconds:6.1f} s {step.rate} rows/s  peak {step.peak_proc_mib:,.0f} MiB "
              f"{step.note}", flush=True)
    agg = Step(f"import days 1..{len(imports)} (sum)", sum(s.seconds for s in imports),
               max(s.peak_proc_mib for s in imports), max(s.peak_tree_mib for s in imports),
               rows=sum(s.rows or 0 for s in imports))
    first_last = f"first {imports[0].seconds:.1f} s, last {imports[-1].seconds:.1f} s"
    agg.note = first_last

    print("  catching up the month before the night (score, train, predict, report) ...", flush=True)
    d_prev = days[-2]
    before = [agg,
              bench.cli("score (month so far)", db, "score", rows_key="scored"),
              bench.cli("train (month so far)", db, "train", rows_key="n_train"),
              bench.cli("predict (month so far)", db, "predict", rows_key="predicted")]
    for name, since, until in report_periods(d_prev):
        before.append(report_step(bench, db, out, name, since, until))
    for s in before[1:]:
        if s.summary.get("n_test"):
            s.note = f"n_test {s.summary['n_test']:,}, ROC AUC {s.summary.get('roc_auc', 0):.3f}"
    print_table(f"Scenario A, before the night ({len(files) - 1} days imported; not a goal)", before)

    if snapshot is not None:
        remove_db(snapshot)
        shutil.copyfile(db, snapshot)
        if db.with_name(db.name + ".wal").exists():
            shutil.copyfile(db.with_name(db.name + ".wal"), snapshot.with_name(snapshot.name + ".wal"))

    print(f"\n  THE NIGHT: day {len(files)} ({days[-1]}) ...", flush=True)
    night_import = bench.cli(f"import day {len(files)} ({days[-1]})", db, "import", str(files[-1]), rows_key="rows")
    night_import.note = "stands in for fetch (not in the sum)"
    stages = [bench.cli("score", db, "score", rows_key="scored"),
              bench.cli("predict", db, "predict", rows_key="predicted")]
    for name, since, until in report_periods(days[-1]):
        step = report_step(bench, db, out, name, since, until)
        step.rows = interactions_in(db, since, until)
        stages.append(step)
    train = bench.cli("train (not due on a night; alone)", db, "train", rows_key="n_train")
    if train.summary:
        train.note = f"n_test {train.summary.get('n_test', 0):,}, ROC AUC {train.summary.get('roc_auc', 0):.3f}, not in the sum"
    total = print_table(f"Scenario A, the night of {days[-1]} (non-fetch stages vs the {NIGHT_GOAL_S:.0f} s goal)",
                        [night_import, *stages, train], total_of=stages, goal=NIGHT_GOAL_S,
                        goal_text="score+predict+reports")
    print(f"  with the import (as the fetch's landing): {total + night_import.seconds:.1f} s")
    return {"night_total": total, "night_rows": night_import.rows}


def scenario_b(bench: Bench, db: Path, days: list[date]) -> dict:
    out = bench.workdir / "reports-B"
    shutil.rmtree(out, ignore_errors=True)
    print(f"\nScenario B: rebuild and re-report the month (same database) ...", flush=True)
    steps = [bench.cli("rebuild", db, "rebuild", rows_key="rows"),
             bench.cli("score --full", db, "score", "--full", rows_key="scored")]
    # What `rebuild --help` recommends next: an incremental predict. Rebuilt interactions keep their
    # content hash and the pack is the same, so it finds little to do; shown, not summed.
    incremental = bench.cli("predict (incremental)", db, "predict", rows_key="predicted")
    incremental.note = "rebuild's recipe; not in the sum"
    steps += [bench.cli("predict --full", db, "predict", "--full", rows_key="predicted"),
              report_step(bench, db, out, f"month-{days[0]}_{days[-1]}", days[0], days[-1])]
    steps[-1].rows = interactions_in(db, days[0], days[-1])
    if steps[0].summary:
        steps[0].note = (f"{steps[0].summary.get('pages')} pages, {steps[0].summary.get('interactions'):,} "
                         f"interactions, {steps[0].summary.get('quarantined'):,} quarantined")
    if steps[2].summary:
        steps[2].note = f"{steps[2].summary.get('workers')} workers"
    total = print_table("Scenario B, rebuild + re-report the month (vs the 5-minute goal)",
                        [*steps[:2], incremental, *steps[2:]], total_of=steps,
                        goal=MONTH_GOAL_S, goal_text="rebuild+score+predict+report")
    alt = total - steps[2].seconds + incremental.seconds
    print(f"  with the incremental predict instead of predict --full: {alt:.1f} s "
          f"({'under' if alt < MONTH_GOAL_S else 'over'} the {MONTH_GOAL_S:.0f} s goal)")
    return {"month_total": total}


def scenario_c(bench: Bench, snapshot: Path, files: list[Path], days: list[date]) -> dict:
    import psutil

    db = bench.workdir / "run-C.duckdb"
    remove_db(db)
    shutil.copyfile(snapshot, db)
    if snapshot.with_name(snapshot.name + ".wal").exists():
        shutil.copyfile(snapshot.with_name(snapshot.name + ".wal"), db.with_name(db.name + ".wal"))
    out = bench.workdir / "reports-C"
    shutil.rmtree(out, ignore_errors=True)
    print(f"\nScenario C: `run` through the sandbox (serving {len(files)} day files) ...", flush=True)
    started = time.perf_counter()
    sandbox = subprocess.Popen([sys.executable, "-m", "qa_scoring", "sandbox", "--port", "0", "--token", TOKEN,
                                *map(str, files)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base_url = sandbox.stdout.readline().strip()
        if not base_url:
            print("  !! the sandbox did not start")
            return {}
        index_s = time.perf_counter() - started
        mem = psutil.Process(sandbox.pid).memory_info()
        print(f"  sandbox up in {index_s:.1f} s at {base_url}, RSS {mem.rss / 2**20:,.0f} MiB "
              f"({mem.shared / 2**20:,.0f} MiB file-backed)", flush=True)
        config = bench.workdir / "bench-run.toml"
        config.write_text(f'[wolkvox]\nbase_url = "{base_url}"\nmin_interval = 0.0\n'
                          f'lock_dir = "{bench.workdir}"\n', encoding="utf-8")
        d = days[-1]
        step = bench.cli("run (fetch+score+train?+predict+reports)", db, "run", "--since", f"{d} 00:00:00",
                         "--until", f"{d} 23:59:59", "--out", str(out), config=config)
        sandbox_rss = psutil.Process(sandbox.pid).memory_info().rss / 2**20
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    if not step.summary:
        print_table("Scenario C", [step])
        return {}
    secs, stages = step.summary.get("seconds", {}), step.summary.get("stages", {})
    rows = []
    order = ["fetch", "score", "train", "predict"]  # --json sorts keys: put them back in run's order
    for name, sec in sorted(secs.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 9, kv[0])):
        info = stages.get(name, {})
        n = info.get("rows") if name == "fetch" else info.get("scored") if name == "score" else \
            info.get("predicted") if name == "predict" else None
        note = ("skipped: " + info.get("reason", "")) if info.get("skipped") else ""
        if name == "fetch":
            note = (f"{info.get('windows')} windows, {info.get('calls')} calls, new {info.get('new', 0):,}, "
                    f"updated {info.get('updated', 0):,}")
        if name.startswith("report"):
            note = f"{info.get('since')} .. {info.get('until')}, {info.get('agents')} agents"
        rows.append(Step(name, sec, float("nan"), float("nan"), rows=n, note=note))
    whole = Step("run (whole process)", step.seconds, step.peak_proc_mib, step.peak_tree_mib,
                 note=f"sandbox RSS after: {sandbox_rss:,.0f} MiB")
    non_fetch = [r for r in rows if r.name != "fetch"]
    print_table(f"Scenario C, `run` for {d} through the sandbox (per-stage seconds from its --json summary; "
                f"peak memory is the whole run's)", [*rows, whole], total_of=non_fetch, goal=NIGHT_GOAL_S,
                goal_text="non-fetch stages")
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=8000)
    ap.add_argument("--end", type=date.fromisoformat, default=None,
                    help="last day (default: yesterday in America/Bogota, what `run` reports)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/qa-bench-nightly"))
    ap.add_argument("--scenarios", default="A,B,C", help="which of A,B,C (B alone reuses an earlier A's database; C needs A in the same run)")
    ap.add_argument("--generate-only", action="store_true", help="only generate (and cache) the day files")
    add_profile_option(ap)
    args = ap.parse_args()
    use_profile(args.profile)
    if args.profile != "default":
        args.workdir = args.workdir / args.profile  # cached day files and databases per profile
    scenarios = {s.strip().upper() for s in args.scenarios.split(",") if s.strip()}

    end = args.end or datetime.now(ZoneInfo("America/Bogota")).date() - timedelta(days=1)
    days = [end - timedelta(days=args.days - 1 - i) for i in range(args.days)]
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench_nightly: {args.days} days × {args.per_day:,} rows ({days[0]} .. {days[-1]}), workdir {workdir}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    started = time.perf_counter()
    files = day_files(workdir / "data", days, args.per_day, args.seed)
    print(f"data ready in {time.perf_counter() - started:.1f} s "
          f"({sum(f.stat().st_size for f in files) / 2**20:,.0f} MiB NDJSON)", flush=True)
    if args.generate_only:
        return

    env = {k: v for k, v in os.environ.items() if not k.startswith(("WOLKVOX_", "QA_SCORING_"))}
    env["WOLKVOX_TOKEN"] = TOKEN
    (workdir / "qa-scoring.toml").unlink(missing_ok=True)  # no stray settings file in the cwd
    bench = Bench(workdir, env, workdir / f"logs-{args.days}x{args.per_day}")
    db = workdir / f"nightly-{args.days}x{args.per_day}.duckdb"
    snapshot = workdir / f"before-night-{args.days}x{args.per_day}.duckdb" if "C" in scenarios else None
    t0 = time.perf_counter()
    if "A" in scenarios:
        scenario_a(bench, db, files, days, snapshot)
        print(f"  database after scenario A: {db.stat().st_size / 2**20:,.0f} MiB", flush=True)
    if "B" in scenarios:
        scenario_b(bench, db, days)
        print(f"  database after scenario B: {db.stat().st_size / 2**20:,.0f} MiB", flush=True)
    if "C" in scenarios and snapshot is not None and snapshot.exists():
        today_d = datetime.now(ZoneInfo("America/Bogota")).date()
        if today_d != end + timedelta(days=1):
            print(f"\n(note: `run` reports on the wall clock's yesterday, {today_d - timedelta(days=1)}, "
                  f"not on {end}: its report stages will cover other days)")
        scenario_c(bench, snapshot, files, days)
    print(f"\nbenchmark wall time {time.perf_counter() - t0:.0f} s (data excluded); peak of this driver "
          f"process {peak_rss_mib():,.0f} MiB; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
