"""Foundation: import, natural key, update in place, quarantine, bad files, rebuild."""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.errors import DataFileError, InputError
from qa_scoring.ingest import import_files
from qa_scoring.parse import read_file

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


# --- raw payload storage (schema v3: per-page codec, zstd for new pages) ------------------------

HOSTILE_TEXT = ("<script>alert('x')</script> &amp; \"{{ x }}\" \\ \u0000 \x7f \u202e RTL \u200b "
                "emoji 😀👩‍💻 ñáé\r\nCRLF\ttab")


def hostile_payloads() -> dict[str, bytes]:
    rows = [row(body=HOSTILE_TEXT), row(case_id="2", answer="")]
    envelope = {"code": "200", "error": None, "msg": "2 registros", "data": rows}
    escaped = {**envelope, "data": rows + [row(case_id="3", comments="\ud800 lone surrogate")]}
    csv_text = ("channel,agent_name,case_id,date_creation,body,answer,extra col\r\n"
                'whatsapp,Ana,1,2026-11-02 09:15:00,"línea 1\r\n""citada"", <b>",ok,x\r\n')
    return {
        "hostile.json": json.dumps(envelope, ensure_ascii=False).encode(),
        "escaped.json": json.dumps(escaped).encode(),  # \ud800 and \u0000 as JSON escapes
        "bom.json": b"\xef\xbb\xbf" + json.dumps(envelope, ensure_ascii=False).encode(),
        "nodata.json": b'{"code": "200", "error": null, "msg": "0 registros", "data": []}',
        "export.csv": b"\xef\xbb\xbf" + csv_text.encode(),
    }


def test_payload_codecs_round_trip_any_bytes():
    from qa_scoring import parse

    for payload in [b"", b"\x00", bytes(range(256)) * 50, *hostile_payloads().values()]:
        for codec in ("zstd", "zlib"):
            blob = parse.compress_payload(payload, codec)
            assert parse.decompress_payload(blob, codec, len(payload)) == payload
    assert parse.compress_payload(b"x")[:4] == b"\x28\xb5\x2f\xfd"  # new pages: a standard zstd frame
    with pytest.raises(ValueError, match="unknown payload codec 'lzma'"):
        parse.compress_payload(b"x", "lzma")


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
@pytest.mark.parametrize("name", list(hostile_payloads()))
def test_new_page_is_stored_zstd_and_read_back_byte_for_byte(con, tmp_path, monkeypatch, name, background):
    import hashlib

    import pyarrow as pa

    from qa_scoring import parse

    monkeypatch.setattr(parse, "BACKGROUND_COMPRESS_BYTES", 0 if background else 1 << 40)
    payload = hostile_payloads()[name]
    f = tmp_path / name
    f.write_bytes(payload)
    page = parse.read_file(f)
    assert (page.compressor._thread is not None) == background
    store.land_page(con, page, source=str(f), kind="import", operation="default", tz="America/Bogota")
    (page_id, codec, blob, size, sha), = con.execute(
        "SELECT page_id, payload_codec, payload, bytes, sha256 FROM raw_pages").fetchall()
    assert codec == "zstd" and size == len(payload)
    assert store.raw_payload(con, page_id) == payload
    assert sha == hashlib.sha256(store.raw_payload(con, page_id)).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert pa.decompress(blob, size, codec="zstd", asbytes=True) == payload  # readable without qa-scoring


def test_empty_payload_lands_and_reads_back(con):
    import hashlib

    from qa_scoring.parse import STAGED_SCHEMA, ParsedPage

    page = ParsedPage(STAGED_SCHEMA.empty_table(), b"", hashlib.sha256(b"").hexdigest(), "json")
    store.land_page(con, page, source="empty", kind="api", operation="default", tz="America/Bogota",
                    window=(datetime(2026, 11, 2), datetime(2026, 11, 3)))
    page_id, codec = store.fetch_one(con, "SELECT page_id, payload_codec FROM raw_pages")
    assert codec == "zstd" and store.raw_payload(con, page_id) == b""  # (parse refuses it, the store does not care)


def _land_the_v2_way(c, path: Path, fetched_at: datetime) -> None:
    """What land_page did up to schema v2 (payload_zlib, no codec column, HTML stored raw), for a v2 database."""
    from qa_scoring import htmltext
    from qa_scoring.parse import read_file

    def _no_plain_text(table):  # before v6 nothing was converted: every `<field>_text` NULL
        for name in htmltext.HTML_COLUMNS:
            table = table.append_column(f"{name}_text", pa.nulls(table.num_rows, pa.string()))
        return table

    payload = path.read_bytes()
    parsed = read_file(path)
    page_id = store.page_key("default", "import", None, parsed.sha256)
    with store.atomic(c), pytest.MonkeyPatch.context() as mp:
        mp.setattr(htmltext, "plain_text_columns", _no_plain_text)
        # today's derive_page writes the v6 columns: lend them to the v2 table while it lands
        c.execute("ALTER TABLE interactions ADD COLUMN body_html VARCHAR; ALTER TABLE interactions ADD COLUMN answer_html VARCHAR")
        store.derive_page(c, page_id, str(path), "default", "America/Bogota", fetched_at, parsed)
        c.execute("ALTER TABLE interactions DROP COLUMN body_html; ALTER TABLE interactions DROP COLUMN answer_html")
        c.execute("INSERT INTO raw_pages VALUES (?, nextval('raw_pages_seq'), 'import', ?, 'default', "
                  "'America/Bogota', NULL, NULL, ?, ?, ?, ?, ?, NULL, ?)",
                  [page_id, str(path), parsed.format, parsed.sha256, len(payload), parsed.rows.num_rows,
                   fetched_at, zlib.compress(payload, 1)])


