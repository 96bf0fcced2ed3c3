"""The nightly job's plumbing: one run per database, stale locks, report periods."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import date

import pytest

from qa_scoring.cli import cli
from qa_scoring.config import load_settings
from qa_scoring.errors import LockedError
from qa_scoring.pipeline import report_periods, run_lock

HOLDER = """
import sys, time
from pathlib import Path
from qa_scoring.pipeline import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_lock(db_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_exits_1_naming_the_holder(runner, db_path, monkeypatch):
    monkeypatch.setenv("WOLKVOX_TOKEN", "tok-lock-test")
    monkeypatch.setenv("WOLKVOX_SERVER", "0042")
    holder = hold_lock(db_path)
    try:
        result = runner.invoke(cli, ["--db", str(db_path), "run"])
        assert result.exit_code == 1
        line = result.stderr.strip().splitlines()[-1]
        assert re.fullmatch(
            rf"Error: another qa-scoring run holds {re.escape(str(db_path.resolve()))} "
            rf"\(pid {holder.pid}, started \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\)", line), line
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_does_not_block(db_path):
    holder = hold_lock(db_path)
    with pytest.raises(LockedError):
        with run_lock(db_path):
            pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with run_lock(db_path):  # the kernel released the dead process's lock
        pass


def test_wait_waits_for_the_holder(db_path):
    holder = hold_lock(db_path)
    import threading

    threading.Timer(0.5, holder.kill).start()
    with run_lock(db_path, wait=True):
        pass
    holder.wait()


def test_report_periods_default_day_and_month(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    periods = report_periods(load_settings(environ={}), date(2026, 11, 25))
    assert [(p.name, p.since, p.until) for p in periods] == [
        ("day-2026-11-24", date(2026, 11, 24), date(2026, 11, 24)),
        ("month-2026-11", date(2026, 11, 1), date(2026, 11, 24)),
    ]
    # On the first of the month the month to date is the whole previous month.
    periods = report_periods(load_settings(environ={}), date(2026, 12, 1))
    assert periods[1].name == "month-2026-11" and periods[1].since == date(2026, 11, 1)


def test_report_periods_last_n_days(tmp_path):
    cfg = tmp_path / "q.toml"
    cfg.write_text("[run]\nreport_days = 7\n")
    (period,) = report_periods(load_settings(cfg, environ={}), date(2026, 11, 25))
    assert (period.name, period.since, period.until) == ("last-7-days", date(2026, 11, 18), date(2026, 11, 24))


def test_a_model_from_another_sklearn_is_retrained_by_the_nightly_job(sample_db, runner):
    import json as _json

    from qa_scoring import store
    from qa_scoring.config import load_settings as _load
    from qa_scoring.pipeline import _train_is_due

    assert runner.invoke(cli, ["--db", str(sample_db), "train"]).exit_code == 0
    con = store.connect(sample_db)
    settings = _load(environ={})
    assert _train_is_due(con, settings) is not None  # fresh and readable: not due
    spec = _json.loads(store.fetch_one(con, "SELECT spec FROM models WHERE is_current")[0])
    spec["versions"]["sklearn"] = "0.1.0"
    from qa_scoring.classify.model import model_id_for  # a genuine model of another version: its own id
    con.execute("UPDATE models SET spec = ?, model_id = ? WHERE is_current", [_json.dumps(spec), model_id_for(spec)])
    assert _train_is_due(con, settings) is None  # unreadable here: retrain


def test_run_reports_a_chosen_night(runner, tmp_path, monkeypatch):
    import json as _json

    from qa_scoring.pipeline import sample_range
    from qa_scoring.resources import sample_files
    from qa_scoring.sandbox import start_sandbox

    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa-scoring.toml").write_text(f'[wolkvox]\nmin_interval = 0\nlock_dir = "{tmp_path}"\n')
    since, until = (t.strftime("%Y-%m-%d %H:%M:%S") for t in sample_range(sample_files()))
    with start_sandbox(sample_files(), token="tok-night") as server:
        monkeypatch.setenv("WOLKVOX_TOKEN", "tok-night")
        monkeypatch.setenv("WOLKVOX_SERVER", "0042")
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["run", "--since", since, "--until", until, "--report-day", "2026-11-13", "--json"])
    assert result.exit_code == 0, result.output
    summary = _json.loads(result.stdout)
    assert set(summary["stages"]) == {"fetch", "score", "train", "predict", "alarms", "report day-2026-11-13",
                                 "report month-2026-11"}
    assert (tmp_path / "reports" / "day-2026-11-13" / "index.html").is_file()
    assert (tmp_path / "reports" / "month-2026-11" / "index.html").is_file()
    # One line per stage on stderr, with its seconds.
    for stage in ("fetch", "score", "train", "predict"):
        assert re.search(rf"INFO {stage}: .*\(\d+\.\d s\)$", result.stderr, re.M), stage


def test_rescoring_and_repredicting_never_duplicate_rows(sample_db, runner):
    """The derived tables have no primary key (it made rescoring 3x slower): uniqueness by construction."""
    from qa_scoring import store

    for args in (["score"], ["score", "--full"], ["score"], ["train"], ["predict"], ["predict", "--full"], ["predict"]):
        assert runner.invoke(cli, ["--db", str(sample_db), *args]).exit_code == 0, args
    con = store.connect(sample_db)
    for table, key in (("interaction_scores", "interaction_id"), ("predictions", "interaction_id"),
                       ("rule_results", "interaction_id || '/' || rule_id")):
        n, distinct = store.fetch_one(con, f"SELECT count(*), count(DISTINCT {key}) FROM {table}")
        assert n == distinct > 0, table
