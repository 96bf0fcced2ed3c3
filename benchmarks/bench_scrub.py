"""Benchmark scrubbing a landed page of known secrets (the API token(s), every common encoding).

    flock /tmp/qa-bench.lock python benchmarks/bench_scrub.py [--mb 64]

Every fetched page is scrubbed (parse.scrub_payload) before it is stored, and its decoded values
again (parse.scrub_rows). The secrets are the configured tokens: one per operation. This times
`scrub_payload` on a page of `--mb` MB of chat_4-like JSON, for 1, 4 and 12 secrets of 24 and
128 characters, two ways in the same process:
  - one:    every secret in one RE2 alternation (the scrubber before this benchmark existed);
  - passes: errors.secret_regexes(), the patterns split into passes of bounded size (today's).
Prints one JSON line per case: MB/s of each way and their ratio (CPU time of this thread, the
better of two runs); `one_fails` when RE2 refuses the single alternation as too large.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as token_source
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402

from qa_scoring import errors, parse  # noqa: E402

MB = 1 << 20


def page(mb: int) -> bytes:
    row = ('{"channel": "chat", "agent_name": "Ana Pérez", "body": "Hola, buenas tardes, quiero saber '
           'el estado de mi pedido 12345 &amp; %20 \\u00e9", "answer": "Con gusto le ayudo, '
           'permítame un momento"},').encode()
    return b'{"status": "ok", "data": [' + row * (mb * MB // len(row)) + b"{}]}"


def timed(payload: bytes, patterns: tuple[str, ...]) -> float:
    """The better of two runs (the first also pays for warming up)."""
    best = float("inf")
    for _ in range(2):
        started = time.thread_time()
        parse.scrub_payload(payload, patterns)
        best = min(best, time.thread_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=64)
    args = parser.parse_args()
    payload = page(args.mb)
    os.environ.pop("WOLKVOX_TOKEN", None)
    for length in (24, 128):
        for count in (1, 4, 12):
            errors._extra_secrets.clear()
            for _ in range(count):
                errors.register_secret(token_source.token_urlsafe(length)[:length])
            secrets = errors.known_secrets()
            try:
                one = timed(payload, (errors.secret_regex(),))
            except pa.ArrowInvalid as err:  # RE2: "pattern too large - compile failed"
                one = str(err)
            passes = timed(payload, errors._passes_for(secrets))
            line = {"mb": args.mb, "secrets": count, "chars": length, "passes": len(errors._passes_for(secrets)),
                    "passes_mb_s": round(args.mb / passes, 1)}
            if isinstance(one, str):
                line["one_fails"] = one
            else:
                line.update(one_mb_s=round(args.mb / one, 1), speedup=round(one / passes, 2))
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
