"""Phrase matching alone: today's RE2 phrase patterns in DuckDB against Hyperscan, on the same answers.

    python benchmarks/bench_match.py --rows 200000 --profile dense
    python benchmarks/bench_match.py --rows 200000 --profile default

Measures the lever of issue 17 (a multi-pattern automaton instead of one RE2 pass per phrase list)
before the rules stage is rebuilt on it. Everything runs in one process, on one load of the rows
(bench_rules.py's generator, realistic lengths), so the ratios hold on a noisy machine:
  - re2: one DuckDB query computing every contains_any / contains_none / when.field_contains list of
    the default pack on `answer` and `body` with the compiled patterns (rules/text.phrase_pattern);
  - hs-classes: Hyperscan (when installed) with the same accent classes, UTF-8 + UCP + caseless +
    start-of-match: compile time, scan time including one Python callback per match, match count;
  - hs-folded: Hyperscan on plain literals over a folded copy of the column (ASCII lower case, the
    accent-class letters to their base letter, white-space runs to one space; same bytes otherwise,
    folded in numpy): fold, compile, scan with callbacks, match count.
Prints; asserts nothing. Word edges, evidence offsets and negation are not part of this measure.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from qa_scoring.resources import rules_dir  # noqa: E402
from qa_scoring.rules import load_rule_pack  # noqa: E402
from qa_scoring.rules.text import ACCENT_CLASSES, escape_phrase, phrase_pattern  # noqa: E402


def phrase_lists(pack) -> list[tuple[str, list[str], dict]]:
    """(column, phrases, options) of every phrase list of the pack."""
    out = []
    for rule in pack.rules:
        opts = {"case_sensitive": rule.case_sensitive, "accent_sensitive": rule.accent_sensitive}
        if rule.kind in ("contains_any", "contains_none"):
            out.append((rule.field, list(rule.arg), opts))
        for column, phrases in rule.when.get("field_contains", {}).items():
            out.append((column, list(phrases), opts))
    return out


def column_bytes(con, column: str) -> np.ndarray:
    """The column's UTF-8 text, rows back to back (Arrow's data buffer, no copy per row)."""
    arr = con.sql(f"SELECT coalesce({column}, '') FROM rows").to_arrow_table().column(0).combine_chunks()
    if str(arr.type) not in ("string", "large_string"):
        arr = arr.cast("large_string")
    width = np.int64 if str(arr.type) == "large_string" else np.int32
    offsets = np.frombuffer(arr.buffers()[1], width)[arr.offset:arr.offset + len(arr) + 1]
    return np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]


def hs_class_pattern(phrase: str, opts: dict) -> bytes:
    fragment = escape_phrase(phrase, **opts).replace(r"\s+", r"[\t\n\f\r ]+")  # RE2's \s is ASCII
    return "".join(c if 32 <= ord(c) < 127 else "\\x{%x}" % ord(c) for c in fragment).encode()


def fold_bytes(buf: np.ndarray) -> np.ndarray:
    """ASCII lower case, accent-class letters (2-byte UTF-8) to their base letter, white-space runs to one space."""
    lut = np.arange(256, dtype=np.uint8)
    lut[65:91] += 32
    lut[[9, 10, 12, 13]] = 32
    b = np.frombuffer(buf.tobytes().translate(lut.tobytes()), np.uint8).copy()  # 10x numpy's lut[buf]
    second = np.zeros(256, np.uint8)
    for base, variants in ACCENT_CLASSES.items():
        for v in variants[1:] + variants[1:].upper():
            e = v.encode()
            if len(e) == 2 and e[0] == 0xC3:
                second[e[1]] = ord(base)
    keep = np.ones(len(b), bool)
    lead = np.flatnonzero(b[:-1] == 0xC3)
    base = second[b[lead + 1]]
    hit = lead[base != 0]
    b[hit] = base[base != 0]
    keep[hit + 1] = False
    space = b == 32
    keep[1:] &= ~(space[1:] & space[:-1])
    return b[keep]


def folded_literal(phrase: str) -> bytes:
    out = []
    for ch in " ".join(phrase.split()):
        low = ch.lower()
        out.append(next((k for k, v in ACCENT_CLASSES.items() if low in v), low))
    return "".join(out).encode()


def hs_scan(db, data: bytes) -> tuple[float, int]:
    hits: list[int] = []
    start = time.perf_counter()
    db.scan(data, match_event_handler=lambda i, f, t, flags, ctx: hits.append(t))
    return time.perf_counter() - start, len(hits)


def main() -> None:
    import bench_rules
    from _common import add_profile_option, use_profile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    add_profile_option(ap)
    args = ap.parse_args()
    use_profile(args.profile)
    pack = load_rule_pack(rules_dir())
    lists = phrase_lists(pack)
    con = duckdb.connect()
    t = time.perf_counter()
    for i, batch in enumerate(bench_rules.generated_batches(args.rows, seed=1)):
        con.register("batch", batch)
        con.execute(("CREATE TABLE rows AS " if i == 0 else "INSERT INTO rows ") + "SELECT body, answer FROM batch")
        con.unregister("batch")
    print(f"{args.rows:,} rows ({args.profile} profile) generated in {time.perf_counter() - t:.1f} s; "
          f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.1f}")
    scan = min(_timed(con, "SELECT sum(length(body) + length(answer)) FROM rows") for _ in range(3))
    print(f"plain scan of body+answer: {scan:.3f} s")
    for column in ("answer", "body"):
        mine = [(p, o) for c, p, o in lists if c == column]
        sql = "SELECT " + ", ".join(f"count(*) FILTER (regexp_matches({column}, $p{i}))" for i in range(len(mine))) + " FROM rows"
        params = {f"p{i}": phrase_pattern(p, **o) for i, (p, o) in enumerate(mine)}
        re2 = _timed(con, sql, params)
        size = column_bytes(con, column).size
        print(f"{column}: {len(mine)} lists, {sum(len(p) for p, _ in mine)} phrases, {size / 2**20:,.0f} MiB")
        print(f"  re2 (DuckDB, 2 threads): {re2:.2f} s = {re2 / scan:.0f}x the plain scan")
        try:
            import hyperscan as hs
        except ImportError:
            print("  hyperscan not installed: pip install hyperscan")
            continue
        exprs = [hs_class_pattern(ph, o) for p, o in mine for ph in p]
        flags = [hs.HS_FLAG_UTF8 | hs.HS_FLAG_UCP | hs.HS_FLAG_SOM_LEFTMOST
                 | (0 if o["case_sensitive"] else hs.HS_FLAG_CASELESS) for p, o in mine for _ in p]
        t = time.perf_counter()
        db = hs.Database()
        db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
        compile_s = time.perf_counter() - t
        data = column_bytes(con, column).tobytes()
        scan_s, matches = hs_scan(db, data)
        print(f"  hs-classes: compile {compile_s:.2f} s, scan+callbacks {scan_s:.2f} s, {matches:,} matches "
              f"({matches / args.rows:.1f} a row)")
        t = time.perf_counter()
        raw = column_bytes(con, column)
        fetch_s = time.perf_counter() - t
        folded = fold_bytes(raw).tobytes()
        fold_s = time.perf_counter() - t - fetch_s
        literals = sorted({folded_literal(ph) for p, _ in mine for ph in p})
        t = time.perf_counter()
        db = hs.Database()
        db.compile(expressions=[re.escape(x.decode()).encode() for x in literals], ids=list(range(len(literals))),
                   elements=len(literals), flags=[0] * len(literals))
        compile_s = time.perf_counter() - t
        scan_s, matches = hs_scan(db, folded)
        print(f"  hs-folded: fetch as Arrow {fetch_s:.2f} s, fold {fold_s:.2f} s, compile {compile_s:.3f} s, scan+callbacks {scan_s:.2f} s, "
              f"{matches:,} matches ({matches / args.rows:.1f} a row)")


def _timed(con, sql: str, params=None) -> float:
    start = time.perf_counter()
    con.execute(sql, params).fetchall()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
