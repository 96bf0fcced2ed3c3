"""The rules stage: tiny tables + inline YAML, exact error lines, the default pack, the sample."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.errors import RulePackError
from qa_scoring.resources import rules_dir
from qa_scoring.rules import (check_rule_pack, escape_phrase, fold_regex, load_rule_pack, phrase_pattern,
                              re2_problem, score_interactions, sql_literal)
from tests.conftest import REPO, write_files

SPECIALS = "it's 100% a_b \\ . * ( ) [ ] $ ^ | ? + { } \" ;"


# --- helpers ------------------------------------------------------------------------------------

def pack_dir(tmp_path: Path, yaml_text: str, name: str = "pack.yaml") -> Path:
    root = tmp_path / "pack"
    write_files(root, {name: textwrap.dedent(yaml_text)})
    return root


def one_rule(tmp_path: Path, body: str) -> Path:
    """A pack with one rule; `body` is the rule's YAML after `- id: r`."""
    text = "rules:\n  - id: r\n    title: R\n    weight: 1\n    severity: major\n" + textwrap.indent(
        textwrap.dedent(body), "    ")
    return pack_dir(tmp_path, text)


def add_rows(con, rows: list[dict]) -> None:
    """Insert interactions with only the given fields set (others blank), ids i0, i1, ..."""
    full = []
    for n, row in enumerate(rows):
        values = {c: None for c in store.TEXT_COLUMNS}
        values.update({k: v for k, v in row.items() if k in store.TEXT_COLUMNS})
        full.append({"interaction_id": row.get("interaction_id", f"i{n}"), **values,
                     "created_at": row.get("created_at", "2026-10-20 10:00:00"),
                     "closed_at": row.get("closed_at"), "content_hash": row.get("content_hash", f"h{n}")})
    names = ["interaction_id", *store.TEXT_COLUMNS, "created_at", "closed_at", "content_hash"]
    staged = pa.Table.from_pylist(full, schema=pa.schema([(n, pa.string()) for n in names]))  # noqa: F841
    con.execute(f"""INSERT INTO interactions BY NAME
        SELECT interaction_id, 'default' AS operation, {', '.join(store.TEXT_COLUMNS)},
               created_at::TIMESTAMP AS created_at, closed_at::TIMESTAMP AS closed_at,
               'America/Bogota' AS timezone, content_hash, 'p' AS page_id, 0 AS position,
               now()::TIMESTAMP AS first_seen, now()::TIMESTAMP AS last_seen, now()::TIMESTAMP AS changed_at
        FROM staged""")


def results(con, rule_id: str = "r") -> dict:
    """{interaction_id: 'pass' | 'fail' | 'na'} for one rule."""
    rows = con.execute("SELECT interaction_id, applicable, passed FROM rule_results WHERE rule_id = ?",
                       [rule_id]).fetchall()
    return {i: ("na" if not a else "pass" if p else "fail") for i, a, p in rows}


def score_texts(con, tmp_path: Path, body: str, texts: list, field: str = "answer") -> list[str]:
    add_rows(con, [{field: t} for t in texts])
    score_interactions(con, load_rule_pack(one_rule(tmp_path, body)))
    got = results(con)
    return [got[f"i{n}"] for n in range(len(texts))]


# --- folding and escaping -----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Buenos dias", "pass"), ("Buenos días", "pass"), ("BUENOS DÍAS señor", "pass"), ("buenos\n  Días", "pass"),
    ("Buenos diamantes", "fail"), ("buenosdías", "fail"), ("", "na"), (None, "na"), ("-", "na"), ("  ", "na"),
    ("x" * 10_000 + " buenos días", "pass"), ("x" * 10_000, "fail"),
])
def test_phrases_match_whole_words_case_and_accent_insensitively(con, tmp_path, text, expected):
    got = score_texts(con, tmp_path, "field: answer\ncheck: {contains_any: ['buenos días']}\n", [text])
    assert got == [expected]


def test_accented_word_boundaries_are_unicode_aware(con, tmp_path):
    # RE2's \b is ASCII-only: "llamé" followed by a space must still end a word.
    got = score_texts(con, tmp_path, "field: answer\ncheck: {contains_any: ['llamé']}\n",
                      ["ya llamé ayer", "LLAME", "llamémosle", "ñllamé"])
    assert got == ["pass", "pass", "fail", "fail"]


def test_sql_and_regex_special_characters_in_phrases_are_literal(con, tmp_path):
    phrase = SPECIALS
    yaml_phrase = json.dumps(phrase)  # a JSON string is a valid YAML double-quoted scalar
    got = score_texts(con, tmp_path, f"field: answer\ncheck: {{contains_none: [{yaml_phrase}]}}\n",
                      [f"x {phrase} y", "it's 100x aXb", "'; DROP TABLE interactions; --"])
    assert got == ["fail", "pass", "pass"]
    assert store.fetch_one(con, "SELECT evidence FROM rule_results WHERE interaction_id = 'i0'")[0] == phrase
    assert store.fetch_one(con, "SELECT count(*) FROM interactions")[0] == 3


@pytest.mark.parametrize("phrase", ["'", "%", "_", "\\", ".", "*", "(", ")", "[", "]", "a.b", "100%", "x_y"])
def test_escape_phrase_matches_only_itself(phrase):
    db = duckdb.connect()
    pattern = "^" + escape_phrase(phrase, accent_sensitive=True) + "$"
    assert re2_problem(pattern) is None
    assert db.execute("SELECT regexp_matches(?, ?)", [phrase, pattern]).fetchall() == [(True,)]
    other = phrase.replace(phrase[-1], "Z") if phrase != "Z" else "Y"
    assert db.execute("SELECT regexp_matches(?, ?)", [other, pattern]).fetchall() == [(False,)]


