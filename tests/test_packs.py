"""Rule packs as stored objects: metadata in the database, results kept per pack with one current
pack, `rules list` / `rules prune`, and the v4 migration. Real packs in tmp_path, real DuckDB files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.resources import rules_dir
from qa_scoring.rules import load_rule_pack, score_interactions
from qa_scoring.rules.stored import current_pack, list_packs, pack_rules, rule_hash

RESULT_TABLES = ("interaction_scores", "kept_scores", "rule_outcomes", "rule_evidence")


def copy_pack(tmp_path: Path, name: str, edit=None) -> Path:
    """The bundled pack copied to tmp_path/name, each YAML file's text passed through `edit`."""
    target = tmp_path / name
    shutil.copytree(rules_dir(), target)
    for path in sorted(target.glob("*.yaml")):
        if edit:
            path.write_text(edit(path.name, path.read_text(encoding="utf-8")), encoding="utf-8")
    return target


def retitle(prefix: str):
    """An edit giving every rule a new title (the checks unchanged, so the pack hash too)."""
    return lambda _name, text: re.sub(r'(?m)^(\s*title: \{es: )"(.+?)", en: "(.+?)"\}$',
                                      lambda m: f'{m[1]}"{prefix} {m[2]}", en: "{prefix} {m[3]}"}}', text)


def snapshot(con) -> dict:
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=str) for t in RESULT_TABLES}


