"""Operations as a scope (issue 16): [operations.<name>] sections, each fetched from its own sandbox
with its own token, concurrently when the tokens differ, one failing without losing the others."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from qa_scoring import sandbox
from qa_scoring.cli import cli
from qa_scoring.config import load_settings
from qa_scoring.errors import ConfigError

BOGOTA_TOKEN = "tok-bogota-7f3a9c21e5"
LIMA_TOKEN = "tok-lima-0b8d44e19a"
SINCE, UNTIL = "2026-10-15", "2026-11-13"


@pytest.fixture
def servers():
    a = sandbox.start_sandbox(token=BOGOTA_TOKEN)
    b = sandbox.start_sandbox(token=LIMA_TOKEN)
    yield a, b
    a.shutdown()
    b.shutdown()


def write_config(tmp_path: Path, a, b, lima_extra: str = "") -> Path:
    path = tmp_path / "qa-scoring.toml"
    path.write_text(f"""
[database]
path = "{tmp_path / 'q.duckdb'}"

[wolkvox]
min_interval = 0
lock_dir = "{tmp_path}"

[operations.bogota]
base_url = "{a.base_url}"
timezone = "America/Bogota"

[operations.lima]
base_url = "{b.base_url}"
timezone = "America/Lima"
{lima_extra}
""", encoding="utf-8")
    return path


def fetch(runner, config: Path, env: dict, *extra):
    return runner.invoke(cli, ["--config", str(config), "fetch", "--since", SINCE, "--until", UNTIL, "--json", *extra],
                         env=env)


def landed(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute("SELECT operation, count(*) FROM interactions GROUP BY 1").fetchall())
    finally:
        con.close()


def everything_in(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = []
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                                    ).fetchall():
            out.append(repr(con.execute(f'SELECT * FROM "{table}"').fetchall()))
        return "\n".join(out)
    finally:
        con.close()


ENV = {"WOLKVOX_TOKEN_BOGOTA": BOGOTA_TOKEN, "WOLKVOX_TOKEN_LIMA": LIMA_TOKEN, "WOLKVOX_TOKEN": None,
       "WOLKVOX_SERVER": None, "WOLKVOX_BASE_URL": None}


def test_two_operations_each_with_its_own_server_and_token(servers, runner, tmp_path):
    a, b = servers
    config = write_config(tmp_path, a, b)
    result = fetch(runner, config, ENV)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["operations"]) == {"bogota", "lima"} and summary["failed"] == []
    counts = landed(tmp_path / "q.duckdb")
    assert counts["bogota"] == counts["lima"] > 2500  # the same sample, twice, kept apart by operation
    # each token went to its own server only
    assert set(a.stats.max_in_flight_by_token) == {BOGOTA_TOKEN}
    assert set(b.stats.max_in_flight_by_token) == {LIMA_TOKEN}
    text = result.output + everything_in(tmp_path / "q.duckdb")
    assert BOGOTA_TOKEN not in text and LIMA_TOKEN not in text
    # each has its own watermark: a second fetch of one operation touches only its server
    calls_a = a.stats.calls
    again = runner.invoke(cli, ["--config", str(config), "fetch", "--operation", "lima", "--json"], env=ENV)
    assert again.exit_code == 0, again.output
    assert a.stats.calls == calls_a and set(json.loads(again.stdout)["operations"]) == {"lima"}


@pytest.mark.slow
def test_one_operation_with_a_bad_token_leaves_the_other_landed_and_exits_1(servers, runner, tmp_path):
    a, b = servers
    config = write_config(tmp_path, a, b)
    wrong = "tok-wrong-55aa66bb77cc"
    result = fetch(runner, config, {**ENV, "WOLKVOX_TOKEN_LIMA": wrong})
    assert result.exit_code == 1, result.output
    assert "operation lima" in result.stderr and "landed: bogota" in result.stderr
    assert wrong not in result.output and BOGOTA_TOKEN not in result.output
    assert landed(tmp_path / "q.duckdb") == {"bogota": landed(tmp_path / "q.duckdb")["bogota"]}
    con = duckdb.connect(str(tmp_path / "q.duckdb"), read_only=True)
    status, error = con.execute("SELECT status, error FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
    con.close()
    assert status == "failed" and "lima" in error and wrong not in error
    # fixed, the next fetch resumes lima (and bogota from its own watermark)
    fixed = runner.invoke(cli, ["--config", str(config), "fetch", "--json"], env={**ENV, "WOLKVOX_TOKEN_LIMA": LIMA_TOKEN})
    assert fixed.exit_code == 0, fixed.output
    assert set(landed(tmp_path / "q.duckdb")) == {"bogota", "lima"}


def test_a_missing_token_variable_fails_only_its_operation(servers, runner, tmp_path):
    a, b = servers
    config = write_config(tmp_path, a, b)
    result = fetch(runner, config, {**ENV, "WOLKVOX_TOKEN_LIMA": None})
    assert result.exit_code == 1
    assert "WOLKVOX_TOKEN_LIMA is not set" in result.stderr
    assert set(landed(tmp_path / "q.duckdb")) == {"bogota"}


def test_a_token_file_is_read_and_scrubbed(servers, runner, tmp_path):
    a, b = servers
    token_file = tmp_path / "lima.token"
    token_file.write_text(LIMA_TOKEN + "\n", encoding="utf-8")
    config = write_config(tmp_path, a, b, f'token_file = "{token_file}"')
    result = fetch(runner, config, {**ENV, "WOLKVOX_TOKEN_LIMA": None})
    assert result.exit_code == 0, result.output
    assert set(landed(tmp_path / "q.duckdb")) == {"bogota", "lima"}
    assert LIMA_TOKEN not in result.output + everything_in(tmp_path / "q.duckdb")


def both_in_flight(a, b, seconds: float) -> bool:
    """Whether both sandboxes had a request in flight at the same moment within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sum(a.stats.in_flight.values()) and sum(b.stats.in_flight.values()):
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("shared", [False, True])
def test_different_tokens_fetch_at_the_same_time_a_shared_token_never_overlaps(runner, tmp_path, shared):
    token_b = BOGOTA_TOKEN if shared else LIMA_TOKEN
    a, b = sandbox.start_sandbox(token=BOGOTA_TOKEN), sandbox.start_sandbox(token=token_b)
    try:
        # long holds: on a loaded machine the second thread may reach its server a second or two late
        a.faults.hold_next(1, seconds=4.0)
        b.faults.hold_next(1, seconds=4.0)
        config = write_config(tmp_path, a, b)
        env = {**ENV, "WOLKVOX_TOKEN_LIMA": token_b}
        result = {}
        worker = threading.Thread(target=lambda: result.setdefault("r", fetch(runner, config, env)))
        worker.start()
        overlapped = both_in_flight(a, b, 15.0)
        worker.join(60)
        assert result["r"].exit_code == 0, result["r"].output
        assert overlapped is (not shared)
    finally:
        a.shutdown()
        b.shutdown()


