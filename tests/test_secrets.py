"""The API token never shows: every error path of the nightly `run`, through the real sandbox.

Checks stdout, stderr (the cron log), every table of the database and every file written.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from qa_scoring.cli import cli
from qa_scoring.pipeline import sample_range
from qa_scoring.resources import sample_files
from qa_scoring.sandbox import start_sandbox

SECRET = "tok-SECRET-123"


def everything_written(db: Path, folder: Path) -> str:
    """All text of every table and every file under `folder` (reports, lock info, logs)."""
    parts = []
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                parts.append(repr(row))
        con.close()
    for path in folder.rglob("*"):
        if path.is_file() and path != db:
            parts.append(path.name)
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def setup(server, faults) -> None:
    for name, args in faults:
        if name == "token":
            server.token = args
        elif name == "quota":
            server.daily_quota = args
        else:
            getattr(server.faults, name)(*args)


@pytest.mark.parametrize("faults, exit_code", [
    ([("token", "another-token")], 2),  # 403 PLEASE VALIDATE TOKEN
    ([("fail_next", (20, 500, "internal error for {token}"))], 1),  # 5xx echoing the token, retried, then fail
    ([("slow_next", (20, 3.0))], 1),  # timeouts, retried, split, then fail
    ([("truncate_next", (20,))], 1),  # broken JSON
    ([("html_next", (20,))], 1),  # an Apache error page
    ([("quota", 0)], 1),  # 403 TOKEN LIMIT EXCEEDED
    ([("fail_next", (1, 401, "PLEASE ENTER THE WOLKVOX-TOKEN {token}"))], 2),
], ids=["bad-token", "5xx-echo", "timeout", "truncated", "html", "quota", "401"])
def test_token_appears_nowhere(runner, tmp_path, monkeypatch, faults, exit_code):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa-scoring.toml").write_text(
        f'[wolkvox]\nmin_interval = 0\nretry_backoff = 0\nmaintenance_wait = 0\nread_timeout = 0.5\n'
        f'max_attempts = 2\nmin_window_seconds = 43200\nlock_dir = "{tmp_path}"\n'
        '[run]\nreport_days = 90\n')
    since, until = (t.strftime("%Y-%m-%d %H:%M:%S") for t in sample_range(sample_files()))
    with start_sandbox(sample_files(), token=SECRET) as server:
        setup(server, faults)
        monkeypatch.setenv("WOLKVOX_TOKEN", SECRET)
        monkeypatch.setenv("WOLKVOX_SERVER", "0042")
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["run", "--since", since, "--until", until])
    assert result.exit_code == exit_code, result.output
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert SECRET not in result.stdout
    assert SECRET not in result.stderr
    written = everything_written(tmp_path / "qa_scoring.duckdb", tmp_path)
    assert "failed" in written  # the run log recorded the failure...
    assert SECRET not in written  # ...without the token


def test_token_file_is_read_and_scrubbed(runner, tmp_path, monkeypatch):
    token_file = tmp_path / "token"
    token_file.write_text(SECRET + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WOLKVOX_TOKEN", raising=False)
    monkeypatch.setenv("WOLKVOX_TOKEN_FILE", str(token_file))
    (tmp_path / "qa-scoring.toml").write_text(
        f'[wolkvox]\nmin_interval = 0\nretry_backoff = 0\nlock_dir = "{tmp_path}"\n')
    with start_sandbox(sample_files(), token="another") as server:
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["fetch", "--since", "2026-11-01", "--until", "2026-11-02"])
    assert result.exit_code == 2
    assert SECRET not in result.output + result.stderr
    token_file.unlink()
    assert SECRET not in everything_written(tmp_path / "qa_scoring.duckdb", tmp_path)