def test_sql_literal_escapes_quotes():
    db = duckdb.connect()
    for value in ["it's", "''", "\\", "%_", "a'); DROP TABLE x; --"]:
        assert db.execute(f"SELECT {sql_literal(value)}").fetchall() == [(value,)]
    with pytest.raises(ValueError):
        sql_literal("a\x00b")


def test_fold_regex_adds_accent_classes_outside_escapes_and_ranges():
    assert fold_regex("dias") == "(?i)d[iíìîï][aáàâäã]s"
    assert fold_regex(r"\pL+a[a-z]", accent_sensitive=True) == r"(?i)\pL+a[a-z]"
    folded = fold_regex(r"(?P<name>\d+) [ao] \p{Lu}")
    assert folded.startswith("(?i)(?P<name>\\d+) [ao") and "\\p{Lu}" in folded
    db = duckdb.connect()
    assert db.execute("SELECT regexp_matches('DÍAS', ?)", [fold_regex("dias")]).fetchall() == [(True,)]
    assert db.execute("SELECT regexp_matches('ó', ?)", [fold_regex("[o]")]).fetchall() == [(True,)]


def test_phrase_pattern_is_valid_re2():
    assert re2_problem(phrase_pattern(["días", SPECIALS, "don't"])) is None


# --- negation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, counts", [
    ("Estoy muy molesto con ustedes", True),
    ("No estoy molesto, solo quiero entender el cobro.", False),
    ("no estoy muy molesto", False),
    ("Nunca he estado tan MOLESTO", True),  # three words between: beyond the cue's reach
    ("Jamás molesto a nadie", False),
    ("No, gracias. Estoy molesto.", True),  # the cue does not cross a sentence end
    ("I'm not upset", False), ("I'm upset", True), ("I don’t feel upset", False),
    ("no estoy molesto pero ahora sí estoy molesto", True),  # a second, un-negated occurrence counts
    ("nomolesto molesto", True),
])
def test_negation_option_ignores_negated_phrases(con, tmp_path, text, counts):
    got = score_texts(con, tmp_path, "field: body\nnegation: true\ncheck: {contains_any: [molesto, upset]}\n",
                      [text], field="body")
    assert got == ["pass" if counts else "fail"]


def test_negation_off_counts_every_occurrence(con, tmp_path):
    got = score_texts(con, tmp_path, "field: body\ncheck: {contains_any: [molesto]}\n", ["no estoy molesto"], "body")
    assert got == ["pass"]


def test_negated_contains_none_evidence_points_at_the_unnegated_occurrence(con, tmp_path):
    text = "No estoy molesto. Bueno sí, estoy molesto 😡"
    got = score_texts(con, tmp_path, "field: body\nnegation: true\ncheck: {contains_none: [molesto]}\n",
                      [text], "body")
    assert got == ["fail"]
    evidence, fld, start, end = store.fetch_one(
        con, "SELECT evidence, evidence_field, evidence_start, evidence_end FROM rule_results")
    assert (evidence, fld) == ("molesto", "body")
    assert text[start:end] == "molesto" and start == text.rindex("molesto")


@pytest.mark.parametrize("text, start", [
    ("Hola", 0), ("hola, señor", 0), ("xhola hola", 6), ("holax hola", 6), ("holax, holá", 7),
    ("Holanda. ¡HOLA!", 10), ("día: hola\nhola", 5), ("😀hola", 1), ("hola" * 3 + " hola", 13),
    ("x holax hola", 8), ("a holas, b holá", 11),
])
def test_contains_none_evidence_offsets_point_at_the_first_whole_word_match(con, tmp_path, text, start):
    assert score_texts(con, tmp_path, "field: answer\ncheck: {contains_none: [hola, 'que tal']}\n", [text]) == ["fail"]
    evidence, got_start, end = store.fetch_one(con, "SELECT evidence, evidence_start, evidence_end FROM rule_results")
    assert (got_start, text[got_start:end]) == (start, evidence) and evidence.lower() in ("hola", "holá")


# --- check kinds --------------------------------------------------------------------------------

def test_matches_not_matches_and_evidence_offsets(con, tmp_path):
    texts = ["tarjeta 4111 1111 1111 1111 gracias", "¿Ñandú? 4242-4242-4242-4242", "cuenta 12345678"]
    got = score_texts(con, tmp_path, "field: answer\ncheck: {not_matches: '\\d(?:[ -]?\\d){12,18}'}\n", texts)
    assert got == ["fail", "fail", "pass"]
    rows = con.execute("SELECT interaction_id, evidence, evidence_start, evidence_end FROM rule_results "
                       "WHERE NOT passed ORDER BY 1").fetchall()
    assert rows == [("i0", "4111 1111 1111 1111", 8, 27), ("i1", "4242-4242-4242-4242", 8, 27)]
    assert texts[1][8:27] == "4242-4242-4242-4242"


