"""The import's fast paths give exactly what the Python path gives.

Large JSON payloads are read by DuckDB's JSON reader (parse._parse_json_duckdb) when a check proves
the rows are plain chat_4 objects; anything else falls back to the Python parser. The raw payload is
compressed in a background thread. These tests force both onto small inputs and compare with the
Python path: same Arrow table, same errors, same database tables, same rebuild.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa_scoring import parse, store
from qa_scoring.cli import cli
from qa_scoring.errors import DataFileError
from qa_scoring.ingest import import_files
from qa_scoring.resources import sample_files
from tests.test_store import row

BLNS = json.loads((Path(__file__).parent / "blns.json").read_text(encoding="utf-8"))
TABLES = ("raw_pages", "interactions", "quarantine")


def envelope(rows: list, **dump) -> bytes:
    doc = {"code": "200", "error": None, "msg": f"{len(rows)} registros encontrados ñ", "data": rows}
    return json.dumps(doc, **dump).encode("utf-8")


def hostile_rows() -> list[dict]:
    """Every BLNS string in the free-text fields, plus escapes JSON writers really produce."""
    rows = []
    extra = ['say \\"hi\\"', "C:\\\\temp\\\\", 'end with backslash \\', "nul \x00 inside", "tab\there",
             "línea 1\r\nlínea 2", "emoji 👍🏽🇨🇴 and \U0001F600", "\u2028\u2029", '{"case_id": 5}',
             '"channel": 7, "x": [1]', "</script><script>alert(1)</script>", "{{ 7*7 }} &amp; ' \"", "-", " "]
    for i, text in enumerate(BLNS + extra):
        rows.append(row(case_id=str(i), body=text, answer=text[::-1], comments=text[:20],
                        subject=text, attachments=json.dumps([{"name": text}]) if i % 7 == 0 else ""))
    rows.append(row(case_id="nulls", comments=None, attachments=None, status=None))
    rows.append({k: v for k, v in row(case_id="short").items() if k not in ("status", "cod_description")})
    rows.append({})  # an empty object: a row of NULLs (quarantined later), same on both paths
    return rows


def both_paths(payload: bytes, label: str = "f.json"):
    fast = parse._parse_json_duckdb(payload, label)
    slow = parse._parse_json(payload, label)
    return fast, slow


def assert_same(fast: parse.ParsedPage, slow: parse.ParsedPage) -> None:
    assert fast is not None, "the DuckDB path declined a plain payload"
    assert fast.rows.schema == slow.rows.schema
    assert fast.rows.num_rows == slow.rows.num_rows
    for name in fast.rows.column_names:  # column by column: a failure names the column
        assert fast.rows.column(name).to_pylist() == slow.rows.column(name).to_pylist(), name
    assert (fast.sha256, fast.format, fast.payload) == (slow.sha256, slow.format, slow.payload)


# --- equivalence on plain payloads -------------------------------------------------------------

def test_bundled_sample_reads_the_same_on_both_paths():
    payload = Path(next(p for p in sample_files() if str(p).endswith(".json"))).read_bytes()
    fast, slow = both_paths(payload)
    assert_same(fast, slow)
    assert fast.rows.num_rows == 3000


@pytest.mark.parametrize("dump", [
    {"ensure_ascii": False},
    {"ensure_ascii": True},  # \\uXXXX escapes, surrogate pairs for emoji
    {"ensure_ascii": False, "indent": 2},  # pretty-printed: newlines and spaces everywhere
    {"ensure_ascii": True, "separators": (",", ":")},  # compact
    {"ensure_ascii": False, "separators": (" ,\t", " :\r\n ")},  # odd but valid whitespace
], ids=["utf8", "ascii", "indent", "compact", "whitespace"])
def test_hostile_text_reads_the_same_on_both_paths(dump):
    fast, slow = both_paths(envelope(hostile_rows(), **dump))
    assert_same(fast, slow)


@pytest.mark.parametrize("payload", [
    b"\xef\xbb\xbf" + envelope([row()]),  # BOM
    json.dumps([row(), row(case_id="2")]).encode(),  # bare list
    b"\r\n  " + json.dumps([row()]).encode() + b" \n",  # bare list with surrounding whitespace
    envelope([]),  # no rows
    b'{"code": 200, "error": "", "msg": "' + ("é" * 30000).encode() + b'", "data": [' + json.dumps(row()).encode() + b"]}",
    envelope([row()]).replace(b'"Juan"', b'"J\\/u\\u00e1n \\b\\f\\t\\n\\r\\"\\\\ \\uD83D\\uDE00"'),  # every escape
], ids=["bom", "bare-list", "padded-list", "empty", "long-msg", "escapes"])
def test_layouts_read_the_same_on_both_paths(payload):
    fast, slow = both_paths(payload)
    assert_same(fast, slow)


# --- anything unusual falls back to the Python path --------------------------------------------

FALLBACKS = {
    "number": [row(case_id=123, evaluation_survey=4.5)],
    "boolean": [row(status=True)],
    "nested": [row(attachments=[{"name": "f.pdf"}])],
    "extra-key": [row(extra_field="kept")],
    "not-an-object": [row(), "oops", 7],
    "null-row": [row(), None],
    "list-row": [row(), [1, 2]],
    "escaped-key": None,  # built below
    "duplicate-key": None,
    "nan": None,
}


def fallback_payload(name: str) -> bytes:
    if name == "escaped-key":
        return envelope([row()]).replace(b'"channel"', b'"\\u0063hannel"')
    if name == "duplicate-key":
        return envelope([row()]).replace(b'"status": "close"', b'"status": "open", "status": "close"')
    if name == "nan":
        return envelope([row()]).replace(b'"evaluation_survey": ""', b'"evaluation_survey": NaN')
    return envelope(FALLBACKS[name])


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_non_plain_rows_fall_back_and_parse_as_before(monkeypatch, name):
    payload = fallback_payload(name)
    assert parse._parse_json_duckdb(payload, "f.json") is None
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    page = parse.parse_json(payload, "f.json")
    slow = parse._parse_json(payload, "f.json")
    assert page.rows.equals(slow.rows)


@pytest.mark.parametrize("payload", [
    b'{"code": 200, "error": "", "msg": "' + ("é" * 40000).encode() + b'", "data": []}',  # head > 64 KiB
    b'{"data": [' + json.dumps(row()).encode() + b'], "code": "200"}',  # data not the last member
    b'{"code": "200", "data": [], "data": [' + json.dumps(row()).encode() + b"]}",  # data twice
    b'{"code": "200", "data": ' + json.dumps(row()).encode() + b"}",  # a dict: one row
    b'{"code": "200", "data": null}',
    b"\n".join(json.dumps(row(case_id=str(i))).encode() for i in range(3)),  # NDJSON
])
def test_other_envelopes_fall_back(monkeypatch, payload):
    assert parse._parse_json_duckdb(payload, "f.json") is None
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    assert parse.parse_json(payload, "f.json").rows.equals(parse._parse_json(payload, "f.json").rows)


@pytest.mark.parametrize("payload, message", [
    (envelope([row(), row()])[:-40], "f.json: not valid JSON"),
    (b'{"code": "403", "error": "FORBIDDEN", "msg": "TOKEN LIMIT EXCEEDED", "data": [' + json.dumps(row()).encode() + b"]}",
     "f.json: envelope reports code 403: FORBIDDEN TOKEN LIMIT EXCEEDED"),
    (envelope([row()]).replace(b"Ana", b"An\xff"), "f.json: not UTF-8 text"),
    (envelope([row()]).replace(b", \"status\"", b",, \"status\""), "f.json: not valid JSON"),
    (envelope([{k: v for k, v in row().items() if k != "answer"}]), "f.json: missing required column 'answer'"),
])
def test_bad_payloads_give_the_python_paths_error(monkeypatch, payload, message):
    with pytest.raises(Exception) as slow:
        parse._parse_json(payload, "f.json")
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    with pytest.raises(type(slow.value)) as fast:
        parse.parse_json(payload, "f.json")
    assert str(fast.value) == str(slow.value)
    assert str(fast.value).startswith(message)


def test_lone_surrogate_escapes_become_replacement_characters(monkeypatch):
    """JSON allows "\\ud800" but Unicode text does not: DuckDB refuses it, the Python path keeps the
    row with U+FFFD in its place (the payload stays verbatim in raw_pages)."""
    payload = envelope([row(body="a\\ud800b", comments="\\udfff", extra_field="\\ud83d")]).replace(b"\\\\", b"\\")
    assert parse._parse_json_duckdb(payload, "f.json") is None
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    page = parse.parse_json(payload, "f.json")
    assert page.rows.column("body").to_pylist() == ["a\ufffdb"]
    assert page.rows.column("comments").to_pylist() == ["\ufffd"]
    assert json.loads(page.rows.column("extra")[0].as_py()) == {"extra_field": "\ufffd"}


def test_missing_required_column_is_found_on_the_duckdb_path():
    payload = envelope([{k: v for k, v in row().items() if k != "body"}])
    with pytest.raises(DataFileError, match=r"^f.json: missing required column 'body'$"):
        parse._parse_json_duckdb(payload, "f.json")


# --- through the store: same tables, same quarantine, same rebuild ------------------------------

def snapshot(con) -> dict:
    return {t: con.execute(f"SELECT * EXCLUDE (fetched_at) FROM {t} ORDER BY ALL").fetchall() if t == "raw_pages"
            else con.execute(f"SELECT * EXCLUDE (first_seen, last_seen, changed_at) FROM {t} ORDER BY ALL").fetchall()
            if t == "interactions" else con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in TABLES}


def import_with(monkeypatch, tmp_path, name: str, min_bytes: int, files: list[Path]) -> dict:
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", min_bytes)
    monkeypatch.setattr(parse, "BACKGROUND_COMPRESS_BYTES", min_bytes)
    con = store.connect(tmp_path / f"{name}.duckdb")
    import_files(con, files, operation="default", tz="America/Bogota")
    first = snapshot(con)
    again = import_files(con, files, operation="default", tz="America/Bogota")
    assert again.skipped_files == len(files) and snapshot(con) == first
    store.rebuild_interactions(con)
    assert snapshot(con) == first
    con.close()
    return first


def test_fast_and_python_paths_fill_the_same_tables(monkeypatch, tmp_path):
    sample = [Path(p) for p in sample_files() if str(p).endswith(".json")]
    hostile = tmp_path / "hostile.json"
    hostile.write_bytes(envelope(hostile_rows() + [row(case_id="q1", agent_name="-"),
                                                    row(case_id="q2", date_creation="ayer")]))
    files = sample + [hostile]
    fast = import_with(monkeypatch, tmp_path, "fast", 0, files)
    slow = import_with(monkeypatch, tmp_path, "slow", 1 << 40, files)
    assert fast == slow
    reasons = {r[5] for r in fast["quarantine"]}
    assert {"missing agent_name", 'bad date_creation "ayer"', "missing case_id"} <= reasons


def test_payload_is_stored_losslessly_when_compressed_in_the_background(monkeypatch, tmp_path):
    monkeypatch.setattr(parse, "BACKGROUND_COMPRESS_BYTES", 0)
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    f = tmp_path / "a.json"
    f.write_bytes(envelope(hostile_rows(), ensure_ascii=False))
    page = parse.read_file(f)
    assert page.compressor is not None and page.compressor._thread is not None  # really in a thread
    con = store.connect(tmp_path / "db.duckdb")
    store.land_page(con, page, source=str(f), kind="import", operation="default", tz="America/Bogota")
    page_id, codec, blob, sha = store.fetch_one(con, "SELECT page_id, payload_codec, payload, sha256 FROM raw_pages")
    assert codec == "zstd" and blob[:4] == b"\x28\xb5\x2f\xfd"  # a standard zstd frame
    assert store.raw_payload(con, page_id) == f.read_bytes()
    assert sha == page.sha256 == __import__("hashlib").sha256(f.read_bytes()).hexdigest()


def test_rebuild_does_not_compress_again(monkeypatch, sample_db):
    con = store.connect(sample_db)
    started = []
    monkeypatch.setattr(parse._Compressor, "start", lambda self: started.append(self) or self)
    store.rebuild_interactions(con)
    assert started == []


@pytest.mark.parametrize("name, content", [
    ("trunc.json", envelope([row(), row(case_id="2")])[:-30]),
    ("mixed.json", envelope([row(), row(case_id=5)])[:-1]),
])
def test_bad_file_leaves_db_unchanged_on_the_fast_path(monkeypatch, runner, db_path, tmp_path, name, content):
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    good = tmp_path / "good.json"
    good.write_bytes(envelope([row()]))
    assert runner.invoke(cli, ["--db", str(db_path), "import", str(good)]).exit_code == 0
    con = store.connect(db_path)
    before = snapshot(con)
    con.close()
    bad = tmp_path / name
    bad.write_bytes(content)
    other = tmp_path / "other.json"
    other.write_bytes(envelope([row(case_id="777")]))
    result = runner.invoke(cli, ["--db", str(db_path), "import", str(other), str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {bad}: not valid JSON")
    con = store.connect(db_path)
    assert snapshot(con) == before
