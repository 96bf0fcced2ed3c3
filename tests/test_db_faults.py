"""The database file fails (issue 18 item 13): half truncated, a folder where the WAL cannot be created,
a full disk at COMMIT. Each is one `Error:` line naming the file and what to do, exit 1, no
traceback, and the database is unchanged: a rerun with the fault gone gives the clean run's result.

The read-only folder and the full disk are real: a read-only bind mount and a small tmpfs in a user
and mount namespace (`unshare`), which touch nothing outside the test; skipped where not permitted.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.resources import sample_dir

TABLES = ("interactions", "quarantine", "raw_pages", "interaction_scores", "rule_outcomes", "rule_evidence",
          "rule_packs")
QA = [sys.executable, "-m", "qa_scoring"]


def content(db: Path) -> dict:
    """A digest of every data table (the run log aside: it records the failed run), without the
    columns that differ between two runs of the same command (run ids, times of landing)."""
    con = store.connect(db, read_only=True)
    out = {}
    for table in TABLES:
        columns = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                             "ORDER BY ordinal_position", [table]).fetchall()
                   if c not in ("run_id", "current_since", "first_seen", "last_seen") and not c.endswith("_at")]
        out[table] = con.execute(f"SELECT count(*), md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM "
                                 f"(SELECT row({', '.join(columns)})::VARCHAR AS x FROM {table})").fetchone()
    con.close()
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


@pytest.mark.parametrize("command", [["score"], ["import", "CSV"], ["report", "--out", "OUT"], ["rebuild"]])
def test_a_half_truncated_database_is_one_error_line_and_left_as_it_is(runner, sample_db, tmp_path, command):
    con = store.connect(sample_db)
    con.close()  # migrated and checkpointed: one file, no WAL
    size = sample_db.stat().st_size
    with open(sample_db, "r+b") as f:
        f.truncate(size // 2)
    before = digest(sample_db)
    places = {"CSV": str(next(sample_dir().glob("*.csv"))), "OUT": str(tmp_path / "out")}
    result = runner.invoke(cli, ["--db", str(sample_db), *(places.get(a, a) for a in command)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"Error: {sample_db}: the database file is damaged or truncated (IO Error: ")
    assert lines[0].endswith("): restore it from a backup, or start a new database and import or fetch again")
    assert digest(sample_db) == before


def _namespaces_work() -> bool:
    try:
        probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                                "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
                                "mount -t tmpfs -o size=1m tmpfs \"$TMPDIR\""],
                               capture_output=True, timeout=30, env={"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp"})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(not shutil.which("unshare") or not _namespaces_work(),
                                      reason="unshare --user --mount is not permitted here")


def in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a shell script as root of a new user + mount namespace: its mounts vanish with it."""
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-ec", script],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _q(path: Path | str) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


@needs_namespaces
def test_a_folder_where_the_wal_cannot_be_created(sample_db, tmp_path):
    """The file is writable but its folder is read-only: DuckDB cannot create the WAL at COMMIT."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "qa.duckdb"
    shutil.copy(sample_db, db)
    con = store.connect(db)
    con.close()
    before = content(db)
    writable = tmp_path / "file.duckdb"
    shutil.copy(db, writable)
    cmd = " ".join(_q(c) for c in [*QA, "--db", str(db), "score"])
    run = in_namespace(f"""
        mount --bind {_q(folder)} {_q(folder)}
        mount -o remount,bind,ro {_q(folder)}
        mount --bind {_q(writable)} {_q(db)}
        {cmd} 2> {_q(tmp_path / 'stderr')} && echo "exit 0" || echo "exit $?"
    """, tmp_path)
    assert run.stdout.strip().splitlines()[-1] == "exit 1", run.stdout + run.stderr
    stderr = (tmp_path / "stderr").read_text()
    assert "Traceback" not in stderr
    assert error_lines(stderr) == [
        f"Error: {db}: cannot write {db}.wal (read-only file system): the folder {folder} must be writable "
        f"(DuckDB writes its journal qa.duckdb.wal beside the database); the database was not changed"]
    assert content(writable) == before


def _full_disk_run(sample_db: Path, tmp_path: Path, args: list[str], spare_kib: int) -> tuple[str, Path]:
    """Run a command on a copy of the database in a tmpfs with `spare_kib` free; returns its stderr
    and a copy of what the tmpfs held afterwards (database and WAL)."""
    mnt, out = tmp_path / "mnt", tmp_path / "after"
    mnt.mkdir()
    out.mkdir()
    size_kib = sample_db.stat().st_size // 1024 + spare_kib
    cmd = " ".join(_q(c) for c in [*QA, "--db", str(mnt / "qa.duckdb"), *args])
    run = in_namespace(f"""
        mount -t tmpfs -o size={size_kib}k tmpfs {_q(mnt)}
        cp {_q(sample_db)} {_q(mnt / 'qa.duckdb')}
        {cmd} 2> {_q(out / 'stderr')} && echo "exit 0" || echo "exit $?"
        cp {_q(mnt)}/qa.duckdb* {_q(out)}/
    """, tmp_path)
    assert run.stdout.strip().splitlines()[-1] == "exit 1", run.stdout + run.stderr
    return (out / "stderr").read_text(), out / "qa.duckdb"


@needs_namespaces
@pytest.mark.parametrize("command", [["score"], ["import", "CSV"]])
def test_a_full_disk_at_commit_leaves_the_database_unchanged(runner, sample_db, tmp_path, command):
    con = store.connect(sample_db)
    con.close()
    before = content(sample_db)
    args = [str(next(sample_dir().glob("*.csv"))) if a == "CSV" else a for a in command]
    stderr, after = _full_disk_run(sample_db, tmp_path, args, spare_kib=300)
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert lines == [f"Error: {tmp_path / 'mnt' / 'qa.duckdb'}: the disk is full (writing "
                     f"{tmp_path / 'mnt' / 'qa.duckdb.wal'}): free space, then run the command again; "
                     f"the database was not changed"], stderr
    assert content(after) == before
    # With space again, the rerun gives exactly what a clean run gives.
    clean = tmp_path / "clean.duckdb"
    shutil.copy(sample_db, clean)
    for db in (after, clean):
        result = runner.invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 0, result.stderr
    assert content(after) == content(clean)
