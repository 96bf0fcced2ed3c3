#!/usr/bin/env python3
"""A night spread over several operations against the same night in one (issue 16's goal: the
non-fetch stages within 1.2 x).

    flock /tmp/qa-bench.lock python benchmarks/bench_operations.py                 # 100k rows, 4 operations
    flock /tmp/qa-bench.lock python benchmarks/bench_operations.py --rows 20000 --profile dense

The same generated night (`data/generate_sample.py`, one day) is imported into two databases: once
as one operation, once split into N operations — by agent (`--split agents`, the default: each
operation has its own agents, as real ones do) or dealt round-robin (`--split rows`: every operation
has every agent name, the worst case for the per-operation reports, N x the agent pages). On each, the stages `run` goes
through after fetching — score, predict and the day's report — run as the real CLI, each in its own
process, timed from outside, stage by stage on both databases in turn; `train` runs before predict
(not summed: a night does not train). Prints the
seconds per stage and the ratio of the sums, from one run; asserts nothing.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, add_profile_option, generator, use_profile  # noqa: E402

GOAL = 1.2
DAY = "2026-11-20"


def cli(db: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa_scoring", "--db", str(db), *args], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--operations", type=int, default=4)
    parser.add_argument("--split", choices=("agents", "rows"), default="agents")
    parser.add_argument("--keep", type=Path, help="copy the two scored databases to this folder (for profiling)")
    add_profile_option(parser)
    args = parser.parse_args()
    use_profile(args.profile)
    gen = generator()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        night = root / "night.ndjson"
        gen.write_file(night, n=args.rows, days=1, seed=11, start=DAY, fmt="ndjson")
        lines = night.read_text(encoding="utf-8").splitlines(keepends=True)
        if args.split == "rows":
            groups = [lines[k::args.operations] for k in range(args.operations)]
        else:
            agents = sorted({json.loads(line)["agent_name"] for line in lines if line.strip()})
            which = {a: i % args.operations for i, a in enumerate(agents)}
            groups = [[] for _ in range(args.operations)]
            for line in lines:
                if line.strip():
                    groups[which[json.loads(line)["agent_name"]]].append(line)
        parts = []
        for k, group in enumerate(groups):
            part = root / f"op{k}.ndjson"
            part.write_text("".join(group), encoding="utf-8")
            parts.append(part)
        one, many = root / "one.duckdb", root / "many.duckdb"
        cli(one, "import", "--operation", "one", str(night))
        for k, part in enumerate(parts):
            cli(many, "import", "--operation", f"op{k}", str(part))
        print(f"{args.rows:,} rows ({args.profile} profile), 1 vs {args.operations} operations split by {args.split} "
              f"({os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})")
        results = {"one": {}, "many": {}}
        # Stage by stage, one then many, so both sides of a ratio run at nearly the same machine load.
        stages = [("score", ["score"]), ("train", ["train"]), ("predict", ["predict"])]
        stages += [("report", ["report", "--since", DAY, "--until", DAY, "--out"])]
        for stage, args_ in stages:
            for name, db in (("one", one), ("many", many)):
                extra = [str(root / f"r-{name}")] if stage == "report" else []
                results[name][stage] = cli(db, *args_, *extra)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for db in (one, many):
                shutil.copy(db, args.keep / db.name)
        for stage in ("score", "predict", "report", "train"):
            a, b = results["one"][stage], results["many"][stage]
            print(f"  {stage:<8} one {a:6.2f} s   {args.operations} operations {b:6.2f} s   ratio {b / a:4.2f}")
        sums = {k: sum(v[s] for s in ("score", "predict", "report")) for k, v in results.items()}
        print(f"  non-fetch night (score + predict + report): one {sums['one']:.2f} s, {args.operations} operations "
              f"{sums['many']:.2f} s, ratio {sums['many'] / sums['one']:.2f} (goal <= {GOAL})")
        print(json.dumps({"results": results, "ratio": sums["many"] / sums["one"]}))


if __name__ == "__main__":
    main()
