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
                "labeled_predicted_dissatisfied", "no_answer", "bad_time", "tokens", "unknown_tokens")
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

def raw_figures(con, pending_hours: float | None = None) -> tuple[dict, dict]:
    """(facts per key, rule facts per key + rule) computed in Python from the raw tables. With
    `pending_hours`, each key ends with a 7th part: the row is a pending open one (open and younger
    than that, counted from the newest interaction of its operation: report/data.py's policy)."""
    mapping = LabelMapping()
    newest = dict(con.execute("SELECT operation, max(created_at) FROM interactions GROUP BY 1").fetchall())
    rows = con.execute("""
        SELECT i.interaction_id, i.operation, i.agent_name, i.skill_id, i.channel, i.created_at, i.status,
               i.closed_at, i.survey_raw, i.answer, i.handle_seconds, s.score, s.critical_failed, s.overrides, p.risk,
               p.tokens, p.unknown_tokens
        FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)""").fetchall()

    def blank(v):
        return v is None or v.strip() in ("", "-")

    key_of, dis_of = {}, {}
    out: dict = defaultdict(lambda: dict.fromkeys(FACT_COLUMNS, 0))
    for (iid, op, agent, skill, channel, created, status, closed, survey, answer, seconds, score, critical,
         overrides, risk, tokens, unknown_tokens) in rows:
        is_open = (status.strip().lower() == "open") if not blank(status) else closed is None
        key = (op, agent, "–" if blank(skill) else skill.strip(), "–" if blank(channel) else channel.strip().lower(),
               created.date(), is_open)
        if pending_hours is not None:
            key += (is_open and (newest[op] - created).total_seconds() < pending_hours * 3600,)
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
        f["tokens"] += tokens or 0
        f["unknown_tokens"] += unknown_tokens or 0
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
    tokens, unknown = sum(f["tokens"] for f in got.values()), sum(f["unknown_tokens"] for f in got.values())
    assert tokens > 10 * n and 0 < unknown < tokens  # the model's words, summed per day
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
    # the agent page's "the score includes QA team verdicts" count, from the facts
    from qa_scoring.report import data as rd
    from qa_scoring.report.calibration import prepare_calibration

    con = store.connect(db, read_only=True)
    try:
        cal = prepare_calibration(con, rd.resolve_period(con, None, None), file_of=lambda name: None,
                                  rule_info=lambda r: rd.RuleInfo(r, r, "", "minor", None), mask=lambda text: text)
        raw = dict(con.execute("""SELECT i.agent_name, count(*) FROM interactions i JOIN interaction_scores s
                                  USING (interaction_id) WHERE s.overrides > 0 GROUP BY 1""").fetchall())
    finally:
        con.close()
    assert cal.overridden == raw and sum(raw.values()) == 1
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


def test_a_v9_database_gets_the_token_sums_in_its_facts_at_the_next_refresh(db):
    from tests.test_packs import undo_v10

    con = store.connect(db)
    undo_v10(con)
    assert store.schema_version(con) == 9
    con.close()
    con = store.connect(db)  # migrated: the columns exist, still zero until the facts are refreshed
    assert con.execute("SELECT sum(tokens) FROM daily_facts").fetchall() == [(0,)]
    con.close()
    run(db, "score")  # nothing to rescore, but the facts are built whole again
    got, _ = assert_facts_equal_raw(db)
    assert sum(f["tokens"] for f in got.values()) > 0


def test_a_database_scored_before_v8_gets_its_facts_at_the_first_refresh(db):
    from tests.test_packs import undo_v8

    con = store.connect(db)
    undo_v8(con)
    con.close()
    run(db, "score")  # nothing to rescore, but the facts are built whole
    assert_facts_equal_raw(db)


# --- the reports read the facts (issue 15 item 1) -------------------------------------------------

def report_data(con, since=None, until=None):
    """The report's data (report/data.py prepare) for the period, with the default settings."""
    from qa_scoring.config import load_settings
    from qa_scoring.report import data as rd
    from qa_scoring.report.render import _label_sql
    from qa_scoring.report.text import segment_text

    label, params, _scale = _label_sql(load_settings(environ={}))
    return rd.prepare(con, rd.resolve_period(con, since, until),
                      rule_info=lambda r: rd.RuleInfo(r, r, "", "minor", None), file_of=lambda name: "x.html",
                      segment_text=segment_text, label_sql=label, label_params=params)