def test_length_in_set_not_empty_and_duration(con, tmp_path):
    write_files(tmp_path / "pack", {"p.yaml": textwrap.dedent("""\
        rules:
          - {id: len, title: L, field: comments, check: {length: {min: 3, max: 5, unit: words}}, weight: 1, severity: minor}
          - {id: chars, title: C, field: comments, check: {length: {max: 10}}, weight: 1, severity: minor}
          - {id: code, title: S, field: cod_act, check: {not_in_set: [GENERAL, 'N/A']}, weight: 1, severity: minor}
          - {id: chan, title: I, field: channel, check: {in_set: [email, whatsapp]}, weight: 1, severity: minor}
          - {id: full, title: N, field: answer, check: {not_empty: true}, weight: 1, severity: minor}
          - {id: dur, title: D, check: {duration: {min_seconds: 0, max_seconds: 3600}}, weight: 1, severity: minor}
        """)})
    add_rows(con, [
        {"comments": "uno dos tres", "cod_act": " general ", "channel": "Email", "answer": "x",
         "closed_at": "2026-10-20 10:30:00"},
        {"comments": "ok", "cod_act": "VENTA", "channel": "twitter", "answer": " - ", "closed_at": "2026-10-20 12:00:00"},
        {"comments": None, "cod_act": "", "channel": "", "answer": None, "closed_at": None},
        {"comments": "a b c d e f", "cod_act": "n/a", "channel": "WhatsApp", "answer": "hola",
         "closed_at": "2026-10-20 09:00:00"},
    ])
    score_interactions(con, load_rule_pack(tmp_path / "pack"))
    expect = {
        "len": ["pass", "fail", "na", "fail"], "chars": ["fail", "pass", "na", "fail"],
        "code": ["fail", "pass", "na", "fail"], "chan": ["pass", "fail", "na", "pass"],
        "full": ["pass", "fail", "fail", "pass"], "dur": ["pass", "fail", "na", "fail"],
    }
    for rule_id, outcomes in expect.items():
        got = results(con, rule_id)
        assert [got[f"i{n}"] for n in range(4)] == outcomes, rule_id
    evidence = dict(con.execute("SELECT rule_id, evidence FROM rule_results WHERE interaction_id = 'i3' "
                                "AND NOT passed").fetchall())
    assert evidence == {"len": "6 words (min 3, max 5 words)", "chars": "11 chars (max 10 chars)",
                        "code": "n/a", "dur": "-3600 s (min 0, max 3600 s)"}


def test_when_conditions(con, tmp_path):
    pack = one_rule(tmp_path, """\
        field: answer
        when:
          channel: [email, webchat]
          field_matches: {body: 'factura'}
          min_length: {body: 10}
        check: {contains_any: [hola]}
        """)
    add_rows(con, [{"channel": "Email", "body": "mi FACTURA llegó doble", "answer": "Hola"},
                   {"channel": "whatsapp", "body": "mi factura llegó doble", "answer": "Hola"},
                   {"channel": "webchat", "body": "factura", "answer": "Hola"},
                   {"channel": "WEBCHAT", "body": "otra cosa aquí escrita", "answer": "Hola"},
                   {"channel": "webchat", "body": "la fáctura de este mes", "answer": "buenas"}])
    score_interactions(con, load_rule_pack(pack))
    assert results(con) == {"i0": "pass", "i1": "na", "i2": "na", "i3": "na", "i4": "fail"}


def test_case_and_accent_sensitive_options(con, tmp_path):
    got = score_texts(con, tmp_path, "field: answer\ncase_sensitive: true\naccent_sensitive: true\n"
                                     "check: {contains_any: ['Días']}\n", ["Días", "días", "Dias", "DÍAS"])
    assert got == ["pass", "fail", "fail", "fail"]


# --- scores -------------------------------------------------------------------------------------

def test_score_is_weighted_share_of_applicable_rules_and_critical_zeroes_it(con, tmp_path):
    write_files(tmp_path / "pack", {"p.yaml": textwrap.dedent("""\
        rules:
          - {id: a, title: A, field: answer, check: {contains_any: [hola]}, weight: 3, severity: major}
          - {id: b, title: B, field: answer, check: {contains_any: [gracias]}, weight: 1, severity: minor}
          - {id: c, title: C, field: answer, check: {contains_none: [idiota]}, weight: 1, severity: critical}
          - {id: d, title: D, field: subject, when: {channel: [Email]}, check: {not_empty: true}, weight: 5, severity: major}
        """)})
    add_rows(con, [{"answer": "Hola, buen día"}, {"answer": "hola y gracias"}, {"answer": "hola idiota, gracias"},
                   {"answer": None, "channel": "whatsapp"}])
    summary = score_interactions(con, load_rule_pack(tmp_path / "pack"))
    rows = con.execute("SELECT interaction_id, score, critical_failed, rules_applicable, rules_failed "
                       "FROM interaction_scores ORDER BY 1").fetchall()
    assert rows == [("i0", 4 / 5 * 100, False, 3, 1), ("i1", 100.0, False, 3, 0), ("i2", 0.0, True, 3, 1),
                    ("i3", None, False, 0, 0)]
    assert summary.scored == 4 and summary.critical_failed == 1 and summary.rule_results == 16
    assert store.fetch_one(con, "SELECT count(*) FROM rule_results")[0] == 16


def test_incremental_scoring_and_rescoring_after_a_rule_change(con, tmp_path):
    add_rows(con, [{"answer": "hola"}, {"answer": "adiós"}, {"answer": "hola de nuevo"}])
    pack = load_rule_pack(one_rule(tmp_path, "field: answer\ncheck: {contains_any: [hola]}\n"))
    assert score_interactions(con, pack).scored == 3
    assert score_interactions(con, pack).scored == 0  # nothing changed
    con.execute("UPDATE interactions SET answer = 'hola', content_hash = 'changed' WHERE interaction_id = 'i1'")
    add_rows(con, [{"interaction_id": "new", "answer": "nada"}])
    summary = score_interactions(con, pack, run_id=7)
    assert (summary.scored, summary.unchanged) == (2, 2)
    assert results(con) == {"i0": "pass", "i1": "pass", "i2": "pass", "new": "fail"}
    assert store.fetch_one(con, "SELECT count(*) FROM rule_results")[0] == 4
    assert store.fetch_one(con, "SELECT content_hash FROM interaction_scores WHERE interaction_id = 'i1'")[0] == "changed"
    # A changed pack rescored everything and replaces every old result.
    (tmp_path / "pack" / "pack.yaml").write_text((tmp_path / "pack" / "pack.yaml").read_text().replace("[hola]", "[nada]"))
    changed = load_rule_pack(tmp_path / "pack")
    assert changed.hash != pack.hash
    assert score_interactions(con, changed).scored == 4
    assert results(con) == {"i0": "fail", "i1": "fail", "i2": "fail", "new": "pass"}
    assert con.execute("SELECT DISTINCT rule_pack_hash FROM rule_results").fetchall() == [(changed.hash,)]
    assert score_interactions(con, changed, full=True).scored == 4
    assert store.fetch_one(con, "SELECT count(*) FROM rule_results")[0] == 4
    # Interactions that disappeared (rebuild) lose their results.
    con.execute("DELETE FROM interactions WHERE interaction_id = 'new'")
    score_interactions(con, changed)
    assert store.fetch_one(con, "SELECT count(*) FROM interaction_scores")[0] == 3
    assert store.fetch_one(con, "SELECT count(*) FROM rule_results")[0] == 3


