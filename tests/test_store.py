"""Foundation: import, natural key, update in place, quarantine, bad files, rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.errors import DataFileError, InputError
from qa_scoring.ingest import import_files

TABLES = ("raw_pages", "interactions", "quarantine", "watermarks")


def row(**over) -> dict:
    base = {
        "channel": "whatsapp", "agent_name": "Ana Gómez", "skill_id": "0012", "case_id": "000123",
        "subject": "Juan", "from": "573001112233", "to": "bot", "body": "Hola, ¿mi pedido?",
        "answer": "Buenos días, le habla Ana.", "date_creation": "2026-11-02 09:15:00",
        "close_date": "2026-11-02 09:30:00", "evaluation_survey": "", "cod_act": "CONSULTA",
        "cod_description": "Consulta", "comments": "", "attachments": "", "status": "close",
    }
    base.update(over)
    return base


def write_json(path: Path, rows: list, envelope: bool = True) -> Path:
    doc = {"code": "200", "error": None, "msg": f"{len(rows)} records were found", "data": rows} if envelope else rows
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def snapshot(con: duckdb.DuckDBPyConnection) -> dict:
    """Every table's full contents, ordered, for before/after comparisons."""
    out = {}
    for table in TABLES:
        out[table] = con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    return out


def load(con, *paths: Path, operation: str = "default"):
    return import_files(con, list(paths), operation=operation, tz="America/Bogota")


def test_same_file_twice_changes_nothing(con, tmp_path):
    f = write_json(tmp_path / "a.json", [row(), row(case_id="124")])
    first = load(con, f)
    assert (first.new, first.rows) == (2, 2)
    before = snapshot(con)
    second = load(con, f)
    assert second.skipped_files == 1 and second.new == 0
    assert snapshot(con) == before


def test_later_survey_close_and_comments_update_in_place(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [row(close_date="", status="open")]))
    (iid, first_seen), = con.execute("SELECT interaction_id, first_seen FROM interactions").fetchall()
    later = row(evaluation_survey="4,5", close_date="2026-11-03 10:00:00", comments="cliente llamó",
                status="close")
    summary = load(con, write_json(tmp_path / "b.json", [later]))
    assert (summary.new, summary.updated) == (0, 1)
    rows = con.execute(
        "SELECT interaction_id, survey_raw, survey_score, closed_at::VARCHAR, comments, first_seen, "
        "handle_seconds FROM interactions").fetchall()
    assert rows == [(iid, "4,5", 4.5, "2026-11-03 10:00:00", "cliente llamó", first_seen, 89100)]


def test_unchanged_row_in_a_new_page_counts_as_unchanged(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [row()]))
    summary = load(con, write_json(tmp_path / "b.json", [row(), row(case_id="9")]))
    assert (summary.new, summary.updated, summary.unchanged) == (1, 0, 1)


@pytest.mark.parametrize("other", [
    {"case_id": "000124"},  # another case
    {"case_id": "123"},  # leading zeros matter: case ids are text
    {"channel": "Email"},  # same case id on another channel
    {"date_creation": "2026-11-02 09:15:01"},  # another interaction of the same case
])
def test_different_interactions_never_collapse(con, tmp_path, other):
    load(con, write_json(tmp_path / "a.json", [row(), row(**other)]))
    assert store.fetch_one(con, "SELECT count(*) FROM interactions")[0] == 2


def test_other_operation_is_another_interaction(con, tmp_path):
    f = write_json(tmp_path / "a.json", [row()])
    load(con, f, operation="0042")
    load(con, f, operation="0043")
    assert store.fetch_one(con, "SELECT count(DISTINCT interaction_id) FROM interactions")[0] == 2


def test_date_format_variants_are_the_same_interaction(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [row(date_creation="2026-11-02 09:15:00")]))
    summary = load(con, write_json(tmp_path / "b.json", [row(date_creation="2026-11-02T09:15:00", comments="x")]))
    assert (summary.new, summary.updated) == (0, 1)


def test_channel_case_does_not_split_an_interaction(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [row(channel="Email")]))
    summary = load(con, write_json(tmp_path / "b.json", [row(channel="email", comments="x")]))
    assert (summary.new, summary.updated) == (0, 1)


def test_duplicate_rows_in_one_page_merge_to_the_last(con, tmp_path):
    summary = load(con, write_json(tmp_path / "a.json", [row(status="open", close_date=""), row(status="close")]))
    assert (summary.new, summary.duplicates_merged) == (1, 1)
    assert con.execute("SELECT status FROM interactions").fetchall() == [("close",)]


