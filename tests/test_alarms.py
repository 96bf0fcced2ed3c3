"""Drift alarms (alarms.py): a planted collapse raises exactly its alarm; quiet days stay quiet at the
stated rate; the `alarms` contract in `run --json` / `report --json` and in `runs`."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from qa_scoring import alarms, store
from qa_scoring.cli import cli
from qa_scoring.resources import sample_files

START = date(2026, 9, 1)
CONTRACT = {"kind", "rule_id", "day", "rate", "baseline_rate", "baseline_low", "baseline_high"}


def quiet_facts(con, *, rules: int = 30, days: int = 60, seed: int = 7, per_day: int = 300,
                collapse: tuple[str, int, float] | None = None, unknown: tuple[int, float] | None = None) -> None:
    """Synthetic facts of quiet days (binomial draws around fixed rates), optionally with one rule's
    pass rate collapsed on one day: (rule id, day index, new pass rate, or minus the drop), and with
    the share of words unknown to the model changed on one day: (day index, new share)."""
    rng = np.random.default_rng(seed)
    pass_p = rng.uniform(0.55, 0.97, rules)
    app_p = rng.uniform(0.3, 1.0, rules)
    facts, rule_facts = [], []
    for d in range(days):
        day = START + timedelta(days=d)
        for channel, share in (("whatsapp", 0.7), ("email", 0.3)):
            n = int(rng.poisson(per_day * share))
            labeled = int(rng.binomial(n, 0.3))
            dis = int(rng.binomial(labeled, 0.25))
            risk_sum = float(rng.normal(0.25, 0.01) * labeled)
            tokens = int(rng.poisson(40 * n))
            share = unknown[1] if unknown and unknown[0] == d else 0.08
            facts.append(("default", "Ana", "PQR", channel, day, False, n, n, 80.0 * n, 6500.0 * n, 0, 0, labeled,
                          labeled, dis, n, 0.25 * n, labeled, risk_sum, dis, int(rng.binomial(n, 0.02)), 0,
                          tokens, int(rng.binomial(tokens, share))))
            for r in range(rules):
                rule_id = f"rule_{r:02d}"
                app = int(rng.binomial(n, app_p[r]))
                p = pass_p[r]
                if collapse and collapse[0] == rule_id and collapse[1] == d:
                    p = collapse[2] if collapse[2] >= 0 else p + collapse[2]  # a negative rate: a drop
                passed = int(rng.binomial(app, p))
                rule_facts.append(("default", "Ana", "PQR", channel, day, False, rule_id, n, app, passed, 0, 0, 0, 0))
    fcols = ["operation", "agent", "skill", "channel", "day", "is_open", "interactions", "scored", "score_sum",
             "score_sq_sum", "critical", "overridden", "surveyed", "labeled", "dissatisfied", "predicted",
             "risk_sum", "labeled_predicted", "labeled_risk_sum", "labeled_predicted_dissatisfied", "no_answer",
             "bad_time", "tokens", "unknown_tokens"]
    rcols = ["operation", "agent", "skill", "channel", "day", "is_open", "rule_id", "total", "applicable", "passed",
             "fail_lab", "fail_dis", "pass_lab", "pass_dis"]
    con.register("f_rows", pa.Table.from_pylist([dict(zip(fcols, r)) for r in facts]))
    con.register("r_rows", pa.Table.from_pylist([dict(zip(rcols, r)) for r in rule_facts]))
    con.execute("INSERT INTO daily_facts BY NAME SELECT * FROM f_rows; "
                "INSERT INTO daily_rule_facts BY NAME SELECT * FROM r_rows")
    con.unregister("f_rows")
    con.unregister("r_rows")


def nightly(con, days: int = 60) -> list[alarms.Alarm]:
    found = []
    for d in range(alarms.BASELINE_DAYS, days):
        found += alarms.check_day(con, START + timedelta(days=d)).alarms
    return found


def test_a_planted_collapse_raises_exactly_that_alarm(con):
    quiet_facts(con, collapse=("rule_07", 45, 0.41))
    found = nightly(con)
    assert [(a.kind, a.rule_id, a.day) for a in found] == [("rule_pass_rate", "rule_07", START + timedelta(days=45))]
    a = found[0]
    assert a.rate < 0.5 and a.baseline_low <= a.baseline_rate <= a.baseline_high and a.rate < a.baseline_low
    assert a.n > 50 and a.baseline_n > 28 * 50
    assert CONTRACT <= set(a.to_dict()) and json.loads(json.dumps(a.to_dict()))["day"] == a.day.isoformat()


def test_quiet_days_raise_no_alarm_and_the_false_alarm_rate_is_bounded(con):
    """32 nights x 3 seeds of 30 rules: every test at the family-wise level, so quiet nights stay quiet."""
    nights = alarmed = tests = 0
    for seed in (1, 2, 3):
        con.execute("DELETE FROM daily_facts; DELETE FROM daily_rule_facts")
        quiet_facts(con, seed=seed)
        for d in range(alarms.BASELINE_DAYS, 60):
            check = alarms.check_day(con, START + timedelta(days=d))
            nights += 1
            tests += check.tests
            alarmed += bool(check.alarms)
    assert tests / nights >= 63  # 30 rules x 2 kinds + dissatisfaction, blank answers, unknown words + volume
    assert alarmed == 0, f"{alarmed} of {nights} quiet nights raised an alarm"


def test_a_rise_of_unknown_words_alarms_and_a_fall_does_not(con):
    quiet_facts(con, unknown=(45, 0.12))  # 8 % of the words unknown every day, 12 % on one
    found = nightly(con)
    assert [(a.kind, a.rule_id, a.day) for a in found] == [("unknown_words", None, START + timedelta(days=45))]
    a = found[0]
    assert abs(a.rate - 0.12) < 0.01 and a.baseline_low <= 0.08 <= a.baseline_high < a.rate
    con.execute("DELETE FROM daily_facts; DELETE FROM daily_rule_facts")
    quiet_facts(con, unknown=(45, 0.02))  # far fewer unknown words: nothing at risk, no alarm
    assert nightly(con) == []


def test_unknown_words_limits_stay_bounded_for_a_huge_day():
    """Tens of millions of words a day: the test's memory is bounded and a real rise still shows."""
    import tracemalloc

    tracemalloc.start()
    try:
        p, low, high = alarms.rate_tests([9_000_000], [60_000_000], [60_000_000 * 28 // 10], [60_000_000 * 28],
                                         [1.0], 0.002 / 60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20  # one vector of 60M probabilities alone would be 480 MB
    assert p[0] < 1e-10 and low[0] < 0.1 < high[0] < 0.15


def test_limits_follow_the_sample_size_and_small_samples_are_not_tested():
    p, low, high = alarms.rate_tests([80, 8], [100, 10], [8200, 8200], [10000, 10000], [1, 1], 0.01)
    assert high[0] - low[0] < high[1] - low[1]  # fewer interactions, wider limits
    assert low[0] < 0.82 < high[0] and p[0] > 0.01
    p, low, high = alarms.rate_tests([41], [100], [8200], [10000], [1], 0.002 / 60)
    assert p[0] < 1e-10 and low[0] > 0.41


def test_overdispersed_baselines_widen_the_limits():
    k = [50, 90, 55, 85, 60, 95, 52, 88]  # a rate swinging between 0.5 and 0.9 by day
    n = [100] * 8
    phi = alarms.dispersion(k, n)
    assert phi > 5
    _, low1, high1 = alarms.rate_tests([72], [100], [sum(k)], [sum(n)], [1.0], 0.01)
    _, low2, high2 = alarms.rate_tests([72], [100], [sum(k)], [sum(n)], [phi], 0.01)
    assert high2[0] - low2[0] > high1[0] - low1[0]


def test_volume_drop_on_one_channel_alarms(con):
    quiet_facts(con, rules=3)
    day = START + timedelta(days=50)
    con.execute("UPDATE daily_facts SET interactions = 5 WHERE day = ? AND channel = 'email'", [day])
    found = alarms.check_day(con, day).alarms
    assert [(a.kind, a.channel) for a in found] == [("volume", "email")]
    assert found[0].rate == 5 and found[0].baseline_low > 5


# --- end to end: the sample with one rule broken on one day, through run / runs / report ----------

GREETING = re.compile(r"^(hola|buenos d[ií]as|buenas tardes|buenas noches|buen d[ií]a|cordial saludo|hello|hi|"
                      r"good morning|good afternoon|good evening)\b[,.!]?\s*", re.I)
CHAT = ("whatsapp", "webchat", "facebook_page", "instagram", "twitter")


def broken_sample(tmp_path: Path, day: str = "2026-11-05") -> Path:
    """The bundled sample with the chat agents' opening greeting gone on `day` (a macro changed)."""
    doc = json.loads(sample_files()[0].read_text(encoding="utf-8"))
    for row in doc["data"]:
        if row["date_creation"].startswith(day) and row["channel"].strip().lower() in CHAT:
            row["answer"] = GREETING.sub("", row["answer"] or "")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_run_runs_and_report_carry_the_alarm_and_fail_on_alarm_exits_1(tmp_path, monkeypatch):
    from qa_scoring.pipeline import sample_range
    from qa_scoring.sandbox import start_sandbox

    data = broken_sample(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa-scoring.toml").write_text(f'[wolkvox]\nmin_interval = 0\nlock_dir = "{tmp_path}"\n')
    since, until = (t.strftime("%Y-%m-%d %H:%M:%S") for t in sample_range([data]))
    runner = CliRunner()
    with start_sandbox([data], token="tok-alarm") as server:
        monkeypatch.setenv("WOLKVOX_TOKEN", "tok-alarm")
        monkeypatch.setenv("WOLKVOX_SERVER", "0042")
        monkeypatch.setenv("WOLKVOX_BASE_URL", server.base_url)
        first = runner.invoke(cli, ["run", "--since", since, "--until", until, "--report-day", "2026-11-05", "--json"])
        assert first.exit_code == 0, first.output  # an alarm never fails a successful run
        summary = json.loads(first.stdout)
        assert [(a["kind"], a["rule_id"], a["day"]) for a in summary["alarms"]] == [
            ("rule_pass_rate", "saludo_inicial", "2026-11-05")]
        alarm = summary["alarms"][0]
        assert CONTRACT <= set(alarm) and alarm["rate"] < alarm["baseline_low"] <= alarm["baseline_rate"]
        again = runner.invoke(cli, ["run", "--report-day", "2026-11-05", "--fail-on-alarm", "--json"])
    assert again.exit_code == 1
    assert again.stderr.strip().splitlines()[-1] == "Error: 1 drift alarm(s) on 2026-11-05 (--fail-on-alarm)"
    assert json.loads(again.stdout)["alarms"] == summary["alarms"]
    runs = json.loads(runner.invoke(cli, ["runs", "--json"]).stdout)["runs"]
    assert [r["status"] for r in runs[:2]] == ["success", "success"]
    assert [[a["rule_id"] for a in r["alarms"]] for r in runs[:2]] == [["saludo_inicial"], ["saludo_inicial"]]
    text = runner.invoke(cli, ["runs", "--last", "1"]).stdout
    assert "alarm 2026-11-05 rule_pass_rate saludo_inicial" in text
    report = runner.invoke(cli, ["report", "--out", "one", "--until", "2026-11-05", "--since", "2026-11-01", "--json"])
    assert report.exit_code == 0, report.output
    assert [a["rule_id"] for a in json.loads(report.stdout)["alarms"]] == ["saludo_inicial"]
    index = (tmp_path / "one" / "index.html").read_text(encoding="utf-8")
    assert 'id="alarms"' in index and "La regla «El agente saluda" in index and "5 nov 2026" in index
    quiet = runner.invoke(cli, ["report", "--out", "one", "--until", "2026-11-04", "--since", "2026-11-01", "--json"])
    assert json.loads(quiet.stdout)["alarms"] == []
    assert 'id="alarms"' not in (tmp_path / "one" / "index.html").read_text(encoding="utf-8")
