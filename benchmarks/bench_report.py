#!/usr/bin/env python3
"""Benchmark the report stage: 200 agents × 30 days × 100k interactions/day (3M rows) by default.

The database is built directly in DuckDB with SQL-generated rows (interactions, rule_results for four
rules with evidence offsets, interaction_scores, predictions, a current model, and the daily facts as
score / predict leave them), then `render_reports` runs in a fresh subprocess so its time and peak memory are its own. A tenth-size run in the same
invocation gives the scaling ratio (machines are noisy; compare the ratio, not the seconds).

    python benchmarks/bench_report.py                      # 3M rows and 300k rows
    python benchmarks/bench_report.py --per-day 10000      # quicker look
    python benchmarks/bench_report.py --keep /tmp/bench    # keep the databases and reports
    python benchmarks/bench_report.py --profile dense      # long texts from the dense-match generator profile
    python benchmarks/bench_report.py --before /tmp/old    # also render with an older source tree, same run
    BENCH_REPORT_LOG=1 python benchmarks/bench_report.py   # the report's step times on stderr

Prints results; asserts nothing.
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
from _common import add_profile_option, generator, peak_rss_mib  # noqa: E402

BODIES = [
    "Buenos días, me llegó la factura duplicada este mes y necesito que me ayuden con el cobro indebido. "
    "Ya llamé dos veces y nadie me da solución. Cuenta número ",
    "Hola, quisiera saber los horarios y puntos de pago disponibles en mi ciudad para el plan móvil. Gracias. Ref ",
    "Good afternoon, I was charged twice this month and I want a refund as soon as possible. Account ",
    "Necesito cancelar el servicio de internet porque me voy a mudar a otra ciudad la próxima semana. Caso ",
]
ANSWERS = [
    "Buenos días, mi nombre es Laura. Lamento los inconvenientes presentados. Se anuló la factura duplicada, "
    "su cuenta quedó al día y le llegará un mensaje de confirmación al celular registrado. ¿Hay algo más en "
    "lo que le pueda ayudar? Que tenga un excelente día. Saludos.",
    "Eso no se puede hacer por este medio. Ya le dije que debe acercarse a un punto de atención.",
    "Good morning, my name is Carlos. I am sorry for the trouble. The duplicate charge was reversed and you "
    "will receive a confirmation message. Is there anything else I can help you with? Regards.",
    "Hola. Los puntos de pago están en la página web. Gracias por escribirnos.",
]
SKILLS = ["0007", "0012", "0034", "PQR1", "VENTAS"]
CHANNELS = ["whatsapp", "webchat", "email", "instagram", "facebook_page"]


def dense_texts(count: int = 64) -> tuple[list[str], list[str]]:
    """Bodies and answers of the dense-match profile: long texts where every rule finds phrases."""
    rows = list(generator("dense").generate_rows(count, days=1, anomalies=False))
    return [r["body"] + " Caso " for r in rows], [r["answer"] for r in rows if r["answer"].strip(" -")]


def build(db: Path, agents: int, days: int, per_day: int, profile: str = "default") -> dict:
    """Create and fill a database; returns timing of the build phases."""
    from qa_scoring import facts, store

    con = store.connect(db)
    n = days * per_day
    t = {}
    start = time.perf_counter()
    body_texts, answer_texts = dense_texts() if profile == "dense" else (BODIES, ANSWERS)
    bodies = "[" + ", ".join(store_literal(b) for b in body_texts) + "]"
    answers = "[" + ", ".join(store_literal(a) for a in answer_texts) + "]"
    con.execute(f"""
        INSERT INTO interactions BY NAME
        WITH g AS (SELECT range AS i, hash(range) AS h FROM range({n}))
        SELECT left(md5(i::VARCHAR), 32) AS interaction_id, 'default' AS operation,
               ['{"','".join(CHANNELS)}'][1 + (h % {len(CHANNELS)})::INT] AS channel,
               'Agente ' || lpad(((h >> 8) % {agents})::VARCHAR, 3, '0') AS agent_name,
               ['{"','".join(SKILLS)}'][1 + ((h >> 20) % {len(SKILLS)})::INT] AS skill_id,
               (4800000 + i)::VARCHAR AS case_id, 'Cliente ' || (i % 9973)::VARCHAR AS subject,
               {bodies}[1 + ((h >> 24) % {len(body_texts)})::INT] || i::VARCHAR AS body,
               {answers}[1 + ((h >> 28) % {len(answer_texts)})::INT] AS answer,
               CASE WHEN (h >> 32) % 5 = 0 THEN 'sin novedad' ELSE '' END AS comments,
               TIMESTAMP '2026-11-01' + to_microseconds((i * {86_400_000_000 // per_day})::BIGINT) AS created_at,
               TIMESTAMP '2026-11-01' + to_microseconds((i * {86_400_000_000 // per_day})::BIGINT)
                   + to_seconds(((h >> 36) % 3600)::BIGINT) AS closed_at,
               ((h >> 36) % 3600)::BIGINT AS handle_seconds,
               CASE WHEN (h >> 40) % 4 = 0 THEN (1 + (h >> 44) % 5)::VARCHAR END AS survey_raw,
               CASE WHEN (h >> 40) % 4 = 0 THEN (1 + (h >> 44) % 5)::DOUBLE END AS survey_score,
               'America/Bogota' AS timezone, md5(i::VARCHAR) AS content_hash, 'bench' AS page_id,
               i AS position, TIMESTAMP '2026-12-01' AS first_seen, TIMESTAMP '2026-12-01' AS last_seen,
               TIMESTAMP '2026-12-01' AS changed_at
        FROM g
    """)
    t["interactions"] = time.perf_counter() - start
    start = time.perf_counter()
    con.execute("""
        CREATE TEMP TABLE long_results AS
        WITH x AS (SELECT interaction_id, answer, channel,
                          nullif(regexp_extract(answer, '(?i)(ya le dije|no se puede)', 0), '') AS curt
                   FROM interactions)
        SELECT interaction_id, 'greeting' AS rule_id, TRUE AS applicable,
               regexp_matches(answer, '(?i)(buen[oa]s|hola|good)') AS passed,
               NULL::VARCHAR AS evidence, NULL::VARCHAR AS evidence_field, NULL::INTEGER AS evidence_start,
               NULL::INTEGER AS evidence_end, 'bench-pack' AS rule_pack_hash, 1 AS run_id FROM x
        UNION ALL
        SELECT interaction_id, 'no_curt', TRUE, curt IS NULL, curt, CASE WHEN curt IS NOT NULL THEN 'answer' END,
               strpos(answer, curt) - 1, strpos(answer, curt) - 1 + length(curt), 'bench-pack', 1 FROM x
        UNION ALL
        SELECT interaction_id, 'intro', TRUE, regexp_matches(answer, '(?i)(mi nombre es|my name is)'),
               NULL, NULL, NULL, NULL, 'bench-pack', 1 FROM x
        UNION ALL
        SELECT interaction_id, 'email_closing', channel = 'email',
               CASE WHEN channel = 'email' THEN regexp_matches(answer, '(?i)(saludos|regards)') END,
               NULL, NULL, NULL, NULL, 'bench-pack', 1 FROM x
    """)
    store.insert_rule_results(con, "long_results")
    con.execute("""
        INSERT INTO interaction_scores (interaction_id, score, critical_failed, rules_applicable, rules_failed,
                                        content_hash, rule_pack_hash, run_id)
        SELECT interaction_id,
               CASE WHEN bool_or(rule_id = 'no_curt' AND NOT passed) THEN 0
                    ELSE 100.0 * count(*) FILTER (applicable AND passed) / count(*) FILTER (applicable) END,
               bool_or(rule_id = 'no_curt' AND NOT passed), count(*) FILTER (applicable),
               count(*) FILTER (applicable AND NOT passed), 'h', 'bench-pack', 1
        FROM rule_results GROUP BY interaction_id
    """)
    t["rules"] = time.perf_counter() - start
    start = time.perf_counter()
    con.execute("""
        INSERT INTO predictions (interaction_id, risk, top_terms, model_id, run_id)
        SELECT interaction_id, least(0.97, 0.05 + 0.6 * critical_failed::INT + (hash(interaction_id) % 300) / 1000.0),
               '[{"term": "factura", "weight": 0.4}, {"term": "ya le dije", "weight": 0.3}]', 'bench-model', 1
        FROM interaction_scores
    """)
    spec = {"kind": "qa-scoring/dissatisfaction-classifier", "metrics": {"roc_auc": 0.8, "pr_auc": 0.5, "brier": 0.15},
            "curves": {"roc": [[0, 0], [0.2, 0.6], [1, 1]], "pr": [[0, 1], [1, 0.3]], "calibration": []}}
    con.execute("INSERT INTO models (model_id, created_at, run_id, spec, metrics, versions, is_current) "
                "VALUES ('bench-model', TIMESTAMP '2026-12-01', 1, ?, ?, NULL, TRUE)",
                [json.dumps(spec), json.dumps(spec["metrics"])])
    t["predictions"] = time.perf_counter() - start
    start = time.perf_counter()
    with store.atomic(con):  # what score / predict leave behind: the daily facts of every day
        facts.refresh_facts(con)
    t["facts"] = time.perf_counter() - start
    con.execute("CHECKPOINT")
    con.close()
    return {k: round(v, 2) for k, v in t.items()}


def store_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def render_child(db: str, out: str) -> None:
    """Subprocess entry: render once, print seconds and peak RSS as JSON."""
    from qa_scoring import store
    from qa_scoring.config import load_settings
    from qa_scoring.report import render_reports

    if os.environ.get("BENCH_REPORT_LOG"):  # the report's step times on stderr
        import logging
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
        logging.getLogger("qa_scoring.report").setLevel(logging.DEBUG)
    con = store.connect(db)
    start = time.perf_counter()
    summary = render_reports(con, load_settings(environ={}), out_dir=Path(out), since=None, until=None)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": round(seconds, 2), "pages": summary.pages, "agents": summary.agents,
                      "interactions": summary.interactions,
                      "peak_rss_mb": round(peak_rss_mib())}))  # VmHWM, not ru_maxrss (kept across exec)


def render(db: Path, out: Path, code: Path | None = None) -> dict:
    """Render in a fresh subprocess (with the qa_scoring of the source tree `code` when given)."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code else None
    proc = subprocess.run([sys.executable, __file__, "--render-child", str(db), str(out)],
                          stdout=subprocess.PIPE, text=True, check=True, env=env)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "report_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20, 1)}


def run_size(root: Path, agents: int, days: int, per_day: int, profile: str = "default",
             before: Path | None = None, repeat: int = 1) -> dict:
    """Build one database and render it (`repeat` times, the fastest kept); with `before`, the same
    database is also rendered by that source tree, alternating with this one."""
    db = root / f"bench-{profile}-{agents}x{days}x{per_day}.duckdb"
    out = root / f"report-{per_day}"
    if db.exists():
        db.unlink()
    build_t = build(db, agents, days, per_day, profile)
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for _ in range(repeat):
        if before:
            runs["before"].append(render(db, out, before))
        runs["after"].append(render(db, out))
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items() if v}
    result = {"rows": days * per_day, "build": build_t, **best["after"]}
    if before:
        result["before"] = best["before"]
        result["all_seconds"] = {k: [r["seconds"] for r in v] for k, v in runs.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="keep databases and reports here")
    parser.add_argument("--before", type=Path, default=None,
                        help="also render each database with the qa_scoring of this source tree (e.g. a "
                             "`git archive` of an older commit): before/after in one run")
    parser.add_argument("--repeat", type=int, default=1, help="renders per database (the fastest is kept)")
    parser.add_argument("--full-only", action="store_true", help="skip the tenth-size run")
    parser.add_argument("--render-child", nargs=2, help=argparse.SUPPRESS)
    add_profile_option(parser)
    args = parser.parse_args()
    if args.render_child:
        render_child(*args.render_child)
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        small = None
        if not args.full_only:
            small = run_size(root, args.agents, args.days, max(args.per_day // 10, 1), args.profile, args.before,
                             args.repeat)
            print(json.dumps({"size": "tenth", "profile": args.profile, **small}), flush=True)
        full = run_size(root, args.agents, args.days, args.per_day, args.profile, args.before, args.repeat)
        print(json.dumps({"size": "full", "profile": args.profile, **full}))
        print(f"render: {full['rows']:,} rows in {full['seconds']} s ({full['rows'] / full['seconds']:,.0f} rows/s), "
              f"peak {full['peak_rss_mb']} MB" + (f"; tenth size {small['seconds']} s → ratio "
              f"{full['seconds'] / small['seconds']:.1f}x for 10x the rows" if small else ""))
        if args.before:
            print(f"before ({args.before}): {full['before']['seconds']} s, peak {full['before']['peak_rss_mb']} MB "
                  f"→ after/before {full['seconds'] / full['before']['seconds']:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
