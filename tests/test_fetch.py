"""The fetch stage against the real sandbox on loopback: windows, splits, retries, 403 flavours, token
discipline, watermark, crash safety and secrets. No mocks of requests; the clock is injected so
backoffs and pacing never really sleep."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from qa_scoring import store, wolkvox
from qa_scoring.cli import cli
from qa_scoring.config import load_settings
from qa_scoring.errors import APIError, AuthError, InputError, QuotaError
from qa_scoring.ingest import import_files
from qa_scoring.resources import sample_files
from qa_scoring.sandbox import start_sandbox

TOKEN = "tok-fetch-0001"
NOW = datetime(2026, 11, 20, 12, 0, 0)


class FakeClock(wolkvox.Clock):
    """Time that moves only when slept: pacing and backoff are asserted, never waited for."""

    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0)


def row(case: str, created: str, closed: str = "", survey: str = "", status: str = "close", **extra) -> dict:
    return {"channel": "whatsapp", "agent_name": "Ana Lucía", "skill_id": "007", "case_id": case,
            "subject": "Cliente", "from": "57300", "to": "57301", "body": "hola, ¿me ayudan?",
            "answer": "Buenos días, con gusto.", "date_creation": created, "close_date": closed,
            "evaluation_survey": survey, "cod_act": "CONSULTA", "cod_description": "", "comments": "",
            "attachments": "", "status": status, **extra}


def daily_rows(start: datetime, days: int, per_day: int, prefix: str = "C") -> list[dict]:
    """per_day closed interactions a day, spread over the day."""
    rows = []
    for d in range(days):
        for i in range(per_day):
            created = start + timedelta(days=d, seconds=int((i + 0.5) * 86400 / per_day) - 120)
            closed = created + timedelta(seconds=100)
            rows.append(row(f"{prefix}{d:03d}{i:05d}", f"{created:%Y-%m-%d %H:%M:%S}", f"{closed:%Y-%m-%d %H:%M:%S}"))
    return rows


def write_envelope(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"code": 200, "error": None, "msg": f"{len(rows)} records were found",
                                "data": rows}, ensure_ascii=False), encoding="utf-8")
    return path


def make_settings(server, tmp_path: Path, **over):
    overrides = {"wolkvox.base_url": server.base_url if server else "http://127.0.0.1:9",
                 "wolkvox.lock_dir": str(tmp_path), "wolkvox.min_interval": 0.0,
                 "wolkvox.connect_timeout": 2.0, "wolkvox.read_timeout": 5.0, "wolkvox.retry_backoff": 1.0}
    overrides.update({f"wolkvox.{k}": v for k, v in over.items()})
    return load_settings(environ={}, overrides=overrides)


def content(con) -> list[tuple]:
    return con.execute("SELECT interaction_id, content_hash FROM interactions ORDER BY 1").fetchall()


def truth(tmp_path: Path, files: list[Path], name: str = "truth.duckdb") -> list[tuple]:
    """What importing the same files gives: the reference every fetch must reproduce."""
    con = store.connect(tmp_path / name)
    import_files(con, files, operation="default", tz="America/Bogota")
    rows = content(con)
    con.close()
    return rows


@pytest.fixture
def sample_server():
    with start_sandbox(token=TOKEN) as server:
        yield server


def fetch(con, server, tmp_path, clock=None, **kw):
    over = kw.pop("settings", {})
    settings = make_settings(server, tmp_path, **over)
    return wolkvox.fetch_interactions(con, settings, TOKEN, clock=clock or FakeClock(), **kw)


# --- token and times ----------------------------------------------------------------------------

def test_read_token_from_env_file_and_missing(tmp_path):
    assert wolkvox.read_token({"WOLKVOX_TOKEN": " abc123 \n"}) == "abc123"
    token_file = tmp_path / "token"
    token_file.write_text("file-token-42\n")
    assert wolkvox.read_token({"WOLKVOX_TOKEN_FILE": str(token_file)}) == "file-token-42"
    with pytest.raises(AuthError, match=r"^WOLKVOX_TOKEN is not set \(try 'qa-scoring demo' for a dry run\)$"):
        wolkvox.read_token({})
    with pytest.raises(AuthError, match="WOLKVOX_TOKEN_FILE .*missing: No such file or directory"):
        wolkvox.read_token({"WOLKVOX_TOKEN_FILE": str(tmp_path / "missing")})
    with pytest.raises(AuthError, match="^WOLKVOX_TOKEN is malformed"):
        wolkvox.read_token({"WOLKVOX_TOKEN": "two words"})


def test_a_token_longer_than_any_token_is_refused_before_it_is_used_or_scrubbed(tmp_path, runner):
    """A token file that is not a token (a log, a dump: 200 MB took 13 GB and 11 min building its
    scrub pattern) is refused after reading at most a few KB; so is an over-long variable."""
    from qa_scoring import errors

    long_token = "A" * 20_000
    big = tmp_path / "big.tok"
    with big.open("wb") as handle:
        handle.write(b"B" * (64 << 20))
    before = errors.known_secrets()
    with pytest.raises(AuthError, match=r"^WOLKVOX_TOKEN is longer than 1024 characters, not an API token$"):
        wolkvox.read_token({"WOLKVOX_TOKEN": long_token})
    started = time.thread_time()
    with pytest.raises(AuthError, match=rf"^WOLKVOX_TOKEN_FILE {re.escape(str(big))}: longer than 1024 characters"):
        wolkvox.read_token({"WOLKVOX_TOKEN_FILE": str(big)})
    assert time.thread_time() - started < 1  # read no further than a token can be long
    assert errors.known_secrets() == before
    (tmp_path / "qa-scoring.toml").write_text(f'[operations.bog]\nserver = "0042"\ntoken_file = "{big}"\n')
    result = runner.invoke(cli, ["--db", str(tmp_path / "qa.duckdb"), "--config", str(tmp_path / "qa-scoring.toml"),
                                 "fetch"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: fetch failed for operation bog")
    assert "longer than 1024 characters" in result.output and "BBBB" not in result.output
    assert errors.known_secrets() == before
    assert wolkvox.read_token({"WOLKVOX_TOKEN": "x" * 1024}) == "x" * 1024  # the longest a token may be


def test_parse_time_formats_and_error():
    assert wolkvox.parse_time("2026-11-01") == datetime(2026, 11, 1)
    assert wolkvox.parse_time("2026-11-01", end_of_day=True) == datetime(2026, 11, 1, 23, 59, 59)
    assert wolkvox.parse_time("2026-11-01 08:30:05") == datetime(2026, 11, 1, 8, 30, 5)
    assert wolkvox.parse_time("20261101083005") == datetime(2026, 11, 1, 8, 30, 5)
    with pytest.raises(InputError, match=r"^--until: invalid time '2026-02-30' \(use YYYY-MM-DD"):
        wolkvox.parse_time("2026-02-30", "--until")


# --- windows ------------------------------------------------------------------------------------

def test_fetch_of_the_sample_equals_import(con, sample_server, tmp_path):
    now = datetime(2026, 12, 31, 12)
    summary = fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 1), until=datetime(2027, 1, 31), now=now)
    assert content(con) == truth(tmp_path, sample_files())
    # Density-sized windows: one probe day, then as long as the limits allow (≤ 31 days each).
    assert summary.calls == summary.windows == 4
    spans = [(wolkvox.parse_time(r.date_ini), wolkvox.parse_time(r.date_end)) for r in sample_server.stats.requests]
    assert spans[0] == (datetime(2026, 10, 1), datetime(2026, 10, 1, 23, 59, 59))
    assert all(b - a < timedelta(days=31) for a, b in spans)
    assert all(spans[i][1] + timedelta(seconds=1) == spans[i + 1][0] for i in range(len(spans) - 1))
    assert spans[-1][1] == now  # never past now, even when --until is later
    assert summary.to_dict()["watermark"] == "2026-12-31 12:00:00"
    assert summary.quarantined > 0
    assert summary.rows == len(json.loads(sample_files()[0].read_text(encoding="utf-8"))["data"])
    # Every page landed verbatim, with its window and no token in `source`.
    pages = con.execute("SELECT kind, source, window_start, window_end FROM raw_pages ORDER BY seq").fetchall()
    assert [p[0] for p in pages] == ["api"] * (4 - summary.empty)  # empty windows land no page
    assert "date_ini=20261002000000" in pages[0][1] and TOKEN not in pages[0][1]


def test_window_over_the_cap_is_split_until_complete(con, tmp_path):
    data = write_envelope(tmp_path / "d.json", daily_rows(datetime(2026, 11, 1), 4, 300))
    with start_sandbox([data], token=TOKEN, row_cap=200) as server:
        summary = fetch(con, server, tmp_path, since=datetime(2026, 11, 1), until=datetime(2026, 11, 4, 23, 59, 59),
                        now=NOW, settings={"row_cap": 200, "truncation_margin": 10})
        statuses = [(r.rows, r.status) for r in server.stats.requests]
    assert content(con) == truth(tmp_path, [data])
    assert summary.rows == 1200 and summary.splits >= 1
    # The probe day came back at the cap: split, never landed; later windows are sized under it.
    assert statuses[0] == (200, 200)
    landed = con.execute("SELECT row_count FROM raw_pages").fetchall()
    assert max(n for (n,) in landed) < 190


def test_truncated_window_at_minimum_size_fails_without_landing(con, tmp_path):
    rows = [row(f"X{i}", "2026-11-01 10:00:00", "2026-11-01 10:00:30") for i in range(30)]
    data = write_envelope(tmp_path / "d.json", rows)
    with start_sandbox([data], token=TOKEN, row_cap=20) as server:
        with pytest.raises(APIError, match=r"^Wolkvox API window (2026-11-01 \S+) – (2026-11-01 \S+): 20 rows, possibly "
                                           r"truncated at the cap of 20, and the window cannot be split below 60 s "
                                           r"\(wolkvox.min_window_seconds\)$") as caught:
            fetch(con, server, tmp_path, since=datetime(2026, 11, 1), until=datetime(2026, 11, 1, 23, 59, 59),
                  now=NOW, settings={"row_cap": 20, "truncation_margin": 0})
    start, end = (datetime.fromisoformat(t) for t in re.findall(r"2026-11-01 \d\d:\d\d:\d\d", str(caught.value)))
    assert start <= datetime(2026, 11, 1, 10, 0, 30) <= end and (end - start).total_seconds() < 120
    assert store.fetch_one(con, "SELECT count(*) FROM interactions")[0] == 0
    assert store.get_watermark(con, "default") == start - timedelta(seconds=1)  # the empty windows before


def test_empty_windows_are_zero_rows_and_move_the_watermark(con, sample_server, tmp_path):
    summary = fetch(con, sample_server, tmp_path, since=datetime(2026, 1, 1),
                    until=datetime(2026, 1, 3, 23, 59, 59), now=NOW)
    assert (summary.windows, summary.rows, summary.empty, summary.calls) == (2, 0, 2, 2)
    assert [r.status for r in sample_server.stats.requests] == [404, 404]
    assert store.get_watermark(con, "default") == datetime(2026, 1, 3, 23, 59, 59)


def test_incremental_fetch_continues_from_watermark_with_lookback(con, tmp_path):
    first = daily_rows(datetime(2026, 11, 1), 10, 20)
    late = dict(first[150], evaluation_survey="5", comments="respondió tarde")  # day 7: a late survey
    first_file = write_envelope(tmp_path / "a.json", first)
    with start_sandbox([first_file], token=TOKEN) as server:
        s1 = fetch(con, server, tmp_path, now=datetime(2026, 11, 10, 23, 59, 59),
                   settings={"backfill_start": "2026-11-01"})
    assert (s1.rows, s1.new) == (200, 200)
    assert store.get_watermark(con, "default") == datetime(2026, 11, 10, 23, 59, 59)
    # Next night: the survey was answered late (same interaction, new content) and two days are new.
    later = [late if r["case_id"] == late["case_id"] else r for r in first] + daily_rows(
        datetime(2026, 11, 11), 2, 20, prefix="N")
    second_file = write_envelope(tmp_path / "b.json", later)
    with start_sandbox([second_file], token=TOKEN) as server:
        s2 = fetch(con, server, tmp_path, now=datetime(2026, 11, 12, 23, 59, 59))
        first_request = server.stats.requests[0]
    assert first_request.date_ini == "20261108000000"  # watermark + 1 s - 3 days of look-back
    assert (s2.new, s2.updated) == (40, 1)
    assert content(con) == truth(tmp_path, [second_file])
    assert store.fetch_one(con, "SELECT survey_score, comments FROM interactions WHERE case_id = ?",
                           [late["case_id"]]) == (5.0, "respondió tarde")


def test_explicit_range_with_a_gap_does_not_move_the_watermark(con, sample_server, tmp_path):
    fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 15), until=datetime(2026, 10, 20, 23, 59, 59), now=NOW)
    fetch(con, sample_server, tmp_path, since=datetime(2026, 11, 1), until=datetime(2026, 11, 2, 23, 59, 59), now=NOW)
    assert store.get_watermark(con, "default") == datetime(2026, 10, 20, 23, 59, 59)


# --- retries and the 403 flavours ------------------------------------------------------------------

def test_5xx_reset_and_html_page_are_retried_with_backoff(con, sample_server, tmp_path):
    sample_server.faults.fail_next(1, 500).reset_next(1).html_next(1, 502)
    clock = FakeClock()
    summary = fetch(con, sample_server, tmp_path, clock=clock, since=datetime(2026, 10, 15),
                    until=datetime(2026, 10, 15, 23, 59, 59), now=NOW)
    assert summary.calls == 4 and summary.rows > 0
    assert [r.fault for r in sample_server.stats.requests] == ["fail", "reset", "html", ""]
    assert len(clock.sleeps) >= 2 and all(0 <= s <= 120 for s in clock.sleeps)


def test_retry_after_is_honoured(con, sample_server, tmp_path):
    sample_server.faults.fail_next(1, 503, retry_after=7)
    clock = FakeClock()
    summary = fetch(con, sample_server, tmp_path, clock=clock, since=datetime(2026, 10, 15),
                    until=datetime(2026, 10, 15, 23, 59, 59), now=NOW)
    assert summary.calls == 2 and clock.sleeps == [7.0]


def test_5xx_that_persists_fails_after_max_attempts(con, sample_server, tmp_path):
    sample_server.faults.fail_next(10, 503)
    with pytest.raises(APIError, match=r"^Wolkvox API window 2026-10-15 00:00:00 – 2026-10-15 23:59:59: the API "
                                       r"kept failing after 4 calls; last: HTTP 503: SERVICE UNAVAILABLE"):
        fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 15), now=NOW)
    assert sample_server.stats.calls == 4
    assert store.get_watermark(con, "default") is None


def test_200_html_page_is_retried_then_fails(con, sample_server, tmp_path):
    sample_server.faults.html_next(10, 200)
    with pytest.raises(APIError, match="the API kept failing after 4 calls; last: unusable body"):
        fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 15), now=NOW)
    assert sample_server.stats.calls == 4


def test_truncated_json_is_retried_then_split(con, sample_server, tmp_path):
    sample_server.faults.truncate_next(1)
    s1 = fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 16), until=datetime(2026, 10, 16, 23, 59, 59),
               now=NOW)
    assert (s1.calls, s1.splits) == (2, 0)
    sample_server.faults.truncate_next(4)
    s2 = fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 17), until=datetime(2026, 10, 17, 23, 59, 59),
               now=NOW)
    assert (s2.calls, s2.splits, s2.windows) == (6, 1, 2)
    halves = [(r.date_ini, r.date_end) for r in sample_server.stats.requests[-2:]]
    assert halves == [("20261017000000", "20261017115959"), ("20261017120000", "20261017235959")]
    assert s1.rows + s2.rows == store.fetch_one(con, "SELECT sum(row_count) FROM raw_pages")[0]
    assert s2.rows == sum(r.rows for r in sample_server.stats.requests[-2:])


def test_read_timeout_is_retried_then_split(con, sample_server, tmp_path):
    sample_server.faults.slow_next(4, seconds=0.6)
    summary = fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 18), until=datetime(2026, 10, 18, 23, 59, 59),
                    now=NOW, settings={"read_timeout": 0.25})
    assert summary.splits == 1 and summary.calls == 6 and summary.windows == 2


@pytest.mark.parametrize("fault, error, message, calls", [
    (lambda s: s.faults.fail_next(1, 401, "PLEASE ENTER THE WOLKVOX-TOKEN"), AuthError,
     r"^Wolkvox refused the request \(HTTP 401: UNAUTHORIZED / PLEASE ENTER THE WOLKVOX-TOKEN\); check WOLKVOX_TOKEN$", 1),
    (lambda s: setattr(s, "token", "another-token"), AuthError,
     r"^Wolkvox rejected the token \(HTTP 403: FORBIDDEN / PLEASE VALIDATE TOKEN\); check WOLKVOX_TOKEN$", 1),
    (lambda s: setattr(s, "daily_quota", 0), QuotaError,
     r"^Wolkvox daily call quota is spent \(HTTP 403: FORBIDDEN / TOKEN LIMIT EXCEEDED\); stopped at window "
     r"2026-10-15 00:00:00 – 2026-10-15 23:59:59, the next run resumes from there$", 1),
    (lambda s: s.faults.busy_next(10), APIError,
     r"the token stayed busy \(simultaneous requests\) after 4 calls; last: HTTP 403: FORBIDDEN / EXCEEDS THE LIMIT", 4),
    (lambda s: s.faults.forbid_next(10), APIError,
     r"API consumption stayed disabled after 4 calls; last: HTTP 403: FORBIDDEN / API CONSUMPTION TEMPORARILY DISABLED", 4),
    (lambda s: s.faults.fail_next(1, 400, "THE API YOU WANT TO CONSULT DOES NOT EXIST"), APIError,
     r"refused the request for window .*: HTTP 400: BAD REQUEST / THE API YOU WANT TO CONSULT DOES NOT EXIST$", 1),
])
def test_401_403_400_flavours(con, sample_server, tmp_path, fault, error, message, calls):
    fault(sample_server)
    with pytest.raises(error, match=message):
        fetch(con, sample_server, tmp_path, since=datetime(2026, 10, 15), now=NOW)
    assert sample_server.stats.calls == calls


def test_busy_and_maintenance_403_wait_then_succeed(con, sample_server, tmp_path):
    sample_server.faults.busy_next(1).forbid_next(1)
    clock = FakeClock()
    summary = fetch(con, sample_server, tmp_path, clock=clock, since=datetime(2026, 10, 15),
                    until=datetime(2026, 10, 15, 23, 59, 59), now=NOW)
    assert summary.calls == 3 and summary.rows > 0
    assert clock.sleeps == [2.0, 60.0]  # busy: short backoff; maintenance: the long wait


# --- token discipline ---------------------------------------------------------------------------------

def test_pacing_holds_across_clients_and_lock_file_hides_the_token(con, sample_server, tmp_path):
    clock = FakeClock()
    settings = make_settings(sample_server, tmp_path, min_interval=300.0)
    wolkvox.fetch_interactions(con, settings, TOKEN, clock=clock, since=datetime(2026, 10, 15),
                               until=datetime(2026, 10, 16, 23, 59, 59), now=NOW)
    assert clock.sleeps == [300.0]  # two windows: one pause between them
    wolkvox.fetch_interactions(con, settings, TOKEN, clock=clock, since=datetime(2026, 10, 17),
                               until=datetime(2026, 10, 17, 23, 59, 59), now=NOW)
    assert clock.sleeps == [300.0, 300.0]  # a new client (another process) still waits: persisted
    names = [p.name for p in tmp_path.iterdir() if p.name.startswith("qa-scoring-wolkvox-")]
    assert names and all(TOKEN not in n for n in names)
    assert all(TOKEN not in p.read_text(errors="replace") for p in tmp_path.glob("qa-scoring-wolkvox-*"))


@pytest.mark.slow
def test_two_concurrent_fetches_with_one_token_never_overlap(tmp_path):
    data = write_envelope(tmp_path / "d.json", daily_rows(datetime(2026, 11, 1), 6, 60))
    with start_sandbox([data], token=TOKEN, row_cap=40) as server:
        server.faults.hold_next(6, seconds=0.05)  # the first calls linger, inviting an overlap
        results, errors = [], []

        def worker(name: str) -> None:
            try:
                con = store.connect(tmp_path / f"{name}.duckdb")
                results.append(fetch(con, server, tmp_path, since=datetime(2026, 11, 1),
                                     until=datetime(2026, 11, 6, 23, 59, 59), now=NOW,
                                     settings={"row_cap": 40, "truncation_margin": 2}))
                con.close()
            except Exception as err:  # noqa: BLE001 — reported by the assertion below
                errors.append(err)

        threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert server.stats.max_in_flight == 1
        assert all(r.fault != "overlap" for r in server.stats.requests)
    assert [r.rows for r in results] == [360, 360]


def test_sandbox_does_see_overlaps_without_the_lock(sample_server):
    """Control for the test above: two requests sent at once without the lock do overlap."""
    import requests

    sample_server.faults.hold_next(1, seconds=0.4)
    url = sample_server.base_url + "/api/v2/reports_manager.php?api=chat_4&date_ini=20261016000000&date_end=20261016235959"
    statuses = []

    def call():
        statuses.append(requests.get(url, headers={"wolkvox-token": TOKEN}, timeout=5).status_code)

    first = threading.Thread(target=call)
    first.start()
    time.sleep(0.15)
    call()
    first.join()
    assert sorted(statuses) == [200, 403] and sample_server.stats.max_in_flight == 2


# --- CLI -----------------------------------------------------------------------------------------------

def test_cli_fetch_json_and_errors(runner, sample_server, tmp_path):
    db = str(tmp_path / "cli.duckdb")
    env = {"WOLKVOX_BASE_URL": sample_server.base_url, "WOLKVOX_TOKEN": TOKEN, "WOLKVOX_SERVER": ""}
    result = runner.invoke(cli, ["--db", db, "fetch", "--since", "2026-10-15", "--until", "2026-10-16",
                                 "--min-interval", "0", "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"windows", "rows", "new", "updated", "unchanged", "quarantined", "calls", "splits",
            "seconds"} <= set(summary)
    assert summary["windows"] == 2 and summary["rows"] > 100
    result = runner.invoke(cli, ["--db", db, "fetch"], env={**env, "WOLKVOX_TOKEN": ""})
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == \
        "Error: WOLKVOX_TOKEN is not set (try 'qa-scoring demo' for a dry run)"
    result = runner.invoke(cli, ["--db", db, "fetch"], env={**env, "WOLKVOX_BASE_URL": ""})
    assert result.exit_code == 2 and result.stderr.strip() == (
        "Error: WOLKVOX_SERVER is not set (the number in https://wv<server>.wolkvox.com; or set WOLKVOX_BASE_URL)")
    result = runner.invoke(cli, ["--db", db, "fetch", "--until", "yesterday"], env=env)
    assert result.exit_code == 2 and "Invalid value for '--until': invalid time 'yesterday'" in result.stderr
    result = runner.invoke(cli, ["--db", db, "fetch", "--since", "2026-11-02", "--until", "2026-11-01"], env=env)
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --since 2026-11-02 00:00:00 is after --until 2026-11-01 23:59:59"
    sample_server.faults.fail_next(10, 500)
    config = tmp_path / "fast-retries.toml"  # the CLI has no injected clock: no real backoff here
    config.write_text("[wolkvox]\nretry_backoff = 0.0\n")
    result = runner.invoke(cli, ["--db", db, "--config", str(config), "fetch", "--since", "2026-10-20",
                                 "--min-interval", "0"], env=env)
    last = result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 1 and last.startswith("Error: Wolkvox API window 2026-10-20 00:00:00 – ")
    assert last.endswith(": the API kept failing after 4 calls; last: HTTP 500: INTERNAL SERVER ERROR")
    con = store.connect(db)  # (the CLI's in-process connection may still be open: same configuration)
    assert [r["status"] for r in store.list_runs(con, 5)] == ["failed", "failed", "failed", "success"]
    con.close()


SECRET = "tok-SECRET-123"


def test_secret_token_never_leaks_on_any_path(runner, tmp_path):
    """Every error path, with -v logging: the token is in no output, no table, no file name."""
    data = write_envelope(tmp_path / "d.json", daily_rows(datetime(2026, 11, 1), 3, 30) + [
        row("ECHO1", "2026-11-02 10:00:00", "2026-11-02 10:05:00", comments=f"cliente pegó {SECRET} aquí")])
    db = tmp_path / "secret.duckdb"
    config = tmp_path / "qa-scoring.toml"
    config.write_text(f'[wolkvox]\nlock_dir = "{tmp_path}"\nmin_interval = 0.0\nretry_backoff = 0.0\n'
                      f'maintenance_wait = 0.0\nread_timeout = 0.3\nmax_attempts = 2\n')
    outputs = []
    with start_sandbox([data], token=SECRET) as server:
        env = {"WOLKVOX_BASE_URL": server.base_url, "WOLKVOX_TOKEN": SECRET}

        def run(*args, env_over=None, code=None):
            result = runner.invoke(cli, ["-v", "--db", str(db), "--config", str(config), "fetch", *args],
                                   env={**env, **(env_over or {})})
            outputs.append(result.stdout + result.stderr + repr(result.exception))
            if code is not None:
                assert result.exit_code == code, result.output
            return result

        run("--since", "2026-11-01", "--until", "2026-11-03", code=0)  # the payload echoes the token
        faults = [
            lambda: server.faults.fail_next(2, 500, msg=f"internal error for {{token}}"),
            lambda: server.faults.fail_next(1, 401, msg="PLEASE ENTER THE WOLKVOX-TOKEN {token}"),
            lambda: server.faults.forbid_next(1, msg="PLEASE VALIDATE TOKEN {token}"),
            lambda: server.faults.forbid_next(2, msg="maintenance for {token}"),
            lambda: server.faults.busy_next(2),
            lambda: server.faults.fail_next(1, 404, msg="no such page for {token}"),
            lambda: server.faults.fail_next(1, 400, msg="SOME PARAMETERS ARE REQUIRED {token}"),
            lambda: server.faults.html_next(2, 503),
            lambda: server.faults.truncate_next(2),
            lambda: server.faults.slow_next(2, seconds=0.5),
            lambda: server.faults.reset_next(2),
        ]
        for arm in faults:
            arm()
            run("--since", "2026-11-02", "--until", "2026-11-02")
            server.faults.clear()
        server.daily_quota = 0
        run("--since", "2026-11-02", code=1)
        server.daily_quota = 1000
        server.token = "another"
        run("--since", "2026-11-02", code=2)
        token_file = tmp_path / "tok"
        token_file.write_text(SECRET)
        run("--since", "2026-11-02", env_over={"WOLKVOX_TOKEN": "", "WOLKVOX_TOKEN_FILE": str(token_file)}, code=2)
    run("--since", "2026-11-02", env_over={"WOLKVOX_BASE_URL": "http://127.0.0.1:9"}, code=1)  # refused
    for text in outputs:
        assert SECRET not in text
    con = store.connect(db)
    tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    for table in tables:
        for record in con.execute(f'SELECT * FROM "{table}"').fetchall():
            for value in record:
                text = store.raw_payload(con, record[0]).decode() if isinstance(value, bytes) else str(value)
                assert SECRET not in text, table
    statuses = [r["status"] for r in store.list_runs(con, 50)]
    con.close()
    assert statuses.count("failed") >= 10
    assert all(SECRET not in p.name for p in tmp_path.iterdir())


# --- crash safety --------------------------------------------------------------------------------------

def _qa(db: Path, config: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qa_scoring", "--db", str(db), "--config", str(config), "fetch"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_kill_9_mid_fetch_then_rerun_equals_clean_run(tmp_path):
    data = write_envelope(tmp_path / "d.json", daily_rows(datetime(2026, 10, 25), 20, 120) + [
        row("BAD1", "ayer"), row(" ", "2026-10-30 10:00:00", "2026-10-30 10:01:00")])
    config = tmp_path / "qa-scoring.toml"
    config.write_text(f'[wolkvox]\nlock_dir = "{tmp_path}"\nmin_interval = 0.0\nbackfill_start = "2026-10-20"\n'
                      f'row_cap = 100\ntruncation_margin = 5\n')

    def tables(db: Path):
        con = store.connect(db, read_only=True)
        try:
            return (content(con),
                    con.execute("SELECT DISTINCT reason, raw_row FROM quarantine ORDER BY ALL").fetchall(),
                    store.get_watermark(con, "default") is not None)
        finally:
            con.close()

    with start_sandbox([data], token=TOKEN, row_cap=100) as server:
        env = {**os.environ, "WOLKVOX_BASE_URL": server.base_url, "WOLKVOX_TOKEN": TOKEN}
        env.pop("QA_SCORING_DB", None)
        clean = tmp_path / "clean.duckdb"
        assert _qa(clean, config, env).wait(120) == 0
        reference = tables(clean)
        assert len(reference[0]) == 2400 and len(reference[1]) == 2
        for kill_after in (3, 9, 17):
            db = tmp_path / f"killed{kill_after}.duckdb"
            start = server.stats.calls
            server.faults.hold_next(40, seconds=0.02)  # slow the fetch so the kill lands mid-way
            proc = _qa(db, config, env)
            deadline = time.monotonic() + 60
            while server.stats.calls - start < kill_after and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            assert proc.poll() is None, "the fetch finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            server.faults.clear()
            assert _qa(db, config, env).wait(120) == 0
            assert tables(db) == reference