@pytest.mark.parametrize("text, message", [
    ('[operations."bad name!"]\nserver = "1"\n', "an operation name is 1-40 letters"),
    ('[operations.lima]\nserver = "1"\ntoken_evn = "X"\n', "unknown key (did you mean 'token_env'?)"),
    ('[operations.lima]\nserver = "1"\ntoken_env = "A"\ntoken_file = "/f"\n', "not both"),
    ('[operations.lima]\ntimezone = "America/Lima"\n', "needs server"),
    ('[operations.lima]\nserver = "1"\ntimezone = "Mars/Olympus"\n', "operations.lima.timezone"),
    ('[operations]\nlima = 3\n', "one table per operation"),
])
def test_bad_operation_sections_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "q.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_without_operation_sections_the_wolkvox_section_is_the_one_operation(tmp_path, runner):
    settings = load_settings(None, environ={"WOLKVOX_SERVER": "0042"})
    ops = settings.operation_list()
    assert [op.name for op in ops] == ["0042"] and ops[0].legacy and ops[0].wolkvox.server == "0042"
    with pytest.raises(ConfigError, match="no such operation"):
        settings.operation_list(["lima"])
    # operations inherit [wolkvox] keys they do not set
    path = tmp_path / "q.toml"
    path.write_text('[wolkvox]\nlookback_days = 5\n[operations.lima]\nserver = "7"\nmin_interval = 1\n', encoding="utf-8")
    lima, = load_settings(path, environ={}).operation_list()
    assert (lima.wolkvox.lookback_days, lima.wolkvox.min_interval, lima.token_env) == (5.0, 1.0, "WOLKVOX_TOKEN_LIMA")


