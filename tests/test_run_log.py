"""The run log and monitoring: killed runs are closed by the next run; a status file beside the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from qa_scoring import store
from qa_scoring.cli import cli

# A command that started its run record and is then killed before it could close it.
STARTED = """
import sys, time
from qa_scoring import store
con = store.connect(sys.argv[1])
run_id = store.start_run(con, "score")
print(run_id, flush=True)
time.sleep(60)
"""


def test_a_killed_run_is_marked_failed_by_the_next_run(runner, db_path):
    proc = subprocess.Popen([sys.executable, "-c", STARTED, str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        killed_id = int(proc.stdout.readline())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    result = runner.invoke(cli, ["--db", str(db_path), "score", "--json"])
    assert result.exit_code == 0, result.output
    assert f"run {killed_id} ended without closing its record (killed?): marked failed" in result.stderr
    result = runner.invoke(cli, ["--db", str(db_path), "runs", "--json"])
    runs = {r["run_id"]: r for r in json.loads(result.stdout)["runs"]}
    assert runs[killed_id]["status"] == "failed"
    assert runs[killed_id]["error"].startswith("killed:")
    assert runs[killed_id]["ended_at"] is not None
    (latest,) = [r for r in runs.values() if r["run_id"] != killed_id]
    assert latest["status"] == "success"


def test_the_running_record_of_this_process_is_left_alone(db_path):
    con = store.connect(db_path)
    try:
        first = store.start_run(con, "score")
        store.start_run(con, "report")  # same process: the first is not dead
        status = store.fetch_one(con, "SELECT status FROM runs WHERE run_id = ?", [first])[0]
        assert status == "running"
    finally:
        con.close()


@pytest.mark.slow
def test_status_file_shows_the_stage_during_a_run_and_the_end(runner, tmp_path, monkeypatch):
    from qa_scoring import rules
    from qa_scoring.pipeline import sample_range, status_path
    from qa_scoring.resources import sample_files
    from qa_scoring.sandbox import start_sandbox

    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa-scoring.toml").write_text(f'[wolkvox]\nmin_interval = 0\nlock_dir = "{tmp_path}"\n')
    status_file = status_path(tmp_path / "qa_scoring.duckdb")
    seen = []
    real_score = rules.score_interactions

    def score_and_look(*args, **kwargs):  # the real stage, with a look at the file while it runs
        seen.append(json.loads(status_file.read_text(encoding="utf-8")))
        return real_score(*args, **kwargs)

    monkeypatch.setattr(rules, "score_interactions", score_and_look)
    since, until = (t.strftime("%Y-%m-%d %H:%M:%S") for t in sample_range(sample_files()))
    with start_sandbox(sample_files(), token="tok-status") as server:
        monkeypatch.setenv("WOLKVOX_TOKEN", "tok-status")
        monkeypatch.setenv("WOLKVOX_SERVER", "0042")
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["run", "--since", since, "--until", until, "--report-day", "2026-11-13"])
    assert result.exit_code == 0, result.output
    (during,) = seen
    assert during["status"] == "running" and during["command"] == "run" and during["stage"] == "score"
    assert during["pid"] == os.getpid()
    assert [s["stage"] for s in during["stages_done"]] == ["fetch"]
    after = json.loads(status_file.read_text(encoding="utf-8"))
    assert after["status"] == "success" and after["stage"] is None and after["run_id"] == during["run_id"]
    assert [s["stage"] for s in after["stages_done"]] == [
        "fetch", "score", "train", "predict", "alarms", "report day-2026-11-13", "report month-2026-11"]
    assert not list(tmp_path.glob(".*.tmp"))  # written beside, then renamed


HOLDS = """
import sys, time
from qa_scoring import store
from qa_scoring.pipeline import RunStatus
con = store.connect(sys.argv[1])
status = RunStatus(sys.argv[1], store.start_run(con, "score"), "score")
status.stage("score")
print("held", flush=True)
time.sleep(60)
"""


def test_while_a_command_holds_the_database_runs_points_at_the_status_file(runner, db_path):
    from qa_scoring.pipeline import status_path

    proc = subprocess.Popen([sys.executable, "-c", HOLDS, str(db_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        result = runner.invoke(cli, ["--db", str(db_path), "runs", "--last", "1", "--json"])
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines()[-1] == (
            f"Error: {db_path} is in use by another process (pid {proc.pid}); "
            f"its progress is in {status_path(db_path)}")
        status = json.loads(status_path(db_path).read_text(encoding="utf-8"))
        assert (status["status"], status["stage"], status["pid"]) == ("running", "score", proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_a_failed_command_leaves_failed_in_the_status_file(runner, db_path, tmp_path):
    from qa_scoring.pipeline import status_path

    result = runner.invoke(cli, ["--db", str(db_path), "score", "--rules", str(tmp_path / "missing")])
    assert result.exit_code == 2
    status = json.loads(status_path(db_path).read_text(encoding="utf-8"))
    assert status["status"] == "failed" and status["command"] == "score"
    assert status["error"] == f"{tmp_path / 'missing'}: rule pack folder not found"
