"""Weekly trends from the stored daily facts (facts.py): the team's and each agent's weekly score with
its 95% interval, and whether an agent's last week differs from their own previous 4 weeks.

Weeks end on the report's last day (week 0 = its last 7 days), so a report on a Wednesday compares
complete 7-day blocks. Open interactions are left out (they are scored when they close).

"improving / worsening" is said only when the test says so: a Welch two-sample z-test on the mean
score of the last week against the previous 4 weeks pooled (means and variances from the facts' sums
and sums of squares), two-sided at 95 %, and only when both sides have at least `min_sample` scored
interactions; otherwise "stable", or "too few" for small samples — never "worsening" on noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

WEEKS = 12
COMPARE_WEEKS = 4
Z95 = 1.959964


@dataclass(frozen=True)
class WeekPoint:
    start: date
    end: date
    n: int
    score: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Trend:
    weeks: tuple[WeekPoint, ...]  # oldest first, WEEKS of them (empty weeks have n = 0)
    verdict: str  # trend_improving | trend_worsening | trend_stable | trend_too_few
    last: float | None  # last week's mean
    before: float | None  # the previous COMPARE_WEEKS weeks' mean
    diff_low: float | None = None  # 95% interval of last - before
    diff_high: float | None = None


def _moments(n: float, s: float, q: float) -> tuple[float | None, float | None]:
    if not n:
        return None, None
    mean = s / n
    var = max(0.0, (q - s * s / n) / (n - 1)) if n > 1 else 0.0
    return mean, var


def _week(start: date, end: date, n: float, s: float, q: float) -> WeekPoint:
    mean, var = _moments(n, s, q)
    if mean is None:
        return WeekPoint(start, end, 0, None, None, None)
    half = Z95 * math.sqrt(var / n) if n > 1 else None
    return WeekPoint(start, end, int(n), mean, None if half is None else max(0.0, mean - half),
                     None if half is None else min(100.0, mean + half))


def verdict(weeks: list[tuple[float, float, float]], min_sample: int) -> tuple[str, float | None, float | None,
                                                                                float | None, float | None]:
    """(verdict key, last mean, before mean, interval of the difference) from weekly (n, sum, sum of squares),
    oldest first."""
    n1, s1, q1 = weeks[-1]
    before = weeks[-1 - COMPARE_WEEKS:-1]
    n0, s0, q0 = (sum(w[i] for w in before) for i in range(3))
    m1, v1 = _moments(n1, s1, q1)
    m0, v0 = _moments(n0, s0, q0)
    if m1 is None or m0 is None or n1 < min_sample or n0 < min_sample:
        return "trend_too_few", m1, m0, None, None
    se = math.sqrt(v1 / n1 + v0 / n0)
    diff = m1 - m0
    low, high = diff - Z95 * se, diff + Z95 * se
    if low > 0:
        return "trend_improving", m1, m0, low, high
    if high < 0:
        return "trend_worsening", m1, m0, low, high
    return "trend_stable", m1, m0, low, high


def weekly_trends(con: duckdb.DuckDBPyConnection, until: date, min_sample: int, weeks: int = WEEKS,
                  operation: str | None = None) -> tuple[Trend, dict[str, Trend]]:
    """The team's trend and each agent's (by agent name), over the `weeks` weeks ending `until`
    (of one operation, or all)."""
    since = until - timedelta(days=7 * weeks - 1)
    rows = con.execute("""
        SELECT grouping(agent) = 1 AS is_team, agent, (date_diff('day', day, $until) // 7)::INTEGER AS back,
               sum(scored), sum(score_sum), sum(score_sq_sum)
        FROM daily_facts WHERE NOT is_open AND day BETWEEN $since AND $until
          AND ($operation IS NULL OR operation = $operation)
        GROUP BY GROUPING SETS ((agent, back), (back))
        ORDER BY 1, agent, back""", {"since": since, "until": until, "operation": operation}).fetchall()
    cells: dict[object, dict[int, tuple[float, float, float]]] = {}
    team_key = object()
    for is_team, agent, back, n, s, q in rows:
        cells.setdefault(team_key if is_team else agent, {})[int(back)] = (float(n), float(s), float(q))

    def trend(by_back: dict[int, tuple[float, float, float]]) -> Trend:
        series = [by_back.get(b, (0.0, 0.0, 0.0)) for b in range(weeks - 1, -1, -1)]
        points = tuple(_week(until - timedelta(days=7 * b + 6), until - timedelta(days=7 * b), *series[weeks - 1 - b])
                       for b in range(weeks - 1, -1, -1))
        key, last, before, low, high = verdict(series, min_sample)
        return Trend(points, key, last, before, low, high)

    team = trend(cells.pop(team_key, {}))
    return team, {agent: trend(by_back) for agent, by_back in cells.items()}


RULE_DAYS = 56  # the rules page: each rule's daily pass rate over the last 8 weeks


def daily_rule_rates(con: duckdb.DuckDBPyConnection, until: date, days: int = RULE_DAYS,
                     operation: str | None = None) -> dict[str, list[float | None]]:
    """Per rule, its daily pass rate (passed / applicable, 0-100; None on days it never applied),
    oldest first, over the `days` days ending `until` (open interactions left out)."""
    since = until - timedelta(days=days - 1)
    out: dict[str, list[float | None]] = {}
    for rule_id, day, passed, app in con.execute("""
            SELECT rule_id, day, sum(passed), sum(applicable) FROM daily_rule_facts
            WHERE NOT is_open AND day BETWEEN $since AND $until AND ($operation IS NULL OR operation = $operation)
            GROUP BY ALL ORDER BY 1, 2""", {"since": since, "until": until, "operation": operation}).fetchall():
        series = out.setdefault(rule_id, [None] * days)
        if app:
            series[(day - since).days] = 100.0 * float(passed) / float(app)
    return out


def weekly_rule_rates(con: duckdb.DuckDBPyConnection, until: date, weeks: int = WEEKS,
                      operation: str | None = None) -> dict[str, dict[str, list[float | None]]]:
    """Per agent and rule, the weekly pass rate (passed / applicable, 0-100; None in weeks it never
    applied), oldest first, over the `weeks` weeks ending `until` (open interactions left out)."""
    since = until - timedelta(days=7 * weeks - 1)
    out: dict[str, dict[str, list[float | None]]] = {}
    for agent, rule_id, back, passed, app in con.execute("""
            SELECT agent, rule_id, (date_diff('day', day, $until) // 7)::INTEGER AS back, sum(passed), sum(applicable)
            FROM daily_rule_facts
            WHERE NOT is_open AND day BETWEEN $since AND $until AND ($operation IS NULL OR operation = $operation)
            GROUP BY ALL HAVING sum(applicable) > 0 ORDER BY 1, 2, 3""",
            {"since": since, "until": until, "operation": operation}).fetchall():
        series = out.setdefault(agent, {}).setdefault(rule_id, [None] * weeks)
        series[weeks - 1 - int(back)] = 100.0 * float(passed) / float(app)
    return out
