"""Command-line behaviour a user (or a monitoring script) relies on: the run log, read-only commands,
warnings, exact stderr, help texts."""

from __future__ import annotations

import json
import re

from qa_scoring import store
from qa_scoring.cli import cli
from conftest import REPO
from test_cli_docs import COMMANDS


def _invoke(runner, db, *args):
    return runner.invoke(cli, ["--db", str(db), *args])


# --- runs (issue 12 item 10) --------------------------------------------------------------------

def test_runs_json_is_one_object_and_report_runs_name_pack_and_model(runner, sample_db, tmp_path):
    assert _invoke(runner, sample_db, "score").exit_code == 0
    report = _invoke(runner, sample_db, "report", "--out", str(tmp_path / "r"), "--json")
    assert report.exit_code == 0, report.output
    pack = store.fetch_one(store.connect(sample_db, read_only=True),
                           "SELECT DISTINCT rule_pack_hash FROM interaction_scores")[0]
    result = _invoke(runner, sample_db, "runs", "--last", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out) == ["runs"] and [r["command"] for r in out["runs"]] == ["report", "score"]
    last = out["runs"][0]
    assert last["rule_pack_hash"] == pack  # the footer names it; so does the run log
    assert isinstance(last["counts"], dict) and last["counts"]["interactions"] == json.loads(report.stdout)["interactions"]
    assert isinstance(out["runs"][1]["counts"], dict)


def test_runs_table_has_a_header(runner, sample_db):
    assert _invoke(runner, sample_db, "score").exit_code == 0
    result = _invoke(runner, sample_db, "runs")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["run", "started", "(UTC)", "command", "status", "ended", "(UTC)", "rule", "pack",
                                "model", "alarms", "error"]
    assert lines[1].split()[3:5] == ["score", "success"] and len(lines) == 2


# --- read-only commands never create a database (item 11) ---------------------------------------

def test_read_only_commands_never_create_a_database(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QA_SCORING_DB", raising=False)
    for args in (["report"], ["runs"], ["export", "--what", "scores", "--format", "csv", "--out", "x.csv"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.splitlines()[-1] == (
            "Error: qa_scoring.duckdb: no such database (run 'qa-scoring import' or 'fetch' first)"), args
        assert sorted(p.name for p in tmp_path.iterdir()) == [], args


# --- an empty period says so (item 12) ----------------------------------------------------------

def test_report_after_the_data_warns_on_stderr_and_in_json(runner, sample_db, tmp_path):
    result = _invoke(runner, sample_db, "report", "--out", str(tmp_path / "r"), "--since", "2030-01-01", "--json")
    assert result.exit_code == 0, result.output
    warning = ("report 2030-01-01 – 2030-01-01: no interactions in this period "
               "(the data covers 2026-10-15 – 2026-11-13); the report is empty")
    summary = json.loads(result.stdout)
    assert summary["empty"] is True and summary["interactions"] == 0 and summary["warnings"] == [warning]
    assert [ln for ln in result.stderr.splitlines() if "WARNING" in ln] == [ln for ln in result.stderr.splitlines()
                                                                             if ln.endswith("WARNING " + warning)]
    assert any(ln.endswith("WARNING " + warning) for ln in result.stderr.splitlines())
    full = _invoke(runner, sample_db, "report", "--out", str(tmp_path / "r"), "--json")
    assert json.loads(full.stdout)["empty"] is False and json.loads(full.stdout)["warnings"] == []
    assert "WARNING" not in full.stderr


# --- rules check prints exactly what rules/README.md shows (item 13) ----------------------------

def test_rules_check_output_is_exactly_the_readme_example(runner, tmp_path, monkeypatch):
    readme = (REPO / "rules" / "README.md").read_text(encoding="utf-8")
    shown = re.search(r"\$ qa-scoring rules check my-rules/\n(.*?)```", readme, re.S).group(1)
    pack = re.search(r"for this `my-rules/saludo.yaml`:\n```yaml\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "my-rules").mkdir()
    (tmp_path / "my-rules" / "saludo.yaml").write_text(pack, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["rules", "check", "my-rules/"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == shown
    assert shown.count("\n") == 3 and shown.splitlines()[-1].startswith("Error: ")


# --- help says the actual defaults (item 14) ----------------------------------------------------

def test_report_help_names_the_actual_defaults(runner):
    text = " ".join(runner.invoke(cli, ["report", "--help"]).stdout.split())
    assert "(default: [report] out in the settings, else reports)" in text
    assert "(default: [report] lang in the settings, else es)" in text


def test_no_help_names_a_setting_without_its_default(runner):
    for name, _ in [("", None), *COMMANDS]:
        text = " ".join(runner.invoke(cli, [*name.split(), "--help"]).stdout.split())
        assert not re.search(r"default: \w+\.\w+", text), (name, re.findall(r"\(default: [^)]*\)", text))
        for setting in re.findall(r"default: (\[\w+\] \w+ in the settings[^)]*)\)", text):
            assert ", else " in setting, (name, setting)
