"""An edited model is refused (issue 18 item 15): loading recomputes the model's id from its spec,
and `metrics` holds only what train writes. `predict` stops with one Error line and writes nothing;
`report` renders without the model and says why in one WARNING line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from qa_scoring import store
from qa_scoring.cli import cli


@pytest.fixture(scope="module")
def _trained(_sample_db_template, tmp_path_factory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("tamper") / "trained.duckdb"
    shutil.copy(_sample_db_template, path)
    result = CliRunner().invoke(cli, ["--db", str(path), "train", "--json"])
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)["model_id"]


@pytest.fixture
def trained(_trained, tmp_path) -> tuple[Path, str]:
    path = tmp_path / "trained.duckdb"
    shutil.copy(_trained[0], path)
    return path, _trained[1]


def _edit(db: Path, change) -> None:
    """Apply `change(spec, con)` to the current model's row, as someone with the database file could."""
    con = duckdb.connect(str(db))
    spec = json.loads(con.execute("SELECT spec::VARCHAR FROM models WHERE is_current").fetchone()[0])
    change(spec, con)
    con.execute("UPDATE models SET spec = ? WHERE is_current", [json.dumps(spec)])
    con.close()


def _flip_signs(spec, con):
    spec["model"]["coef"] = [-x for x in spec["model"]["coef"]]


def _huge_intercept(spec, con):
    spec["model"]["intercept"] = 1e300


def _platt_slope(spec, con):
    spec["calibration"]["a"] = spec["calibration"]["a"] * 1.5


def _swap_id(spec, con):
    con.execute("UPDATE models SET model_id = 'ffffffffffffffff' WHERE is_current")


EDITS = {"flipped coefficient signs": _flip_signs, "intercept 1e300": _huge_intercept,
         "changed Platt slope": _platt_slope, "swapped model_id": _swap_id}
MISMATCH = ("is damaged or tampered: its content does not match its id (edited after training); "
            "retrain with 'qa-scoring train'")


@pytest.mark.parametrize("name", EDITS)
def test_an_edited_model_is_refused_by_predict_in_one_line(trained, runner, name):
    db, model_id = trained
    _edit(db, EDITS[name])
    shown = "ffffffffffffffff" if name == "swapped model_id" else model_id
    result = runner.invoke(cli, ["--db", str(db), "predict"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: model {shown} {MISMATCH}"
    con = store.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM predictions").fetchone() == (0,)
    con.close()


def test_the_untouched_model_still_predicts(trained, runner):
    db, model_id = trained
    result = runner.invoke(cli, ["--db", str(db), "predict", "--json"])
    assert result.exit_code == 0, result.stderr
    con = store.connect(db, read_only=True)
    assert con.execute("SELECT count(*) > 0, count(DISTINCT model_id) FROM predictions").fetchone() == (True, 1)
    con.close()


# The report is rendered (a whole process, the slow part) for the values a page could show.
@pytest.mark.parametrize("where, value, message, render", [
    ("roc_auc", "0.99 (excellent)", "metrics.roc_auc is not a finite number", True),
    ("brier", None, "metrics.brier is not a finite number", False),
    ("baseline.roc_auc", "<b>1.0</b>", "metrics.baseline.roc_auc is not a finite number", True),
    ("text_baseline", [0.9], "metrics.text_baseline is not an object", False),
    ("agent_only_roc_auc", "n/a", "metrics.agent_only_roc_auc is not a finite number", False),
    ("n_test", [1, 2], "metrics.n_test is not a finite number", False),
    ("log_loss", float("nan"), "metrics.log_loss is not a finite number", False),
    ("", "a string", "metrics is not an object", True),
])
def test_metrics_are_type_checked(trained, runner, tmp_path, where, value, message, render):
    """Even with the id recomputed to match, a spec whose metrics train never writes is refused."""
    from qa_scoring.classify.model import model_id_for

    db, _ = trained

    def change(spec, con):
        if not where:
            spec["metrics"] = value
        else:
            *parents, key = where.split(".")
            node = spec["metrics"]
            for parent in parents:
                node = node[parent]
            node[key] = value
        con.execute("UPDATE models SET model_id = ? WHERE is_current", [model_id_for(spec)])

    _edit(db, change)
    con = duckdb.connect(str(db))
    model_id = con.execute("SELECT model_id FROM models WHERE is_current").fetchone()[0]
    con.close()
    result = runner.invoke(cli, ["--db", str(db), "predict"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: model {model_id} is damaged or tampered: {message}"
    if not render:
        return
    # The report still renders: without the model, and one WARNING line says why.
    cmd = [sys.executable, "-m", "qa_scoring", "--db", str(db), "report", "--out", str(tmp_path / "r")]
    report = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-800:]
    warnings = [line for line in report.stderr.splitlines() if "WARNING" in line and "model" in line]
    assert len(warnings) == 1 and f"model {model_id} is damaged or tampered: {message}" in warnings[0]
    pages = "".join(p.read_text("utf-8") for p in (tmp_path / "r").rglob("*.html"))
    assert "0.99 (excellent)" not in pages and "&lt;b&gt;1.0" not in pages


def test_an_edited_model_is_left_out_of_the_report(trained, tmp_path):
    db, model_id = trained
    _edit(db, _flip_signs)
    cmd = [sys.executable, "-m", "qa_scoring", "--db", str(db), "report", "--out", str(tmp_path / "r")]
    report = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-800:]
    assert f"model {model_id} {MISMATCH}" in report.stderr
    pages = "".join(p.read_text("utf-8") for p in (tmp_path / "r").rglob("*.html"))
    assert model_id not in pages