def report_figures(con, since=None, until=None):
    """(team, agents, queues, data quality, rules page) of the report's data for the period, as plain
    comparable values."""
    d = report_data(con, since, until)
    team = {k: getattr(d.team, k) for k in ("n", "agents", "scored", "score", "score_low", "score_high",
                                             "critical", "surveyed", "satisfied", "risk", "days", "pending",
                                             "open_counted")}
    agents = {a.name: (a.n, a.scored, a.score, a.score_low, a.score_high, a.expected, a.diff, a.shrunk,
                       a.critical, a.satisfied, a.risk, a.small, a.days, a.pending) for a in d.agents}
    return team, agents, d.queues, d.quality, d.rules


def close(a, b) -> bool:
    """Equal, floats to 1e-9: DuckDB's parallel sums may add in another order from one query to the next."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(close(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return a == b


PENDING_SQL = """(lower(trim(i.status)) = 'open' AND i.created_at >
                  (SELECT max(created_at) FROM interactions) - INTERVAL 72 HOUR)"""


def test_report_team_and_agent_figures_equal_the_raw_tables_pending_rows_left_out(db):
    con = store.connect(db, read_only=True)
    try:
        team, agents = report_figures(con)[:2]
        n, pending, scored, mean, critical, risk = store.fetch_one(con, f"""
            SELECT count(*) FILTER (NOT {PENDING_SQL}), count(*) FILTER ({PENDING_SQL}),
                   count(s.score) FILTER (NOT {PENDING_SQL}), avg(s.score) FILTER (NOT {PENDING_SQL}),
                   count(*) FILTER (s.critical_failed AND NOT {PENDING_SQL}), avg(p.risk) FILTER (NOT {PENDING_SQL})
            FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
            LEFT JOIN predictions p USING (interaction_id)""")
        per_agent = {a: (k, sc, m) for a, k, sc, m in con.execute(f"""
            SELECT i.agent_name, count(*), count(s.score), avg(s.score)
            FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
            WHERE NOT {PENDING_SQL} GROUP BY 1""").fetchall()}
    finally:
        con.close()
    assert pending > 10 and team["pending"] == pending  # the sample has pending open chats: subtracted
    assert (team["n"], team["scored"], team["critical"]) == (n, scored, critical)
    assert close(team["score"], mean) and close(team["risk"], risk)  # means are rounded to 1e-9
    assert set(agents) == set(per_agent)
    for name, (k, sc, m) in per_agent.items():
        assert agents[name][:2] == (k, sc) and close(agents[name][2], m)


def test_report_team_agent_and_queue_figures_are_read_from_the_facts(db):
    """Raw scores of a closed past day altered behind the facts' back: the report keeps the facts'
    figures (it reads them, not interaction_scores / predictions); refreshing that day's facts then
    moves them (the alteration is one the figures would show)."""
    con = store.connect(db)
    try:
        before = report_figures(con)
        day = "2026-10-20"
        assert store.fetch_one(con, "SELECT count(*) FROM interactions WHERE created_at::DATE = ?", [day])[0] > 50
        con.execute("""UPDATE interaction_scores SET score = 0, critical_failed = TRUE WHERE interaction_id IN
                       (SELECT interaction_id FROM interactions WHERE created_at::DATE = ?)""", [day])
        con.execute("""UPDATE predictions SET risk = 1 WHERE interaction_id IN
                       (SELECT interaction_id FROM interactions WHERE created_at::DATE = ?)""", [day])
        con.execute("UPDATE interactions SET answer = '', handle_seconds = -1 WHERE created_at::DATE = ?", [day])
        assert close(report_figures(con), before)
        # one-day report of that day: its figures and the 7-day ranking window's, from the facts too
        day_before = report_figures(con, since=facts.date.fromisoformat(day), until=facts.date.fromisoformat(day))
        facts.refresh_facts(con, f"SELECT 'default' AS operation, DATE '{day}' AS day")
        after = report_figures(con)
        assert after[0]["score"] < before[0]["score"] and after[0]["critical"] > before[0]["critical"]
        assert after[0]["risk"] > before[0]["risk"]
        assert all(not close(after[1][a][2], before[1][a][2]) for a in after[1] if before[1][a][1] and after[1][a][12]
                   and any(p.day.isoformat() == day and p.n for p in after[1][a][12]))
        assert not close(after[2], before[2])
        assert after[3].no_answer > before[3].no_answer and after[3].bad_times > before[3].bad_times
        day_after = report_figures(con, since=facts.date.fromisoformat(day), until=facts.date.fromisoformat(day))
        assert day_after[0]["score"] == 0 and day_before[0]["score"] > 50
    finally:
        con.close()


def test_a_day_imported_but_not_scored_yet_is_counted_from_the_raw_tables(db, tmp_path):
    """Rows landed on a past day after the last score: that day's facts no longer cover it (its count
    differs), so the report aggregates that one day from the raw tables; the others stay on the facts."""
    from datetime import date

    rows = [dict(r, case_id=f"new-{k}", date_creation="2026-11-10 10:00:00", close_date="2026-11-10 10:05:00",
                 status="close") for k, r in enumerate(sample_rows()[:5])]
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"code": "200", "error": None, "msg": "", "data": rows}), encoding="utf-8")
    con = store.connect(db, read_only=True)
    before = report_figures(con)[0]
    con.close()
    run(db, "import", str(path))  # no score: the day's facts are stale
    con = store.connect(db, read_only=True)
    try:
        assert facts.period_facts(con, date(2026, 10, 1), date(2026, 11, 30)) == 1  # that day only, raw
        team = report_figures(con)[0]
    finally:
        con.close()
    assert team["n"] == before["n"] + 5 and team["scored"] == before["scored"]  # counted, not scored
    day = {p.day: p.n for p in team["days"]}
    assert day[date(2026, 11, 10)] == {p.day: p.n for p in before["days"]}[date(2026, 11, 10)] + 5


def assert_report_equals_raw(con, since, until) -> int:
    """Every count and mean of the report's data for since..until (team, days, agents, data quality,
    rules page, agents' rules) equals the raw tables' (pending open rows left out); returns n."""
    raw, raw_rules = raw_figures(con, pending_hours=72)
    kept = [(k, f) for k, f in raw.items() if since <= k[4] <= until and not k[6]]
    d = report_data(con, since, until)

    def total(col, agent=None):
        return sum(f[col] for k, f in kept if agent is None or k[1] == agent)

    n, scored = total("interactions"), total("scored")
    t = d.team
    assert (t.n, t.scored, t.critical, t.surveyed.k) == (n, scored, total("critical"), total("surveyed"))
    assert (t.satisfied.k, t.satisfied.n) == (total("labeled") - total("dissatisfied"), total("labeled"))
    assert t.pending == sum(f["interactions"] for k, f in raw.items() if since <= k[4] <= until and k[6])
    assert close(t.score, total("score_sum") / scored) and close(t.risk, total("risk_sum") / total("predicted"))
    days = defaultdict(int)
    for k, f in kept:
        days[k[4]] += f["interactions"]
    assert {p.day: p.n for p in t.days} == {day: c for day, c in days.items() if c}
    q = d.quality
    assert (q.no_answer, q.bad_times, q.not_scored, q.no_prediction, q.survey_unreadable) == (
        total("no_answer"), total("bad_time"), n - scored, n - total("predicted"), total("surveyed") - total("labeled"))
    agents = {k[1] for k, _ in kept}
    assert {a.name for a in d.agents} == agents
    for a in d.agents:
        assert (a.n, a.scored, a.critical) == (total("interactions", a.name), total("scored", a.name),
                                               total("critical", a.name))
        assert close(a.score, total("score_sum", a.name) / a.scored if a.scored else None)
    rules: dict = defaultdict(lambda: dict.fromkeys(RULE_COLUMNS, 0))
    by_agent: dict = defaultdict(lambda: [0, 0])
    for k, r in raw_rules.items():
        if since <= k[4] <= until and not k[6]:
            for col in RULE_COLUMNS:
                rules[k[7]][col] += r[col]
            by_agent[(k[1], k[7])][0] += r["applicable"]
            by_agent[(k[1], k[7])][1] += r["passed"]
    got = {r.rule.rule_id: dict(total=r.total, applicable=r.applicable, passed=r.passed.k, fail_lab=r.dissat_failed.n,
                                fail_dis=r.dissat_failed.k, pass_lab=r.dissat_passed.n, pass_dis=r.dissat_passed.k)
           for r in d.rules}
    assert got == {rule: v for rule, v in rules.items() if v["total"]}
    assert {(a, r.rule.rule_id): [r.applicable, r.passed.k] for a, rows in d.agent_rules.items() for r in rows} == {
        key: v for key, v in by_agent.items() if v[0]}
    return n


def test_report_figures_equal_the_raw_tables_on_random_periods_after_a_late_survey_and_a_new_pack(db, tmp_path):
    """The report's counts and means come from the facts minus the pending rows; computed again in
    Python from interactions, scores, predictions and rule results, on random days and ranges, after
    a late survey lands on a past day and after a rescoring under a new pack."""
    from datetime import date

    rows = [r for r in sample_rows() if r.get("status", "").strip().lower() == "close"
            and not (r.get("evaluation_survey") or "").strip() and r["date_creation"] < "2026-10-25"]
    late = [dict(r, evaluation_survey=v) for r, v in zip(rows[:3], ("1", "5", "no sé"))]
    path = tmp_path / "late.json"
    path.write_text(json.dumps({"code": "200", "error": None, "msg": "", "data": late}), encoding="utf-8")
    run(db, "import", str(path))
    run(db, "score")
    run(db, "predict")
    late_day = date.fromisoformat(late[0]["date_creation"][:10])
    con = store.connect(db, read_only=True)
    try:
        days = [d for d, in con.execute("SELECT DISTINCT created_at::DATE FROM interactions ORDER BY 1").fetchall()]
        rng = random.Random(1515)
        periods = [(late_day, late_day), (days[0], days[-1]), (days[-3], days[-1])]
        periods += [(d, d) for d in rng.sample(days, 2)] + [tuple(sorted(rng.sample(days, 2))) for _ in range(2)]
        for since, until in periods:
            assert assert_report_equals_raw(con, since, until) > 0
    finally:
        con.close()
    pack = tmp_path / "pack"
    shutil.copytree(rules_dir(), pack)
    (pack / "30_prohibidas.yaml").unlink()
    run(db, "score", "--rules", str(pack))
    con = store.connect(db, read_only=True)
    try:
        for since, until in periods[:4]:
            assert assert_report_equals_raw(con, since, until) > 0
    finally:
        con.close()


def test_predict_after_score_in_one_run_refreshes_the_prediction_figures_alone_and_they_equal_raw(db, tmp_path):
    """The nightly run's predict (right after score) recomputes only daily_facts; every figure still
    equals the raw computation, after a late survey and new rows were scored and predicted."""
    from qa_scoring.classify import predict_interactions
    from qa_scoring.config import load_settings

    rows = [r for r in sample_rows() if r.get("status", "").strip().lower() == "close"
            and not (r.get("evaluation_survey") or "").strip()]
    late = [dict(rows[0], evaluation_survey="1")] + [dict(r, case_id=f"new-{k}") for k, r in enumerate(rows[1:4])]
    path = tmp_path / "late.json"
    path.write_text(json.dumps({"code": "200", "error": None, "msg": "", "data": late}), encoding="utf-8")
    run(db, "import", str(path))
    run(db, "score")
    con = store.connect(db)
    try:
        rule_rows = con.execute("SELECT * FROM daily_rule_facts ORDER BY ALL").fetchall()
        summary = predict_interactions(con, load_settings(environ={}), rule_facts_current=True)
        assert summary.predicted >= 4
        assert con.execute("SELECT * FROM daily_rule_facts ORDER BY ALL").fetchall() == rule_rows
    finally:
        con.close()
    assert_facts_equal_raw(db)