@pytest.mark.parametrize("bad, reason", [
    ({"agent_name": "-"}, "missing agent_name"),
    ({"agent_name": " "}, "missing agent_name"),
    ({"case_id": ""}, "missing case_id"),
    ({"date_creation": "0000-00-00 00:00:00"}, "missing date_creation"),
    ({"date_creation": "2026-13-45 99:00:00"}, 'bad date_creation "2026-13-45 99:00:00"'),
    ({"date_creation": "ayer"}, 'bad date_creation "ayer"'),
    ({"close_date": "mañana"}, 'bad close_date "mañana"'),
])
def test_bad_rows_go_to_quarantine_with_the_reason(con, tmp_path, bad, reason):
    summary = load(con, write_json(tmp_path / "a.json", [row(case_id="1"), row(**{"case_id": "2", **bad})]))
    assert (summary.new, summary.quarantined) == (1, 1)
    (position, got, raw), = con.execute("SELECT position, reason, raw_row FROM quarantine").fetchall()
    assert (position, got) == (1, reason)
    assert json.loads(raw)["case_id"] == bad.get("case_id", "2")  # the row as it came


def test_a_row_that_is_not_an_object_is_quarantined(con, tmp_path):
    summary = load(con, write_json(tmp_path / "a.json", [row(), "oops", 7]))
    assert summary.quarantined == 2
    assert con.execute("SELECT position, reason FROM quarantine ORDER BY position").fetchall() == [
        (1, "row is a str, not an object"), (2, "row is a int, not an object")]


def test_blanks_and_types(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [
        row(case_id="1", evaluation_survey="-", close_date=" ", status="open"),
        row(case_id="2", evaluation_survey="Muy satisfecho", close_date="0000-00-00 00:00:00"),
        row(case_id=3, evaluation_survey=5, attachments=[{"name": "f.pdf"}], extra_field="kept"),
    ], envelope=False))
    got = con.execute("SELECT case_id, survey_raw, survey_score, closed_at, attachments, extra "
                      "FROM interactions ORDER BY case_id").fetchall()
    assert got == [
        ("1", None, None, None, "", None),
        ("2", "Muy satisfecho", None, None, "", None),
        ("3", "5", 5.0, pd_ts("2026-11-02 09:30:00"), '[{"name": "f.pdf"}]', '{"extra_field": "kept"}'),
    ]
    # The raw strings are kept verbatim next to the typed columns.
    assert store.fetch_one(con, "SELECT evaluation_survey FROM interactions WHERE case_id = '1'") == ("-",)


def pd_ts(text: str):
    from datetime import datetime
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def test_envelope_variants(con, tmp_path):
    for i, doc in enumerate([
        {"code": 200, "error": "null", "msg": "1 registros", "data": row(case_id="a")},  # a dict: one row
        {"code": "200", "error": "", "msg": "", "data": None},  # no rows
        [row(case_id="b")],  # a bare list
    ]):
        (tmp_path / f"{i}.json").write_text(json.dumps(doc), encoding="utf-8")
    summary = load(con, *(tmp_path / f"{i}.json" for i in range(3)))
    assert summary.new == 2


def test_csv_and_json_give_the_same_interactions(tmp_path):
    import csv

    rows = [row(case_id=str(i), body=f"línea 1\r\nlínea 2 «{i}»") for i in range(3)]
    write_json(tmp_path / "a.json", rows)
    with open(tmp_path / "a.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    results = []
    for name in ("a.json", "a.csv"):
        c = store.connect(tmp_path / f"{name}.duckdb")
        load(c, tmp_path / name)
        results.append(c.execute("SELECT * EXCLUDE (page_id, first_seen, last_seen, changed_at) "
                                 "FROM interactions ORDER BY ALL").fetchall())
    assert results[0] == results[1] and len(results[0]) == 3


def test_rebuild_gives_the_same_tables(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [row(), row(case_id="2", agent_name="")]))
    load(con, write_json(tmp_path / "b.json", [row(evaluation_survey="5"), row(case_id="3")]))
    before = snapshot(con)
    summary = store.rebuild_interactions(con)
    assert (summary.pages, summary.interactions, summary.quarantined) == (2, 2, 1)
    assert snapshot(con) == before


# --- bad files: exit 2, one line, database unchanged -------------------------------------------

