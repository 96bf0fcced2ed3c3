"""Benchmark the rules stage: the default pack on N generated interactions (default 1M).

    python benchmarks/bench_rules.py               # 1M rows (heavy: ~2-3 minutes on 2 cores)
    python benchmarks/bench_rules.py --rows 200000 --python-rows 20000
    python benchmarks/bench_rules.py --rows 200000 --profile dense --negation-paths

Prints (asserts nothing), all measured in ONE run so the ratios hold on a noisy shared machine:
  - full scoring of N rows with the default pack, results written to rule_results + interaction_scores:
    seconds, rows/s, peak memory (RSS of the child process that scores);
  - ratio against a plain DuckDB scan of the same text columns;
  - ratio against a straightforward Python loop (fold each row once, apply the same rules with `re`),
    timed on --python-rows and extrapolated to N;
  - incremental scoring of one night (--night new rows added to the scored N);
  - with --per-rule, each rule's query alone; with --negation-paths, the rule query with negation
    decided the reference way (capture groups) against the fast paths, alternated.
Rows come from data/generate_sample.py (Spanish with accents, planted behaviours), lengthened to
realistic sizes (body ~250, answer ~450, comments ~80 characters) by appending neighbouring rows' text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa_scoring import store  # noqa: E402
from qa_scoring.resources import rules_dir  # noqa: E402
from qa_scoring.rules import load_rule_pack, score_interactions  # noqa: E402

TARGET = {"body": 250, "answer": 450, "comments": 80}


def _generator():
    """data/generate_sample.py, loaded by path (see _common.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import generator

    return generator()  # the profile chosen by --profile (use_profile)


def generated_batches(n: int, seed: int, batch: int = 100_000):
    """Yield Arrow batches of n interaction rows (stable unique ids), realistically long texts."""
    gen = _generator()
    names = ["interaction_id", *store.TEXT_COLUMNS, "content_hash"]
    recent = {f: [] for f in TARGET}
    rows = []
    for k, row in enumerate(gen.generate_rows(n, days=31, seed=seed, anomalies=False)):
        for f, target in TARGET.items():
            text, pool = row[f] or "", recent[f]
            j = 0
            while len(text) < target and pool:
                text = (text + " " + pool[(k + j) % len(pool)]).strip()
                j += 1
            if j and len(text) > target:  # cut the borrowed text at a word near the target length
                cut = text.rfind(" ", 0, target)
                text = text[:cut if cut > len(row[f] or "") else target]
            if row[f]:
                pool.append(row[f])
                if len(pool) > 50:
                    pool.pop(0)
            row[f] = text
        out = {"interaction_id": f"{seed}-{k}", "content_hash": f"h{seed}-{k}"}
        out.update({c: row.get({"from_addr": "from", "to_addr": "to"}.get(c, c)) for c in store.TEXT_COLUMNS})
        rows.append(out)
        if len(rows) == batch:
            yield pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in names]))
            rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=pa.schema([(c, pa.string()) for c in names]))


def load(con, n: int, seed: int) -> None:
    for staged in generated_batches(n, seed):  # noqa: B007 — read by DuckDB below
        con.execute(f"""INSERT INTO interactions BY NAME
            SELECT interaction_id, 'bench' AS operation, {', '.join(store.TEXT_COLUMNS)},
                   try_strptime(date_creation, '%Y-%m-%d %H:%M:%S') AS created_at,
                   try_strptime(nullif(close_date, ''), '%Y-%m-%d %H:%M:%S') AS closed_at,
                   'America/Bogota' AS timezone, content_hash, 'bench' AS page_id, 0 AS position,
                   now()::TIMESTAMP AS first_seen, now()::TIMESTAMP AS last_seen, now()::TIMESTAMP AS changed_at
            FROM staged""")


def child_score(db: str, full: bool) -> None:
    """Run in a subprocess: score, print seconds and this process's peak RSS as JSON."""
    con = store.connect(db)
    pack = load_rule_pack(rules_dir())
    start = time.perf_counter()
    summary = score_interactions(con, pack, full=full)
    seconds = time.perf_counter() - start
    con.close()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import peak_rss_mib  # VmHWM: ru_maxrss would include the parent's RSS (kept across exec)

    peak_mb = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "scored": summary.scored, "steps": summary.seconds}))


def run_child(db: str, full: bool) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child-score", db] + (["--full"] if full else []),
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the Python-loop baseline: fold each row once, apply the same rules with `re` ----------------

def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _py_regex(pattern: str) -> str:
    """Approximate the pack's RE2 classes for Python's re (a baseline, not a reimplementation)."""
    return (pattern.replace(r"\p{Lu}", "[A-Z]").replace(r"\pL", r"[^\W\d_]").replace("''", "'"))


