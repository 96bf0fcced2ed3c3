#!/usr/bin/env python3
"""Benchmark the classifier: train on 200k surveyed rows, predict 100k (one night) and 1M rows.

Prints seconds, rows/s and peak memory (RSS of the process tree, worker processes included) for
each phase, each measured in its own subprocess through the real CLI, and the same figures for the
plain scikit-learn baseline the issue names — TfidfVectorizer(ngram_range=(1, 2)) +
LogisticRegression on the concatenated text — measured in the same run on the same rows, with the
same time split, so the ratios are meaningful on a noisy shared machine. Asserts nothing.

Data: data/generate_sample.py's generator (imported by path), with texts lengthened to realistic
sizes (body ~230, answer ~450, comments ~100 characters, as in MEASURED.md) by appending sentences
from other rows of the same field.

    python benchmarks/bench_classify.py                          # 200k / 100k / 1M (≈ 10 min)
    python benchmarks/bench_classify.py --train 20000 --predict 10000 50000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_LEN = {"body": 230, "answer": 450, "comments": 100}


def _generator():
    """data/generate_sample.py, loaded by path (see _common.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import generator

    return generator()  # the profile chosen by --profile (use_profile)


def realistic_rows(n: int, *, seed: int, start: str, days: int, surveyed_only: bool = False):
    """Yield n chat_4 rows with realistic text lengths (and only surveyed rows if asked)."""
    gen = _generator()
    rng = random.Random(seed)
    pools = {f: [] for f in TARGET_LEN}
    produced = 0
    batch = max(n * (4 if surveyed_only else 1), 1000)
    for row in gen.generate_rows(batch * 2, days, seed, start, anomalies=False):
        if surveyed_only and gen.survey_label(row["evaluation_survey"]) is None:
            continue
        for f, target in TARGET_LEN.items():
            text = row[f]
            if text.strip(" -") and pools[f]:
                goal = rng.uniform(0.5, 1.5) * target
                while len(text) < goal:
                    text += "\n" + pools[f][rng.randrange(len(pools[f]))]
            if row[f].strip(" -"):
                pool = pools[f]
                if len(pool) < 5000:
                    pool.append(row[f])
                else:
                    pool[rng.randrange(5000)] = row[f]
            row[f] = text
        yield row
        produced += 1
        if produced >= n:
            return


def write_ndjson(rows, path: Path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def build_db(path: Path, rows, label: str) -> None:
    if path.exists():
        print(f"  {label}: reusing {path}", flush=True)
        return
    data = path.with_suffix(".ndjson")
    t = time.perf_counter()
    n = write_ndjson(rows, data)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa_scoring", "--db", str(path), "import", str(data)],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"  {label}: {n:,} rows generated in {t_gen:.0f} s, imported in {time.perf_counter() - t:.0f} s",
          flush=True)
    data.unlink()


def measured(cmd: list[str]) -> dict:
    """Run cmd; return wall seconds, peak RSS of its process tree (MiB) and its stdout."""
    import psutil

    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample():
        try:
            root = psutil.Process(proc.pid)
            while proc.poll() is None:
                try:
                    total = root.memory_info().rss + sum(c.memory_info().rss for c in root.children(recursive=True))
                    peak[0] = max(peak[0], total)
                except psutil.Error:
                    pass
                time.sleep(0.1)
        except psutil.Error:
            pass

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t
    thread.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return {"seconds": seconds, "peak_mib": peak[0] / 2**20, "stdout": out}


def copy_model(src: Path, dst: Path) -> None:
    import duckdb

    con = duckdb.connect(str(dst))
    con.execute(f"ATTACH '{src}' AS src (READ_ONLY)")  # benchmark-owned paths, not user text
    con.execute("DELETE FROM models")
    con.execute("DELETE FROM predictions")
    con.execute("INSERT INTO models SELECT * FROM src.models WHERE is_current")
    con.execute("DETACH src")
    con.close()


# --- the plain baseline, run in a subprocess of this script -------------------------------------

def baseline_phase(train_db: str, predict_db: str, test_fraction: float) -> None:
    import duckdb
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score, roc_auc_score

    from qa_scoring.classify.labels import LabelMapping

    def texts(con, where: str, params=None):
        rows = con.execute(f"""SELECT concat_ws(' ', body, answer, comments, subject), {{label}}
                               FROM interactions i {where} ORDER BY created_at, interaction_id""".replace(
            "{label}", expr), params or {}).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    expr, params = LabelMapping().sql("survey_raw")
    con = duckdb.connect(train_db, read_only=True)
    docs, labels = texts(con, "WHERE survey_raw IS NOT NULL", params)
    con.close()
    keep = [i for i, lab in enumerate(labels) if lab in ("satisfied", "dissatisfied")]
    docs = [docs[i] for i in keep]
    y = np.array([labels[i] == "dissatisfied" for i in keep], dtype=int)
    n_test = int(round(len(y) * test_fraction))
    split = len(y) - n_test
    t = time.perf_counter()
    vec = TfidfVectorizer(ngram_range=(1, 2))
    X = vec.fit_transform(docs[:split])
    model = LogisticRegression(max_iter=1000).fit(X, y[:split])
    fit_s = time.perf_counter() - t
    p = model.predict_proba(vec.transform(docs[split:]))[:, 1]
    con = duckdb.connect(predict_db, read_only=True)
    pdocs = [r[0] for r in con.execute("SELECT concat_ws(' ', body, answer, comments, subject) FROM interactions").fetchall()]
    con.close()
    t = time.perf_counter()
    model.predict_proba(vec.transform(pdocs))
    pred_s = time.perf_counter() - t
    print(json.dumps({"fit_seconds": fit_s, "n_train": split, "n_test": n_test, "n_features": len(vec.vocabulary_),
                      "roc_auc": roc_auc_score(y[split:], p), "pr_auc": average_precision_score(y[split:], p),
                      "predict_rows": len(pdocs), "predict_seconds": pred_s}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=200_000, help="surveyed rows to train on")
    ap.add_argument("--predict", type=int, nargs="+", default=[100_000, 1_000_000], help="rows to predict")
    ap.add_argument("--workdir", default="/tmp/bench_classify", help="where the databases go (kept for reuse)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain scikit-learn baseline")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import add_profile_option, use_profile

    add_profile_option(ap)
    a = ap.parse_args()
    use_profile(a.profile)
    if a.phase == "baseline":
        baseline_phase(a.args[0], a.args[1], float(a.args[2]))
        return

    work = Path(a.workdir) / a.profile  # databases are kept for reuse: one set per profile
    work.mkdir(parents=True, exist_ok=True)
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; building data in {work}", flush=True)
    train_db = work / f"train_{a.train}.duckdb"
    build_db(train_db, realistic_rows(a.train, seed=7, start="2026-01-01", days=120, surveyed_only=True),
             f"train ({a.train:,} surveyed)")
    predict_dbs = {}
    for n in a.predict:
        predict_dbs[n] = work / f"predict_{n}.duckdb"
        build_db(predict_dbs[n], realistic_rows(n, seed=11 + n, start="2026-05-01", days=31), f"predict {n:,}")

    cli = [sys.executable, "-m", "qa_scoring"]
    results = []
    r = measured(cli + ["--db", str(train_db), "train", "--json"])
    m = json.loads(r["stdout"])
    print(f"\ntrain   {a.train:>9,} surveyed: {r['seconds']:7.1f} s, {a.train / r['seconds']:8.0f} rows/s, "
          f"peak {r['peak_mib']:6.0f} MiB | ROC AUC {m['roc_auc']:.3f} (prior {m['baseline']['roc_auc']:.3f}, "
          f"agent alone {m['agent_only_roc_auc'] or 0:.3f}, plain text TF-IDF+LR on the same fields "
          f"{m['text_baseline']['roc_auc']:.3f}; subject read on {m['subject_channels']}), PR AUC {m['pr_auc']:.3f}, Brier {m['brier']:.3f}, "
          f"{m['n_features']:,} features, C={m['C']}", flush=True)
    results.append(("train", a.train, r))
    for n, db in predict_dbs.items():
        copy_model(train_db, db)
        r = measured(cli + ["--db", str(db), "predict", "--full", "--json"])
        s = json.loads(r["stdout"])
        print(f"predict {n:>9,} rows    : {r['seconds']:7.1f} s, {n / r['seconds']:8.0f} rows/s, "
              f"peak {r['peak_mib']:6.0f} MiB (in-stage {s['seconds']:.1f} s, {s['workers']} workers)", flush=True)
        results.append(("predict", n, r))
    if not a.no_baseline:
        smallest = min(predict_dbs, key=int)
        r = measured([sys.executable, __file__, "--phase", "baseline", "--", str(train_db),
                      str(predict_dbs[smallest]), "0.2"])
        b = json.loads(r["stdout"])
        ours_train = results[0][2]["seconds"]
        ours_pred = next(x[2]["seconds"] for x in results if x[0] == "predict" and x[1] == smallest)
        print(f"\nplain baseline (TfidfVectorizer(1,2) + LogisticRegression, concatenated text, same split):\n"
              f"  fit {b['n_train']:,}: {b['fit_seconds']:.1f} s; transform+predict {b['predict_rows']:,}: "
              f"{b['predict_seconds']:.1f} s ({b['predict_rows'] / b['predict_seconds']:.0f} rows/s); "
              f"peak {r['peak_mib']:.0f} MiB; {b['n_features']:,} features\n"
              f"  ROC AUC {b['roc_auc']:.3f}, PR AUC {b['pr_auc']:.3f} on the same held-out rows\n"
              f"  ratios ours/baseline: ROC AUC {m['roc_auc'] / b['roc_auc']:.3f}, "
              f"train wall time {ours_train / b['fit_seconds']:.2f} (ours includes loading + evaluation), "
              f"predict {smallest:,} wall time {ours_pred / b['predict_seconds']:.2f} "
              f"(ours includes reading, explanations and writing)", flush=True)


if __name__ == "__main__":
    main()
