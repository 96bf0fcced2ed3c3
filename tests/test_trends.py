"""Weekly trends from the daily facts (report/trends.py): words only beyond noise, never
"worsening" on a small sample, and the pages show them escaped."""

from __future__ import annotations

import shutil
from datetime import date

from click.testing import CliRunner

from qa_scoring import store
from qa_scoring.cli import cli
from qa_scoring.report import trends


def weeks_of(n: int, mean: float, sd: float = 15.0, last_mean: float | None = None, last_n: int | None = None):
    """(n, sum, sum of squares) per week, oldest first, for scores of the given mean and spread."""
    out = []
    for i in range(trends.WEEKS):
        m = last_mean if (i == trends.WEEKS - 1 and last_mean is not None) else mean
        k = last_n if (i == trends.WEEKS - 1 and last_n is not None) else n
        out.append((float(k), m * k, (sd * sd + m * m) * k))  # moments of k scores with that mean and sd
    return out


def test_a_real_drop_is_worsening_noise_is_stable_and_few_interactions_are_never_worsening():
    assert trends.verdict(weeks_of(200, 85.0, last_mean=78.0), 30)[0] == "trend_worsening"
    assert trends.verdict(weeks_of(200, 85.0, last_mean=91.0), 30)[0] == "trend_improving"
    assert trends.verdict(weeks_of(200, 85.0, last_mean=84.0), 30)[0] == "trend_stable"
    # the same 7-point drop on 12 interactions in the last week: not enough to say anything
    assert trends.verdict(weeks_of(200, 85.0, last_mean=78.0, last_n=12), 30)[0] == "trend_too_few"
    # 40 interactions clears the minimum, but the interval still spans 0: stable, not worsening
    key, _last, _before, low, high = trends.verdict(weeks_of(40, 85.0, sd=25.0, last_mean=80.0, last_n=40), 30)
    assert key == "trend_stable" and low < 0 < high