def python_rules(pack):
    """One closure per rule: (row dict with raw + folded texts) → (applicable, passed)."""
    checks = []
    for rule in pack.rules:
        when = []
        for key, value in rule.when.items():
            if key == "field_contains":
                for col, phrases in value.items():
                    rx = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(_fold(p)) for p in phrases) + r")(?!\w)")
                    when.append(lambda r, c=col, rx=rx: bool(rx.search(r["f_" + c])))
            elif key == "field_matches":
                for col, p in value.items():
                    rx = re.compile(_py_regex(p), re.I)
                    when.append(lambda r, c=col, rx=rx: bool(rx.search(r["f_" + c])))
            elif key == "min_length":
                for col, m in value.items():
                    when.append(lambda r, c=col, m=m: len((r[c] or "").strip()) >= m)
            else:
                allowed = {_fold(v) for v in value}
                when.append(lambda r, c=key, a=allowed: r["f_" + c].strip() in a)
        col, kind, arg = rule.field, rule.kind, rule.arg
        if kind in ("contains_any", "contains_none"):
            rx = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(_fold(p)) for p in arg) + r")(?!\w)")
            test = (lambda r, c=col, rx=rx: bool(rx.search(r["f_" + c]))) if kind == "contains_any" else \
                (lambda r, c=col, rx=rx: not rx.search(r["f_" + c]))
        elif kind in ("matches", "not_matches"):
            flags = 0 if rule.case_sensitive else re.I
            rx = re.compile(_py_regex(arg), flags)
            src = "" if rule.case_sensitive else "f_"
            test = (lambda r, c=col, rx=rx, s=src: bool(rx.search(r[s + c]))) if kind == "matches" else \
                (lambda r, c=col, rx=rx, s=src: not rx.search(r[s + c]))
        elif kind == "not_empty":
            test = lambda r, c=col: bool((r[c] or "").strip(" -"))  # noqa: E731
        elif kind == "length":
            lo, hi, words = arg["min"], arg["max"], arg["unit"] == "words"
            test = lambda r, c=col, lo=lo, hi=hi, w=words: (  # noqa: E731
                (lo is None or (len(r[c].split()) if w else len(r[c])) >= lo)
                and (hi is None or (len(r[c].split()) if w else len(r[c])) <= hi))
        elif kind == "duration":
            lo, hi = arg["min_seconds"], arg["max_seconds"]
            test = lambda r, lo=lo, hi=hi: (  # noqa: E731
                (lo is None or r["secs"] >= lo) and (hi is None or r["secs"] <= hi))
        else:
            allowed = {_fold(v) for v in arg}
            test = (lambda r, c=col, a=allowed: r["f_" + c].strip() in a) if kind == "in_set" else \
                (lambda r, c=col, a=allowed: r["f_" + c].strip() not in a)
        needs_text = kind not in ("not_empty", "duration")
        checks.append((rule.weight, rule.severity == "critical", when, needs_text, col, kind, test))
    return checks


def python_loop(con, pack, n: int) -> float:
    checks = python_rules(pack)
    text_cols = sorted({col for *_, col, _k, _t in checks if col} | {"channel", "body"})
    cur = con.execute(f"SELECT {', '.join(text_cols)}, date_diff('second', created_at, closed_at) "
                      f"FROM interactions LIMIT {n}")
    start = time.perf_counter()
    scores = []
    while batch := cur.fetchmany(10_000):
        for values in batch:
            row = dict(zip(text_cols, values[:-1]))
            row["secs"] = values[-1]
            for c in text_cols:
                row["f_" + c] = _fold(row[c] or "")
            applicable = passed = 0.0
            critical = False
            for weight, is_critical, when, needs_text, col, kind, test in checks:
                if not all(w(row) for w in when):
                    continue
                if needs_text and not (row[col] or "").strip(" -"):
                    continue
                if kind == "duration" and row["secs"] is None:
                    continue
                applicable += weight
                if test(row):
                    passed += weight
                elif is_critical:
                    critical = True
            scores.append(None if not applicable else 0.0 if critical else 100 * passed / applicable)
    return time.perf_counter() - start