def test_batches_give_the_same_results_as_one_pass(con, tmp_path):
    texts = ["hola", "adiós", None, "hola otra vez", "nada", "HOLA", "x"]
    add_rows(con, [{"answer": t} for t in texts])
    pack = load_rule_pack(one_rule(tmp_path, "field: answer\ncheck: {contains_any: [hola]}\n"))
    summary = score_interactions(con, pack, batch_rows=2)
    assert (summary.scored, summary.rule_results, summary.mean_score) == (7, 7, 50.0)
    one_pass = results(con)
    con.execute("UPDATE interactions SET answer = 'hola', content_hash = 'new' WHERE interaction_id IN ('i1', 'i6')")
    assert score_interactions(con, pack, batch_rows=3).scored == 2
    assert results(con) == {**one_pass, "i1": "pass", "i6": "pass"}
    assert store.fetch_one(con, "SELECT count(*), count(DISTINCT interaction_id) FROM rule_results") == (7, 7)


LONG_ROWS = [  # the rule_results contract, one row per interaction and rule, every outcome kind
    ("i1", "b_rule", True, True, None, None, None, None, "packA", 3),
    ("i1", "a_rule", True, False, "ya le dije", "answer", 4, 14, "packA", 3),  # failed, text evidence
    ("i1", "c_rule", False, None, None, None, None, None, "packA", 3),  # not applicable
    ("i2", "a_rule", True, False, None, None, None, None, "packA", 3),  # failed, no evidence
    ("i2", "b_rule", True, False, "12 words (min 20 words)", "answer", None, None, "packA", 3),  # value evidence
    ("i2", "c_rule", True, True, None, None, None, None, "packA", 3),
    ("i3", "a_rule", True, True, None, None, None, None, "packB", None),  # another pack, one rule only
]
LONG_COLUMNS = ("interaction_id VARCHAR, rule_id VARCHAR, applicable BOOLEAN, passed BOOLEAN, evidence VARCHAR, "
                "evidence_field VARCHAR, evidence_start INTEGER, evidence_end INTEGER, rule_pack_hash VARCHAR, "
                "run_id BIGINT")


def test_a_v1_database_keeps_its_rule_results_through_the_v2_migration(tmp_path):
    db = str(tmp_path / "v1.duckdb")
    c = duckdb.connect(db)
    c.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
    c.execute(store.MIGRATIONS[0])  # rule_results was a table in schema v1
    c.execute("INSERT INTO schema_version VALUES (1, now())")
    c.executemany("INSERT INTO rule_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", LONG_ROWS)
    c.close()
    con = store.connect(db)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    # rule_results shows the current pack (v4): the one most results came from; packB's are kept.
    assert store.fetch_one(con, "SELECT rule_pack_hash FROM rule_packs WHERE is_current")[0] == "packA"
    assert sorted(con.execute("SELECT * FROM rule_results").fetchall(), key=str) == sorted(
        [r for r in LONG_ROWS if r[8] == "packA"], key=str)
    con.execute("UPDATE rule_packs SET is_current = (rule_pack_hash = 'packB')")
    assert con.execute("SELECT * FROM rule_results").fetchall() == [r for r in LONG_ROWS if r[8] == "packB"]
    con.execute("UPDATE rule_packs SET is_current = (rule_pack_hash = 'packA')")
    assert con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'rule_results'"
                       ).fetchall() == [("VIEW",)]
    # Stored compactly: one outcome row per interaction, evidence rows only for failures that have one.
    assert con.execute("SELECT interaction_id, outcomes FROM rule_outcomes ORDER BY 1").fetchall() == [
        ("i1", "epn"), ("i2", "fep"), ("i3", "p")]
    assert store.fetch_one(con, "SELECT count(*) FROM rule_evidence")[0] == 2
    assert_outcome_rows_match(con)
    con.close()


def test_insert_rule_results_round_trips_the_long_form(con):
    con.execute(f"CREATE TEMP TABLE long_rows ({LONG_COLUMNS})")
    con.executemany("INSERT INTO long_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", LONG_ROWS[:-2])  # i2 lacks c_rule
    store.insert_rule_results(con, "long_rows")
    got = con.execute("SELECT * FROM rule_results").fetchall()
    assert sorted(got, key=str) == sorted(LONG_ROWS[:-2], key=str)  # a missing result stays missing
    assert_outcome_rows_match(con)


def assert_outcome_rows_match(con) -> None:
    """rule_outcome_rows is rule_results without the evidence columns, row for row."""
    long = "SELECT interaction_id, rule_id, applicable, passed, rule_pack_hash, run_id FROM rule_results"
    for a, b in ((long, "SELECT * FROM rule_outcome_rows"), ("SELECT * FROM rule_outcome_rows", long)):
        assert con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall() == [(0,)]


