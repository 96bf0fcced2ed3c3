"""The sandbox reproduces the Wolkvox chat_4 API's traps, over real HTTP on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from qa_scoring.cli import cli
from qa_scoring.errors import DataFileError, RunTimeError
from qa_scoring.sandbox import API_PATH, start_sandbox

TOKEN = "tok-sandbox-1"


def row(case: str, created: str, closed: str = "", status: str = "close") -> dict:
    return {"channel": "Email", "agent_name": "Óscar", "skill_id": "01", "case_id": case, "subject": "Hola",
            "from": "a@b.co", "to": "c@d.co", "body": "¿Cuándo llega? 🙂", "answer": "Mañana.",
            "date_creation": created, "close_date": closed, "evaluation_survey": "", "cod_act": "X",
            "cod_description": "", "comments": "", "attachments": "", "status": status}


ROWS = [
    row("A", "2026-11-01 08:00:00", "2026-11-03 09:00:00"),  # created 1st, closed 3rd: filtered on the 3rd
    row("B", "2026-11-02 10:00:00", "", status="open"),  # open: filtered on its creation
    row("C", "2026-11-02 11:00:00", "0000-00-00 00:00:00", status="open"),
    row("D", "2026-11-03 12:00:00", "2026-11-03 12:30:00"),
    row("E", "ayer", "-"),  # unparseable: filed at its predecessor's time (the 3rd, 12:30)
] + [row(f"F{i}", "2026-11-05 10:00:00", f"2026-11-05 10:{i:02d}:00") for i in range(20)]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.json"
    path.write_text(json.dumps({"code": 200, "error": None, "msg": "x", "data": ROWS}, ensure_ascii=False),
                    encoding="utf-8")
    return path


@pytest.fixture
def server(data_file):
    with start_sandbox([data_file], token=TOKEN, row_cap=8, daily_quota=50) as sandbox:
        yield sandbox


def get(server, ini="20261101000000", end="20261102235959", token=TOKEN, timeout=5, **params):
    query = {"api": "chat_4", "date_ini": ini, "date_end": end, "include_attachments": "false",
             "attach_array": "no", **params}
    query = {k: v for k, v in query.items() if v is not None}
    headers = {"wolkvox-token": token} if token is not None else {}
    return requests.get(server.base_url + API_PATH, params=query, headers=headers, timeout=timeout)


def cases(response) -> list[str]:
    return [r["case_id"] for r in response.json()["data"]]


def test_filters_on_close_date_and_open_rows_on_creation(server):
    assert cases(get(server)) == ["B", "C"]
    assert cases(get(server, "20261103000000", "20261103235959")) == ["A", "D", "E"]
    # date_end is inclusive to the second
    assert cases(get(server, "20261103090000", "20261103090000")) == ["A"]


def test_envelope_code_is_sometimes_a_string(server):
    codes = [get(server).json()["code"] for _ in range(4)]
    assert sorted(map(type, codes), key=str) == [int, int, str, str]
    assert all(str(c) == "200" for c in codes)
    doc = get(server).json()
    assert set(doc) == {"code", "error", "msg", "data"} and doc["error"] in (None, "", "null")


def test_row_cap_truncates_silently(server):
    response = get(server, "20261105000000", "20261105235959")
    assert response.status_code == 200
    assert cases(response) == [f"F{i}" for i in range(8)] and "8" in response.json()["msg"]


@pytest.mark.parametrize("kwargs, status, msg", [
    ({"ini": "20260101000000", "end": "20260102235959"}, 404, "Validate dates entered"),
    ({"ini": "20261102000000", "end": "20261101000000"}, 404, "Validate dates entered"),
    ({"api": "chat_99"}, 400, "THE API YOU WANT TO CONSULT DOES NOT EXIST"),
    ({"ini": None}, 400, "SOME PARAMETERS ARE REQUIRED"),
    ({"attach_array": "maybe"}, 400, "SOME PARAMETERS ARE REQUIRED"),
    ({"ini": "20261001000000", "end": "20261101000000"}, 400, "THE MAXIMUM RANGE OF DAYS TO CONSULT IS 31"),
    ({"token": None}, 401, "PLEASE ENTER THE WOLKVOX-TOKEN"),
    ({"token": "wrong"}, 403, "PLEASE VALIDATE TOKEN"),
])
def test_error_answers(server, kwargs, status, msg):
    response = get(server, **kwargs)
    assert response.status_code == status
    assert response.json()["msg"] == msg and str(response.json()["code"]) == str(status)


def test_31_days_is_the_longest_window(server):
    assert get(server, "20261010000000", "20261109235959").status_code == 200  # 31 days
    assert get(server, "20261010000000", "20261110000000").status_code == 400


def test_daily_quota_counts_every_call(server):
    server.daily_quota = 3
    server.faults.fail_next(1, 500)
    assert [get(server).status_code for _ in range(4)] == [500, 200, 200, 403]
    assert get(server).json()["msg"] == "TOKEN LIMIT EXCEEDED"
    server.reset_quota()
    assert get(server).status_code == 200


def test_faults_in_order(server):
    server.faults.fail_next(1, 503).html_next(1, 502).truncate_next(1).busy_next(1).forbid_next(1)
    first = get(server)
    assert first.status_code == 503
    html = get(server)
    assert html.status_code == 502 and html.headers["Content-Type"].startswith("text/html") and "<html>" in html.text
    truncated = get(server)
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        json.loads(truncated.content)
    assert get(server).json()["msg"] == "EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (1)"
    assert get(server).json()["msg"] == "API CONSUMPTION TEMPORARILY DISABLED"
    assert get(server).status_code == 200 and server.faults.pending() == 0
    assert [r.fault for r in server.stats.requests] == ["fail", "html", "truncate", "busy", "forbid", ""]


def test_reset_and_slow_faults(server):
    server.faults.reset_next(1).slow_next(1, seconds=0.5)
    with pytest.raises(requests.ConnectionError):
        get(server)
    with pytest.raises(requests.ReadTimeout):
        get(server, timeout=(2, 0.1))
    assert get(server).status_code == 200


def test_ndjson_and_csv_files_serve_the_same_rows(tmp_path, data_file):
    ndjson = tmp_path / "rows.ndjson"
    ndjson.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n", encoding="utf-8")
    csv_file = tmp_path / "rows.csv"
    import csv

    with csv_file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    answers = []
    for path in (data_file, ndjson, csv_file):
        with start_sandbox([path], token=TOKEN) as sandbox:
            answers.append([get(sandbox, "20261101000000", "20261130235959").json()["data"]])
    assert answers[0] == answers[1] == answers[2]
    assert len(answers[0][0]) == len(ROWS)


def test_bad_file_and_busy_port_are_one_line_errors(tmp_path, server):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad.json: not a JSON chat_4 file"):
        start_sandbox([bad])
    with pytest.raises(RunTimeError, match=rf"^sandbox: cannot listen on 127.0.0.1:{server.port}: "):
        start_sandbox(None, port=server.port)


def test_cli_sandbox_prints_base_url_first_and_serves(data_file):
    proc = subprocess.Popen([sys.executable, "-m", "qa_scoring", "sandbox", "--port", "0", "--token", TOKEN,
                             str(data_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        response = requests.get(base + API_PATH, params={"api": "chat_4", "date_ini": "20261101000000",
                                                         "date_end": "20261102235959"},
                                headers={"wolkvox-token": TOKEN}, timeout=5)
        assert [r["case_id"] for r in response.json()["data"]] == ["B", "C"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_sandbox_bad_file(runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    result = runner.invoke(cli, ["sandbox", "--port", "0", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {bad}: not a JSON chat_4 file (Expecting ',' delimiter: line 1 column 6 (char 5))"
