"""Exports: CSV with formula injection neutralised and an optional BOM, Parquet, atomic writes."""

from __future__ import annotations

import csv
import json

import duckdb
import pytest

from qa_scoring import store
from qa_scoring.cli import cli
from test_store import load, row, write_json


@pytest.fixture
def scored_db(db_path, tmp_path):
    con = store.connect(db_path)
    load(con, write_json(tmp_path / "a.json", [
        row(case_id="1", agent_name="=HYPERLINK(\"http://evil\")"),
        row(case_id="2", agent_name="+cmd|' /C calc'!A0", cod_act="-2+3"),
        row(case_id="3", agent_name="Ana Núñez 😀", cod_act="@SUM(1)", status="open", close_date=""),
    ]))
    con.execute("""INSERT INTO interaction_scores BY NAME
        SELECT interaction_id, CASE case_id WHEN '1' THEN 0.0 ELSE 87.5 END AS score,
               case_id = '2' AS critical_failed, 4 AS rules_applicable, 1 AS rules_failed,
               content_hash, 'hash' AS rule_pack_hash, 1 AS run_id
        FROM interactions""")
    con.execute("""INSERT INTO predictions BY NAME
        SELECT interaction_id, 0.25 AS risk, '["malo"]' AS top_terms, 'm1' AS model_id, 1 AS run_id,
               content_hash AS input_hash FROM interactions""")
    con.close()
    return db_path


def test_csv_export_neutralises_formulas(runner, scored_db, tmp_path):
    out = tmp_path / "scores.csv"
    result = runner.invoke(cli, ["--db", str(scored_db), "export", "--what", "scores", "--format", "csv",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_case = {r["case_id"]: r for r in rows}
    assert by_case["1"]["agent_name"] == "'=HYPERLINK(\"http://evil\")"
    assert by_case["2"]["agent_name"].startswith("'+cmd")
    assert by_case["2"]["cod_act"] == "'-2+3"
    assert by_case["3"]["cod_act"] == "'@SUM(1)"
    assert by_case["3"]["agent_name"] == "Ana Núñez 😀"
    assert by_case["2"]["score"] == "87.5"  # numbers untouched
    assert not out.read_bytes().startswith(b"\xef\xbb\xbf")


def test_csv_bom_for_excel(runner, scored_db, tmp_path):
    out = tmp_path / "s.csv"
    result = runner.invoke(cli, ["--db", str(scored_db), "export", "--what", "predictions", "--format", "csv",
                                 "--bom", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 3
    assert out.read_bytes().startswith(b"\xef\xbb\xbfinteraction_id,")


def test_parquet_export_round_trips(runner, scored_db, tmp_path):
    out = tmp_path / "rr.parquet"
    result = runner.invoke(cli, ["--db", str(scored_db), "export", "--what", "scores", "--format", "parquet",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = duckdb.sql(f"SELECT agent_name, score FROM '{out}' ORDER BY case_id").fetchall()
    assert got[0][0] == '=HYPERLINK("http://evil")'  # parquet keeps data as it is: no spreadsheet parses it
    assert len(got) == 3


def test_export_to_missing_folder_is_exit_2_and_writes_nothing(runner, scored_db, tmp_path):
    out = tmp_path / "nope" / "s.csv"
    result = runner.invoke(cli, ["--db", str(scored_db), "export", "--what", "scores", "--format", "csv",
                                 "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: --out: folder {out.parent} does not exist"
    assert not out.parent.exists()


def test_export_without_database_is_exit_2(runner, tmp_path):
    result = runner.invoke(cli, ["--db", str(tmp_path / "none.duckdb"), "export", "--what", "scores",
                                 "--format", "csv", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "no such database" in result.stderr


@pytest.mark.parametrize("what", ["scores", "rule_results", "predictions"])
def test_every_export_carries_the_status(runner, scored_db, tmp_path, what):
    """Issue 12 item 1: BI tools can leave open interactions out the way the reports do."""
    if what == "rule_results":
        con = store.connect(scored_db)
        con.execute("""CREATE TEMP TABLE lr AS SELECT interaction_id, 'r1' AS rule_id, TRUE AS applicable,
                       FALSE AS passed, NULL::VARCHAR AS evidence, NULL::VARCHAR AS evidence_field,
                       NULL::INTEGER AS evidence_start, NULL::INTEGER AS evidence_end, 'hash' AS rule_pack_hash,
                       1 AS run_id FROM interactions""")
        store.insert_rule_results(con, "lr")
        con.close()
    out = tmp_path / f"{what}.parquet"
    result = runner.invoke(cli, ["--db", str(scored_db), "export", "--what", what, "--format", "parquet",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = dict(duckdb.sql(f"SELECT interaction_id, status FROM '{out}'").fetchall())
    assert sorted(got.values()) == ["close", "close", "open"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_exports_mask_card_numbers(runner, scored_db, tmp_path, fmt):
    """Issue 12 item 7: exports are shared like reports: evidence and model words never hold a PAN."""
    con = store.connect(scored_db)
    con.execute("""CREATE TEMP TABLE lr AS SELECT interaction_id, 'pci' AS rule_id, TRUE AS applicable,
                   FALSE AS passed, 'tarjeta 4242 4242 4242 4242 cvv 123' AS evidence, 'answer' AS evidence_field,
                   0 AS evidence_start, 34 AS evidence_end, 'hash' AS rule_pack_hash, 1 AS run_id FROM interactions""")
    store.insert_rule_results(con, "lr")
    con.execute("""UPDATE predictions SET top_terms = '["4111111111111111", "malo"]'""")
    con.close()
    for what, column, want in (("rule_results", "evidence", "tarjeta •••• •••• •••• 4242 cvv •••"),
                               ("predictions", "top_terms", '["••••••••••••1111", "malo"]')):
        out = tmp_path / f"{what}.{fmt}"
        result = runner.invoke(cli, ["--db", str(scored_db), "export", "--what", what, "--format", fmt,
                                     "--out", str(out)])
        assert result.exit_code == 0, result.output
        reader = f"read_csv('{out}', all_varchar=true)" if fmt == "csv" else f"'{out}'"
        values = {v for (v,) in duckdb.sql(f"SELECT {column} FROM {reader}").fetchall()}
        assert values == {want}, values
        assert b"4242 4242" not in out.read_bytes() and b"4111111111111111" not in out.read_bytes()