BAD_FILES = [
    ("trunc.json", b'{"code": "200", "data": [{"case_id": "1", ', "trunc.json: not valid JSON"),
    ("bin.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "bin.json: not UTF-8 text"),
    ("empty.json", b"", "empty.json: empty file"),
    ("err.json", b'{"code": "403", "error": "FORBIDDEN", "msg": "TOKEN LIMIT EXCEEDED", "data": []}',
     "err.json: envelope reports code 403: FORBIDDEN TOKEN LIMIT EXCEEDED"),
    ("nocol.csv", "channel,agent_name,case_id,body,answer\nwhatsapp,Ana,1,hola,hola\n".encode(),
     "nocol.csv: missing required column 'date_creation'"),
    ("obj.json", b'{"rows": []}', "obj.json: JSON object has no 'data' list (not a chat_4 envelope)"),
]


@pytest.mark.parametrize("name, content, message", BAD_FILES)
def test_bad_file_fails_whole_import_and_leaves_db_unchanged(runner, db_path, tmp_path, name, content, message):
    good = write_json(tmp_path / "good.json", [row()])
    assert runner.invoke(cli, ["--db", str(db_path), "import", str(good)]).exit_code == 0
    c = store.connect(db_path)
    before = snapshot(c)
    c.close()
    bad = tmp_path / name
    bad.write_bytes(content)
    other = write_json(tmp_path / "other.json", [row(case_id="777")])
    result = runner.invoke(cli, ["--db", str(db_path), "import", str(other), str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {tmp_path / name}")
    assert message.split(": ", 1)[1] in result.stderr
    c = store.connect(db_path)
    assert snapshot(c) == before  # other.json, imported first in the same command, was rolled back
    assert store.fetch_one(c, "SELECT status, error FROM runs ORDER BY run_id DESC LIMIT 1")[0] == "failed"


def test_missing_file_is_a_usage_error(runner, db_path, tmp_path):
    result = runner.invoke(cli, ["--db", str(db_path), "import", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "nope.json" in result.stderr


def test_import_json_summary_on_stdout(runner, db_path, tmp_path):
    f = write_json(tmp_path / "a.json", [row(), row(case_id="2", agent_name="-")])
    result = runner.invoke(cli, ["--db", str(db_path), "import", "--json", str(f)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["quarantined"], summary["files"]) == (1, 1, 1)
    assert "a.json" in result.stderr  # the log line


def test_newer_schema_is_refused(db_path):
    c = store.connect(db_path)
    c.execute("INSERT INTO schema_version VALUES (99, now())")
    c.close()
    with pytest.raises(InputError, match="schema version 99 is newer"):
        store.connect(db_path)


def test_reopening_does_not_migrate_twice(db_path):
    store.connect(db_path).close()
    c = store.connect(db_path)
    assert c.execute("SELECT count(*) FROM schema_version").fetchall() == [(store.SCHEMA_VERSION,)]


def test_not_a_database_is_a_clear_error(tmp_path):
    bogus = tmp_path / "x.duckdb"
    bogus.write_text("hello")
    with pytest.raises(InputError, match="not a qa-scoring database"):
        store.connect(bogus)


def test_sample_imports_with_planted_quarantine(sample_db):
    c = store.connect(sample_db)
    n, q = store.fetch_one(c, "SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM quarantine)")
    assert n > 2500 and 3 <= q <= 30
    agents = store.fetch_one(c, "SELECT count(DISTINCT agent_name) FROM interactions")[0]
    assert agents >= 10


def test_parse_error_names_file(tmp_path):
    from qa_scoring.parse import read_file

    p = tmp_path / "x.json"
    p.write_text('{"code": "200", "data": 5}')
    with pytest.raises(DataFileError, match=r"x.json: 'data' is a int, expected a list"):
        read_file(p)


def test_interaction_ids_stay_unique_over_many_overlapping_pages(con, tmp_path):
    for i in range(4):
        rows = [row(case_id=str(c), comments=f"v{i}") for c in range(i, i + 5)]
        load(con, write_json(tmp_path / f"{i}.json", rows + rows[:2]))
    n, distinct = store.fetch_one(con, "SELECT count(*), count(DISTINCT interaction_id) FROM interactions")
    assert n == distinct == 8


def test_the_same_bad_row_fetched_again_is_quarantined_once(con, tmp_path):
    bad = row(case_id="9", agent_name="-")
    load(con, write_json(tmp_path / "a.json", [row(), bad]))
    load(con, write_json(tmp_path / "b.json", [bad, row(case_id="10")]))  # the look-back re-fetch
    assert con.execute("SELECT count(*), any_value(source) FROM quarantine").fetchall() == [(1, str(tmp_path / "b.json"))]


def test_duplicates_merged_are_recorded_per_page(con, tmp_path):
    load(con, write_json(tmp_path / "a.json", [row(), row(status="archived"), row(case_id="2")]))
    load(con, write_json(tmp_path / "b.json", [row(), row(case_id="2")]))  # re-delivery is not a duplicate
    assert store.fetch_one(con, "SELECT sum(copies_in_page - 1) FROM interactions")[0] == 0  # b.json is the latest
    load(con, write_json(tmp_path / "c.json", [row(), row(status="archived")]))
    assert store.fetch_one(con, "SELECT sum(copies_in_page - 1) FROM interactions")[0] == 1


def test_bom_and_ndjson_files(con, tmp_path):
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps({"code": "200", "data": [row(case_id="1")]}).encode())
    nd = tmp_path / "rows.ndjson"
    nd.write_text("\n".join(json.dumps(row(case_id=str(i)), ensure_ascii=False) for i in (2, 3)) + "\n",
                  encoding="utf-8")
    summary = load(con, bom, nd)
    assert summary.new == 3
    assert con.execute("SELECT format FROM raw_pages ORDER BY seq").fetchall() == [("json",), ("ndjson",)]


def test_huge_numbers_and_nan_are_kept_as_text(con, tmp_path):
    f = tmp_path / "odd.json"
    f.write_text('[{"channel": "whatsapp", "agent_name": "Ana", "case_id": 123456789012345678901234567890, '
                 '"date_creation": "2026-11-02 09:15:00", "body": "x", "answer": "y", "evaluation_survey": NaN}]')
    assert load(con, f).new == 1
    assert con.execute("SELECT case_id, survey_score FROM interactions").fetchall() == [
        ("123456789012345678901234567890", None)]
