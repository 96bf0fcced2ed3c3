"""The API token never shows: every error path of the nightly `run`, through the real sandbox.

Checks stdout, stderr (the cron log), every table of the database and every file written.
"""

from __future__ import annotations

import re
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


# --- issue 18 items 1-3: the token in every encoding, forged lines, escaped tokens in rows -------------

import base64  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import urllib.parse  # noqa: E402

from qa_scoring import errors  # noqa: E402

ENC_SECRET = "tok/SECRET+123-abc"  # '/' and '+': PHP's `\/`, URL and base64 alphabets differ on them


def _quote(text: str, lower: bool = False) -> str:
    out = urllib.parse.quote(text, safe="")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), out) if lower else out


ENCODINGS = {
    "literal": lambda s: s,
    "url-upper": lambda s: "".join(f"%{ord(c):02X}" for c in s),
    "url-lower": lambda s: "".join(f"%{ord(c):02x}" for c in s),
    "url-mixed": lambda s: _quote(s, lower=True),
    "url-twice": lambda s: urllib.parse.quote(urllib.parse.quote(s, safe=""), safe=""),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "base64-inside": lambda s: base64.b64encode(b"Authorization: " + s.encode() + b"\n").decode(),
    "base64-wrapped": lambda s: "\r\n".join(re.findall(".{1,8}", base64.b64encode(b"k=" + s.encode()).decode())),
    "html-decimal": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "html-hex": lambda s: "".join(f"&#x{ord(c):X};" for c in s),
    "html-named": lambda s: s.replace("/", "&sol;").replace("+", "&plus;").replace("-", "&#45"),
    "json-u": lambda s: "".join(f"\\u{ord(c):04x}" for c in s),
    "json-U-hex": lambda s: "".join(f"\\u{ord(c):04X}" for c in s),
    "json-slash": lambda s: s.replace("/", "\\/"),
    "split-space": lambda s: " ".join(s),
    "split-newline": lambda s: s[:7] + "\n" + s[7:],
    "split-crlf-indent": lambda s: s[:5] + "\r\n    " + s[5:11] + "\u200b" + s[11:],
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_scrubber_finds_every_encoding(monkeypatch, name):
    monkeypatch.setenv("WOLKVOX_TOKEN", ENC_SECRET)
    encoded = ENCODINGS[name](ENC_SECRET)
    text = errors.scrub_secrets(f"server said [{encoded}] twice: {encoded}.")
    assert encoded not in text and ENC_SECRET not in text
    assert text.startswith("server said [") and text.endswith(".")
    assert text.count("***") >= 2


def test_page_scrubbing_finds_every_secret_of_many_operations_in_every_encoding(monkeypatch):
    """Whole pages are scrubbed in several passes of bounded size (one alternation of many
    secrets is slow in RE2): every secret, in every encoding, must still be found — a long token
    whose own pattern exceeds a pass, and a short one that is part of a longer one, included."""
    from qa_scoring import parse

    long_token = "L0ng/" + "x7Q+" * 60  # 245 characters: its literal form alone exceeds a pass
    secrets = [f"op{i}-tok/SECRET+{i:03d}" for i in range(12)] + [long_token, "op1-tok/SECRET"]
    for secret in secrets:
        errors.register_secret(secret)
    monkeypatch.setenv("WOLKVOX_TOKEN", ENC_SECRET)
    assert len(errors.secret_regexes()) > 1
    pieces = [f"[{encode(secret)}]" for secret in secrets + [ENC_SECRET] for encode in ENCODINGS.values()]
    scrubbed = parse.scrub_payload(" ".join(pieces).encode()).decode()
    for secret in secrets + [ENC_SECRET]:
        for name, encode in ENCODINGS.items():
            assert encode(secret) not in scrubbed, (secret[:12], name)
    assert len(scrubbed.split(" [")) == len(pieces)
    assert all(piece.endswith("]") and "***" in piece for piece in scrubbed.split(" ["))
    import pyarrow as pa
    rows = parse.scrub_rows(pa.table({"position": [0], "body": [" ".join(pieces)]}))
    assert not any(encode(s) in rows["body"][0].as_py() for s in secrets for encode in ENCODINGS.values())


def test_scrubber_leaves_ordinary_text_alone(monkeypatch):
    monkeypatch.setenv("WOLKVOX_TOKEN", ENC_SECRET)
    text = "Buenos días, su pedido 123-abc llegó; tok SECRET y %2F &amp; \\u0041 aGVsbG8gd29ybGQ="
    assert errors.scrub_secrets(text) == text


ENCODED_ECHOES = ["url-lower", "base64", "base64url", "html-decimal", "json-u", "split-newline"]


@pytest.mark.parametrize("name", ENCODED_ECHOES)
def test_encoded_token_echoed_by_the_server_appears_nowhere(runner, tmp_path, monkeypatch, name):
    """Item 1: an error body echoing the token encoded: not in the Error line, WARNING lines, runs.error."""
    encoded = ENCODINGS[name](ENC_SECRET)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa-scoring.toml").write_text(
        f'[wolkvox]\nmin_interval = 0\nretry_backoff = 0\nmax_attempts = 2\nlock_dir = "{tmp_path}"\n')
    with start_sandbox(sample_files(), token=ENC_SECRET) as server:
        server.faults.fail_next(2, 500, msg=f"internal error for token {encoded} (retry)")
        monkeypatch.setenv("WOLKVOX_TOKEN", ENC_SECRET)
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["-v", "fetch", "--since", "2026-10-15", "--until", "2026-10-15"])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert any(" WARNING " in line and "internal error for token *** (retry)" in line for line in lines)
    assert lines[-1].startswith("Error: ") and lines[-1].endswith("last: HTTP 500: INTERNAL SERVER ERROR / "
                                                                  "internal error for token *** (retry)")
    written = everything_written(tmp_path / "qa_scoring.duckdb", tmp_path)
    assert "internal error for token ***" in written  # runs.error holds the scrubbed line
    for text in (result.stdout, result.stderr, written):
        assert encoded not in text and ENC_SECRET not in text