@pytest.mark.slow
def test_run_scores_and_reports_the_operations_that_landed_and_exits_1_naming_the_other(servers, runner, tmp_path):
    a, b = servers
    config = write_config(tmp_path, a, b)
    out = tmp_path / "reports"
    result = runner.invoke(cli, ["--config", str(config), "run", "--since", SINCE, "--until", UNTIL,
                                 "--report-day", UNTIL, "--out", str(out), "--json"],
                           env={**ENV, "WOLKVOX_TOKEN_LIMA": "tok-wrong-55aa66bb77cc"})
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert list(summary["failed_operations"]) == ["lima"] and summary["stages"]["score"]["scored"] > 2500
    assert summary["reports"] and all(Path(p).is_file() for p in summary["reports"])
    assert "operation lima" in result.stderr
    con = duckdb.connect(str(tmp_path / "q.duckdb"), read_only=True)
    status, = con.execute("SELECT status FROM runs WHERE command = 'run'").fetchone()
    con.close()
    assert status == "failed"


# --- reports and exports per operation ------------------------------------------------------------

@pytest.fixture
def two_operations(tmp_path, runner):
    """The bundled sample imported twice, as bogota and as lima (Lima's own zone), and scored."""
    from qa_scoring.resources import sample_files

    config = tmp_path / "qa-scoring.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "two.duckdb"}"\n'
                      '[operations.bogota]\nserver = "1"\ntimezone = "America/Bogota"\n'
                      '[operations.lima]\nserver = "2"\ntimezone = "America/Lima"\n', encoding="utf-8")
    sample, = sample_files()
    for name in ("bogota", "lima"):
        r = runner.invoke(cli, ["--config", str(config), "import", "--operation", name, str(sample)])
        assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--config", str(config), "score"])
    assert r.exit_code == 0, r.output
    return config


