"""Benchmark the HTML → plain text step of landing (`htmltext.plain_text_columns`, issue 12 item 6).

    flock /tmp/qa-bench.lock python benchmarks/bench_htmltext.py                # 200k rows
    flock /tmp/qa-bench.lock python benchmarks/bench_htmltext.py --rows 1000000

Prints (asserts nothing) seconds and rows/s of the step on the same rows with three shares of
HTML bodies, in one run: none (the RE2 filter only), the bundled sample's share (~5 %: its HTML
emails) and every body HTML (a mail-only operation). Bodies are the bundled sample's, cycled;
answers are plain.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa_scoring.htmltext import looks_like_html, plain_text_columns  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    doc = json.loads((REPO / "data" / "sample" / "chat_4_sample.json").read_text(encoding="utf-8"))
    rows = doc["data"] if isinstance(doc, dict) else doc
    html = [r["body"] for r in rows if looks_like_html(r.get("body"))]
    plain = [r["body"] or "" for r in rows if not looks_like_html(r.get("body"))]
    answers = [r["answer"] or "" for r in rows if not looks_like_html(r.get("answer"))]
    share = len(html) / len(rows)
    n = args.rows
    print(f"{n:,} rows; sample: {len(html)} of {len(rows)} bodies are HTML ({share:.1%}), "
          f"mean HTML body {sum(map(len, html)) / len(html):.0f} chars")
    for label, fraction in (("no HTML", 0.0), ("sample share", share), ("all HTML", 1.0)):
        every = round(1 / fraction) if fraction else 0
        bodies = [html[i % len(html)] if every and i % every == 0 else plain[i % len(plain)] for i in range(n)]
        table = pa.table({"body": bodies, "answer": [answers[i % len(answers)] for i in range(n)]})
        start = time.perf_counter()
        out = plain_text_columns(table)
        seconds = time.perf_counter() - start
        converted = out.column("body_text").null_count
        print(f"  {label:13s} {n - converted:>9,} converted  {seconds:6.2f} s  {n / seconds:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
