"""End to end with real processes on loopback: demo, the nightly run killed at random points, two runs.

All `slow`: they start the sandbox API and the CLI as subprocesses.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from qa_scoring.pipeline import sample_range
from qa_scoring.resources import sample_files

pytestmark = pytest.mark.slow

TOKEN = "tok-e2e-0001"
# Columns that record *when*, *by which run* or *from which API page* something happened: they differ
# between a clean run and an interrupted-then-rerun one by nature (the killed run's pages stay in
# raw_pages, and the rerun sizes its windows knowing what it has seen). Everything else — every
# interaction, quarantined row, score, rule result, model and prediction — must be identical.
BOOKKEEPING = {"run_id", "fetched_at", "first_seen", "last_seen", "changed_at", "seq", "updated_at",
               "page_id", "position", "source",
               "predicted_at", "scored_at", "generated_at",
               "created_at_model"}
TABLES = ["interactions", "quarantine", "watermarks", "rule_results", "interaction_scores",
          "models", "predictions"]


def cli(*args: str, cwd: Path, env: dict | None = None, check: bool = True, timeout: float = 300):
    result = subprocess.run([sys.executable, "-m", "qa_scoring", *args], cwd=cwd, capture_output=True,
                            text=True, env={**os.environ, **(env or {})}, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"qa-scoring {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def table_contents(db: Path) -> dict[str, list]:
    con = duckdb.connect(str(db), read_only=True)
    out = {}
    for table in TABLES:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        keep = [c for c in cols if c not in BOOKKEEPING and not (table == "models" and c == "created_at")]
        if table == "models":  # the spec and metrics are JSON whose key order is irrelevant
            keep = [c for c in keep if c not in ("spec",)] + ["md5(spec::VARCHAR) AS spec_md5"]
        quoted = ", ".join(keep)
        out[table] = con.execute(f"SELECT {quoted} FROM {table} ORDER BY ALL").fetchall()
    con.close()
    return out


# The footer (generated at, run id) and values marked volatile (when the model was trained) differ
# between any two runs by nature.
FOOTER = re.compile(r"<footer.*?</footer>|<span data-volatile>.*?</span>", re.S)


def report_contents(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): FOOTER.sub("", p.read_text(encoding="utf-8"))
            for p in sorted(root.rglob("*.html"))}


def test_demo_twice(tmp_path):
    first = cli("demo", cwd=tmp_path)
    index = tmp_path / "reports" / "index.html"
    assert index.is_file()
    assert str(index.resolve()) in first.stdout
    con = duckdb.connect(str(tmp_path / "qa_scoring.duckdb"), read_only=True)
    agents = dict(con.execute("SELECT operation, count(DISTINCT agent_name) FROM interactions GROUP BY 1").fetchall())
    statuses = con.execute("SELECT command, status FROM runs").fetchall()
    n_pred, n_inter = con.execute("SELECT (SELECT count(*) FROM predictions), (SELECT count(*) FROM interactions)").fetchall()[0]
    con.close()
    assert ("demo", "success") in statuses
    assert n_pred == n_inter > 2500
    # two operations, each with its own team: the top index is the overview linking both
    assert set(agents) == {"bogota", "lima"} and min(agents.values()) >= 5
    html = index.read_text(encoding="utf-8")
    for operation, n_agents in agents.items():
        assert f'href="{operation}/index.html"' in html
        op_index = (tmp_path / "reports" / operation / "index.html").read_text(encoding="utf-8")
        pages = list((tmp_path / "reports" / operation / "agents").glob("*.html"))
        assert len(pages) == n_agents
        for page in pages:
            assert f'agents/{page.name}' in op_index
        # the bundled QA reviews are imported: each calibration page reads the planted disagreement
        calibration = (tmp_path / "reports" / operation / "calibration.html").read_text(encoding="utf-8")
        planted = re.search(r'<tr id="cal-empatia_cliente_molesto"[^>]*>(.*?)</tr>', calibration, re.S).group(1)
        assert "revisar la regla" in planted, operation  # not "pocas revisiones": enough verdicts per operation
        reliable = re.search(r'<tr id="cal-saludo_inicial"[^>]*>(.*?)</tr>', calibration, re.S).group(1)
        assert "confiable" in reliable, operation
        assert 'id="reviews-status"' in op_index and "veredictos de 2 analistas" in op_index
    con = duckdb.connect(str(tmp_path / "qa_scoring.duckdb"), read_only=True)
    n_reviews = con.execute("SELECT count(*) FROM reviews").fetchall()[0][0]
    con.close()
    assert n_reviews > 300
    second = cli("demo", cwd=tmp_path)
    assert second.returncode == 0
    con = duckdb.connect(str(tmp_path / "qa_scoring.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM interactions").fetchall()[0][0] == n_inter
    assert con.execute("SELECT count(*) FROM reviews").fetchall()[0][0] == n_reviews  # re-importing adds nothing
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'success'").fetchall()[0][0] == 2
    con.close()


@pytest.fixture
def sandbox(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "qa_scoring", "sandbox", "--port", "0", "--token", TOKEN],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    base_url = proc.stdout.readline().strip()
    assert base_url.startswith("http://127.0.0.1:")
    yield base_url
    proc.terminate()
    proc.wait(10)


def job_env(base_url: str) -> dict:
    return {"WOLKVOX_TOKEN": TOKEN, "WOLKVOX_SERVER": "0042", "WOLKVOX_BASE_URL": base_url}


def write_config(folder: Path) -> Path:
    cfg = folder / "qa-scoring.toml"
    cfg.write_text(f'[wolkvox]\nmin_interval = 0\nlock_dir = "{folder}"\n[run]\nreport_days = 90\n'
                   '[report]\nout = "reports"\n')
    return cfg


def test_two_runs_on_one_database(tmp_path, sandbox):
    write_config(tmp_path)
    since, until = (t.strftime("%Y-%m-%d %H:%M:%S") for t in sample_range(sample_files()))
    args = [sys.executable, "-m", "qa_scoring", "run", "--since", since, "--until", until]
    env = {**os.environ, **job_env(sandbox)}
    first = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock_info = tmp_path / "qa_scoring.duckdb.run.json"
    deadline = time.monotonic() + 30
    while not lock_info.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert re.search(r"^Error: another qa-scoring run holds .*qa_scoring\.duckdb \(pid \d+, started .*\)$",
                     second.stderr, re.M), second.stderr


def test_killed_runs_rerun_to_the_same_result(tmp_path, sandbox):
    since, until = (t.strftime("%Y-%m-%d %H:%M:%S") for t in sample_range(sample_files()))
    env = job_env(sandbox)
    run_args = ("run", "--since", since, "--until", until)

    clean = tmp_path / "clean"
    clean.mkdir()
    write_config(clean)
    started = time.monotonic()
    cli(*run_args, cwd=clean, env=env)
    clean_seconds = time.monotonic() - started
    expected_tables = table_contents(clean / "qa_scoring.duckdb")
    expected_reports = report_contents(clean / "reports")
    assert expected_reports

    rng = random.Random(20261125)
    kills = int(os.environ.get("QA_KILL_POINTS", "25"))
    for k in range(kills):
        work = tmp_path / f"kill{k}"
        work.mkdir()
        write_config(work)
        # Points spread evenly over the whole run (fetch, score, train, predict, report), jittered.
        delay = clean_seconds * (k + rng.random()) / kills
        proc = subprocess.Popen([sys.executable, "-m", "qa_scoring", *run_args], cwd=work,
                                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        cli(*run_args, cwd=work, env=env)
        assert table_contents(work / "qa_scoring.duckdb") == expected_tables, f"kill {k} at {delay:.2f} s"
        assert report_contents(work / "reports") == expected_reports, f"kill {k} at {delay:.2f} s"
        stray = [p.name for p in work.iterdir() if p.name.startswith(".") or "tmp" in p.name]
        assert not [s for s in stray if "reports" in s], stray