def test_several_operations_get_a_folder_each_and_an_overview(two_operations, runner, tmp_path):
    out = tmp_path / "r"
    result = runner.invoke(cli, ["--config", str(two_operations), "report", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["operations"] == ["bogota", "lima"]
    overview = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="bogota/index.html"' in overview and 'href="lima/index.html"' in overview
    assert "America/Lima" in overview and "America/Bogota" in overview
    # the same agent names in two operations: two pages, one in each folder
    for name in ("bogota", "lima"):
        pages = list((out / name / "agents").glob("*.html"))
        assert len(pages) == 13
        index = (out / name / "index.html").read_text(encoding="utf-8")
        assert f"<bdi>{name}</bdi>" in index and 'href="../index.html"' in index
    assert summary["agents"] == 26
    # one operation's folder holds exactly what `report --operation` renders for it alone
    alone = tmp_path / "lima-only"
    r = runner.invoke(cli, ["--config", str(two_operations), "report", "--operation", "lima", "--out", str(alone)])
    assert r.exit_code == 0, r.output
    strip = re.compile(r"<footer.*?</footer>|<span class=\"period\" id=\"operation\">.*?</span>", re.S)
    both = strip.sub("", (out / "lima" / "index.html").read_text(encoding="utf-8"))
    assert both == strip.sub("", (alone / "index.html").read_text(encoding="utf-8"))
    unknown = runner.invoke(cli, ["--config", str(two_operations), "report", "--operation", "quito", "--out",
                                  str(tmp_path / "x")])
    assert unknown.exit_code == 2 and "no interactions of that operation (stored: bogota, lima)" in unknown.output


def test_exports_carry_the_operation(two_operations, runner, tmp_path):
    import csv

    for what in ("scores", "rule_results", "predictions"):
        out = tmp_path / f"{what}.csv"
        r = runner.invoke(cli, ["--config", str(two_operations), "export", "--what", what, "--format", "csv",
                                "--out", str(out)])
        assert r.exit_code == 0, r.output
        with out.open(encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            assert "operation" in reader.fieldnames, what
            if what == "scores":
                ops = {row["operation"] for row in reader}
                assert ops == {"bogota", "lima"}


def test_a_hostile_operation_name_gets_a_safe_folder_and_is_escaped(sample_db, runner, tmp_path):
    from qa_scoring.resources import sample_files

    sample, = sample_files()
    hostile = '../<script>alert(1)</script>'
    r = runner.invoke(cli, ["--db", str(sample_db), "import", "--operation", hostile, str(sample)])
    assert r.exit_code == 0, r.output
    runner.invoke(cli, ["--db", str(sample_db), "score"])
    out = tmp_path / "r"
    r = runner.invoke(cli, ["--db", str(sample_db), "report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2 and all(re.fullmatch(r"[A-Za-z0-9_.-]+", f) for f in folders)
    assert not (tmp_path / "<script>alert(1)</script>").exists()
    for page in out.rglob("*.html"):
        assert "<script>" not in page.read_text(encoding="utf-8"), page


def test_each_operation_reports_its_own_local_days(runner, tmp_path):
    """Times are stored as each operation's own wall clock: 23:30 in Mexico City on the 10th is the 10th
    in its report, while 00:30 on the 11th in Madrid (the same instant and later) is Madrid's 11th."""
    config = tmp_path / "qa-scoring.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "tz.duckdb"}"\n'
                      '[operations.mexico]\nserver = "1"\ntimezone = "America/Mexico_City"\n'
                      '[operations.madrid]\nserver = "2"\ntimezone = "Europe/Madrid"\n', encoding="utf-8")
    fields = ("channel", "agent_name", "skill_id", "case_id", "subject", "from", "to", "body", "answer",
              "date_creation", "close_date", "evaluation_survey", "cod_act", "cod_description", "comments",
              "attachments", "status")

    def row(case: str, created: str, closed: str) -> dict:
        values = dict.fromkeys(fields, "")
        values.update(channel="webchat", agent_name="Ana", skill_id="1", case_id=case, body="hola",
                      answer="Buenos días, con gusto le ayudo", date_creation=created, close_date=closed,
                      status="closed")
        return values

    for name, rows in (("mexico", [row("m1", "2026-11-10 23:30:00", "2026-11-10 23:50:00")]),
                       ("madrid", [row("e1", "2026-11-11 00:30:00", "2026-11-11 00:50:00"),
                                   row("e2", "2026-11-10 12:00:00", "2026-11-10 12:20:00")])):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"code": "200", "error": None, "msg": "", "data": rows}), encoding="utf-8")
        r = runner.invoke(cli, ["--config", str(config), "import", "--operation", name, str(path)])
        assert r.exit_code == 0, r.output
    assert runner.invoke(cli, ["--config", str(config), "score"]).exit_code == 0
    out = tmp_path / "r"
    r = runner.invoke(cli, ["--config", str(config), "report", "--since", "2026-11-10", "--until", "2026-11-10",
                            "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    overview = (out / "index.html").read_text(encoding="utf-8")
    counts = dict(re.findall(r'<tr id="op-(\w+)">.*?<td class="num">(\d+)', overview, re.S))
    assert counts == {"madrid": "1", "mexico": "1"}
    assert "Europe/Madrid" in overview and "America/Mexico_City" in overview
    con = duckdb.connect(str(tmp_path / "tz.duckdb"), read_only=True)
    zones = dict(con.execute("SELECT operation, min(timezone) FROM interactions GROUP BY 1").fetchall())
    con.close()
    assert zones == {"mexico": "America/Mexico_City", "madrid": "Europe/Madrid"}


# --- the demo: two operations (issue 16, sandbox and demo) --------------------------------------

def test_demo_sandboxes_deal_the_sample_agents_between_two_operations():
    from qa_scoring import pipeline
    from qa_scoring.resources import sample_files

    files = sample_files()
    split = pipeline.demo_split(files)
    assert set(split.values()) == {0, 1}
    served = []
    for i, (name, _) in enumerate(pipeline.DEMO_OPERATIONS):
        server = sandbox.SandboxServer(files, token=pipeline.demo_token(name),
                                       keep=lambda row, i=i: split[str(row.get("agent_name") or "")] == i)
        try:
            rows = [json.loads(r) for r in server.index.rows(0, len(server.index))]
        finally:
            server.shutdown()
        served.append({str(r.get("agent_name") or "") for r in rows})
        assert len(rows) > 1000
    whole = sandbox.SandboxServer(files)
    n_whole = len(whole.index)
    whole.shutdown()
    assert not served[0] & served[1] and len(served[0]) + len(served[1]) == len(split)
    assert n_whole == 3000


def _old_demo_db(runner, tmp_path: Path, command: str = "demo") -> Path:
    """A database as the one-operation demo left it: its rows under operation "demo", only demo runs."""
    from qa_scoring.resources import sample_files

    db = tmp_path / "qa_scoring.duckdb"
    r = runner.invoke(cli, ["--db", str(db), "import", "--operation", "demo", str(sample_files()[0])])
    assert r.exit_code == 0, r.output
    con = duckdb.connect(str(db))
    con.execute("UPDATE runs SET command = $c", {"c": command})
    con.close()
    return db


def test_demo_moves_an_old_one_operation_demo_database_aside(runner, tmp_path):
    from qa_scoring import pipeline

    db = _old_demo_db(runner, tmp_path)
    size = db.stat().st_size
    moved = pipeline.retire_old_demo(db)
    assert moved == tmp_path / "qa_scoring.duckdb.old-demo" and moved.stat().st_size == size and not db.exists()
    assert pipeline.retire_old_demo(db) is None  # nothing there: nothing to do


def test_demo_leaves_a_database_other_commands_wrote(runner, tmp_path):
    from qa_scoring import pipeline

    db = _old_demo_db(runner, tmp_path, command="import")
    assert pipeline.retire_old_demo(db) is None and db.exists()


@pytest.mark.slow
def test_demo_over_an_old_demo_database_equals_a_clean_demo(runner, tmp_path, monkeypatch):
    from test_e2e import report_contents

    old, clean = tmp_path / "old", tmp_path / "clean"
    old.mkdir()
    clean.mkdir()
    _old_demo_db(runner, old)
    tables = {}
    for where in (old, clean):
        monkeypatch.chdir(where)
        r = runner.invoke(cli, ["demo", "--json"])
        assert r.exit_code == 0, r.output
        con = duckdb.connect(str(where / "qa_scoring.duckdb"), read_only=True)
        tables[where] = con.execute("SELECT operation, count(*), count(DISTINCT agent_name) FROM interactions "
                                    "GROUP BY 1 ORDER BY 1").fetchall()
        con.close()
        for token in ("demo-token-bogota", "demo-token-lima"):
            assert token not in r.output
    assert tables[old] == tables[clean] and [op for op, *_ in tables[clean]] == ["bogota", "lima"]
    assert report_contents(old / "reports") == report_contents(clean / "reports")


# --- time: "today" per operation's zone (issue 16, time) ----------------------------------------

def test_local_today_is_the_earliest_local_date_of_the_operations(tmp_path):
    from datetime import date, datetime, timezone

    from qa_scoring import pipeline

    path = tmp_path / "qa-scoring.toml"
    path.write_text("""
[operations.kiribati]
base_url = "http://127.0.0.1:1"
timezone = "Pacific/Kiritimati"
[operations.lima]
base_url = "http://127.0.0.1:2"
timezone = "America/Lima"
""", encoding="utf-8")
    settings = load_settings(path, environ={})
    now = datetime(2026, 12, 3, 11, 0, tzinfo=timezone.utc)  # Kiritimati: the 4th at 01:00; Lima: the 3rd
    kiribati, lima = settings.operation_list()
    assert pipeline.local_today(settings, [kiribati], now=now) == date(2026, 12, 4)
    assert pipeline.local_today(settings, [lima], now=now) == date(2026, 12, 3)
    # both: the 3rd, so the night's report day (the 2nd) has ended in Lima too
    assert pipeline.local_today(settings, now=now) == date(2026, 12, 3)
    # the single [wolkvox] section keeps its own zone
    legacy = load_settings(None, environ={"WOLKVOX_SERVER": "0042"}, overrides={"wolkvox.timezone": "Pacific/Kiritimati"})
    assert pipeline.local_today(legacy, now=now) == date(2026, 12, 4)


# --- identity in the classifier's evaluation (issue 16, identity) -------------------------------

def test_agent_only_baseline_keys_agents_by_operation():
    from qa_scoring.classify.stage import _agent_only_auc

    # "Ana" of bogota is always dissatisfied, "Ana" of lima never: one agent by name (AUC undefined),
    # two by (operation, agent) (AUC 1)
    train = [("bogota", "Ana")] * 20 + [("lima", "Ana")] * 20
    y_train = np.array([1] * 20 + [0] * 20)
    test = [("bogota", "Ana")] * 5 + [("lima", "Ana")] * 5
    y_test = np.array([1] * 5 + [0] * 5)
    assert _agent_only_auc(train, y_train, test, y_test) == 1.0
    assert _agent_only_auc([a for _, a in train], y_train, [a for _, a in test], y_test) is None


def test_train_reports_its_held_out_metrics_per_operation(two_operations, runner, tmp_path):
    r = runner.invoke(cli, ["--config", str(two_operations), "train", "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    per = summary["per_operation"]
    assert set(per) == {"bogota", "lima"}
    assert sum(e["n_test"] for e in per.values()) == summary["n_test"]
    assert sum(e["test_dissatisfied"] for e in per.values()) == summary["class_balance"]["test_dissatisfied"]
    for entry in per.values():
        assert entry["n_test"] > 50 and 0.5 < entry["roc_auc"] <= 1 and 0 < entry["brier"] < 0.25
    # ... and the model page shows them, in each operation's folder
    r = runner.invoke(cli, ["--config", str(two_operations), "report", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    for name in ("bogota", "lima"):
        page = (tmp_path / "r" / name / "model.html").read_text(encoding="utf-8")
        table = page[page.index('id="per-operation"'):]
        table = table[:table.index("</table>")]
        assert table.count("<bdi>") == 2 and "<bdi>bogota</bdi>" in table and "<bdi>lima</bdi>" in table
        assert f"{per['lima']['n_test']:,}".replace(",", "\N{NO-BREAK SPACE}") in table or str(per["lima"]["n_test"]) in table


@pytest.fixture
def split_operations(tmp_path, runner):
    """The bundled sample's agents dealt between bogota and lima as the demo does, imported and scored
    (a review names a case id: in the sample imported twice it would be ambiguous)."""
    from qa_scoring import pipeline
    from qa_scoring.resources import sample_files

    sample, = sample_files()
    split = pipeline.demo_split([sample])
    doc = json.loads(sample.read_text(encoding="utf-8"))
    config = tmp_path / "split.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "split.duckdb"}"\n'
                      '[operations.bogota]\nserver = "1"\n[operations.lima]\nserver = "2"\n', encoding="utf-8")
    for i, name in enumerate(("bogota", "lima")):
        part = tmp_path / f"{name}.json"
        part.write_text(json.dumps({**doc, "data": [r for r in doc["data"] if split[str(r.get("agent_name") or "")] == i]}),
                        encoding="utf-8")
        r = runner.invoke(cli, ["--config", str(config), "import", "--operation", name, str(part)])
        assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["--config", str(config), "score"])
    assert r.exit_code == 0, r.output
    return config


def test_agreement_and_backtest_per_operation(split_operations, runner, tmp_path):
    from qa_scoring.resources import rules_dir, sample_reviews

    config = str(split_operations)
    r = runner.invoke(cli, ["--config", config, "reviews", "import", *map(str, sample_reviews())])
    assert r.exit_code == 0, r.output
    judged = {}
    for op in (None, "bogota", "lima"):
        r = runner.invoke(cli, ["--config", config, "reviews", "agreement", "--json", *(["--operation", op] if op else [])])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["operation"] == op
        judged[op] = out["overall"]["n"]
    assert judged["bogota"] > 100 and judged["lima"] > 100 and judged["bogota"] + judged["lima"] == judged[None]
    r = runner.invoke(cli, ["--config", config, "reviews", "agreement", "--operation", "quito"])
    assert r.exit_code == 2 and "Error: reviews agreement --operation quito: no interactions of that operation " \
        "(stored: bogota, lima)" in r.output

    candidate = tmp_path / "candidate"
    import shutil
    shutil.copytree(rules_dir(), candidate)
    both = runner.invoke(cli, ["--config", config, "backtest", "--rules", str(candidate), "--out", str(tmp_path / "bt"),
                               "--json"])
    assert both.exit_code == 0, both.output
    both = json.loads(both.stdout)
    assert both["operations"] == ["bogota", "lima"] and both["operation"] is None
    assert len(both["agents"]) == 13 and all(k.split("/", 1)[0] in ("bogota", "lima") for k in both["agents"])
    lima = runner.invoke(cli, ["--config", config, "backtest", "--rules", str(candidate), "--out", str(tmp_path / "bt"),
                               "--operation", "lima", "--json"])
    assert lima.exit_code == 0, lima.output
    lima = json.loads(lima.stdout)
    assert lima["operation"] == "lima" and lima["operations"] == ["lima"] and 0 < lima["interactions"] < both["interactions"]
    assert len(lima["agents"]) == 6 and all(a["operation"] == "lima" for a in lima["agents"].values())
    assert {k: v["current_score"] for k, v in lima["agents"].items()} == \
        {k.split("/", 1)[1]: v["current_score"] for k, v in both["agents"].items() if k.startswith("lima/")}
    bad = runner.invoke(cli, ["--config", config, "backtest", "--rules", str(candidate), "--out", str(tmp_path / "bt2"),
                              "--operation", "quito"])
    assert bad.exit_code == 2 and "backtest --operation quito: no interactions" in bad.output
    assert not (tmp_path / "bt2").exists()


def test_review_counts_and_the_index_line_are_each_operations_own(split_operations, runner, tmp_path):
    from qa_scoring.resources import sample_reviews

    config = str(split_operations)
    r = runner.invoke(cli, ["--config", config, "reviews", "import", *map(str, sample_reviews())])
    assert r.exit_code == 0, r.output
    con = duckdb.connect(str(tmp_path / "split.duckdb"), read_only=True)
    lima_case, = con.execute("SELECT min(case_id) FROM interactions WHERE operation = 'lima'").fetchone()
    con.close()
    extra = tmp_path / "extra.csv"
    extra.write_text("case_id,rule_id,verdict,reviewer\n"
                     f"{lima_case},no_such_rule,fail,ana\n"  # belongs to lima only
                     "999999999,saludo_inicial,fail,ana\n",  # no interaction anywhere: could be either
                     encoding="utf-8")

    def counts():
        out = {}
        for op in (None, "bogota", "lima"):
            r = runner.invoke(cli, ["--config", config, "reviews", "agreement", "--json", *(["--operation", op] if op else [])])
            assert r.exit_code == 0, r.output
            out[op] = json.loads(r.stdout)
        return out

    before = counts()
    r = runner.invoke(cli, ["--config", config, "reviews", "import", str(extra)])
    assert r.exit_code == 0, r.output
    out = counts()
    assert out["bogota"]["verdicts"] > 50 and out["lima"]["verdicts"] > 50
    assert out["bogota"]["verdicts"] + out["lima"]["verdicts"] == out[None]["verdicts"]
    assert out["bogota"]["verdicts"] < out[None]["verdicts"] and out["lima"]["reviewers"] == 2
    added = {op: {k: out[op]["unmatched"].get(k, 0) - before[op]["unmatched"].get(k, 0) for k in ("no_rule", "no_interaction")}
             for op in out}
    assert added[None] == {"no_rule": 1, "no_interaction": 1}
    assert added["lima"] == {"no_rule": 1, "no_interaction": 1} and added["bogota"] == {"no_rule": 0, "no_interaction": 1}

    r = runner.invoke(cli, ["--config", config, "report", "--out", str(tmp_path / "r"), "--lang", "en"])
    assert r.exit_code == 0, r.output
    for op in ("bogota", "lima"):
        page = (tmp_path / "r" / op / "index.html").read_text(encoding="utf-8")
        line = page[page.index('id="reviews-status"'):]
        line = line[:line.index("</p>")]
        assert f"{out[op]['verdicts']:,} verdicts by {out[op]['reviewers']} analysts" in line, line


def test_backtest_keeps_same_named_agents_of_two_operations_apart(two_operations, runner, tmp_path):
    import shutil

    from qa_scoring.resources import rules_dir

    shutil.copytree(rules_dir(), tmp_path / "candidate")
    r = runner.invoke(cli, ["--config", str(two_operations), "backtest", "--rules", str(tmp_path / "candidate"),
                            "--out", str(tmp_path / "bt"), "--json"])
    assert r.exit_code == 0, r.output
    agents = json.loads(r.stdout)["agents"]
    assert len(agents) == 26 and {k.split("/", 1)[0] for k in agents} == {"bogota", "lima"}
    page = (tmp_path / "bt" / "index.html").read_text(encoding="utf-8")
    assert page.count("<bdi>lima</bdi> · ") == 13


def test_the_overview_shares_the_pages_head_and_footer(two_operations, runner, tmp_path):
    out = tmp_path / "r"
    r = runner.invoke(cli, ["--config", str(two_operations), "report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    overview = (out / "index.html").read_text(encoding="utf-8")
    page = (out / "lima" / "index.html").read_text(encoding="utf-8")

    def head(html: str) -> str:
        return re.sub(r"<title>.*?</title>", "", html[:html.index("<header")])

    def footer_rows(html: str) -> list[str]:
        return re.findall(r"<dt>[^<]*</dt>", html[html.index('<footer class="meta">'):])

    assert head(overview) == head(page)  # one head (CSP, styles) for every page: base.html's
    rows = footer_rows(page)
    assert footer_rows(overview) == [rows[0], rows[1], *rows[4:]]  # without pack and model (per operation)
    assert (Path(__file__).parents[1] / "templates" / "operations.html").read_text(encoding="utf-8").startswith(
        '{% extends "base.html" %}')
