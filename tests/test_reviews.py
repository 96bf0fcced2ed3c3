"""Calibration: human verdicts in (both file shapes), agreement (κ with its interval), audit samples
out, overrides in scores. Real DuckDB files holding the bundled sample, real CSV files in tmp_path."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.reviews.agreement import Table, cohen_kappa, verdict

HOSTILE = '<script>alert(1)</script> "; DROP TABLE reviews; -- =cmd|\' /C calc\'!A0'


# --- κ against hand-computed tables -------------------------------------------------------------

def test_kappa_of_a_general_table_matches_the_hand_calculation_and_sklearn():
    # rule pass/human pass 20, rule pass/human fail 5, rule fail/human pass 10, both fail 15 (n = 50):
    # po = 0.7; marginals rule 0.5/0.5, human 0.6/0.4; pe = 0.5; κ = 0.4.
    # FCE 1969: A = .4(1-1.1·.6)² + .3(1-.9·.6)² = .10972; B = .36(.1·1.1² + .2·.9²) = .10188;
    # C = (.4-.5·.6)² = .01; Var = .2016 / (50·.25) = .016128; SE = .126996; ±1.96·SE = .248908.
    k = cohen_kappa(Table(20, 5, 10, 15))
    assert k.n == 50 and k.agreement == pytest.approx(0.7)
    assert k.kappa == pytest.approx(0.4)
    assert k.low == pytest.approx(0.4 - 1.959964 * math.sqrt(0.016128), abs=1e-6)
    assert k.high == pytest.approx(0.4 + 1.959964 * math.sqrt(0.016128), abs=1e-6)
    rule = ["p"] * 25 + ["f"] * 25
    human = ["p"] * 20 + ["f"] * 5 + ["p"] * 10 + ["f"] * 15
    assert k.kappa == pytest.approx(cohen_kappa_score(rule, human))


def test_kappa_perfect_chance_and_one_class_tables():
    perfect = cohen_kappa(Table(30, 0, 0, 20))
    assert perfect.kappa == pytest.approx(1.0) and perfect.low is None and perfect.high is None
    chance = cohen_kappa(Table(25, 25, 25, 25))  # agreement no better than two fair coins
    assert chance.kappa == pytest.approx(0.0) and chance.low < 0 < chance.high
    one_class = cohen_kappa(Table(40, 0, 0, 0))  # both always said pass: κ undefined, never NaN
    assert one_class.kappa is None and one_class.agreement == 1.0 and verdict(one_class) == "undefined"
    assert cohen_kappa(Table()).kappa is None
    assert verdict(cohen_kappa(Table(300, 3, 4, 90))) == "reliable"
    assert verdict(cohen_kappa(Table(150, 40, 40, 80))) == "revise"


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def scored(sample_db, runner):
    result = runner.invoke(cli, ["--db", str(sample_db), "score"])
    assert result.exit_code == 0, result.output
    return sample_db


def outcomes_of(db: Path) -> dict:
    con = store.connect(db, read_only=True)
    try:
        rows = con.execute("""SELECT r.interaction_id, r.rule_id, r.applicable, r.passed, i.case_id, i.channel
                              FROM rule_results r JOIN interactions i USING (interaction_id)""").fetchall()
    finally:
        con.close()
    return {(iid, rid): ("na" if not a else "pass" if p else "fail", case, ch) for iid, rid, a, p, case, ch in rows}


def unique_cases(db: Path) -> set[str]:
    con = store.connect(db, read_only=True)
    try:
        return {c for c, in con.execute("SELECT trim(case_id) FROM interactions GROUP BY 1 HAVING count(*) = 1").fetchall()}
    finally:
        con.close()


def dump(db: Path, tables=("reviews", "review_unmatched", "interaction_scores")) -> dict:
    con = store.connect(db, read_only=True)
    try:
        return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()


def run(runner, db, *args, ok=True):
    result = runner.invoke(cli, ["--db", str(db), *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def write_csv(path: Path, header: list[str], rows: list[list], delimiter=",", encoding="utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return path


# --- import -------------------------------------------------------------------------------------

def test_own_csv_with_hostile_notes_imports_idempotently_and_a_later_verdict_replaces(scored, runner, tmp_path):
    results = outcomes_of(scored)
    cases = unique_cases(scored)
    pairs = [(k, v) for k, v in sorted(results.items()) if v[1].strip() in cases and v[0] == "pass"][:5]
    rows = [[case, ch, "", rid, "cumple", "Laura", "2026-11-20 10:00", HOSTILE] for (iid, rid), (_, case, ch) in pairs]
    f = write_csv(tmp_path / "own.csv", ["case_id", "channel", "interaction_id", "rule_id", "verdict", "reviewer",
                                         "reviewed_at", "note"], rows)
    first = json.loads(run(runner, scored, "reviews", "import", str(f), "--json").stdout)
    assert first["imported"] == 5 and first["unchanged"] == 0 and sum(first["unmatched"].values()) == 0
    before = dump(scored)
    again = json.loads(run(runner, scored, "reviews", "import", str(f), "--json").stdout)
    assert again["imported"] == 0 and again["unchanged"] == 5
    assert dump(scored) == before  # re-importing changes nothing
    # A later verdict by the same reviewer on the first pair replaces it; the history is kept.
    (iid, rid), (_, case, ch) = pairs[0]
    later = write_csv(tmp_path / "later.csv", ["case_id", "channel", "rule_id", "verdict", "reviewer", "reviewed_at"],
                      [[case, ch, rid, "no cumple", "Laura", "2026-11-21 09:00"]])
    third = json.loads(run(runner, scored, "reviews", "import", str(later), "--json").stdout)
    assert third["imported"] == 1 and third["replaced"] == 1
    con = store.connect(scored, read_only=True)
    history = con.execute("SELECT verdict FROM reviews WHERE interaction_id = ? AND rule_id = ? ORDER BY reviewed_at",
                          [iid, rid]).fetchall()
    note, = store.fetch_one(con, "SELECT note FROM reviews LIMIT 1")
    con.close()
    assert history == [("pass",), ("fail",)] and note == HOSTILE  # stored as data, never run as SQL


def test_wolkvox_export_latin1_semicolon_bom_and_accent_insensitive_attributes(scored, runner, tmp_path):
    results = outcomes_of(scored)
    cases = unique_cases(scored)
    chats = [(k, v) for k, v in sorted(results.items()) if k[1] == "empatia_cliente_molesto"
             and v[1].strip() in cases][:3]
    header = ["CONN_ID", "AGENT", "ATTRIBUTE", "TYPE_ERROR", "SI/NO", "DATE", "MATRIX", "COMMENT", "EVALUATOR"]
    rows = [[case, "x", "EMPATIA ", "NCE", "Sí", "20/11/2026 10:00", "Chat", "señal débil ñ", "Óscar Peña"]
            for (_, _), (_, case, _) in chats]
    rows.append([chats[0][1][1], "x", "Atributo inexistente", "NCE", "NO", "20/11/2026", "Chat", "", "Óscar Peña"])
    rows.append(["no-such-case", "x", "Empatía", "NCE", "NO", "20/11/2026", "Chat", "", "Óscar Peña"])
    for encoding, delimiter, name in (("cp1252", ";", "latin1.csv"), ("utf-8-sig", ",", "bom.csv")):
        f = write_csv(tmp_path / name, header, rows, delimiter=delimiter, encoding=encoding)
        got = json.loads(run(runner, scored, "reviews", "import", str(f), "--json").stdout)
        assert got["unmatched"]["no_attribute"] == 1 and got["unmatched"]["no_interaction"] == 1
        assert got["rows"] == 5
    con = store.connect(scored, read_only=True)
    stored = con.execute("SELECT DISTINCT rule_id, verdict, reviewer, note FROM reviews").fetchall()
    unmatched = con.execute("SELECT reason, rule FROM review_unmatched ORDER BY reason").fetchall()
    con.close()
    # The same content in two encodings is the same verdicts: stored once.
    assert stored == [("empatia_cliente_molesto", "pass", "Óscar Peña", "señal débil ñ")]
    assert unmatched == [("no_attribute", "Atributo inexistente"), ("no_interaction", "Empatía")]


def test_a_case_id_on_two_channels_is_ambiguous_without_a_channel(scored, runner, tmp_path):
    con = store.connect(scored)
    iid, case, channel = store.fetch_one(con, "SELECT interaction_id, case_id, channel FROM interactions LIMIT 1")
    other = "whatsapp" if channel.lower() != "whatsapp" else "webchat"
    con.execute("""INSERT INTO interactions SELECT * REPLACE ('twin' || interaction_id AS interaction_id, ? AS channel)
                   FROM interactions WHERE interaction_id = ?""", [other, iid])
    con.close()
    header = ["case_id", "channel", "rule_id", "verdict", "reviewer"]
    f = write_csv(tmp_path / "amb.csv", header, [[case, "", "cortesia_general", "pass", "Ana"],
                                                [case, channel.upper(), "cortesia_general", "pass", "Ana"],
                                                [case, channel, "no_such_rule", "pass", "Ana"]])
    got = json.loads(run(runner, scored, "reviews", "import", str(f), "--json").stdout)
    assert got["unmatched"]["ambiguous"] == 1 and got["unmatched"]["no_rule"] == 1 and got["imported"] == 1
    con = store.connect(scored, read_only=True)
    assert store.fetch_one(con, "SELECT interaction_id FROM reviews")[0] == iid
    con.close()


@pytest.mark.parametrize("content, where, what", [
    ("case_id,rule_id,verdict,reviewer\n1,cortesia_general,maybe,Ana\n", ":2:", "verdict 'maybe'"),
    ("case_id,rule_id,verdict,reviewer,reviewed_at\n1,cortesia_general,pass,Ana,ayer\n", ":2:", "not a date"),
    ("case_id,rule_id,verdict\n1,cortesia_general,pass\n", ":2:", "no reviewer"),
    ("foo,bar\n1,2\n", ":1:", "neither"),
])
def test_a_bad_file_exits_2_naming_file_and_line_and_stores_nothing(scored, runner, tmp_path, content, where, what):
    good = write_csv(tmp_path / "good.csv", ["case_id", "rule_id", "verdict", "reviewer"],
                     [[sorted(unique_cases(scored))[0], "cortesia_general", "pass", "Ana"]])
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    before = dump(scored)
    result = run(runner, scored, "reviews", "import", str(good), str(bad), ok=False)
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: ") and f"bad.csv{where}" in line and what in line and len(line) < 400
    assert dump(scored) == before  # the good file beside it was not stored either


# --- overrides ----------------------------------------------------------------------------------

def test_an_override_changes_the_score_as_a_hand_calculation_says_and_survives_full_rescoring(scored, runner, tmp_path):
    con = store.connect(scored, read_only=True)
    # An interaction that passes every applicable rule except one failed minor rule, and no critical.
    iid, case, channel, score = store.fetch_one(con, """
        SELECT s.interaction_id, i.case_id, i.channel, s.score FROM interaction_scores s JOIN interactions i USING (interaction_id)
        WHERE s.rules_failed = 1 AND NOT s.critical_failed AND trim(i.case_id) IN (
            SELECT trim(case_id) FROM interactions GROUP BY 1 HAVING count(*) = 1)
        ORDER BY s.interaction_id LIMIT 1""")
    failed, = store.fetch_one(con, "SELECT rule_id FROM rule_results WHERE interaction_id = ? AND NOT passed", [iid])
    weights = dict(con.execute("""SELECT r.rule_id, m.weight FROM rule_results r JOIN rule_pack_rules m
                                  ON m.rule_pack_hash = r.rule_pack_hash AND m.rule_id = r.rule_id
                                  WHERE r.interaction_id = ? AND r.applicable""", [iid]).fetchall())
    con.close()
    total = sum(weights.values())
    assert score == pytest.approx(100 * (total - weights[failed]) / total)
    f = write_csv(tmp_path / "o.csv", ["case_id", "channel", "rule_id", "verdict", "reviewer", "note"],
                  [[case, channel, failed, "cumple", "Laura", "el cliente se despidió antes"]])
    run(runner, scored, "reviews", "import", str(f))

    def row():
        c = store.connect(scored, read_only=True)
        try:
            return store.fetch_one(c, """SELECT score, auto_score, overrides, rules_failed FROM interaction_scores
                                         WHERE interaction_id = ?""", [iid])
        finally:
            c.close()

    assert row() == (pytest.approx(100.0), pytest.approx(score), 1, 0)  # the one failure overturned: 100
    run(runner, scored, "score", "--full")
    assert row() == (pytest.approx(100.0), pytest.approx(score), 1, 0)  # survives rescoring
    export = tmp_path / "scores.csv"
    run(runner, scored, "export", "--what", "scores", "--format", "csv", "--out", str(export))
    rows = {r["interaction_id"]: r for r in csv.DictReader(export.open(encoding="utf-8"))}
    assert float(rows[iid]["score"]) == pytest.approx(100.0) and float(rows[iid]["auto_score"]) == pytest.approx(score)
    assert rows[iid]["overrides"] == "1"
    # With overrides off, the rules' own score comes back.
    cfg = tmp_path / "qa-scoring.toml"
    cfg.write_text("[reviews]\noverride = false\n", encoding="utf-8")
    run(runner, scored, "--config", str(cfg), "score")
    assert row() == (pytest.approx(score), None, 0, 1)


def test_without_reviews_recomputing_scores_from_letters_changes_nothing(scored):
    from qa_scoring.reviews.stored import apply_overrides

    before = dump(scored, ("interaction_scores",))
    con = store.connect(scored)
    con.execute("""INSERT INTO reviews SELECT 1, interaction_id, rule_id, CASE WHEN NOT applicable THEN 'na'
                   WHEN passed THEN 'pass' ELSE 'fail' END, 'Ana', NULL, NULL, 'x', 1, md5(interaction_id || rule_id),
                   now()::TIMESTAMP, NULL FROM rule_results""")  # every verdict agrees with the rules
    with store.atomic(con):
        assert apply_overrides(con) == 0
    con.close()
    assert dump(scored, ("interaction_scores",)) == before


# --- agreement and samples ----------------------------------------------------------------------

def test_agreement_json_contract_on_a_filled_sample_with_two_reviewers(scored, runner, tmp_path):
    out = tmp_path / "audit.csv"
    got = json.loads(run(runner, scored, "reviews", "sample", "--per-rule", "6", "--out", str(out), "--json").stdout)
    assert got["pairs"] > 0 and Path(got["worksheet"]).exists()
    again = tmp_path / "again.csv"
    run(runner, scored, "reviews", "sample", "--per-rule", "6", "--out", str(again))
    assert again.read_bytes() == out.read_bytes()  # seeded: the same sample
    results = outcomes_of(scored)
    with out.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    assert header == ["case_id", "channel", "interaction_id", "rule_id", "verdict", "reviewer", "reviewed_at", "note"]
    per_rule = {}
    for r in rows:
        per_rule.setdefault(r["rule_id"], []).append(results[(r["interaction_id"], r["rule_id"])][0])
    assert all(len(v) <= 6 for v in per_rule.values())
    assert sum("fail" in v and len(set(v)) > 1 for v in per_rule.values()) > 5  # hits and non-hits per rule
    # Reviewer A agrees with every rule; reviewer B contradicts on every other frases_cortantes row.
    filled_a, filled_b = tmp_path / "a.csv", tmp_path / "b.csv"
    flip = {"pass": "fail", "fail": "pass", "na": "na"}
    for path, reviewer in ((filled_a, "Ana"), (filled_b, "Beto")):
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=header)
            w.writeheader()
            for n, r in enumerate(rows):
                auto = results[(r["interaction_id"], r["rule_id"])][0]
                v = flip[auto] if reviewer == "Beto" and r["rule_id"] == "frases_cortantes" and n % 2 else auto
                w.writerow({**r, "verdict": v, "reviewer": reviewer})
    run(runner, scored, "reviews", "import", str(filled_a), str(filled_b))
    result = json.loads(run(runner, scored, "reviews", "agreement", "--json").stdout)
    assert set(result) >= {"rules", "overall", "unmatched"}
    rule = result["rules"]["frases_cortantes"]
    assert set(rule) >= {"n", "agreement", "kappa", "kappa_low", "kappa_high", "precision", "recall",
                         "na_disagreements"}
    assert rule["n"] == 2 * len(per_rule["frases_cortantes"]) - per_rule["frases_cortantes"].count("na") * 2
    assert rule["agreement"] < 1 and rule["humans"]["kappa"] is not None and rule["humans"]["kappa"] < 1
    others = [v for k, v in result["rules"].items() if k != "frases_cortantes" and v["n"]]
    assert all(v["agreement"] == 1.0 for v in others)
    assert {"n", "kappa"} <= set(result["overall"]) and result["overall"]["n"] == sum(
        v["n"] for v in result["rules"].values())
    assert "NaN" not in json.dumps(result)
    # Already reviewed pairs are not drawn again.
    third = tmp_path / "third.csv"
    run(runner, scored, "reviews", "sample", "--per-rule", "6", "--out", str(third))
    drawn = {(r["interaction_id"], r["rule_id"]) for r in csv.DictReader(third.open(encoding="utf-8"))}
    assert not drawn & {(r["interaction_id"], r["rule_id"]) for r in rows}


def test_the_worksheet_escapes_hostile_text(scored, runner, tmp_path):
    con = store.connect(scored)
    con.execute("UPDATE interactions SET body = ?, agent_name = ?", [HOSTILE + " tarjeta 4242-4242-4242-4242",
                                                                    HOSTILE])
    con.close()
    out = tmp_path / "audit.csv"
    run(runner, scored, "reviews", "sample", "--per-rule", "2", "--out", str(out))
    page = out.with_suffix(".html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Content-Security-Policy" in page
    assert "4242-4242-4242-4242" not in page and "••••-••••-••••-4242" in page  # PCI: masked like the reports


def test_rules_check_refuses_a_bad_attribute(tmp_path, runner):
    from test_packs import copy_pack

    pack = copy_pack(tmp_path, "p", lambda name, text: text.replace('attribute: "Saludo"', "attribute: [1, 2]"))
    result = runner.invoke(cli, ["rules", "check", str(pack)])
    assert result.exit_code == 2 and "attribute must be a text or a list of texts" in result.output


def test_the_v5_migration_keeps_a_v4_database_results(sample_db):
    from test_packs import V3_SCORES, undo_v5

    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    con = store.connect(sample_db)
    score_interactions(con, load_rule_pack(rules_dir()))
    before = sorted(con.execute(V3_SCORES).fetchall(), key=str)
    results = sorted(con.execute("SELECT * FROM rule_results").fetchall(), key=str)
    undo_v5(con)
    assert store.schema_version(con) == 4
    con.close()
    con = store.connect(sample_db)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert sorted(con.execute(V3_SCORES).fetchall(), key=str) == before
    assert sorted(con.execute("SELECT * FROM rule_results").fetchall(), key=str) == results
    assert store.fetch_one(con, "SELECT count(*) FROM interaction_scores WHERE overrides <> 0")[0] == 0
    con.close()


def test_report_aggregates_count_an_overridden_outcome_as_the_verdict_says(scored, runner, tmp_path):
    from qa_scoring import outcomes as letters
    from qa_scoring.reviews.stored import effective_outcomes_sql

    def fails(con, source: str, rule_id: str) -> int:
        return store.fetch_one(con, f"""SELECT count(*) FROM {source} o JOIN rule_pack_rules p USING (rule_pack_hash)
            WHERE p.rule_id = ? AND {letters.letter_at('o.outcomes', 'p.position')} IN {letters.FAILED_LETTERS}
              AND o.rule_pack_hash IN {letters.CURRENT_PACK}""", [rule_id])[0]

    results = outcomes_of(scored)
    cases = unique_cases(scored)
    (iid, rid), (_, case, ch) = next((k, v) for k, v in sorted(results.items())
                                     if v[0] == "fail" and v[1].strip() in cases)
    con = store.connect(scored, read_only=True)
    before = fails(con, effective_outcomes_sql(), rid)
    con.close()
    f = write_csv(tmp_path / "o.csv", ["case_id", "channel", "rule_id", "verdict", "reviewer"],
                  [[case, ch, rid, "pass", "Ana"]])
    run(runner, scored, "reviews", "import", str(f))
    con = store.connect(scored, read_only=True)
    assert fails(con, effective_outcomes_sql(), rid) == before - 1
    assert fails(con, "rule_outcomes", rid) == before  # the automatic outcomes stay as the rules gave them
    con.close()
    cfg = tmp_path / "off.toml"
    cfg.write_text("[reviews]\noverride = false\n", encoding="utf-8")
    run(runner, scored, "--config", str(cfg), "score")
    con = store.connect(scored, read_only=True)
    assert fails(con, effective_outcomes_sql(), rid) == before  # overrides off: the rules' own counts
    con.close()