def median_time(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_rule(con, pack) -> None:
    """Print the seconds of the compiled query for the whole pack and for each rule alone (no writes):
    where the rules stage spends its time. Alone, a rule gets no shared screen pass (sql._screens)."""
    import dataclasses

    from qa_scoring.rules.sql import compile_rule_pack

    def seconds(p) -> float:
        compiled = compile_rule_pack(p)
        source = "(SELECT " + ", ".join(compiled.columns) + " FROM interactions)"
        start = time.perf_counter()
        con.execute(f"SELECT count(*), sum(rules_failed) FROM ({compiled.select_sql.format(source=source)})",
                    compiled.params).fetchall()
        return time.perf_counter() - start

    print(f"rule query, whole pack: {seconds(pack):.2f} s (load average {os.getloadavg()[0]:.1f}); each rule alone:")
    for rule in pack.rules:
        print(f"  {rule.id:32s} {rule.kind:13s} {rule.field or '-':15s}"
              f"{' negation' if rule.negation else '':9s} {seconds(dataclasses.replace(pack, rules=(rule,))):.3f} s")


def negation_paths(con, pack, repeat: int = 3) -> None:
    """Print the seconds of the compiled query (no writes) with every negation text on the reference
    path (capture groups) and with the fast paths (sql.negation_risk), alternated in one process,
    best of `repeat`, and check that both give the same outcomes."""
    from qa_scoring.rules import sql

    def run(reference: bool) -> tuple[float, list]:
        original = sql.negation_risk
        if reference:
            sql.negation_risk = lambda phrases, **opts: (False, None)
        try:
            compiled = sql.compile_rule_pack(pack)
        finally:
            sql.negation_risk = original
        source = "(SELECT " + ", ".join(compiled.columns) + " FROM interactions)"
        start = time.perf_counter()
        got = con.execute(f"SELECT md5(string_agg(outcomes, '' ORDER BY interaction_id)), sum(rules_failed) "
                          f"FROM ({compiled.select_sql.format(source=source)})", compiled.params).fetchall()
        return time.perf_counter() - start, got

    times: dict[bool, list[float]] = {True: [], False: []}
    outcomes = {}
    for n in range(repeat):
        for reference in ((True, False) if n % 2 == 0 else (False, True)):
            seconds, outcomes[reference] = run(reference)
            times[reference].append(seconds)
    ref, fast = min(times[True]), min(times[False])
    print(f"rule query, negation on the reference path: {ref:.2f} s, on the fast paths: {fast:.2f} s "
          f"({ref / fast:.2f}x; best of {repeat}, alternated; same outcomes: {outcomes[True] == outcomes[False]}; "
          f"load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--python-rows", type=int, default=100_000)
    parser.add_argument("--night", type=int, default=100_000)
    parser.add_argument("--per-rule", action="store_true",
                        help="also time each rule's query alone (a pack of that one rule) on the N rows")
    parser.add_argument("--negation-paths", action="store_true",
                        help="also time the rule query with negation on the reference path vs the fast paths")
    parser.add_argument("--child-score", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import add_profile_option, use_profile

    add_profile_option(parser)
    args = parser.parse_args()
    use_profile(args.profile)
    if args.child_score:
        child_score(args.child_score, args.full)
        return

    pack = load_rule_pack(rules_dir())
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.duckdb")
        con = store.connect(db)
        start = time.perf_counter()
        load(con, args.rows, seed=1)
        print(f"generated and loaded {args.rows:,} rows ({args.profile} profile) in {time.perf_counter() - start:.1f} s "
              f"({os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f})")
        lengths = con.execute("SELECT avg(length(body)), avg(length(answer)), avg(length(comments)) "
                              "FROM interactions").fetchall()[0]
        print("mean lengths: body {:.0f}, answer {:.0f}, comments {:.0f} characters".format(*lengths))
        scan = median_time(lambda: con.execute(
            "SELECT sum(length(body) + length(answer) + length(comments)) FROM interactions").fetchall())
        py_seconds = python_loop(con, pack, args.python_rows)
        if args.per_rule:
            per_rule(con, pack)
        if args.negation_paths:
            negation_paths(con, pack)
        con.close()

        full = run_child(db, full=True)
        con = store.connect(db)
        results = store.fetch_one(con, "SELECT count(*) FROM rule_results")[0]
        load(con, args.night, seed=2)
        con.close()
        night = run_child(db, full=False)
        con = store.connect(db)
        scan_after = median_time(lambda: con.execute(
            "SELECT sum(length(body) + length(answer) + length(comments)) FROM interactions").fetchall())
        con.close()

    py_extrapolated = py_seconds * args.rows / args.python_rows
    print(f"rules: {len(pack.rules)} (default pack), rule_results written: {results:,}")
    print(f"plain scan of body+answer+comments: {scan:.2f} s (after: {scan_after:.2f} s)")
    print(f"full scoring of {args.rows:,} rows: {full['seconds']:.2f} s, {args.rows / full['seconds']:,.0f} rows/s, "
          f"peak RSS {full['peak_mb']:,.0f} MB (scoring process)")
    print(f"  = {full['seconds'] / scan:.1f}x the plain scan; steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in full["steps"].items()))
    print(f"python loop (fold once per row, same rules with re): {py_seconds:.2f} s on {args.python_rows:,} rows "
          f"→ {py_extrapolated:.0f} s extrapolated to {args.rows:,}: DuckDB is {py_extrapolated / full['seconds']:.1f}x faster")
    print(f"incremental night: {night['scored']:,} new rows scored in {night['seconds']:.2f} s "
          f"(peak RSS {night['peak_mb']:,.0f} MB); steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in night["steps"].items()))


if __name__ == "__main__":
    main()
