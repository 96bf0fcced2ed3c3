"""Benchmark the fetch client against hostile servers (issue 18 items 4-7), before and after.

    flock /tmp/qa-bench.lock python benchmarks/bench_hostile.py                   # this checkout
    flock /tmp/qa-bench.lock python benchmarks/bench_hostile.py --old /tmp/qa-old  # another qa_scoring
    python benchmarks/bench_hostile.py --scenario drip --drip-seconds 20

Each scenario runs in a child process (so peak memory, VmHWM, is its own) that fetches one day
which cannot be split (min_window_seconds = 1 day, max_attempts = 4) from tests/hostile.py's server:
  - big:        a 200 body of `--big-mb` MB (default 1024) that is not JSON (item 4)
  - bomb:       a 200 gzip body, ~1 MB on the wire, `--big-mb` MB decoded (item 5)
  - drip:       a 600-byte answer sent one byte every `--drip-seconds` / 600 s (item 6; the server
                gives up after `--drip-seconds` + 5 s, so the old client is bounded too)
  - whitespace: a good answer after 8 MB of leading whitespace (item 7)
Prints one JSON line per scenario: seconds, peak MiB, HTTP calls the server saw, MiB it sent, and
how the fetch ended. Limits of the new client: its defaults (max_body_mb 512, call_deadline 300 s)
except the drip scenario's `--deadline` (default 5 s), scaled down with the drip so it runs quickly.
`--old DIR` runs the same scenarios with the qa_scoring package found in DIR (e.g. extracted with
`git archive <commit> qa_scoring | tar -x -C DIR`); settings it does not know are not passed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCENARIOS = ("big", "bomb", "drip", "whitespace")


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> None:
    scenario = args.scenario[0]
    sys.path.insert(0, str(REPO / "tests"))
    from hostile import MB, HostileServer, body, drip, endless, envelope, gzip_bomb

    from qa_scoring import store, wolkvox
    from qa_scoring.config import WolkvoxSettings, load_settings

    row = {"channel": "whatsapp", "agent_name": "Ana", "skill_id": "1", "case_id": "B1", "subject": "s",
           "from": "a", "to": "b", "body": "hola", "answer": "buenos días", "date_creation": "2026-11-02 10:00:00",
           "close_date": "2026-11-02 10:05:00", "evaluation_survey": "", "cod_act": "", "cod_description": "",
           "comments": "", "attachments": "", "status": "close"}
    good = envelope([row])
    lifetime = 600.0
    if scenario == "big":
        replies = [endless(args.big_mb * MB, head=b'{"code": 200, "data": [') for _ in range(8)]
    elif scenario == "bomb":
        replies = [gzip_bomb(args.big_mb * MB) for _ in range(8)]
    elif scenario == "drip":
        answer = good + b" " * (600 - len(good))
        replies = [drip(answer, every=args.drip_seconds / 600) for _ in range(8)]
        lifetime = args.drip_seconds + 5
    else:
        replies = [body(b" \r\n\t" * (2 * MB) + good) for _ in range(8)]
    known = {f.name for f in dataclasses.fields(WolkvoxSettings)}
    with tempfile.TemporaryDirectory() as tmp, HostileServer(replies, lifetime=lifetime) as server:
        over = {"base_url": server.base_url, "lock_dir": tmp, "min_interval": 0.0, "retry_backoff": 0.0,
                "max_attempts": 4, "min_window_seconds": 86400, "read_timeout": 30.0}
        if scenario == "drip":
            over["call_deadline"] = args.deadline
        settings = load_settings(environ={}, overrides={f"wolkvox.{k}": v for k, v in over.items() if k in known})
        con = store.connect(Path(tmp) / "b.duckdb")
        started = time.monotonic()
        try:
            summary = wolkvox.fetch_interactions(con, settings, "tok-bench-0001", since=datetime(2026, 11, 2),
                                                 until=datetime(2026, 11, 2, 23, 59, 59),
                                                 now=datetime(2026, 11, 20))
            ended = f"ok, {summary.rows} rows"
        except Exception as err:  # noqa: BLE001 — what the fetch ended with is the result
            ended = f"{type(err).__name__}: {str(err)[:150]}"
        seconds = time.monotonic() - started
        time.sleep(0.3)  # let the server notice a dropped connection
        sent = sum(s.sent for s in server.served)
        calls = server.calls
    print(json.dumps({"scenario": scenario, "code": args.label, "seconds": round(seconds, 2),
                      "peak_mib": round(_peak_mib()), "calls": calls, "sent_mib": round(sent / MB, 1),
                      "ended": ended}, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--old", metavar="DIR", help="run with the qa_scoring package in DIR instead")
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--drip-seconds", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=5.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="new", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.old or str(REPO), env.get("PYTHONPATH")]))
    for scenario in args.scenario or SCENARIOS:
        subprocess.run([sys.executable, __file__, "--child", "--scenario", scenario, "--label",
                        "old" if args.old else "new", "--big-mb", str(args.big_mb),
                        "--drip-seconds", str(args.drip_seconds), "--deadline", str(args.deadline)],
                       env=env, check=False, timeout=args.drip_seconds * 10 + 900)


if __name__ == "__main__":
    main()
