#!/usr/bin/env python3
"""What maintaining the daily facts costs a night's scoring, and a whole rebuild of them.

Builds a database of D days x N interactions (data/generate_sample.py), scores it, then runs a night:
imports one more day and scores it incrementally. Prints the night's score steps (the facts refresh
is the "refresh daily facts" step, inside score's transaction), its share of the night's score, and
the time of refreshing the night's days again (what predict adds after predicting them) and of
rebuilding every day.

    python benchmarks/bench_facts.py                       # 10 days x 20,000, a night of 20,000
    python benchmarks/bench_facts.py --days 30 --per-day 100000
    python benchmarks/bench_facts.py --profile dense
    python benchmarks/bench_facts.py --predict            # also train, predict the month, time the night's predict

With --predict the night is score then predict as `run` does them (predict refreshing the daily
facts alone), and the facts' share of the night's score + predict is printed.

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
from _common import add_profile_option, generator, use_profile  # noqa: E402

from qa_scoring import facts, store  # noqa: E402
from qa_scoring.ingest import import_files  # noqa: E402
from qa_scoring.resources import rules_dir  # noqa: E402
from qa_scoring.rules import load_rule_pack, score_interactions  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=10)
    ap.add_argument("--per-day", type=int, default=20_000)
    ap.add_argument("--predict", action="store_true", help="train on the month and time the night's predict too")
    add_profile_option(ap)
    args = ap.parse_args()
    use_profile(args.profile)
    gen = generator()
    start = date(2026, 10, 1)
    pack = load_rule_pack(rules_dir())
    with tempfile.TemporaryDirectory() as tmp:
        month = Path(tmp) / "month.ndjson"
        night = Path(tmp) / "night.ndjson"
        gen.write_file(str(month), "ndjson", args.days * args.per_day, days=args.days, start=start.isoformat(), jobs=2)
        gen.write_file(str(night), "ndjson", args.per_day, days=1, seed=99,
                       start=(start + timedelta(days=args.days)).isoformat(), jobs=2)
        con = store.connect(Path(tmp) / "f.duckdb")
        import_files(con, [month], operation="default", tz="America/Bogota")
        first = score_interactions(con, pack)
        if args.predict:
            from qa_scoring.classify import predict_interactions, train_model
            from qa_scoring.config import load_settings

            settings = load_settings(environ={})
            train_model(con, settings)
            predict_interactions(con, settings)
        import_files(con, [night], operation="default", tz="America/Bogota")
        s = score_interactions(con, pack)
        total = sum(s.seconds.values())
        refresh = s.seconds.get("refresh daily facts", 0.0)
        print(f"profile {args.profile}; database: {args.days} days x {args.per_day:,}; first full score {sum(first.seconds.values()):.2f} s "
              f"(facts {first.seconds.get('refresh daily facts', 0):.2f} s)")
        print(f"night of {s.scored:,}: score {total:.2f} s, of which the facts refresh {refresh:.2f} s "
              f"({refresh / total:.1%}); steps {s.seconds}")
        with store.atomic(con):
            t = time.perf_counter()
            n = facts.refresh_facts(con, "SELECT DISTINCT operation, created_at::DATE AS day FROM interactions "
                                         "WHERE created_at >= $d", params={"d": start + timedelta(days=args.days)})
            again = time.perf_counter() - t
        print(f"refreshing the night's {n} day(s) again (what a lone predict adds): {again:.2f} s")
        with store.atomic(con):
            t = time.perf_counter()
            facts.refresh_facts(con, "SELECT DISTINCT operation, created_at::DATE AS day FROM interactions "
                                     "WHERE created_at >= $d", params={"d": start + timedelta(days=args.days)},
                                rule_facts=False)
            only = time.perf_counter() - t
        print(f"... without the rule facts (what predict adds after score in a run): {only:.2f} s; "
              f"the night's facts in a run: {refresh + only:.2f} s = {(refresh + only) / total:.1%} of its score")
        if args.predict:
            p = predict_interactions(con, settings, rule_facts_current=True)
            night = total + p.seconds
            print(f"night's predict of {p.predicted:,}: {p.seconds:.2f} s (its facts refresh ~{only:.2f} s); "
                  f"facts {refresh + only:.2f} s of score + predict {night:.2f} s = {(refresh + only) / night:.1%} "
                  f"(a lone predict's refresh instead: {(refresh + again) / (night - only + again):.1%})")
        with store.atomic(con):
            t = time.perf_counter()
            n = facts.refresh_facts(con)
            print(f"rebuilding all {n} days of facts: {time.perf_counter() - t:.2f} s")
        con.close()


if __name__ == "__main__":
    main()
