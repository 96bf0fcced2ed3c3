"""Large import files are streamed (parse.StreamedPage): hashed and compressed block by block and read
by DuckDB piece by piece. Whatever the layout, the pieces and the database they fill equal what the
whole-file Python path gives: same rows, same quarantine, same first_seen/changed_at, same errors,
same rebuild. The tests shrink the streaming threshold and the piece size so that a small file is
cut into many pieces (and an interaction's two copies fall in different pieces).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from qa_scoring import parse, store
from qa_scoring.cli import cli
from qa_scoring.errors import DataFileError
from qa_scoring.ingest import import_files
from tests.test_import_fast import envelope, hostile_rows
from tests.test_store import row

REPO = Path(__file__).resolve().parent.parent
AT = [datetime(2026, 12, 1, 3, 0), datetime(2026, 12, 2, 3, 0), datetime(2026, 12, 3, 3, 0)]


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("generate_sample_stream_test", REPO / "data" / "generate_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def streamed(monkeypatch):
    """Stream every JSON file, in pieces of about 700 bytes (a few rows each)."""
    monkeypatch.setattr(parse, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    monkeypatch.setattr(parse, "PIECE_BYTES", 700)


def python_path(monkeypatch) -> None:
    monkeypatch.setattr(parse, "STREAM_MIN_BYTES", 1 << 40)
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 1 << 40)


def concat(page) -> pa.Table:
    return pa.concat_tables(list(page.batches()))


def assert_same_rows(streamed_page, payload: bytes, label: str) -> None:
    slow = parse._parse_json(payload, label)
    got = concat(streamed_page)
    assert got.schema == slow.rows.schema
    for name in got.column_names:  # column by column: a failure names the column
        assert got.column(name).to_pylist() == slow.rows.column(name).to_pylist(), name
    assert (streamed_page.sha256, streamed_page.size, streamed_page.format) == (slow.sha256, len(payload), slow.format)


def generated(gen, profile: str, n: int = 300, seed: int = 7) -> list[dict]:
    return list(gen.generate_rows(n, days=5, seed=seed, profile=profile))


LAYOUTS = {
    "spaced": dict(ensure_ascii=False),  # json.dumps: a space after every ':' and ','
    "compact": dict(ensure_ascii=False, separators=(",", ":")),
    "pretty": dict(ensure_ascii=False, indent=2),
    "ascii": dict(ensure_ascii=True),
    "whitespace": dict(ensure_ascii=False, separators=(" ,\t\r\n ", " :\n")),
}


@pytest.mark.parametrize("profile", ["default", "dense"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_pieces_of_generated_files_read_as_the_whole_file(streamed, tmp_path, gen, profile, layout):
    payload = envelope(generated(gen, profile), **LAYOUTS[layout])
    f = tmp_path / "big.json"
    f.write_bytes(payload)
    page = parse.read_file(f)
    assert isinstance(page, parse.StreamedPage)
    assert len(list(page._pieces(__import__("os").open(f, __import__("os").O_RDONLY)))) > 20
    assert_same_rows(page, payload, str(f))


@pytest.mark.parametrize("name, payload", [
    ("hostile", envelope(hostile_rows())),
    ("hostile-ascii", envelope(hostile_rows(), ensure_ascii=True)),
    ("hostile-pretty", envelope(hostile_rows(), indent=1)),
    ("bom", b"\xef\xbb\xbf" + envelope(hostile_rows())),
    ("bare-list", b"\r\n " + json.dumps([row(case_id=str(i)) for i in range(40)]).encode() + b"\n"),
    ("empty", envelope([])),
    # separators inside strings, where a cut may land: the check sees it and the file is read whole
    ("separator-in-text", envelope([row(case_id=str(i), body='x"}, {"channel": "y"}, {' * 30, answer="}, {" * 99)
                                    for i in range(30)])),
])
def test_pieces_of_any_layout_read_as_the_whole_file(streamed, tmp_path, name, payload):
    f = tmp_path / f"{name}.json"
    f.write_bytes(payload)
    page = parse.read_file(f)
    assert isinstance(page, parse.StreamedPage)
    try:
        assert_same_rows(page, payload, str(f))
    except parse.Declined:
        assert name == "separator-in-text"
        assert_same_rows(page.fallback(), payload, str(f))


@pytest.mark.parametrize("name, payload", [
    ("ndjson", b"\n".join(json.dumps(row(case_id=str(i))).encode() for i in range(30))),
    ("data-not-last", b'{"data": [' + json.dumps(row()).encode() + b'], "code": "200"}'),
    ("csv-content.txt", b"channel,agent_name,case_id,date_creation,body,answer\nchat,Ana,1,2026-11-02,a,b\n"),
])
def test_other_shapes_are_not_streamed(streamed, tmp_path, name, payload):
    f = tmp_path / (name if "." in name else f"{name}.json")
    f.write_bytes(payload)
    assert isinstance(parse.read_file(f), parse.ParsedPage)


def test_known_secrets_keep_the_whole_file_path(streamed, tmp_path, monkeypatch):
    monkeypatch.setenv("WOLKVOX_TOKEN", "tok-5ecret-abcdef-123456")
    f = tmp_path / "s.json"
    f.write_bytes(envelope([row(case_id=str(i), body="token tok-5ecret-abcdef-123456") for i in range(30)]))
    page = parse.read_file(f)
    assert isinstance(page, parse.ParsedPage)
    assert b"tok-5ecret" not in page.payload and "tok-5ecret" not in str(page.rows.column("body").to_pylist())


# --- through the store ---------------------------------------------------------------------------

def snapshot(con) -> dict:
    return {t: con.execute(f"SELECT * EXCLUDE (fetched_at) FROM {t} ORDER BY ALL" if t == "raw_pages"
                           else f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("raw_pages", "interactions", "quarantine")}


def csv_bytes(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def import_files_of(tmp_path: Path, gen) -> list[list[Path]]:
    """Three nights: a generated file with its anomalies; a window that changes half of it, repeats a
    quarter, carries an interaction twice (in different pieces) and adds new and bad rows; NDJSON and
    CSV files beside a hostile one."""
    first = generated(gen, "default", 240) + generated(gen, "dense", 60, seed=8)
    window = [dict(r, comments=r["comments"] + " (tarde)") if i % 2 else r for i, r in enumerate(first[150:])]
    window += generated(gen, "dense", 40, seed=9) + [dict(first[160], status="open"), dict(first[5], body="otra vez")]
    window += [row(case_id="q1", agent_name="-"), row(case_id="q2", date_creation="ayer"), row(case_id="q2", date_creation="ayer")]
    files = {"a.json": envelope(first), "b.json": envelope(window, indent=1),
             "c.ndjson": b"\n".join(json.dumps(r).encode() for r in generated(gen, "default", 30, seed=10)),
             "d.csv": csv_bytes(generated(gen, "dense", 30, seed=11)),
             "e.json": b"\xef\xbb\xbf" + envelope(hostile_rows(), ensure_ascii=True)}
    for name, payload in files.items():
        (tmp_path / name).write_bytes(payload)
    return [[tmp_path / "a.json"], [tmp_path / "b.json"], [tmp_path / n for n in ("c.ndjson", "d.csv", "e.json")]]


def land_nights(db: Path, nights: list[list[Path]]) -> tuple[dict, list]:
    con = store.connect(db)
    summaries = []
    for at, files in zip(AT, nights):
        with store.atomic(con):
            for f in files:
                summaries.append(store.land_page(con, parse.read_file(f), source=f.name, kind="import",
                                                 operation="default", tz="America/Bogota", fetched_at=at,
                                                 transaction=False))
    first = snapshot(con)
    store.rebuild_interactions(con)
    rebuilt = snapshot(con)
    assert rebuilt == first
    con.close()
    return first, summaries


def test_streamed_files_fill_the_same_tables_as_the_python_path(monkeypatch, tmp_path, gen):
    nights = import_files_of(tmp_path, gen)
    python_path(monkeypatch)
    slow, slow_summaries = land_nights(tmp_path / "slow.duckdb", nights)
    monkeypatch.setattr(parse, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(parse, "DUCKDB_MIN_BYTES", 0)
    monkeypatch.setattr(parse, "PIECE_BYTES", 2000)
    pages = [parse.read_file(f) for f in nights[0] + nights[1]]
    assert all(isinstance(p, parse.StreamedPage) for p in pages)
    fast, fast_summaries = land_nights(tmp_path / "fast.duckdb", nights)
    assert fast_summaries == slow_summaries
    assert fast == slow
    summary = slow_summaries[1]
    assert summary.updated and summary.unchanged and summary.new and summary.duplicates_merged >= 2
    assert summary.quarantined >= 3
    con = store.connect(tmp_path / "fast.duckdb")
    twice = store.fetch_one(con, "SELECT copies_in_page, status, first_seen, changed_at FROM interactions "
                                 "WHERE case_id = $c", {"c": json.loads((tmp_path / "a.json").read_bytes())["data"][160]["case_id"]})
    assert twice == (2, "open", AT[0], AT[1])
    assert store.fetch_one(con, "SELECT count(*) FILTER (first_seen = $a AND changed_at = $a AND last_seen = $b), "
                                "count(*) FILTER (first_seen = $a AND changed_at = $b AND comments LIKE '%(tarde)') "
                                "FROM interactions", {"a": AT[0], "b": AT[1]}) == (summary.unchanged, summary.updated - 2)  # - first[160], first[5]


def test_a_late_piece_that_is_not_plain_reads_the_file_whole(streamed, tmp_path, monkeypatch):
    rows = [row(case_id=str(i)) for i in range(60)] + [row(case_id=999, evaluation_survey=4.5)]
    f = tmp_path / "late.json"
    f.write_bytes(envelope(rows))
    con = store.connect(tmp_path / "db.duckdb")
    page = parse.read_file(f)
    assert isinstance(page, parse.StreamedPage)
    summary = store.land_page(con, page, source="late", kind="import", operation="default", tz="America/Bogota")
    assert summary.rows == 61 and summary.new == 61
    assert store.fetch_one(con, "SELECT count(*), count(DISTINCT page_id) FROM interactions") == (61, 1)
    assert store.fetch_one(con, "SELECT case_id FROM interactions WHERE case_id = '999'") == ("999",)


def test_the_payload_is_stored_verbatim_in_zstd_frames(streamed, tmp_path, monkeypatch):
    monkeypatch.setattr(parse, "_FILE_BLOCK", 1000)  # several frames
    f = tmp_path / "a.json"
    f.write_bytes(envelope(hostile_rows(), indent=2))
    con = store.connect(tmp_path / "db.duckdb")
    store.land_page(con, parse.read_file(f), source="a", kind="import", operation="default", tz="America/Bogota")
    page_id, codec, blob, size = store.fetch_one(con, "SELECT page_id, payload_codec, payload, bytes FROM raw_pages")
    assert codec == "zstd" and blob.count(b"\x28\xb5\x2f\xfd") > 3
    assert store.raw_payload(con, page_id) == f.read_bytes() and size == f.stat().st_size


@pytest.mark.parametrize("name, content", [
    ("trunc.json", lambda: envelope([row(case_id=str(i)) for i in range(60)])[:-30]),
    ("late-comma.json", lambda: envelope([row(case_id=str(i)) for i in range(60)]).replace(b'"59"', b'"59",,')),
    ("late-bad-utf8.json", lambda: envelope([row(case_id=str(i)) for i in range(60)]).replace(b'"59"', b'"5\xff"')),
    ("no-answer.json", lambda: envelope([{k: v for k, v in row(case_id=str(i)).items() if k != "answer"}
                                         for i in range(60)])),
])
def test_bad_files_give_the_python_paths_error_and_change_nothing(streamed, runner, db_path, tmp_path,
                                                                    monkeypatch, name, content):
    bad = tmp_path / name
    bad.write_bytes(content())
    with pytest.raises(DataFileError) as slow:
        parse._parse_json(bad.read_bytes(), str(bad))
    good = tmp_path / "good.json"
    good.write_bytes(envelope([row(case_id=str(i)) for i in range(40)]))
    assert runner.invoke(cli, ["--db", str(db_path), "import", str(good)]).exit_code == 0
    con = store.connect(db_path)
    before = snapshot(con)
    con.close()
    other = tmp_path / "other.json"
    other.write_bytes(envelope([row(case_id=str(700 + i)) for i in range(40)]))
    result = runner.invoke(cli, ["--db", str(db_path), "import", str(other), str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == f"Error: {slow.value}"
    con = store.connect(db_path)
    assert snapshot(con) == before


def test_a_required_column_present_only_in_a_late_piece_is_enough(streamed, tmp_path):
    rows = [{k: v for k, v in row(case_id=str(i)).items() if k != "answer"} for i in range(60)] + [row(case_id="60")]
    f = tmp_path / "late-answer.json"
    f.write_bytes(envelope(rows))
    page = parse.read_file(f)
    assert isinstance(page, parse.StreamedPage)
    assert concat(page).num_rows == 61
