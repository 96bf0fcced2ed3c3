"""Stored daily facts (facts.py): every figure equals the same figure computed from the raw tables,
after scoring, predicting, a late survey, a review override, a rescoring under a new pack and a
rebuild; refreshing any set of days gives the table a clean build gives."""

from __future__ import annotations

import csv
import json
import math
import random
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa_scoring import facts, store
from qa_scoring.classify.labels import DISSATISFIED, LabelMapping
from qa_scoring.cli import cli
from qa_scoring.ingest import import_files
from qa_scoring.resources import rules_dir, sample_files

FACT_COLUMNS = ("interactions", "scored", "score_sum", "score_sq_sum", "critical", "overridden", "surveyed",
                "labeled", "dissatisfied", "predicted", "risk_sum", "labeled_predicted", "labeled_risk_sum",
                "labeled_predicted_dissatisfied", "no_answer", "bad_time")
RULE_COLUMNS = ("total", "applicable", "passed", "fail_lab", "fail_dis", "pass_lab", "pass_dis")


def run(db: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--db", str(db), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def _predicted_template(_sample_db_template, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("facts") / "facts.duckdb"
    shutil.copy(_sample_db_template, path)
    run(path, "score")
    run(path, "train")
    run(path, "predict")
    return path


@pytest.fixture
def db(_predicted_template, tmp_path) -> Path:
    path = tmp_path / "facts.duckdb"
    shutil.copy(_predicted_template, path)
    return path


# --- the raw computation, written independently of facts.py --------------------------------------

def raw_figures(con) -> tuple[dict, dict]:
    """(facts per key, rule facts per key + rule) computed in Python from the raw tables."""
    mapping = LabelMapping()
    rows = con.execute("""
        SELECT i.interaction_id, i.operation, i.agent_name, i.skill_id, i.channel, i.created_at, i.status,
               i.closed_at, i.survey_raw, i.answer, i.handle_seconds, s.score, s.critical_failed, s.overrides, p.risk
        FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)""").fetchall()

    def blank(v):
        return v is None or v.strip() in ("", "-")

    key_of, dis_of = {}, {}
    out: dict = defaultdict(lambda: dict.fromkeys(FACT_COLUMNS, 0))
    for (iid, op, agent, skill, channel, created, status, closed, survey, answer, seconds, score, critical,
         overrides, risk) in rows:
        is_open = (status.strip().lower() == "open") if not blank(status) else closed is None
        key = (op, agent, "–" if blank(skill) else skill.strip(), "–" if blank(channel) else channel.strip().lower(),
               created.date(), is_open)
        label = mapping.label(survey)
        dis = None if label not in ("satisfied", "dissatisfied") else label == DISSATISFIED
        key_of[iid], dis_of[iid] = key, dis
        f = out[key]
        f["interactions"] += 1
        if score is not None:
            f["scored"] += 1
            f["score_sum"] += score
            f["score_sq_sum"] += score * score
        f["critical"] += bool(critical)
        f["overridden"] += bool(overrides)
        f["surveyed"] += survey is not None
        f["labeled"] += dis is not None
        f["dissatisfied"] += dis is True
        if risk is not None:
            f["predicted"] += 1
            f["risk_sum"] += risk
            if dis is not None:
                f["labeled_predicted"] += 1
                f["labeled_risk_sum"] += risk
                f["labeled_predicted_dissatisfied"] += dis
        f["no_answer"] += blank(answer)
        f["bad_time"] += seconds is not None and seconds < 0
    # Per rule: the automatic outcome (the contract view) unless the latest human verdict overrides it.
    verdicts = {(iid, rid): v for iid, rid, v in con.execute("""
        SELECT interaction_id, rule_id, verdict FROM reviews
        QUALIFY row_number() OVER (PARTITION BY interaction_id, rule_id
                                   ORDER BY coalesce(reviewed_at, imported_at) DESC, review_id DESC) = 1""").fetchall()}
    overridden = {iid for iid, in con.execute("SELECT interaction_id FROM interaction_scores WHERE overrides > 0").fetchall()}
    rules: dict = defaultdict(lambda: dict.fromkeys(RULE_COLUMNS, 0))
    for iid, rid, applicable, passed in con.execute(
            "SELECT DISTINCT interaction_id, rule_id, applicable, passed FROM rule_results").fetchall():
        verdict = verdicts.get((iid, rid)) if iid in overridden else None
        if verdict is not None:
            applicable, passed = verdict != "na", verdict == "pass"
        r = rules[(*key_of[iid], rid)]
        dis = dis_of[iid]
        r["total"] += 1
        r["applicable"] += bool(applicable)
        r["passed"] += bool(applicable and passed)
        if applicable and not passed and dis is not None:
            r["fail_lab"] += 1
            r["fail_dis"] += dis
        if applicable and passed and dis is not None:
            r["pass_lab"] += 1
            r["pass_dis"] += dis
    return dict(out), dict(rules)


def stored_figures(con) -> tuple[dict, dict]:
    keys = ", ".join(facts.KEYS)
    f = {tuple(r[:6]): dict(zip(FACT_COLUMNS, r[6:]))
         for r in con.execute(f"SELECT {keys}, {', '.join(FACT_COLUMNS)} FROM daily_facts").fetchall()}
    r = {tuple(x[:7]): dict(zip(RULE_COLUMNS, x[7:]))
         for x in con.execute(f"SELECT {keys}, rule_id, {', '.join(RULE_COLUMNS)} FROM daily_rule_facts").fetchall()}
    return f, r


def assert_facts_equal_raw(db: Path) -> tuple[dict, dict]:
    con = store.connect(db, read_only=True)
    try:
        raw, raw_rules = raw_figures(con)
        got, got_rules = stored_figures(con)
        n_rows = store.fetch_one(con, "SELECT count(*) FROM daily_facts")[0]
    finally:
        con.close()
    assert n_rows == len(got)  # one row per key
    assert set(got) == set(raw)
    for key, want in raw.items():
        for col, value in want.items():
            assert math.isclose(got[key][col], value, rel_tol=1e-9, abs_tol=1e-6), (key, col, got[key][col], value)
    assert got_rules == {k: v for k, v in raw_rules.items()}
    return got, got_rules


def day_totals(figures: dict, day) -> dict:
    out = dict.fromkeys(FACT_COLUMNS, 0)
    for key, f in figures.items():
        if key[4] == day:
            for col in FACT_COLUMNS:
                out[col] += f[col]
    return out


# --- tests ---------------------------------------------------------------------------------------

def test_facts_equal_the_raw_computation_after_score_and_predict(db):
    got, rules = assert_facts_equal_raw(db)
    con = store.connect(db, read_only=True)
    n = store.fetch_one(con, "SELECT count(*) FROM interactions")[0]
    con.close()
    assert n > 2900 and sum(f["interactions"] for f in got.values()) == n
    assert sum(f["predicted"] for f in got.values()) == n and sum(f["scored"] for f in got.values()) > 0.9 * n
    assert len({k[4] for k in got}) >= 28 and len(rules) > 1000  # every day, every rule present


def sample_rows() -> list[dict]:
    doc = json.loads(sample_files()[0].read_text(encoding="utf-8"))
    return doc["data"] if isinstance(doc, dict) else doc


def test_a_late_survey_updates_its_past_day_and_only_it(db, tmp_path):
    before, _ = assert_facts_equal_raw(db)
    rows = [r for r in sample_rows() if r.get("status", "").strip().lower() == "close"
            and not (r.get("evaluation_survey") or "").strip() and r["date_creation"] < "2026-10-20"]
    late = dict(rows[0], evaluation_survey="1")
    path = tmp_path / "late.json"
    path.write_text(json.dumps({"code": "200", "error": None, "msg": "", "data": [late]}), encoding="utf-8")
    run(db, "import", str(path))
    score = run(db, "score")
    assert score["scored"] == 1  # incremental: only the changed interaction
    assert_facts_equal_raw(db)  # score alone refreshed that day
    run(db, "predict")
    after, _ = assert_facts_equal_raw(db)
    from datetime import date
    day = date.fromisoformat(late["date_creation"][:10])
    b, a = day_totals(before, day), day_totals(after, day)
    assert (a["surveyed"], a["labeled"], a["dissatisfied"]) == (b["surveyed"] + 1, b["labeled"] + 1,
                                                                  b["dissatisfied"] + 1)
    others = {k: v for k, v in after.items() if k[4] != day}
    assert others == {k: v for k, v in before.items() if k[4] != day}


def test_review_overrides_count_in_the_facts(db, tmp_path):
    con = store.connect(db, read_only=True)
    iid, rid = store.fetch_one(con, """SELECT interaction_id, rule_id FROM rule_results
                                       WHERE applicable AND passed ORDER BY interaction_id, rule_id LIMIT 1""")
    con.close()
    path = tmp_path / "reviews.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["interaction_id", "rule_id", "verdict", "reviewer", "reviewed_at"])
        w.writerow([iid, rid, "fail", "Laura", "2026-11-20 10:00"])
    before, before_rules = assert_facts_equal_raw(db)
    result = CliRunner().invoke(cli, ["--db", str(db), "reviews", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    after, after_rules = assert_facts_equal_raw(db)
    assert sum(f["overridden"] for f in after.values()) == 1
    assert sum(r["passed"] for r in after_rules.values()) == sum(r["passed"] for r in before_rules.values()) - 1


def test_rescoring_under_a_new_pack_and_a_rebuild(db, tmp_path):
    pack = tmp_path / "pack"
    shutil.copytree(rules_dir(), pack)
    (pack / "30_prohibidas.yaml").unlink()
    run(db, "score", "--rules", str(pack))
    _, rules = assert_facts_equal_raw(db)
    con = store.connect(db, read_only=True)
    current = {r for r, in con.execute("""SELECT rule_id FROM rule_pack_rules
                                          WHERE rule_pack_hash IN (SELECT rule_pack_hash FROM rule_packs WHERE is_current)""").fetchall()}
    con.close()
    assert {k[6] for k in rules} == current  # only the current pack's rules
    run(db, "rebuild")
    assert_facts_equal_raw(db)
    run(db, "score", "--full")
    assert_facts_equal_raw(db)


def test_refreshing_random_days_gives_the_clean_build(db):
    con = store.connect(db)
    try:
        clean = stored_figures(con)
        days = [d for d, in con.execute("SELECT DISTINCT created_at::DATE FROM interactions ORDER BY 1").fetchall()]
        rng = random.Random(15)
        for _ in range(3):
            pick = rng.sample(days, 5)
            with store.atomic(con):
                con.execute("DELETE FROM daily_facts WHERE day IN (SELECT unnest($d::DATE[]))", {"d": pick})
                n = facts.refresh_facts(con, "SELECT operation, day FROM daily_rule_facts "
                                             "WHERE day IN (SELECT unnest($d::DATE[]))", params={"d": pick})
            assert n == 5
            assert stored_figures(con) == clean
        with store.atomic(con):
            facts.refresh_facts(con)
        assert stored_figures(con) == clean
    finally:
        con.close()


def test_a_changed_survey_mapping_refreshes_every_day(db, tmp_path):
    config = tmp_path / "qa-scoring.toml"
    config.write_text('[classifier]\nscale = "1-10"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), "predict", "--json"])
    assert result.exit_code == 0, result.output
    con = store.connect(db, read_only=True)
    try:
        assert facts.stored_mapping(con).scale == "1-10"
        labeled = store.fetch_one(con, "SELECT sum(labeled) FROM daily_facts")[0]
        by_python = sum(LabelMapping(scale="1-10").label(s) in ("satisfied", "dissatisfied")
                        for s, in con.execute("SELECT survey_raw FROM interactions").fetchall())
    finally:
        con.close()
    assert labeled == by_python


def test_import_alone_keeps_facts_and_a_fresh_database_has_none(tmp_path):
    con = store.connect(tmp_path / "x.duckdb")
    try:
        import_files(con, sample_files(), operation="default", tz="America/Bogota")
        assert store.fetch_one(con, "SELECT count(*) FROM daily_facts")[0] == 0
    finally:
        con.close()


def test_a_database_scored_before_v8_gets_its_facts_at_the_first_refresh(db):
    from tests.test_packs import undo_v8

    con = store.connect(db)
    undo_v8(con)
    con.close()
    run(db, "score")  # nothing to rescore, but the facts are built whole
    assert_facts_equal_raw(db)
