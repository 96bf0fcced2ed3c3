"""The run log and monitoring: killed runs are closed by the next run; a status file beside the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

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