def _all_tables(c) -> dict:
    return {t: c.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("interactions", "quarantine")} | {
        "raw_pages": c.execute("SELECT * EXCLUDE (payload, payload_codec) FROM raw_pages ORDER BY seq").fetchall()}


def test_v2_database_with_zlib_pages_migrates_and_rebuilds_identically(tmp_path, monkeypatch):
    files = []
    for name, payload in hostile_payloads().items():
        files.append(tmp_path / name)
        files[-1].write_bytes(payload)
    quarantined = write_json(tmp_path / "q.json", [row(case_id="9", agent_name="-"), row(case_id="10")])
    files.append(quarantined)
    later = write_json(tmp_path / "later.json", [row(evaluation_survey="5"), row(case_id="11")])
    times = [datetime(2026, 11, 2, 12, i) for i in range(len(files) + 1)]

    v2_path = tmp_path / "v2.duckdb"
    monkeypatch.setattr(store, "SCHEMA_VERSION", 2)
    c = store.connect(v2_path)
    for f, at in zip(files, times):
        _land_the_v2_way(c, f, at)
    assert "payload_zlib" in [r[0] for r in c.execute("DESCRIBE raw_pages").fetchall()]
    v2_interactions = c.execute("SELECT * EXCLUDE (body, answer, content_hash) FROM interactions ORDER BY ALL").fetchall()
    v2_text = c.execute("SELECT interaction_id, body, answer FROM interactions ORDER BY 1").fetchall()
    c.close()
    monkeypatch.undo()

    c = store.connect(v2_path)  # migrates to v3 and on
    assert store.schema_version(c) == store.SCHEMA_VERSION
    assert c.execute("SELECT interactions FROM (SELECT count(*) AS interactions FROM interactions)").fetchall() == [
        (len(v2_interactions),)]
    assert c.execute("SELECT DISTINCT payload_codec FROM raw_pages").fetchall() == [("zlib",)]
    pages = c.execute("SELECT page_id, source FROM raw_pages ORDER BY seq").fetchall()
    assert [store.raw_payload(c, page_id) for page_id, _ in pages] == [Path(s).read_bytes() for _, s in pages]
    migrated = _all_tables(c)
    assert store.rebuild_interactions(c).pages == len(files)
    assert _all_tables(c) == migrated
    # v6 converted the HTML-looking texts (the hostile body, the CSV's "<b>") and kept them raw beside
    assert c.execute("SELECT * EXCLUDE (body, answer, content_hash, body_html, answer_html) FROM interactions "
                     "ORDER BY ALL").fetchall() == v2_interactions
    assert c.execute("SELECT interaction_id, coalesce(body_html, body), coalesce(answer_html, answer) FROM interactions "
                     "ORDER BY 1").fetchall() == v2_text
    assert store.fetch_one(c, "SELECT count(*) FROM interactions WHERE body_html IS NOT NULL")[0] == 2

    # A new page on the migrated database is zstd; the mixed database rebuilds to the same tables.
    store.land_page(c, read_file(later), source=str(later), kind="import", operation="default",
                    tz="America/Bogota", fetched_at=times[-1])
    assert c.execute("SELECT payload_codec, count(*) FROM raw_pages GROUP BY ALL ORDER BY 1").fetchall() == [
        ("zlib", len(files)), ("zstd", 1)]
    mixed = _all_tables(c)
    assert store.rebuild_interactions(c).pages == len(files) + 1
    assert _all_tables(c) == mixed
    c.close()

    # ... and equals a database built from scratch by this version (every page zstd).
    fresh = store.connect(tmp_path / "fresh.duckdb")
    for f, at in zip(files + [later], times):
        store.land_page(fresh, read_file(f), source=str(f), kind="import", operation="default",
                        tz="America/Bogota", fetched_at=at)
    assert fresh.execute("SELECT DISTINCT payload_codec FROM raw_pages").fetchall() == [("zstd",)]
    assert _all_tables(fresh) == mixed


@pytest.mark.parametrize("damage, message", [
    ("payload = ?", "payload cannot be read"),  # not a zstd frame
    ("payload = ?, bytes = bytes", "does not match its sha256"),  # a valid frame of other bytes
    ("payload_codec = 'lzma'", "payload cannot be read (unknown payload codec 'lzma')"),
])
def test_a_damaged_raw_page_stops_rebuild_with_one_line(runner, db_path, tmp_path, damage, message):
    from qa_scoring import parse

    f = write_json(tmp_path / "a.json", [row(), row(case_id="2")])
    assert runner.invoke(cli, ["--db", str(db_path), "import", str(f)]).exit_code == 0
    c = store.connect(db_path)
    size = store.fetch_one(c, "SELECT bytes FROM raw_pages")[0]
    blob = b"not zstd" if "bytes =" not in damage else parse.compress_payload(b"x" * size)
    c.execute(f"UPDATE raw_pages SET {damage}", [blob] if "?" in damage else None)
    before = snapshot(c)
    c.close()
    result = runner.invoke(cli, ["--db", str(db_path), "rebuild"])
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: raw page ") and f"({f})" in last and message in last, last
    c = store.connect(db_path)
    assert snapshot(c) == before