def test_rule_results_has_one_row_per_interaction_and_rule_with_evidence(sample_db):
    con = store.connect(sample_db)
    pack = load_rule_pack(rules_dir())
    score_interactions(con, pack)
    n, rules = store.fetch_one(con, "SELECT count(*) FROM interactions")[0], len(pack.rules)
    assert store.fetch_one(con, "SELECT count(*), count(DISTINCT (interaction_id, rule_id)) FROM rule_results") == (
        n * rules, n * rules)
    # Evidence only on failed rules, and every text evidence is the raw text at its offsets.
    assert store.fetch_one(con, "SELECT count(*) FROM rule_results WHERE evidence IS NOT NULL "
                                "AND NOT (applicable AND NOT passed)")[0] == 0
    spans = con.execute("""SELECT r.evidence, i.answer, r.evidence_start, r.evidence_end FROM rule_results r
                           JOIN interactions i USING (interaction_id)
                           WHERE r.evidence_field = 'answer' AND r.evidence_start IS NOT NULL""").fetchall()
    assert len(spans) > 50
    assert all(answer[start:end] == evidence for evidence, answer, start, end in spans)
    assert_outcome_rows_match(con)
    con.close()


def test_table_scan_and_arrow_batches_give_the_same_results(sample_db, monkeypatch):
    """Small batches go to DuckDB as Arrow record batches (parallel), big ones as a table scan."""
    from qa_scoring.rules import score as score_module

    con = store.connect(sample_db)
    pack = load_rule_pack(rules_dir())
    results_sql = "SELECT * EXCLUDE (run_id) FROM rule_results ORDER BY interaction_id, rule_id"
    scores_sql = "SELECT * EXCLUDE (run_id) FROM interaction_scores ORDER BY interaction_id"
    score_interactions(con, pack, full=True)
    assert store.fetch_one(con, "SELECT count(*) FROM interactions")[0] < score_module.SMALL_BATCH_ROWS
    by_arrow = con.execute(results_sql).fetchall(), con.execute(scores_sql).fetchall()
    monkeypatch.setattr(score_module, "SMALL_BATCH_ROWS", 0)
    score_interactions(con, pack, full=True)
    assert (con.execute(results_sql).fetchall(), con.execute(scores_sql).fetchall()) == by_arrow
    con.close()


OVERLAPPING_PACK = """\
rules:
  - {id: curt, title: C, field: answer, check: {contains_none: ["no es mi problema", "ya le dije", "es culpa de usted"]},
     weight: 1, severity: major}
  - {id: blame, title: B, field: answer, check: {contains_none: ["usted no entiende", "culpa", "usted"]},
     weight: 1, severity: major}
  - {id: caps, title: K, field: answer, case_sensitive: true, accent_sensitive: true,
     check: {contains_none: ["NO SE PUEDE", "Día"]}, weight: 1, severity: major}
  - {id: short, title: S, field: answer, check: {contains_none: ["ya", "le", "no es"]}, weight: 1, severity: minor}
  - {id: overlap, title: O, field: answer, check: {contains_none: ["usted no entiende"]}, weight: 1, severity: minor}
  - {id: neg, title: N, field: answer, negation: true, check: {contains_none: ["problema", "molesto"]},
     weight: 1, severity: minor}
  - {id: when, title: W, field: answer, when: {field_contains: {answer: ["dije", "no entiende"]}},
     check: {not_empty: true}, weight: 1, severity: minor}
"""


def test_shared_fragment_pass_decides_exactly_like_each_rules_own_pattern(con, tmp_path):
    """Rules decided on the extracted phrase fragments must agree with their own pattern on the
    whole text: adjacent phrases, phrases inside others, overlaps, case/accent options, negation,
    hostile text."""
    import random

    from qa_scoring.rules import sql as sql_module

    pack = load_rule_pack(pack_dir(tmp_path, OVERLAPPING_PACK))
    assert sql_module._screens(pack)["answer"][0] == "fragments"
    pieces = ["no es mi problema", "ya le dije", "es culpa de usted", "usted no entiende", "culpa", "usted",
              "NO SE PUEDE", "no se puede", "Día", "día", "DIA", "ya", "le", "no es", "problema", "molesto",
              "no estoy molesto", "nunca dije", "dije", "ustedes", "culpable", "yale", "le\u0301", "ÚSTED",
              "es culpa de usted no entiende", "ya le dijeron", "  ", "\n", ", ", ".", "¡", "!", "-", "_", "'",
              "😀", "<script>", "x"]
    blns = json.loads((REPO / "tests" / "blns.json").read_text(encoding="utf-8"))
    rng = random.Random(7)
    texts = []
    for _ in range(1500):
        parts = [rng.choice(pieces if rng.random() < 0.85 else blns) for _ in range(rng.randint(1, 8))]
        texts.append(rng.choice(["", " ", "  "]).join(parts))
    texts += ["ya le dije es culpa de usted no entiende", "es culpa de usted no entiende",
              "no es mi problema ya le dije", "usted no entiende ya", "le ya le"]
    add_rows(con, [{"answer": t} for t in texts])
    query = "SELECT interaction_id, rule_id, applicable, passed, evidence FROM rule_results ORDER BY 1, 2"
    score_interactions(con, pack)
    with_fragments = con.execute(query).fetchall()
    original = sql_module._fragment_pattern
    sql_module._fragment_pattern = lambda lists: None  # each rule runs its own pattern on the text
    try:
        assert sql_module._screens(pack)["answer"][0] == "flag"
        score_interactions(con, pack, full=True)
    finally:
        sql_module._fragment_pattern = original
    assert con.execute(query).fetchall() == with_fragments
    failed = {rule: sum(1 for _, r, a, p, _ in with_fragments if r == rule and a and not p)
              for rule in ("curt", "blame", "caps", "short", "neg", "overlap")}
    assert all(n > 50 for n in failed.values()), failed  # every rule had failures to compare


