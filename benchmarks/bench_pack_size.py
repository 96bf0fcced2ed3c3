"""Benchmark big rule packs: load, compile and score the bundled sample with packs of N rules.

    flock /tmp/qa-bench.lock python benchmarks/bench_pack_size.py                 # N = 31, 500, 1000, 2000
    flock /tmp/qa-bench.lock python benchmarks/bench_pack_size.py --sizes 900,2000

A pack of N rules is the default pack repeated with new ids (`<id>_<k>`); every phrase list gets one
phrase of its own, so the copies' patterns differ as real rules' do. Each size runs in its own
process on a fresh copy of the sample database (3,000 rows, imported once) and prints one JSON line:
seconds to load (validation, RE2 checks), to compile, to score (`score_interactions`, full) and its
steps, or the error. Asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa_scoring import store  # noqa: E402
from qa_scoring.ingest import import_files  # noqa: E402
from qa_scoring.resources import rules_dir, sample_files  # noqa: E402


def write_pack(n: int, dest: Path) -> Path:
    """A pack of n rules made from the default pack (see the module docstring)."""
    base = [rule for f in sorted(rules_dir().glob("*.yaml")) for rule in yaml.safe_load(f.read_text("utf-8"))["rules"]]
    rules = []
    for k in range(n):
        rule = copy.deepcopy(base[k % len(base)])
        rule["id"] = f"{rule['id']}_{k}"
        for key in ("contains_any", "contains_none"):
            if key in rule["check"]:
                rule["check"][key].append(f"frase propia {k}")
        rules.append(rule)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "pack.yaml").write_text(yaml.safe_dump({"rules": rules}, allow_unicode=True, sort_keys=False), "utf-8")
    return dest


def child(db: str, pack_dir: str) -> None:
    """In a subprocess: load, compile and score with the pack; print one JSON line."""
    from qa_scoring.rules import compile_rule_pack, load_rule_pack, score_interactions

    out: dict = {}
    try:
        t0 = time.perf_counter()
        pack = load_rule_pack(Path(pack_dir))
        t1 = time.perf_counter()
        compile_rule_pack(pack)
        t2 = time.perf_counter()
        out.update(rules=len(pack.rules), load_s=round(t1 - t0, 2), compile_s=round(t2 - t1, 2))
        con = store.connect(db)
        summary = score_interactions(con, pack, full=True)
        out.update(score_s=round(time.perf_counter() - t2, 2), rows=summary.scored, steps=summary.seconds)
        con.close()
    except Exception as err:  # noqa: BLE001 — the benchmark reports what failed
        out["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
    print(json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="31,500,1000,2000", help="comma-separated numbers of rules")
    parser.add_argument("--child", nargs=2, metavar=("DB", "PACK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "sample.duckdb"
        con = store.connect(template)
        import_files(con, sample_files(), operation="default", tz="America/Bogota")
        con.close()
        for n in (int(s) for s in args.sizes.split(",")):
            db = Path(tmp) / f"s{n}.duckdb"
            shutil.copy(template, db)
            pack_dir = write_pack(n, Path(tmp) / f"pack{n}")
            t = time.perf_counter()
            run = subprocess.run([sys.executable, __file__, "--child", str(db), str(pack_dir)],
                                 capture_output=True, text=True)
            line = (run.stdout.strip().splitlines() or ["{}"])[-1]
            result = {"size": n, **json.loads(line), "process_s": round(time.perf_counter() - t, 2)}
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