def test_report_titles_follow_the_scored_pack_not_the_configured_folder(sample_db, runner, tmp_path):
    pack2 = copy_pack(tmp_path, "pack2", retitle("P2 <b>&amp;"))
    db = str(sample_db)
    assert runner.invoke(cli, ["--db", db, "score"]).exit_code == 0
    result = runner.invoke(cli, ["--db", db, "score", "--rules", str(pack2), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scored"] == 0  # same checks, same hash: nothing rescored
    # The configured folder is now a pack that does not even load: the report must not read it.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.yaml").write_text("rules: [{id: x}]\n", encoding="utf-8")
    config = tmp_path / "qa.toml"
    config.write_text(f'[rules]\ndir = "{broken}"\n', encoding="utf-8")
    out = tmp_path / "report"
    result = runner.invoke(cli, ["--db", db, "--config", str(config), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "rules.html").read_text(encoding="utf-8")
    assert "P2 &lt;b&gt;&amp;amp; El agente saluda" in page  # escaped, from pack2
    assert "<b>&amp;" not in page
    con = store.connect(sample_db)
    assert pack_rules(con, current_pack(con))["saludo_inicial"].title.startswith("P2 <b>&amp; ")


def test_titles_of_a_stored_pack_show_in_the_report_language_after_its_folder_is_gone(sample_db, runner, tmp_path):
    old = copy_pack(tmp_path, "old", retitle("Old"))
    db = str(sample_db)
    assert runner.invoke(cli, ["--db", db, "score", "--rules", str(old)]).exit_code == 0
    shutil.rmtree(old)  # only the database remembers the old pack's titles now
    pages = {}
    for lang in ("es", "en"):
        out = tmp_path / f"report-{lang}"
        result = runner.invoke(cli, ["--db", db, "report", "--out", str(out), "--lang", lang])
        assert result.exit_code == 0, result.output
        pages[lang] = (out / "rules.html").read_text(encoding="utf-8")
    assert "Old El agente saluda" in pages["es"] and "Old The agent greets" not in pages["es"]
    assert "Old The agent greets" in pages["en"] and "Old El agente saluda" not in pages["en"]
    assert "On chat channels the agent opens with a greeting" in pages["en"]  # descriptions too
    assert "On chat channels" not in pages["es"]
    con = store.connect(sample_db)
    stored = con.execute("SELECT title, description FROM rule_pack_rules WHERE rule_pack_hash = ? "
                         "AND rule_id = 'saludo_inicial'", [current_pack(con)]).fetchone()
    assert json.loads(stored[0]) == {"es": "Old El agente saluda", "en": "Old The agent greets"}
    assert set(json.loads(stored[1])) == {"es", "en"}


def test_results_of_pack_a_survive_scoring_under_b_and_come_back_without_rescoring(sample_db, tmp_path):
    con = store.connect(sample_db)
    pack_a = load_rule_pack(rules_dir())
    pack_b = load_rule_pack(copy_pack(tmp_path, "b", lambda name, text: text.replace("weight: 2", "weight: 3", 1)
                                      if name.startswith("10_") else text))
    assert pack_a.hash != pack_b.hash
    first = score_interactions(con, pack_a)
    a_results = snapshot(con)
    a_rule_results = sorted(con.execute("SELECT * EXCLUDE (run_id) FROM rule_results").fetchall(), key=str)
    b = score_interactions(con, pack_b)
    assert b.scored == first.scored > 0  # everything scored under B ...
    assert current_pack(con) == pack_b.hash
    kept = con.execute("SELECT count(*), min(rule_pack_hash), max(rule_pack_hash) FROM kept_scores").fetchall()
    assert kept == [(first.scored, pack_a.hash, pack_a.hash)]  # ... and A's scores kept beside it
    assert store.fetch_one(con, "SELECT count(DISTINCT rule_pack_hash) FROM rule_results")[0] == 1
    again = score_interactions(con, pack_a)
    assert again.scored == 0 and again.unchanged == first.scored  # A is back, nothing rescored
    assert current_pack(con) == pack_a.hash
    assert sorted(con.execute("SELECT * EXCLUDE (run_id) FROM rule_results").fetchall(), key=str) == a_rule_results
    assert snapshot(con)["interaction_scores"] == a_results["interaction_scores"]
    assert {p.rule_pack_hash: p.current for p in list_packs(con)} == {pack_a.hash: True, pack_b.hash: False}


def test_an_interaction_changed_while_its_pack_was_not_current_is_rescored_when_it_comes_back(sample_db, tmp_path):
    con = store.connect(sample_db)
    pack_a = load_rule_pack(rules_dir())
    pack_b = load_rule_pack(copy_pack(tmp_path, "b", lambda name, text: text.replace("weight: 2", "weight: 4", 1)
                                      if name.startswith("20_") else text))
    score_interactions(con, pack_a)
    score_interactions(con, pack_b)
    iid = store.fetch_one(con, "SELECT min(interaction_id) FROM interactions")[0]
    con.execute("UPDATE interactions SET answer = 'ya le dije que no', content_hash = 'changed' WHERE interaction_id = ?",
                [iid])
    assert score_interactions(con, pack_b).scored == 1
    assert score_interactions(con, pack_a).scored == 1
    assert store.fetch_one(con, "SELECT content_hash FROM interaction_scores WHERE interaction_id = ?", [iid]) == (
        "changed",)
    rows = store.fetch_one(con, "SELECT count(*), count(DISTINCT (interaction_id, rule_pack_hash)) FROM rule_outcomes")
    assert rows[0] == rows[1]  # one outcome row per interaction and pack, never two


def test_rules_list_and_prune(sample_db, runner, tmp_path):
    db = str(sample_db)
    packs = [rules_dir()] + [copy_pack(tmp_path, f"p{i}", lambda name, text, i=i: text.replace(
        "weight: 1", f"weight: {i + 5}", 1) if name.startswith("50_") else text) for i in range(2)]
    for folder in packs:
        assert runner.invoke(cli, ["--db", db, "score", "--rules", str(folder)]).exit_code == 0
    listed = json.loads(runner.invoke(cli, ["--db", db, "rules", "list", "--json"]).stdout)["packs"]
    assert [p["current"] for p in listed] == [True, False, False]
    assert [p["source"] for p in listed] == [str(packs[2]), str(packs[1]), str(packs[0])]
    assert {p["rules"] for p in listed} == {31} and {p["interactions"] for p in listed} == {2986}
    text = runner.invoke(cli, ["--db", db, "rules", "list"]).stdout.splitlines()
    assert text[1].startswith("* " + listed[0]["rule_pack_hash"][:12]) and len(text) == 4

    bad = runner.invoke(cli, ["--db", db, "rules", "prune", "--keep", "0"])
    assert bad.exit_code == 2 and bad.stderr.strip().splitlines()[-1] == (
        "Error: rules prune --keep 0: must be at least 1 (the current pack is always kept)")
    result = runner.invoke(cli, ["--db", db, "rules", "prune", "--keep", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dropped"] == [listed[2]["rule_pack_hash"]] and summary["interactions_dropped"] == 2986
    con = store.connect(sample_db)
    for table in ("rule_outcomes", "rule_evidence", "kept_scores", "rule_pack_rules", "rule_packs"):
        assert store.fetch_one(con, f"SELECT count(*) FROM {table} WHERE rule_pack_hash = ?",
                               [listed[2]["rule_pack_hash"]])[0] == 0, table
    assert store.fetch_one(con, "SELECT count(*) FROM interaction_scores")[0] == 2986  # current untouched
    con.close()
    again = json.loads(runner.invoke(cli, ["--db", db, "rules", "prune", "--keep", "2", "--json"]).stdout)
    assert again["dropped"] == []


def test_stored_rule_metadata_has_everything_a_report_needs(sample_db):
    con = store.connect(sample_db)
    pack = load_rule_pack(rules_dir())
    score_interactions(con, pack)
    stored = pack_rules(con, pack.hash)
    assert list(stored) == sorted(r.id for r in pack.rules)
    rule = next(r for r in pack.rules if r.id == "saludo_inicial")
    got = stored["saludo_inicial"]
    assert pack_rules(con, pack.hash, "en")["saludo_inicial"].title == rule.title["en"] == "The agent greets"
    assert (got.title, got.field, got.check_kind, got.severity, got.weight, got.file, got.line, got.rule_hash) == (
        rule.title["es"], rule.field, rule.kind, rule.severity, rule.weight, rule.file, rule.line, rule_hash(rule))
    assert [p.rule_pack_hash for p in list_packs(con)] == [pack.hash]
    assert list_packs(con)[0].source == str(pack.path)


V3_SCORES = """SELECT interaction_id, score, critical_failed, rules_applicable, rules_failed, content_hash,
                      rule_pack_hash, run_id FROM interaction_scores"""


def undo_v10(con) -> None:
    """Take a v10 database back to the v9 shape (the facts' token sums gone)."""
    con.execute("""ALTER TABLE daily_facts DROP COLUMN tokens; ALTER TABLE daily_facts DROP COLUMN unknown_tokens;
                   DELETE FROM schema_version WHERE version = 10;""")


def undo_v9(con) -> None:
    """Take a v9 database back to the v8 shape (the predictions' token counts gone)."""
    undo_v10(con)
    con.execute("""ALTER TABLE predictions DROP COLUMN tokens; ALTER TABLE predictions DROP COLUMN unknown_tokens;
                   DELETE FROM schema_version WHERE version = 9;""")


def undo_v8(con) -> None:
    """Take a v8 database back to the v7 shape (the daily facts and alarms tables gone)."""
    undo_v9(con)
    con.execute("""DROP TABLE daily_facts; DROP TABLE daily_rule_facts; DROP TABLE facts_state; DROP TABLE alarms;
                   DELETE FROM schema_version WHERE version = 8;""")


def undo_v7(con) -> None:
    """Take a v7 database back to the v6 shape (the stored rules' specs gone)."""
    undo_v8(con)
    con.execute("ALTER TABLE rule_pack_rules DROP COLUMN spec; DELETE FROM schema_version WHERE version = 7")


def undo_v6(con) -> None:
    """Take a v6 database back to the v5 shape: HTML bodies/answers raw again, with their raw content hash."""
    undo_v7(con)
    raw = {c: f"coalesce({c}_html, {c})" if c in ("body", "answer") else c for c in store.TEXT_COLUMNS}
    content = "md5(concat_ws(chr(31), " + ", ".join(f"coalesce({raw[c]}, chr(30))" for c in store.TEXT_COLUMNS) \
        + ", coalesce(extra, chr(30))))"
    con.execute(f"""UPDATE interactions SET body = {raw['body']}, answer = {raw['answer']}, content_hash = {content}
                    WHERE body_html IS NOT NULL OR answer_html IS NOT NULL;
                    ALTER TABLE interactions DROP COLUMN body_html; ALTER TABLE interactions DROP COLUMN answer_html;
                    DELETE FROM schema_version WHERE version = 6;""")


def undo_v5(con) -> None:
    """Take a v5 database back to the v4 shape (the reviews tables and columns gone)."""
    undo_v6(con)
    con.execute("""DROP TABLE reviews; DROP TABLE review_unmatched; DROP SEQUENCE reviews_seq;
                   ALTER TABLE rule_pack_rules DROP COLUMN attributes;
                   ALTER TABLE interaction_scores DROP COLUMN overrides;
                   ALTER TABLE interaction_scores DROP COLUMN auto_score;
                   ALTER TABLE interaction_scores DROP COLUMN auto_critical_failed;
                   ALTER TABLE kept_scores DROP COLUMN overrides;
                   ALTER TABLE kept_scores DROP COLUMN auto_score;
                   ALTER TABLE kept_scores DROP COLUMN auto_critical_failed;
                   DELETE FROM schema_version WHERE version = 5;""")


def test_the_v4_migration_keeps_a_v3_database_results(sample_db):
    con = store.connect(sample_db)
    pack = load_rule_pack(rules_dir())
    score_interactions(con, pack)
    before = sorted(con.execute("SELECT * FROM rule_results").fetchall(), key=str)
    scores = sorted(con.execute(V3_SCORES).fetchall(), key=str)
    # Take the database back to the v3 shape (as v3 left it after scoring), then open it again.
    undo_v5(con)
    con.execute("""DROP VIEW rule_results; DROP VIEW rule_outcome_rows; DROP TABLE rule_packs; DROP TABLE kept_scores;
                   CREATE TABLE rpr3 AS SELECT rule_pack_hash, position, rule_id FROM rule_pack_rules;
                   DROP TABLE rule_pack_rules;
                   CREATE TABLE rule_pack_rules (rule_pack_hash VARCHAR NOT NULL, position INTEGER NOT NULL,
                       rule_id VARCHAR NOT NULL, PRIMARY KEY (rule_pack_hash, position));
                   INSERT INTO rule_pack_rules SELECT * FROM rpr3; DROP TABLE rpr3;
                   DELETE FROM schema_version WHERE version = 4;""")
    con.execute(store._RULE_RESULTS_VIEW_V2 + store._RULE_OUTCOME_ROWS_VIEW_V3)
    assert store.schema_version(con) == 3
    con.close()
    con = store.connect(sample_db)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert sorted(con.execute("SELECT * FROM rule_results").fetchall(), key=str) == before
    assert sorted(con.execute(V3_SCORES).fetchall(), key=str) == scores
    assert current_pack(con) == pack.hash
    assert pack_rules(con, pack.hash)["saludo_inicial"].title == "saludo_inicial"  # ids until scored again
    assert score_interactions(con, pack).scored == 0  # the same pack: nothing to rescore
    assert pack_rules(con, pack.hash)["saludo_inicial"].title.startswith("El agente saluda")


def test_exports_and_runs_read_rule_metadata_from_the_database(sample_db, runner, tmp_path):
    import csv

    pack2 = copy_pack(tmp_path, "pack2", retitle("=P2"))
    db = str(sample_db)
    assert runner.invoke(cli, ["--db", db, "score", "--rules", str(pack2)]).exit_code == 0
    out = tmp_path / "rules.csv"
    result = runner.invoke(cli, ["--db", db, "export", "--what", "rule_results", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["rule_id"] == "saludo_inicial"]
    assert rows and {r["rule_title"] for r in rows} == {"'=P2 El agente saluda"}  # the Spanish title (exports have one language)
    assert {(r["severity"], r["weight"]) for r in rows} == {("major", "2.0")}
    runs = json.loads(runner.invoke(cli, ["--db", db, "runs", "--json"]).stdout)["runs"]
    assert (runs[0]["command"], runs[0]["rule_pack_source"], runs[0]["rule_pack_rules"]) == ("score", str(pack2), 31)