def test_agent_pages_and_index_show_the_weekly_trend(sample_db, tmp_path):
    db = tmp_path / "t.duckdb"
    shutil.copy(sample_db, db)
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "score"]).exit_code == 0
    con = store.connect(db)
    agent, = store.fetch_one(con, "SELECT agent FROM daily_facts GROUP BY agent ORDER BY sum(scored) DESC LIMIT 1")
    # The stored facts are what the trends read: plant a clear drop in that agent's last week.
    con.execute("""UPDATE daily_facts SET score_sum = score_sum - 30 * scored,
                   score_sq_sum = score_sq_sum - 60 * score_sum + 900 * scored
                   WHERE agent = ? AND day > DATE '2026-11-06'""", [agent])
    team, by_agent = trends.weekly_trends(con, date(2026, 11, 13), 30)
    con.close()
    assert by_agent[agent].verdict == "trend_worsening" and len(team.weeks) == trends.WEEKS
    out = tmp_path / "rep"
    result = runner.invoke(cli, ["--db", str(db), "report", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    index = (out / "index.html").read_text(encoding="utf-8")
    changed = index[index.index('id="changed"'):]
    assert "empeorando" in changed[:3000]
    pages = [p.read_text(encoding="utf-8") for p in (out / "agents").glob("*.html")]
    assert sum('id="weekly"' in p for p in pages) == len(pages)
    assert sum("trend_worsening" in p for p in pages) == 1


def test_rules_page_daily_pass_rates_come_from_the_facts(sample_db, tmp_path):
    db = tmp_path / "t.duckdb"
    shutil.copy(sample_db, db)
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", str(db), "score"]).exit_code == 0
    con = store.connect(db)
    rates = trends.daily_rule_rates(con, date(2026, 11, 13))
    want = con.execute("""SELECT 100.0 * count(*) FILTER (r.passed) / count(*) FROM rule_results r
                          JOIN interactions i USING (interaction_id)
                          WHERE r.rule_id = 'saludo_inicial' AND r.applicable AND i.created_at::DATE = DATE '2026-11-05'
                            AND lower(trim(i.status)) <> 'open'""").fetchall()[0][0]
    n_rules = store.fetch_one(con, "SELECT count(DISTINCT rule_id) FROM daily_rule_facts")[0]
    con.close()
    assert len(rates["saludo_inicial"]) == trends.RULE_DAYS
    assert abs(rates["saludo_inicial"][trends.RULE_DAYS - 1 - 8] - want) < 1e-9
    out = tmp_path / "rep"
    assert runner.invoke(cli, ["--db", str(db), "report", "--out", str(out)]).exit_code == 0
    assert (out / "rules.html").read_text(encoding="utf-8").count('class="spark"') == n_rules


def test_report_weeks_is_the_last_n_weeks_ending_on_the_last_day(sample_db, tmp_path, runner):
    import json

    def report(*args):
        return runner.invoke(cli, ["--db", str(sample_db), "report", "--json", *args])

    out = tmp_path / "w"
    result = report("--out", str(out), "--weeks", "2")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["since"], summary["until"]) == ("2026-10-31", "2026-11-13")  # 14 days ending on the last day
    result = report("--out", str(out), "--weeks", "1", "--until", "2026-11-05")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["since"] == "2026-10-30"
    # the same period asked with --since/--until gives the same figures
    same = report("--out", str(tmp_path / "s"), "--since", "2026-10-30", "--until", "2026-11-05")
    strip = lambda s: {k: v for k, v in json.loads(s).items() if k not in ("out_dir", "index", "seconds", "run_id")}
    assert strip(same.stdout) == strip(result.stdout)
    for args, line in [
        (["--weeks", "0"], "Error: report --weeks 0: must be a whole number of weeks from 1 to 520"),
        (["--weeks", "-3"], "Error: report --weeks -3: must be a whole number of weeks from 1 to 520"),
        (["--weeks", "2", "--since", "2026-11-01"], "Error: report --weeks 2: give either --weeks or --since, not both"),
    ]:
        bad = report("--out", str(tmp_path / "bad"), *args)
        assert bad.exit_code == 2 and bad.stderr.strip().splitlines()[-1] == line, bad.output
        assert not (tmp_path / "bad").exists()
    bad = report("--out", str(tmp_path / "bad"), "--weeks", "two")
    assert bad.exit_code == 2 and "--weeks" in bad.stderr


def test_agent_pages_show_each_rules_weekly_pass_rate_from_the_facts(sample_db, tmp_path, runner):
    import re

    assert runner.invoke(cli, ["--db", str(sample_db), "score"]).exit_code == 0
    con = store.connect(sample_db)
    agent, = store.fetch_one(con, "SELECT agent FROM daily_facts GROUP BY agent ORDER BY sum(scored) DESC, agent LIMIT 1")
    rates = trends.weekly_rule_rates(con, date(2026, 11, 13))
    want = con.execute("""SELECT 100.0 * count(*) FILTER (r.passed) / count(*) FROM rule_results r
                          JOIN interactions i USING (interaction_id)
                          WHERE r.rule_id = 'saludo_inicial' AND r.applicable AND i.agent_name = ?
                            AND i.created_at::DATE BETWEEN DATE '2026-11-07' AND DATE '2026-11-13'
                            AND lower(trim(i.status)) <> 'open'""", [agent]).fetchall()[0][0]
    assert len(rates[agent]["saludo_inicial"]) == trends.WEEKS
    assert abs(rates[agent]["saludo_inicial"][-1] - want) < 1e-9 and want > 0
    # the page draws what the facts say: the agent's last week of that rule set to 0 % ends at the bottom
    con.execute("""UPDATE daily_rule_facts SET passed = 0 WHERE agent = ? AND rule_id = 'saludo_inicial'
                   AND day > DATE '2026-11-06'""", [agent])
    con.close()
    out = tmp_path / "rep"
    result = runner.invoke(cli, ["--db", str(sample_db), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pages = {p.name: p.read_text(encoding="utf-8") for p in (out / "agents").glob("*.html")}
    for html in pages.values():
        rules = html[html.index('id="rules"'):]
        rules = rules[:rules.index("</table>")]
        assert rules.count('<td class="hide-sm print-skip rule-weekly">') == rules.count("<tr") - 1  # one per rule row
    page = next(h for h in pages.values() if f"<h1>{agent}" in h or f">{agent}<" in h)
    row = next(r for r in page.split("<tr") if "saludo_inicial" in r and "rule-weekly" in r)
    cy = float(re.search(r'class="spark-end" cx="[\d.]+" cy="([\d.]+)"', row).group(1))
    assert cy == 21.5  # 0 % on a 24 px sparkline (2.5 px padding)