def test_server_text_cannot_forge_log_lines(runner, tmp_path, monkeypatch):
    """Item 2: line breaks and escape sequences in a server's error text stay inside one line."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa-scoring.toml").write_text(
        f'[wolkvox]\nmin_interval = 0\nretry_backoff = 0\nmax_attempts = 2\nlock_dir = "{tmp_path}"\n')
    forged = ("boom\nError: forged line\r\n2026-12-03 08:00:00 WARNING forged too\u2028Error: and this\x1b[2K"
              "\x85Error: NEL\x00")
    with start_sandbox(sample_files(), token=SECRET) as server:
        server.faults.fail_next(2, 503, msg=forged)
        monkeypatch.setenv("WOLKVOX_TOKEN", SECRET)
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["fetch", "--since", "2026-10-15", "--until", "2026-10-15"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("Error:")] == [lines[-1]]
    assert not any("forged" in line and " WARNING " not in line and not line.startswith("Error: Wolkvox")
                   for line in lines)
    assert all(not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line) for line in lines)
    assert lines[-1].endswith("SERVICE UNAVAILABLE / boom Error: forged line 2026-12-03 08:00:00 WARNING "
                              "forged too Error: and this [2K Error: NEL")
    con = duckdb.connect(str(tmp_path / "qa_scoring.duckdb"), read_only=True)
    (error,) = con.execute("SELECT error FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
    con.close()
    assert error == lines[-1].removeprefix("Error: ")


def test_escaped_token_in_rows_is_stored_nowhere(runner, tmp_path, monkeypatch):
    """Item 3: rows that carry the token as JSON escapes (`\\u0074…`, PHP's `\\/`): scrubbed once decoded,
    so it is in no table (raw page included), no report page and no report file name."""
    escaped = "".join(f"\\u{ord(c):04x}" for c in ENC_SECRET)
    raw_json = {"@A@": ENC_SECRET.replace("/", "\\/"), "@B@": f"pegó {escaped} aquí",
                "@C@": f"y {ENC_SECRET[:6]}\\n{ENC_SECRET[6:]} partido"}  # as written in the body
    rows = []
    for i, (agent, comment) in enumerate([("@A@", "agent named like the token"), ("Ana", "@B@"),
                                          ("Ana", "@C@"), ("Luis", "nada raro")]):
        created = f"2026-11-02 1{i}:00:00"
        row = {"channel": "whatsapp", "agent_name": agent, "skill_id": "1", "case_id": f"C{i}",
               "subject": "s", "from": "a", "to": "b", "body": "hola", "answer": "buenos días",
               "date_creation": created, "close_date": created.replace(":00:00", ":05:00"),
               "evaluation_survey": "", "cod_act": "", "cod_description": "", "comments": comment,
               "attachments": "", "status": "close"}
        line = json.dumps(row, ensure_ascii=False)
        for placeholder, text in raw_json.items():
            line = line.replace(placeholder, text)
        rows.append(line)
    data = tmp_path / "rows.ndjson"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert ENC_SECRET not in data.read_text() and "tok\\/SECRET" in data.read_text()  # only escaped
    work = tmp_path / "work"  # everything written goes here, apart from the served file
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "qa-scoring.toml").write_text(
        f'[wolkvox]\nmin_interval = 0\nretry_backoff = 0\nlock_dir = "{work}"\n')
    with start_sandbox([data], token=ENC_SECRET) as server:
        monkeypatch.setenv("WOLKVOX_TOKEN", ENC_SECRET)
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        result = runner.invoke(cli, ["fetch", "--since", "2026-11-02", "--until", "2026-11-02"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(cli, ["report", "--since", "2026-11-01", "--until", "2026-11-30", "--out", "out"])
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(work / "qa_scoring.duckdb"), read_only=True)
    stored = con.execute("SELECT agent_name, comments FROM interactions ORDER BY case_id").fetchall()
    con.close()
    assert stored == [("***", "agent named like the token"), ("Ana", "pegó *** aquí"),
                      ("Ana", "y *** partido"), ("Luis", "nada raro")]
    written = everything_written(work / "qa_scoring.duckdb", work)
    assert ENC_SECRET not in written and escaped not in written and "tok\\/SECRET" not in written
    con = duckdb.connect(str(work / "qa_scoring.duckdb"), read_only=True)
    from qa_scoring import store
    (page_id,) = con.execute("SELECT page_id FROM raw_pages").fetchone()
    payload = store.raw_payload(con, page_id).decode()
    con.close()
    assert "tok\\/SECRET" not in payload and escaped not in payload and "pegó *** aquí" in payload
    assert list((work / "out").rglob("*.html"))