def test_fragment_pattern_merges_overlapping_phrases_or_declines():
    from qa_scoring.rules.sql import _fragment_pattern

    opts = {"case_sensitive": False, "accent_sensitive": False}
    merged = _fragment_pattern([(["culpa de usted"], opts), (["usted no entiende"], opts)])
    text = "es CULPA de  usted no entiende."
    assert duckdb.sql("SELECT regexp_extract_all($t, $p)", params={"t": text, "p": merged}).fetchall() == [
        ([" CULPA de  usted no entiende"],)]  # one fragment covers both overlapping phrases
    assert _fragment_pattern([(["¡hola!"], opts), (["adiós"], opts)]) is None  # phrase edges are not letters
    assert _fragment_pattern([(["a b a"], opts), (["b c"], opts)]) is None  # merges never end


def test_pack_hash_ignores_titles_examples_and_layout(tmp_path):
    a = load_rule_pack(one_rule(tmp_path / "a", "field: answer\ncheck: {contains_any: [hola]}\n"))
    b = load_rule_pack(one_rule(tmp_path / "b", "field: answer\ncheck:\n  contains_any:\n    - hola\n"
                                                "description: otra\nexamples: {pass: [hola]}\n"))
    c = load_rule_pack(one_rule(tmp_path / "c", "field: answer\ncheck: {contains_any: [hola, hi]}\n"))
    assert a.hash == b.hash != c.hash and len(a.hash) == 64


# --- validation: every problem, one line each, with file:line ----------------------------------

BAD_PACK = """\
rules:
  - id: saludo
    title: Saluda
    feild: answer
    check: {contains_any: []}
    weight: 0
    severity: mayor
  - id: saludo
    title: Otra
    field: anwser
    check: {matches: '(?=hola)'}
    weight: 1
    severity: minor
  - id: largo
    title: Largo
    field: answer
    check: {length: {min: 50, max: 10}}
    weight: 1
    severity: minor
    negation: yes
  - id: varias
    title: Varias
    field: answer
    check: {contains_any: [hola], not_empty: true}
    weight: 1
    severity: critical
  - id: numeros
    title: N
    field: skill_id
    check: {in_set: [0012, "0034"]}
    weight: 1
    severity: minor
    examples: {pass: [x], fial: [y]}
"""


def test_every_validation_problem_is_reported_with_file_and_line(tmp_path):
    root = pack_dir(tmp_path, BAD_PACK, "bad.yaml")
    with pytest.raises(RulePackError) as info:
        load_rule_pack(root)
    lines = str(info.value).splitlines()
    f = f"{root}/bad.yaml"
    assert lines == [
        f"13 problems in rule pack {root}",
        f"{f}:4: rule saludo: unknown key 'feild' (did you mean 'field'?)",
        f"{f}:5: rule saludo: contains_any is an empty list",
        f"{f}:2: rule saludo: missing required key 'field' (a contains_any check reads one field)",
        f"{f}:6: rule saludo: weight must be a finite number > 0, got 0",
        f"{f}:7: rule saludo: severity must be minor, major or critical, got 'mayor' (did you mean 'major'?)",
        f"{f}:8: rule saludo: duplicate id, also defined at {f}:2",
        f"{f}:11: rule saludo: matches: unsupported construct for RE2: look-ahead (?=...)",
        f"{f}:10: rule saludo: unknown field 'anwser' (did you mean 'answer'?)",
        f"{f}:20: rule largo: negation must be true or false, got 'yes'",
        f"{f}:17: rule largo: length bounds inverted: min 50 > max 10",
        f"{f}:24: rule varias: check has 2 kinds (contains_any, not_empty); use one per rule",
        f"{f}:30: rule numeros: in_set[0] must be text, got 10 (quote it: YAML reads it as a number)",
        f"{f}:33: rule numeros: unknown key 'fial' in examples (did you mean 'fail'?)",
    ]
    assert info.value.details == tuple(lines[1:])  # what the CLI prints before the Error: line


@pytest.mark.parametrize("body, message", [
    ("field: answer\ncheck: {matches: '(?<=a)b'}\n", "matches: unsupported construct for RE2: look-behind (?<=...)"),
    ("field: answer\ncheck: {matches: '(?!a)b'}\n", "matches: unsupported construct for RE2: negative look-ahead (?!...)"),
    ("field: answer\ncheck: {matches: '(a)\\1'}\n", "matches: unsupported construct for RE2: backreference \\1"),
    ("field: answer\ncheck: {matches: 'a++'}\n", "matches: unsupported construct for RE2: possessive quantifier ++"),
    ("field: answer\ncheck: {matches: '[a'}\n", "matches: invalid RE2 regex: missing ]: [a"),
    ("field: answer\ncheck: {contans_any: [a]}\n", "unknown check kind 'contans_any' (did you mean 'contains_any'?)"),
    ("field: answer\ncheck: {length: {min: 1, unit: lines}}\n", "length.unit must be chars or words, got 'lines'"),
    ("check: {duration: {from: created, max_seconds: 5}}\n",
     "duration.from must be one of created_at, closed_at, got 'created' (did you mean 'created_at'?)"),
    ("field: answer\ncheck: {duration: {max_seconds: 5}}\n", "duration names its timestamps in from / to: remove 'field'"),
    ("field: answer\ncheck: {not_empty: true}\nnegation: true\n",
     "negation applies to phrase lists only (contains_any, contains_none, when.field_contains)"),
    ("field: answer\ncheck: {not_empty: true}\nwhen: {chanel: [x]}\n", "unknown key 'chanel' in when (did you mean 'channel'?)"),
    ("field: answer\ncheck: {contains_any: ['  ']}\n", "contains_any[0] is empty"),
])
def test_single_problem_messages(tmp_path, body, message):
    root = one_rule(tmp_path, body)
    with pytest.raises(RulePackError) as info:
        load_rule_pack(root)
    assert str(info.value).split(": rule r: ", 1)[1] == message
    assert str(info.value).startswith(f"{root}/pack.yaml:")


def test_invalid_yaml_and_missing_folder(tmp_path):
    root = pack_dir(tmp_path, "rules:\n  - id: a\n    title: x: y\n")
    with pytest.raises(RulePackError, match=r"pack\.yaml:3: invalid YAML: mapping values are not allowed here$"):
        load_rule_pack(root)
    with pytest.raises(RulePackError, match=r"nope: rule pack folder not found$"):
        load_rule_pack(tmp_path / "nope")
    write_files(tmp_path / "empty", {"README.md": "x"})
    with pytest.raises(RulePackError, match=r"no \*\.yaml rule files in the folder$"):
        load_rule_pack(tmp_path / "empty")


def test_yaml_no_is_a_word_not_false(tmp_path):
    pack = load_rule_pack(one_rule(tmp_path, "field: answer\ncheck: {contains_any: [no, yes, on]}\n"))
    assert pack.rules[0].arg == ["no", "yes", "on"]


def test_unsafe_yaml_tags_are_refused(tmp_path):
    root = pack_dir(tmp_path, "rules: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(RulePackError, match="invalid YAML"):
        load_rule_pack(root)


# --- rules check ----------------------------------------------------------------------------------

def test_examples_run_through_the_scoring_sql(tmp_path):
    root = one_rule(tmp_path, """\
        field: answer
        when: {channel: [webchat]}
        check: {contains_any: [hola]}
        examples:
          pass: ["Hola!", {channel: WEBCHAT, answer: "HOLA"}]
          fail: ["holanda"]
          na: [{channel: Email, answer: hola}, ""]
        """)
    summary = check_rule_pack(root)
    assert summary.text() == "ok: 1 rules, 5 examples passed"
    bad = one_rule(tmp_path / "b", "field: answer\ncheck: {contains_any: [hola]}\nexamples: {fail: ['Hola, ¿qué tal?']}\n")
    with pytest.raises(RulePackError) as info:
        check_rule_pack(bad)
    assert str(info.value) == (f"{bad}/pack.yaml:8: rule r: example fail[0] 'Hola, ¿qué tal?' passed, "
                               "expected fail")


def test_default_pack_examples_all_pass():
    summary = check_rule_pack(rules_dir())
    assert summary.rules >= 30 and summary.examples >= 60
    pack = load_rule_pack(rules_dir())
    assert all(rule.examples for rule in pack.rules)
    assert {r.severity for r in pack.rules} == {"minor", "major", "critical"}


def test_cli_rules_check(runner, tmp_path):
    result = runner.invoke(cli, ["rules", "check", str(rules_dir())])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ") and result.stdout.rstrip().endswith("examples passed")
    root = pack_dir(tmp_path, BAD_PACK, "bad.yaml")
    result = runner.invoke(cli, ["rules", "check", str(root)])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"Error: 13 problems in rule pack {root}"
    assert f"{root}/bad.yaml:4: rule saludo: unknown key 'feild' (did you mean 'field'?)" in result.stderr
    one = one_rule(tmp_path / "one", "field: anwser\ncheck: {not_empty: true}\n")
    result = runner.invoke(cli, ["rules", "check", str(one)])
    assert (result.exit_code, result.stderr) == (2, f"Error: {one}/pack.yaml:6: rule r: unknown field 'anwser' "
                                                    "(did you mean 'answer'?)\n")


# --- the default pack on the bundled sample ----------------------------------------------------

def test_cli_score_on_the_sample(runner, sample_db):
    result = runner.invoke(cli, ["--db", str(sample_db), "score", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["scored"] > 2000 and summary["unchanged"] == 0 and summary["rules"] >= 30
    again = json.loads(runner.invoke(cli, ["--db", str(sample_db), "score", "--json"]).stdout)
    assert (again["scored"], again["unchanged"]) == (0, summary["scored"])
    full = runner.invoke(cli, ["--db", str(sample_db), "score", "--full"])
    assert full.stdout.startswith(f"scored {summary['scored']:,} interactions with ")
    con = store.connect(sample_db, read_only=True)
    runs = con.execute("SELECT command, status, rule_pack_hash FROM runs ORDER BY run_id").fetchall()
    assert runs[-1] == ("score", "success", summary["rule_pack_hash"])
    # Every text evidence points at the raw text: raw[start:end] == evidence.
    rows = con.execute("""SELECT r.evidence, r.evidence_field, r.evidence_start, r.evidence_end,
                                 i.answer, i.body, i.comments, i.subject
                          FROM rule_results r JOIN interactions i USING (interaction_id)
                          WHERE r.evidence_start IS NOT NULL""").fetchall()
    assert rows
    for evidence, fld, start, end, *texts in rows:
        raw = dict(zip(["answer", "body", "comments", "subject"], texts))[fld]
        assert raw[start:end] == evidence
    con.close()


def test_cli_score_bad_pack_exits_2(runner, sample_db, tmp_path):
    root = one_rule(tmp_path, "field: anwser\ncheck: {not_empty: true}\n")
    result = runner.invoke(cli, ["--db", str(sample_db), "score", "--rules", str(root)])
    assert result.exit_code == 2
    assert result.stderr.endswith("rule r: unknown field 'anwser' (did you mean 'answer'?)\n")


def _sample_truth() -> pa.Table:
    spec = importlib.util.spec_from_file_location("generate_sample", REPO / "data" / "generate_sample.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rows = [{"case_id": row["case_id"], "channel": row["channel"], "date_creation": row["date_creation"],
             "pci": t["pci"], "insult": t["insult"], "negated": t["negated"], "curt": t["curt"], "caps": t["caps"],
             "late": t["late"]}
            for row, t in gen.generate_with_truth()]
    return pa.Table.from_pylist(rows)


def test_planted_behaviours_in_the_sample_are_found(sample_db):
    con = store.connect(sample_db)
    score_interactions(con, load_rule_pack(rules_dir()))
    means = dict(con.execute("SELECT agent_name, avg(score) FROM interaction_scores JOIN interactions "
                             "USING (interaction_id) GROUP BY 1").fetchall())
    curt = ("Andrés Felipe Rodríguez", "Jhon Jairo Castaño")
    polite = ("Ana Lucía Martínez", "María José Gómez", "Camila Hernández")
    assert max(means[a] for a in curt) < min(means[a] for a in polite) - 8, means
    truth = _sample_truth()  # noqa: F841 — read by DuckDB below
    con.execute("""CREATE TEMP TABLE judged AS
        SELECT t.*, r.rule_id, r.applicable, r.passed FROM rule_results r JOIN interactions i USING (interaction_id)
        JOIN (SELECT DISTINCT * FROM truth) t ON t.case_id = i.case_id AND t.channel = i.channel
             AND t.date_creation = i.date_creation""")
    # PCI: every planted card-number / CVV answer fails a critical rule; (almost) nothing else does.
    planted, caught, others = store.fetch_one(con, """
        SELECT count(DISTINCT case_id) FILTER (pci), count(DISTINCT case_id) FILTER (pci AND NOT passed),
               count(DISTINCT case_id) FILTER (NOT pci AND NOT passed)
        FROM judged WHERE rule_id IN ('pci_numero_tarjeta', 'pci_pide_cvv')""")
    assert planted >= 5 and caught == planted and others <= 2
    insults, caught = store.fetch_one(con, "SELECT count(*) FILTER (insult), count(*) FILTER (insult AND NOT passed) "
                                           "FROM judged WHERE rule_id = 'lenguaje_insultante'")
    assert caught == insults
    curt_rows, curt_caught, polite_flagged, polite_rows = store.fetch_one(con, """
        SELECT count(*) FILTER (curt), count(*) FILTER (curt AND failed),
               count(*) FILTER (NOT curt AND failed), count(*) FILTER (NOT curt)
        FROM (SELECT case_id, channel, date_creation, any_value(curt) AS curt, bool_or(NOT passed) AS failed
              FROM judged WHERE rule_id IN ('frases_cortantes', 'frases_cortantes_en') AND applicable
              GROUP BY ALL)""")
    assert curt_caught > 0.8 * curt_rows and polite_flagged < 0.01 * polite_rows
    shouted, caught, others = store.fetch_one(con, "SELECT count(*) FILTER (caps), count(*) FILTER (caps AND NOT passed), "
                                                   "count(*) FILTER (NOT caps AND NOT passed) FROM judged "
                                                   "WHERE rule_id = 'sin_gritos'")
    assert shouted > 20 and caught >= 0.9 * shouted and others <= 2
    late, caught, others = store.fetch_one(con, "SELECT count(*) FILTER (late AND applicable), count(*) FILTER "
                                                "(late AND NOT passed), count(*) FILTER (NOT late AND NOT passed) "
                                                "FROM judged WHERE rule_id = 'tiempo_chat'")
    assert late > 50 and caught == late and others <= 5
    # "No estoy molesto" is not an upset customer: the empathy rule does not apply to negated bodies.
    negated, applicable = store.fetch_one(con, "SELECT count(*), count(*) FILTER (applicable) FROM judged "
                                               "WHERE rule_id = 'empatia_cliente_molesto' AND negated")
    assert negated > 20 and applicable == 0
    con.close()


# --- titles and descriptions per language (issue 12 item 8) ----------------------------------------

def test_title_and_description_per_language_or_plain(tmp_path):
    pack = load_rule_pack(pack_dir(tmp_path, """\
        rules:
          - id: a
            title: {en: " The agent greets ", es: El agente saluda}
            description:
              es: Abre con un saludo.
            field: answer
            check: {contains_any: [hola]}
            weight: 1
            severity: minor
          - {id: b, title: Solo un texto, description: "", field: answer, check: {not_empty: true}, weight: 1, severity: minor}
        """))
    a, b = pack.rules
    assert a.title == {"es": "El agente saluda", "en": "The agent greets"}
    assert list(a.title) == ["es", "en"]  # stored in one order, whatever the YAML's
    assert a.description == {"es": "Abre con un saludo."}
    assert b.title == "Solo un texto" and b.description == ""


def test_title_per_language_errors_name_file_and_line(tmp_path):
    root = pack_dir(tmp_path, """\
        rules:
          - id: a
            title:
              es: Saluda
              sp: Saluda
              en: ""
            description: {en: [x]}
            field: answer
            check: {not_empty: true}
            weight: 1
            severity: minor
          - {id: b, title: {}, field: answer, check: {not_empty: true}, weight: 1, severity: minor}
          - {id: c, title: 7, description: {es: A, es: B}, field: answer, check: {not_empty: true}, weight: 1, severity: minor}
        """)
    with pytest.raises(RulePackError) as err:
        load_rule_pack(root)
    f = str(root / "pack.yaml")
    assert err.value.details == (
        f"{f}:5: rule a: unknown language 'sp' in title (one of es, en)",
        f"{f}:6: rule a: title.en must be a non-empty text, got ''",
        f"{f}:7: rule a: description.en must be a non-empty text, got a list of 1 items",
        f"{f}:12: rule b: title must be a text or a mapping of language: text (es, en), got a mapping of 0 keys",
        f"{f}:13: rule c: title must be a text or a mapping of language: text (es, en), got 7",
        f"{f}:13: rule c: description: language 'es' given twice",
    )


def test_default_pack_has_every_title_and_description_in_both_languages():
    for rule in load_rule_pack(rules_dir()).rules:
        assert isinstance(rule.title, dict) and set(rule.title) == {"es", "en"}, rule.id
        assert " / " not in rule.title["es"] + rule.title["en"], rule.id  # no bilingual one-liners left
        assert rule.description == "" or set(rule.description) == {"es", "en"}, rule.id
