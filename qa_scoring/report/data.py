"""Report data: set-based SQL over the period's rows → small frozen dataclasses the templates format.

DuckDB does all the aggregation (per agent, per agent × skill × channel, per agent × rule, per day);
Python only sees aggregates plus the handful of conversations the agent pages show. Every ORDER BY
ends with a unique key, so the same database gives the same report.

The period's rows are materialised once into a temporary table `_rpt_base` (one narrow row per
interaction: agent, skill, channel, day, score, critical, risk, survey label), dropped at the end.

Open interactions (the policy, issue 12): an interaction whose status is `open` (or, without a
status, that has no close date) is *pending* while it is younger than `open_max_age_hours`, counted
from the newest interaction of its operation (the data's own "now", so a rerun on the same database
gives the same report). Pending interactions are in no figure, chart, ranking or review list: a chat
still waiting for its answer is not a failed chat. The report counts them apart (per agent too).
They are rescored when they close (the close changes their content hash, and `score` rescores
changed rows), so the next report counts them as they ended. An open interaction older than the age
counts as it is: nobody closed it, and the nightly look-back will not fetch it again.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import duckdb

from qa_scoring import facts, outcomes
from qa_scoring.reviews.stored import effective_outcomes_sql
from qa_scoring.mask import mask_text
from qa_scoring.errors import InputError
from qa_scoring.report import stats
from qa_scoring.store import fetch_one

log = logging.getLogger(__name__)

# Survey label on the contract 1-5 scale (DESIGN.md: 4-5 satisfied, 1-3 dissatisfied) — used when
# classify.py does not provide its own SQL mapping. TRUE = dissatisfied, NULL = no usable answer.
DEFAULT_LABEL_SQL = ("CASE WHEN i.survey_score >= 4 AND i.survey_score <= 5 THEN FALSE "
                     "WHEN i.survey_score >= 1 AND i.survey_score < 4 THEN TRUE END")
DEFAULT_LABEL_TEXT = "1-5: 4-5 = satisfied, 1-3 = dissatisfied"


@dataclass(frozen=True)
class Period:
    since: date
    until: date  # inclusive

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


@dataclass(frozen=True)
class Rate:
    """k of n with its Wilson 95% interval (share None when n is 0)."""

    k: int
    n: int
    share: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        interval = stats.wilson(k, n)
        return cls(k, n, k / n if n else None, *(interval or (None, None)))


@dataclass(frozen=True)
class DayPoint:
    day: date
    score: float | None
    n: int


@dataclass(frozen=True)
class AgentRow:
    name: str
    file: str  # relative file name of the agent page (set by the renderer's naming function)
    n: int
    scored: int
    score: float | None
    score_low: float | None
    score_high: float | None
    expected: float | None  # rest of the team on this agent's skill × channel mix
    diff: float | None  # own score − expected, on the comparable queues
    shrunk: float | None  # diff pulled toward 0 by sample size: the ranking key
    critical: int
    satisfied: Rate  # k = satisfied
    risk: float | None
    small: bool
    days: tuple[DayPoint, ...]
    pending: int = 0  # open interactions left out of the figures (see the module docstring)
    # the same figures over the ranking window, when the period is shorter than it (one-day report)
    window: AgentRow | None = None


@dataclass(frozen=True)
class QueueRow:
    skill: str
    channel: str
    n: int
    score: float | None
    team_n: int
    team_score: float | None
    score_low: float | None = None  # 95% interval of the agent's score on this queue
    score_high: float | None = None
    significant: bool = False  # the team's score lies outside that interval
    small: bool = False  # fewer than MIN_CELL scored interactions: a hint, not a finding


@dataclass(frozen=True)
class RuleInfo:
    rule_id: str
    title: str
    description: str
    severity: str
    weight: float | None
    expects: str = ""  # what it looks for, in words (a failure without evidence shows it)
    applied_because: str = ""  # why it applied, in words (ditto)
    kind: str = ""  # the check kind: duration and length evidence is a measured value, shown per locale


@dataclass(frozen=True)
class Term:
    """One word (or feature) behind a prediction; `kind` says what it is, so the page can word it.

    kind: a text field (the words as written), rule (text: the rule's title), channel / skill (text:
    the value), handle (text: the classifier's "handle time 25.1 h" or "no close time"), or "".
    """

    text: str
    kind: str = ""


@dataclass(frozen=True)
class AgentRuleRow:
    rule: RuleInfo
    applicable: int
    passed: Rate
    team_rate: float | None  # rest of the team, same skill × channel mix
    team_n: int = 0  # the team's applicable interactions behind team_rate
    diff_low: float | None = None  # 95% interval of own pass rate − team_rate (Newcombe)
    diff_high: float | None = None
    significant: bool = False  # that interval excludes 0
    small: bool = False  # fewer than MIN_CELL applicable interactions

    @property
    def diff(self) -> float | None:
        return None if self.team_rate is None or self.passed.share is None else self.passed.share - self.team_rate


@dataclass(frozen=True)
class Segment:
    text: str
    mark: bool = False
    label: str = ""  # rule titles that matched here (the <mark> title)
    gap: bool = False  # an elided stretch of a long text


@dataclass(frozen=True)
class TextField:
    key: str  # body | answer | comments | subject
    segments: tuple[Segment, ...]
    length: int
    truncated: bool
    label: str = ""  # catalogue key of its heading when not `key` (the subject, by channel)


# What Wolkvox puts in `subject` depends on the channel: the e-mail's subject, the author of a
# social-network post, and on chat channels the customer's name.
SOCIAL_CHANNELS = ("facebook", "instagram", "twitter", "x", "tiktok", "linkedin", "youtube")


def subject_label(channel: str) -> str:
    """Catalogue key of the `subject` heading on this (normalised) channel."""
    if channel in ("email", "e-mail", "mail", "correo"):
        return "subject"
    if channel.split("_")[0] in SOCIAL_CHANNELS:
        return "subject_social"
    return "subject_chat"


@dataclass(frozen=True)
class FailedRule:
    rule: RuleInfo
    evidence: str | None
    field: str | None


@dataclass(frozen=True)
class ReviewItem:
    interaction_id: str
    case_id: str
    created_at: datetime
    skill: str
    channel: str
    score: float | None
    critical: bool
    risk: float | None
    survey_raw: str | None
    dissatisfied: bool | None
    reasons: tuple[str, ...]  # catalogue keys
    fields: tuple[TextField, ...]
    failed: tuple[FailedRule, ...]
    top_terms: tuple[Term, ...]


@dataclass(frozen=True)
class WorstItem:
    """One line of the team-wide list of the worst interactions (index page)."""

    interaction_id: str
    agent: str
    agent_file: str
    in_agent_review: bool  # shown as a card on the agent page (the line links to it)
    case_id: str
    created_at: datetime
    skill: str
    channel: str
    score: float | None
    critical: bool
    risk: float | None
    dissatisfied: bool | None
    reasons: tuple[str, ...]
    failed: tuple[FailedRule, ...]


@dataclass(frozen=True)
class CriticalItem:
    """One interaction with a critical failure (the top of the agent page)."""

    interaction_id: str
    case_id: str
    created_at: datetime
    skill: str
    channel: str
    failed: tuple[FailedRule, ...]  # the critical rules it failed, with their evidence


@dataclass(frozen=True)
class RuleFailure:
    """One failure of one rule in the period (the rule's own page)."""

    interaction_id: str
    agent: str
    agent_file: str
    case_id: str
    created_at: datetime
    skill: str
    channel: str
    score: float | None
    critical: bool
    dissatisfied: bool | None
    evidence: str | None
    field: str | None


@dataclass(frozen=True)
class FocusItem:
    """One of an agent's "three things to work on": a rule clearly below the team, with an example."""

    row: AgentRuleRow
    example: RuleFailure | None


@dataclass(frozen=True)
class RuleRow:
    rule: RuleInfo
    total: int
    applicable: int
    passed: Rate
    failed: int  # every failure in the period, surveyed or not
    dissat_failed: Rate
    dissat_passed: Rate
    verdict: str  # catalogue key
    ratio: float | None


@dataclass(frozen=True)
class QuarantineRow:
    reason: str
    count: int


@dataclass(frozen=True)
class DataQuality:
    no_answer: int
    bad_times: int
    not_scored: int
    no_prediction: int
    survey_unreadable: int
    quarantine: tuple[QuarantineRow, ...]
    quarantined: int
    duplicates: int


@dataclass(frozen=True)
class Team:
    n: int
    agents: int
    scored: int
    score: float | None
    score_low: float | None
    score_high: float | None
    critical: int
    surveyed: Rate  # k = with a survey answer, n = interactions
    satisfied: Rate
    risk: float | None
    days: tuple[DayPoint, ...]
    pending: int = 0  # open interactions left out of every figure until they close or age
    open_counted: int = 0  # open interactions older than the age, counted as they are


@dataclass(frozen=True)
class ReportData:
    period: Period
    team: Team
    agents: tuple[AgentRow, ...]
    rules: tuple[RuleRow, ...]
    quality: DataQuality
    rule_pack_hashes: tuple[str, ...]
    model_ids: tuple[str, ...]
    min_sample: int
    label_text: str
    open_max_age_hours: float = 72.0
    ranking: Period | None = None  # the rolling window the agents are ranked on, when not the period
    # per agent name: queues, rules and review items (only agents of the table)
    queues: dict[str, tuple[QueueRow, ...]] = field(default_factory=dict)
    agent_rules: dict[str, tuple[AgentRuleRow, ...]] = field(default_factory=dict)
    focus: dict[str, tuple[FocusItem, ...]] = field(default_factory=dict)  # up to 3 per agent
    reviews: dict[str, tuple[ReviewItem, ...]] = field(default_factory=dict)
    worst: tuple[WorstItem, ...] = ()  # the team's worst interactions, most urgent first
    rule_failures: dict[str, tuple[RuleFailure, ...]] = field(default_factory=dict)  # capped per rule
    rule_failures_max: int = 500
    critical: dict[str, tuple[CriticalItem, ...]] = field(default_factory=dict)  # per agent, newest first
    critical_max: int = 50


# --- the period and the base table ------------------------------------------------------------

def resolve_period(con: duckdb.DuckDBPyConnection, since: date | None, until: date | None,
                   operation: str | None = None, weeks: int | None = None) -> Period:
    """The requested period; missing ends default to the data's first / last day (of `operation`).
    `weeks` = N makes it the last N whole weeks ending on the last day (`--until` or the data's)."""
    if weeks is not None:
        if since is not None:
            raise InputError(f"report --weeks {weeks}: give either --weeks or --since, not both")
        if not 1 <= weeks <= MAX_WEEKS:
            raise InputError(f"report --weeks {weeks}: must be a whole number of weeks from 1 to {MAX_WEEKS}")
        last = resolve_period(con, None, until, operation).until
        return Period(last - timedelta(days=7 * weeks - 1), last)
    if since is not None and until is not None and since > until:
        raise InputError(f"report period: --since {since} is after --until {until}")
    if since is None or until is None:
        first, last = fetch_one(con, "SELECT min(created_at)::DATE, max(created_at)::DATE FROM interactions "
                                     "WHERE $operation IS NULL OR operation = $operation", {"operation": operation})
        if first is None:
            raise InputError("report: the database has no interactions yet (run 'qa-scoring import' or 'fetch' first)")
        since = since or (min(first, until) if until else first)
        until = until or max(last, since)
    return Period(since, until)


MAX_WEEKS = 520  # ten years: beyond that a typo, not a period

# An open interaction: the status says so; without a status, the missing close date does.
OPEN_SQL = ("CASE WHEN NOT qa_blank(i.status) THEN lower(trim(i.status)) = 'open' "
            "ELSE i.closed_at IS NULL END")


def build_base(con: duckdb.DuckDBPyConnection, period: Period, label_sql: str, label_params: dict,
               open_max_age_hours: float = 72.0, table: str = "_rpt_base", pending_table: str = "_rpt_pending",
               operation: str | None = None) -> None:
    """Materialise the period's narrow per-interaction rows into the temp table `table` (`_rpt_base`),
    the pending open ones apart (counted per agent in `pending_table`, see the module docstring)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH newest AS (SELECT operation, max(created_at) AS newest FROM interactions GROUP BY operation)
        SELECT i.interaction_id,
               i.agent_name AS agent,
               CASE WHEN qa_blank(i.skill_id) THEN '–' ELSE trim(i.skill_id) END AS skill,
               CASE WHEN qa_blank(i.channel) THEN '–' ELSE lower(trim(i.channel)) END AS channel,
               i.created_at::DATE AS day, i.created_at,
               s.score, coalesce(s.critical_failed, FALSE) AS critical, s.rule_pack_hash,
               p.risk, p.model_id,
               i.survey_raw IS NOT NULL AS surveyed,
               ({label_sql}) AS dissatisfied,
               qa_blank(i.answer) AS no_answer,
               coalesce(i.handle_seconds < 0, FALSE) AS bad_time,
               coalesce({OPEN_SQL}, FALSE) AS is_open,
               coalesce(({OPEN_SQL}) AND i.created_at > n.newest - to_seconds($open_age), FALSE) AS pending
        FROM interactions i
        JOIN newest n USING (operation)
        LEFT JOIN interaction_scores s USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)
        WHERE i.created_at >= $since AND i.created_at < $until
          AND ($operation IS NULL OR i.operation = $operation)
    """, {**label_params, "operation": operation, "since": datetime.combine(period.since, datetime.min.time()),
          "until": datetime.combine(period.until + timedelta(days=1), datetime.min.time()),
          "open_age": float(open_max_age_hours) * 3600.0})
    # The pending rows' aggregates, in the facts' terms, to take out of the period's facts (_cells).
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {pending_table}_rows AS SELECT * FROM {table} WHERE pending;
                    CREATE OR REPLACE TEMP TABLE {pending_table} AS
                    SELECT agent, skill, channel, day, {_CELL_SUMS} FROM {pending_table}_rows GROUP BY ALL;
                    DELETE FROM {table} WHERE pending""")


# One row's contribution to the period's cells, per (agent, skill, channel, day): the same sums the
# daily facts keep (facts.py), so the pending open rows can be subtracted from them.
_CELL_SUMS = """count(*) AS n, count(score) AS scored, coalesce(sum(score), 0) AS s,
                coalesce(sum(score * score), 0) AS q, count(*) FILTER (critical) AS critical,
                count(*) FILTER (surveyed) AS surveyed, count(dissatisfied) AS labeled,
                count(*) FILTER (dissatisfied) AS dissatisfied, count(risk) AS predicted,
                coalesce(sum(risk), 0) AS risk_sum, count(*) FILTER (is_open) AS opened,
                count(*) FILTER (no_answer) AS no_answer, count(*) FILTER (bad_time) AS bad_time"""
_CELL_COLUMNS = ("n", "scored", "s", "q", "critical", "surveyed", "labeled", "dissatisfied", "predicted",
                 "risk_sum", "opened", "no_answer", "bad_time")


def build_cells(con: duckdb.DuckDBPyConnection, period: Period, label_sql: str, label_params: dict,
                pending_table: str = "_rpt_pending", table: str = "_rpt_cells", operation: str | None = None,
                rule_table: str | None = None) -> None:
    """The period's counts and sums per (agent, skill, channel, day) into the temp table `table`, from
    the stored daily facts (facts.py) minus the pending open rows' aggregates (`pending_table`, read
    raw by build_base): every count and mean of the team, agent and queue figures comes from here.
    `rule_table`, when given, gets the per agent × queue × rule counts the same way (_rule_cells)."""
    facts.period_facts(con, period.since, period.until, operation=operation, label=(label_sql, label_params),
                       target=f"{table}_facts", rule_target=rule_table and f"{rule_table}_facts")
    if rule_table:
        _rule_cells(con, f"{rule_table}_facts", f"{pending_table}_rows", rule_table)
    sums = ", ".join(f"sum({c}) AS {c}" for c in _CELL_COLUMNS)
    negated = ", ".join(f"-{c} AS {c}" for c in _CELL_COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT agent, skill, channel, day, {sums}
        FROM (SELECT agent, skill, channel, day, interactions AS n, scored, score_sum AS s, score_sq_sum AS q,
                     critical, surveyed, labeled, dissatisfied, predicted, risk_sum,
                     CASE WHEN is_open THEN interactions ELSE 0 END AS opened, no_answer, bad_time
              FROM {table}_facts
              UNION ALL
              SELECT agent, skill, channel, day, {negated} FROM {pending_table})
        GROUP BY ALL
        HAVING sum(n) > 0;
        DROP TABLE {table}_facts""")


# Means and sample variances from the cells' sums: NULL where the raw avg / var_samp would be NULL.
# A mean is rounded to 1e-9: DuckDB adds a group's doubles in thread order, and a mean that sits on
# a display boundary (a chart's 48.25) must not print 48.2 in one render and 48.3 in the next.
def _mean(n: str = "scored", s: str = "s") -> str:
    return f"CASE WHEN sum({n}) > 0 THEN round(sum({s}) / sum({n}), 9) END"


def _var(n: str = "scored", s: str = "s", q: str = "q") -> str:
    return (f"CASE WHEN sum({n}) > 1 THEN greatest(0.0, (sum({q}) - sum({s}) * sum({s}) / sum({n}))"
            f" / (sum({n}) - 1)) END")


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the report's temp tables; after a failed query the rollback removes them instead
    (and trying here would only hide the original error behind 'transaction is aborted')."""
    try:
        for name in ("_rpt_base", "_rpt_pending", "_rpt_rule_cells", "_rpt_review", "_rpt_critical", "_rpt_rank",
                     "_rpt_rank_pending", "_rpt_cells", "_rpt_cells_facts", "_rpt_rank_cells",
                     "_rpt_rank_cells_facts", "_rpt_pending_rows", "_rpt_rank_pending_rows",
                     "_rpt_rule_cells_facts", "_rpt_rule_cells_pending_outcomes", "_rpt_failed",
                     "_rpt_failed_base", "_rpt_candidates"):
            con.execute(f"DROP TABLE IF EXISTS {name}")
    except duckdb.TransactionException:
        pass


# --- team and agents --------------------------------------------------------------------------

def _team(con, team_days: list[tuple], cells: str = "_rpt_cells",
          pending_table: str = "_rpt_pending") -> tuple[Team, float]:
    row = fetch_one(con, f"""
        SELECT coalesce(sum(n), 0), count(DISTINCT agent), coalesce(sum(scored), 0), {_mean()},
               coalesce({_var()}, 0), coalesce(sum(critical), 0), coalesce(sum(surveyed), 0),
               coalesce(sum(labeled), 0), coalesce(sum(labeled) - sum(dissatisfied), 0),
               {_mean("predicted", "risk_sum")}, coalesce(sum(opened), 0),
               (SELECT coalesce(sum(n), 0) FROM {pending_table})
        FROM {cells}""")
    n, agents, scored, score, var, critical, surveyed, labeled, satisfied, risk, open_counted, pending = (
        v if isinstance(v, float) or v is None else int(v) for v in row)
    interval = stats.mean_interval(score, var, scored, var) or (None, None)
    days = tuple(DayPoint(d, s, int(c)) for d, s, c in team_days)
    return Team(n, agents, scored, score, *interval, critical, Rate.of(surveyed, n),
                Rate.of(satisfied, labeled), risk, days, pending, open_counted), var


_AGENTS_SQL = """
WITH cell AS (SELECT skill, channel, sum(scored) AS n, sum(s) AS s FROM {table} GROUP BY ALL),
ac AS (SELECT agent, skill, channel, sum(scored) AS n, sum(s) AS s FROM {table} GROUP BY ALL),
mix AS (
    -- leave-one-out: the rest of the team on each of this agent's queues, weighted by own volume
    SELECT ac.agent,
           sum(ac.n * (cell.s - ac.s) / (cell.n - ac.n)) FILTER (cell.n > ac.n AND ac.n > 0)
             / nullif(sum(ac.n) FILTER (cell.n > ac.n AND ac.n > 0), 0) AS expected,
           sum(ac.s) FILTER (cell.n > ac.n AND ac.n > 0)
             / nullif(sum(ac.n) FILTER (cell.n > ac.n AND ac.n > 0), 0) AS own_comparable
    FROM ac JOIN cell USING (skill, channel) GROUP BY ac.agent
),
b AS (SELECT agent, sum(n) AS n, sum(scored) AS scored, {mean} AS score, {var} AS var,
             sum(critical) AS critical, sum(labeled) AS labeled, sum(labeled) - sum(dissatisfied) AS satisfied,
             {risk} AS risk
      FROM {table} GROUP BY agent)
SELECT b.agent, b.n, b.scored, b.score, b.var, b.critical, b.labeled, b.satisfied, b.risk,
       mix.expected, mix.own_comparable
FROM b LEFT JOIN mix USING (agent)
"""


def _agents(con, team_var: float, min_sample: int, file_of, table: str = "_rpt_cells",
            pending_table: str = "_rpt_pending") -> tuple[AgentRow, ...]:
    rows = [tuple(v if isinstance(v, float | str) or v is None else int(v) for v in r) for r in con.execute(
        _AGENTS_SQL.format(table=table, mean=_mean(), var=_var(), risk=_mean("predicted", "risk_sum"))).fetchall()]
    series: dict[str, list[DayPoint]] = {}
    for agent, day, score, n in con.execute(
            f"SELECT agent, day, {_mean()}, sum(n) FROM {table} GROUP BY ALL ORDER BY agent, day").fetchall():
        series.setdefault(agent, []).append(DayPoint(day, score, int(n)))
    diffs = [(r[10] - r[9]) if r[9] is not None and r[10] is not None else None for r in rows]
    within = stats.pooled_variance([r[4] for r in rows], [r[2] for r in rows]) or team_var
    k = stats.shrinkage_constant(diffs, [r[2] for r in rows], within)
    pending = dict(con.execute(f"SELECT agent, sum(n) FROM {pending_table} GROUP BY agent").fetchall())
    out = []
    for r, diff in zip(rows, diffs):
        agent, n, scored, score, var, critical, labeled, satisfied, risk, expected, _own = r
        interval = stats.mean_interval(score, var, scored, within) or (None, None)
        out.append(AgentRow(
            name=agent, file=file_of(agent), n=n, scored=scored, score=score, score_low=interval[0],
            score_high=interval[1], expected=expected, diff=diff, shrunk=stats.shrink(diff, scored, k),
            critical=critical, satisfied=Rate.of(satisfied, labeled), risk=risk,
            small=(scored if scored else n) < min_sample, days=tuple(series.get(agent, ())),
            pending=int(pending.get(agent, 0)),
        ))
    # worst first; agents without a comparable score last; ties by name (deterministic)
    out.sort(key=lambda a: (a.shrunk is None, a.shrunk if a.shrunk is not None else 0.0,
                            -(a.critical / a.n if a.n else 0), a.name))
    return tuple(out)


# Detail cells (agent × queue, agent × rule) with fewer interactions than this are marked as a small
# sample: their differences are shown muted, with their interval, never as a red or green finding.
MIN_CELL = 10


def _queues(con, team_var: float) -> dict[str, tuple[QueueRow, ...]]:
    # sums of no score are NULL, as the raw sum(score) was: no team score beside an unscored queue
    rows = con.execute(f"""
        WITH cell AS (SELECT skill, channel, sum(scored) AS n, CASE WHEN sum(scored) > 0 THEN sum(s) END AS s
                      FROM _rpt_cells GROUP BY ALL),
        ac AS (SELECT agent, skill, channel, sum(n) AS rows, sum(scored) AS n,
                      CASE WHEN sum(scored) > 0 THEN sum(s) END AS s, {_var()} AS var
               FROM _rpt_cells GROUP BY ALL)
        SELECT ac.agent, ac.skill, ac.channel, ac.rows, ac.s / nullif(ac.n, 0),
               cell.n - ac.n, (cell.s - ac.s) / nullif(cell.n - ac.n, 0), ac.n, ac.var
        FROM ac JOIN cell USING (skill, channel)
        ORDER BY ac.agent, ac.rows DESC, ac.skill, ac.channel
    """).fetchall()
    out: dict[str, list[QueueRow]] = {}
    for agent, skill, channel, n, score, team_n, team_score, scored, var in rows:
        n, team_n, scored = int(n), int(team_n), int(scored)
        low, high = stats.mean_interval(score, var, scored, team_var) or (None, None)
        significant = team_score is not None and low is not None and not low <= team_score <= high
        out.setdefault(agent, []).append(QueueRow(skill, channel, n, score, team_n, team_score, low, high,
                                                  significant and scored >= MIN_CELL, scored < MIN_CELL))
    return {k: tuple(v) for k, v in out.items()}


# --- rules ------------------------------------------------------------------------------------

def _rule_cells(con, rule_facts: str, pending_rows: str, table: str = "_rpt_rule_cells") -> None:
    """Per agent × queue × rule counts (applicable, passed, survey label split): the period's rule
    facts (`rule_facts`, daily_rule_facts' columns) minus the pending open rows' counts."""
    # The pending rows' counts on their compact outcomes (outcomes.py), with the QA team's overrides
    # (reviews/stored.py) as the facts count them; only those rows' outcomes are read.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table}_pending_outcomes AS
                    SELECT o.* FROM rule_outcomes o SEMI JOIN {pending_rows} b
                    ON o.interaction_id = b.interaction_id AND o.rule_pack_hash = b.rule_pack_hash""")
    grouped = f"""SELECT b.agent, b.skill, b.channel, o.rule_pack_hash, o.outcomes, b.dissatisfied, count(*) AS n
                 FROM {effective_outcomes_sql(f"{table}_pending_outcomes")} o JOIN {pending_rows} b
                   ON o.interaction_id = b.interaction_id AND o.rule_pack_hash = b.rule_pack_hash
                 GROUP BY ALL"""
    columns = ("total", "app", "pass", "fail_lab", "fail_dis", "pass_lab", "pass_dis")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT agent, skill, channel, rule_id, {", ".join(f"sum({c})::BIGINT AS {c}" for c in columns)}
        FROM (SELECT agent, skill, channel, rule_id, total, applicable AS app, passed AS pass, fail_lab, fail_dis,
                     pass_lab, pass_dis FROM {rule_facts}
              UNION ALL
              SELECT agent, skill, channel, rule_id, {", ".join(f"-{c}" for c in columns)}
              FROM ({outcomes.rule_counts_sql(grouped, ("agent", "skill", "channel"))}))
        GROUP BY ALL
        HAVING sum(total) > 0;
        DROP TABLE {table}_pending_outcomes; DROP TABLE {rule_facts}""")


def _verdict(failures: int, failed: Rate, passed: Rate, min_n: int = 5) -> tuple[str, float | None]:
    """Plain-words relation of failing a rule with dissatisfaction (Wilson intervals must separate).

    `failures` counts every failure; `failed` only the surveyed ones: a rule whose failures were
    never surveyed did fail, there is just nothing to measure yet."""
    if failures == 0:
        return "verdict_never_fails", None
    if failed.n == 0:
        return "verdict_unsurveyed", None
    if (failed.n < min_n or passed.n < min_n or failed.share is None or passed.share is None
            or stats.intervals_overlap((failed.low, failed.high), (passed.low, passed.high))):
        return "verdict_none", None
    if failed.share >= passed.share:
        return "verdict_more", failed.share / passed.share if passed.share > 0 else None
    return "verdict_fewer", passed.share / failed.share if failed.share > 0 else None


def _rules(con, info) -> tuple[RuleRow, ...]:
    rows = con.execute("""
        SELECT rule_id, sum(total), sum(app), sum(pass), sum(fail_lab), sum(fail_dis), sum(pass_lab),
               sum(pass_dis)
        FROM _rpt_rule_cells GROUP BY rule_id ORDER BY rule_id""").fetchall()
    out = []
    for rule_id, total, app, passed, fail_lab, fail_dis, pass_lab, pass_dis in rows:
        failed_rate, passed_rate = Rate.of(int(fail_dis), int(fail_lab)), Rate.of(int(pass_dis), int(pass_lab))
        failures = int(app) - int(passed)
        verdict, ratio = _verdict(failures, failed_rate, passed_rate)
        out.append(RuleRow(info(rule_id), int(total), int(app), Rate.of(int(passed), int(app)), failures,
                           failed_rate, passed_rate, verdict, ratio))
    # critical rules first (one failure zeroes an interaction), then the largest measured gap, then
    # the lowest pass rate
    out.sort(key=lambda r: (r.rule.severity != "critical", r.verdict != "verdict_more", -(r.ratio or 0),
                            r.passed.share if r.passed.share is not None else 2, r.rule.rule_id))
    return tuple(out)


def _agent_rules(con, info) -> dict[str, tuple[AgentRuleRow, ...]]:
    rows = con.execute("""
        WITH team AS (SELECT skill, channel, rule_id, sum(app) AS app, sum(pass) AS pass
                      FROM _rpt_rule_cells GROUP BY ALL)
        SELECT c.agent, c.rule_id, sum(c.app), sum(c.pass),
               sum(c.app * (t.pass - c.pass) / (t.app - c.app)) FILTER (t.app > c.app AND c.app > 0)
                 / nullif(sum(c.app) FILTER (t.app > c.app AND c.app > 0), 0),
               coalesce(sum(t.app - c.app) FILTER (t.app > c.app AND c.app > 0), 0)
        FROM _rpt_rule_cells c JOIN team t USING (skill, channel, rule_id)
        GROUP BY c.agent, c.rule_id
        HAVING sum(c.app) > 0
        ORDER BY c.agent, c.rule_id""").fetchall()
    out: dict[str, list[AgentRuleRow]] = {}
    for agent, rule_id, app, passed, team_rate, team_n in rows:
        app, passed, team_n = int(app), int(passed), int(team_n)
        # the team's mix-weighted rate as k of its n, for the interval of the difference
        interval = (stats.difference_interval(team_rate * team_n, team_n, passed, app)
                    if team_rate is not None and team_n else None) or (None, None)
        significant = interval[0] is not None and (interval[0] > 0 or interval[1] < 0)
        out.setdefault(agent, []).append(AgentRuleRow(
            info(rule_id), app, Rate.of(passed, app), team_rate, team_n, *interval,
            significant and app >= MIN_CELL, app < MIN_CELL))
    for agent, items in out.items():
        # critical rules the agent failed first, then the gaps that are surely worst (their interval's
        # optimistic end lowest): one failure out of one is not the agent's weakest rule
        items.sort(key=lambda r: (not (r.rule.severity == "critical" and r.passed.k < r.applicable),
                                  r.diff_high if r.diff_high is not None else (r.diff or 0),
                                  r.rule.rule_id))
    return {k: tuple(v) for k, v in out.items()}


# --- data quality -----------------------------------------------------------------------------

def _quality(con, operation: str | None = None) -> DataQuality:
    # From the period's cells (the facts): "not scored" is every interaction without a rule score,
    # the complement of the team's scored count.
    no_answer, bad_times, not_scored, no_prediction, unreadable = (int(v) for v in fetch_one(con, """
        SELECT coalesce(sum(no_answer), 0), coalesce(sum(bad_time), 0), coalesce(sum(n) - sum(scored), 0),
               coalesce(sum(n) - sum(predicted), 0), coalesce(sum(surveyed) - sum(labeled), 0)
        FROM _rpt_cells"""))
    # Reasons may quote the bad value (user text): group by the reason's words before the value.
    reasons = con.execute("""
        SELECT regexp_extract(reason, '^[a-z_ ,]*[a-z_]', 0) AS kind, count(*)
        FROM quarantine WHERE $operation IS NULL OR operation = $operation
        GROUP BY kind ORDER BY count(*) DESC, kind""", {"operation": operation}).fetchall()
    # Duplicates: an interaction repeated inside the API page that delivered it. A row sent again by
    # a later, overlapping window (the nightly look-back) is an update, not a duplicate.
    quarantined, merged = fetch_one(con, """
        SELECT (SELECT count(*) FROM quarantine WHERE $operation IS NULL OR operation = $operation),
               (SELECT coalesce(sum(copies_in_page - 1), 0) FROM interactions
                WHERE $operation IS NULL OR operation = $operation)""", {"operation": operation})
    return DataQuality(no_answer, bad_times, not_scored, no_prediction, unreadable,
                       tuple(QuarantineRow(r or "?", c) for r, c in reasons), quarantined, int(merged))


# --- review these first -----------------------------------------------------------------------

# What makes an interaction worth a human look, and in which order: critical failures first, then
# the lowest scores, then high risk without a survey, and only then rules and model disagreeing.
_CANDIDATE_SQL = """critical OR score < $low OR (risk >= $high AND NOT surveyed)
           OR (score >= 90 AND (risk >= $high OR dissatisfied))
           OR (score < $low AND (risk < 0.15 OR dissatisfied = FALSE))"""
_TIER_SQL = "CASE WHEN critical THEN 0 WHEN score < $low THEN 1 WHEN risk >= $high AND NOT surveyed THEN 2 ELSE 3 END"
# The urgency order as one struct (structs compare field by field; no field is NULL): the tier, then
# the lowest score among the low non-critical ones, the dissatisfied first, the highest risk, the id.
_URGENCY_KEY = f"""{{'tier': {_TIER_SQL},
    'not_low': CASE WHEN NOT critical AND score < $low THEN FALSE ELSE TRUE END,
    'low_score': CASE WHEN NOT critical AND score < $low THEN score ELSE 0 END,
    'not_dissatisfied': NOT coalesce(dissatisfied, FALSE),
    'no_risk': risk IS NULL, 'risk': -coalesce(risk, 0), 'id': interaction_id}}"""


def _review(con, per_agent: int, low_score: float, high_risk: float, team: int = 20) -> None:
    """The review candidates kept for the agent pages (`per_agent` each) and the team list (`team`)."""
    params = {"low": low_score, "high": high_risk, "k": per_agent, "team": team}
    # Ranked among each agent's `per_agent` most urgent and the team's `team` most urgent only (picked
    # with top-n aggregates): every candidate more urgent than a kept one is kept too, so the ranks
    # that decide what is shown are the ranks among all candidates, without sorting them all.
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _rpt_candidates AS
                    SELECT *, {_URGENCY_KEY} AS urgency FROM _rpt_base WHERE {_CANDIDATE_SQL}""",
                {"low": low_score, "high": high_risk})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _rpt_review AS
        WITH picked AS (SELECT unnest(min_by(interaction_id, urgency, greatest($k, 1))) AS interaction_id
                        FROM _rpt_candidates GROUP BY agent
                        UNION
                        SELECT interaction_id FROM (SELECT interaction_id FROM _rpt_candidates
                                                    ORDER BY urgency LIMIT $team))
        SELECT * EXCLUDE (urgency) FROM (
            SELECT *,
                   coalesce(score < $low, FALSE) AS low_flag,
                   coalesce(risk >= $high AND NOT surveyed, FALSE) AS risk_flag,
                   coalesce((score >= 90 AND (risk >= $high OR dissatisfied))
                            OR (score < $low AND (risk < 0.15 OR dissatisfied = FALSE)), FALSE) AS disagree_flag,
                   row_number() OVER (PARTITION BY agent ORDER BY urgency) AS agent_rank,
                   row_number() OVER (ORDER BY urgency) AS team_rank
            FROM _rpt_candidates SEMI JOIN picked USING (interaction_id))
        WHERE agent_rank <= $k OR team_rank <= $team""", params)
    con.execute("DROP TABLE _rpt_candidates")


_RULE_TERM = "rule failed: "  # how classify words a failed-rule feature (classify/features.py explain)


def term_of(item, info=None) -> Term | None:
    """A prediction's {term, field, weight} (or a bare term) as a Term; a rule's text is its title."""
    kind = ""
    if isinstance(item, dict):
        kind = str(item.get("field") or "")
        item = item.get("term", item.get("word"))
    elif isinstance(item, list | tuple):
        item = item[0] if item else None
    if item is None:
        return None
    text = str(item)
    if kind == "rule" or (not kind and text.startswith(_RULE_TERM)):
        rule_id = text.removeprefix(_RULE_TERM)
        return Term(info(rule_id).title if info else rule_id, "rule")
    if kind in ("channel", "skill") and text.startswith(f"{kind}: "):
        text = text.removeprefix(f"{kind}: ")
    return Term(text, kind)


def _terms(value, info=None) -> tuple[Term, ...]:
    """predictions.top_terms JSON: a list of {term, field, weight} objects (or of strings, pairs)."""
    if value is None:
        return ()
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return ()
    out = [t for t in map(lambda item: term_of(item, info), items if isinstance(items, list) else []) if t]
    return tuple(out[:10])


def _review_failures(con) -> list[tuple]:
    """(interaction_id, rule_id, evidence, evidence_field, evidence_start, evidence_end) of every failed
    rule of the interactions in `_rpt_review`, ordered."""
    return con.execute(outcomes.failed_rules_sql("_rpt_review", outcomes=effective_outcomes_sql())).fetchall()


def _reviews(con, info, segment_text, per_agent: int, team: int, file_of, mask=mask_text
             ) -> tuple[dict[str, tuple[ReviewItem, ...]], tuple[WorstItem, ...]]:
    """The agent pages' review cards and the team's worst-interactions list, most urgent first."""
    texts = con.execute("""
        SELECT r.agent, r.interaction_id, i.case_id, i.created_at, r.skill, r.channel, r.score, r.critical,
               r.risk, i.survey_raw, r.dissatisfied, r.low_flag, r.risk_flag, r.disagree_flag,
               i.subject, i.body, i.answer, i.comments, p.top_terms, r.rule_pack_hash, r.agent_rank, r.team_rank
        FROM _rpt_review r JOIN interactions i USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)
        ORDER BY r.agent, r.agent_rank
    """).fetchall()
    failed: dict[str, list[tuple]] = {}
    for iid, rule_id, evidence, field_name, start, end in _review_failures(con):
        failed.setdefault(iid, []).append((rule_id, evidence, field_name, start, end))
    out: dict[str, list[ReviewItem]] = {}
    worst: list[tuple[int, WorstItem]] = []
    for row in texts:
        (agent, iid, case_id, created, skill, channel, score, critical, risk, survey_raw, dissatisfied,
         low, risky, disagree, subject, body, answer, comments, top_terms, _hash, agent_rank, team_rank) = row
        fails = failed.get(iid, [])
        reasons = tuple(key for key, on in (("reason_critical", critical), ("reason_low_score", low and not critical),
                                             ("reason_high_risk", risky), ("reason_disagree", disagree),
                                             ("reason_dissatisfied", dissatisfied is True)) if on)
        failed_rules = tuple(sorted((FailedRule(info(r), mask(e), f) for r, e, f, _s, _e in fails),
                                    key=lambda fr: fr.rule.severity != "critical"))  # critical ones first
        if team_rank <= team:
            worst.append((team_rank, WorstItem(
                iid, agent, file_of(agent), agent_rank <= per_agent, case_id or "", created, skill, channel, score,
                bool(critical), risk, dissatisfied, reasons, failed_rules)))
        if agent_rank > per_agent:
            continue
        spans: dict[str, list[tuple[int, int, str]]] = {}
        for rule_id, _evidence, field_name, start, end in fails:
            if field_name and start is not None and end is not None:
                spans.setdefault(field_name, []).append((start, end, info(rule_id).title))
        fields = tuple(segment_text(key, text, spans.get(key, []))
                       for key, text in (("subject", subject), ("body", body), ("answer", answer),
                                         ("comments", comments)))
        fields = (replace(fields[0], label=subject_label(channel)), *fields[1:])
        out.setdefault(agent, []).append(ReviewItem(
            iid, case_id or "", created, skill, channel, score, bool(critical), risk, mask(survey_raw), dissatisfied,
            reasons, fields, failed_rules, tuple(replace(t, text=mask(t.text)) for t in _terms(top_terms, info))))
    worst.sort(key=lambda pair: pair[0])
    return {k: tuple(v) for k, v in out.items()}, tuple(item for _, item in worst)


FOCUS = 3  # rules in an agent's "things to work on" box


def _focus(con, agent_rules: dict[str, tuple[AgentRuleRow, ...]], file_of, mask=mask_text
           ) -> dict[str, tuple[FocusItem, ...]]:
    """Per agent, the (up to 3) rules with the largest significant gap below the same-mix team, each
    with one example failure of the agent (one with evidence first, then the newest)."""
    picks = {agent: sorted((r for r in rows if r.significant and r.diff is not None and r.diff < 0),
                           key=lambda r: (r.diff, r.rule.rule_id))[:FOCUS]
             for agent, rows in agent_rules.items()}
    pairs = [(agent, r.rule.rule_id) for agent, rows in picks.items() for r in rows]
    if not pairs:
        return {}
    import pyarrow as pa

    con.register("_rpt_focus_pairs", pa.table({"agent": [a for a, _ in pairs], "rule_id": [r for _, r in pairs]}))
    letter = outcomes.letter_at("o.outcomes", "p.position")
    try:
        rows = con.execute(f"""
            WITH picked AS (
                SELECT b.agent, f.rule_id, b.interaction_id, b.created_at, b.skill, b.channel, b.score,
                       b.critical, b.dissatisfied, e.evidence, e.evidence_field
                FROM _rpt_base b JOIN _rpt_focus_pairs f USING (agent)
                JOIN rule_pack_rules p ON p.rule_pack_hash = b.rule_pack_hash AND p.rule_id = f.rule_id
                JOIN rule_outcomes o ON o.interaction_id = b.interaction_id AND o.rule_pack_hash = b.rule_pack_hash
                LEFT JOIN rule_evidence e ON e.interaction_id = b.interaction_id AND e.rule_id = f.rule_id
                                          AND e.rule_pack_hash = b.rule_pack_hash
                WHERE {letter} IN {outcomes.FAILED_LETTERS}
                QUALIFY row_number() OVER (PARTITION BY b.agent, f.rule_id
                                           ORDER BY e.evidence IS NULL, b.created_at DESC, b.interaction_id,
                                                    e.evidence_start NULLS LAST) = 1)
            SELECT k.agent, k.rule_id, k.interaction_id, i.case_id, k.created_at, k.skill, k.channel, k.score,
                   k.critical, k.dissatisfied, k.evidence, k.evidence_field
            FROM picked k JOIN interactions i USING (interaction_id)""").fetchall()
    finally:
        con.unregister("_rpt_focus_pairs")
    examples = {(r[0], r[1]): RuleFailure(r[2], r[0], file_of(r[0]), r[3] or "", r[4], r[5], r[6], r[7], bool(r[8]),
                                          r[9], mask(r[10]), r[11]) for r in rows}
    return {agent: tuple(FocusItem(r, examples.get((agent, r.rule.rule_id))) for r in rows)
            for agent, rows in picks.items() if rows}


def _critical(con, info, cap: int, mask=mask_text) -> dict[str, tuple[CriticalItem, ...]]:
    """Per agent, the interactions with a critical failure (the newest `cap`) and their critical rules."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _rpt_critical AS
        SELECT b.interaction_id, b.rule_pack_hash, b.agent, b.skill, b.channel, i.case_id, b.created_at
        FROM (SELECT * FROM _rpt_base WHERE critical
              QUALIFY row_number() OVER (PARTITION BY agent ORDER BY created_at DESC, interaction_id) <= $cap) b
        JOIN interactions i USING (interaction_id)""", {"cap": cap})
    failed: dict[str, list[FailedRule]] = {}
    for iid, rule_id, evidence, field_name, _s, _e in con.execute(outcomes.failed_rules_sql("_rpt_critical")).fetchall():
        if info(rule_id).severity == "critical":
            failed.setdefault(iid, []).append(FailedRule(info(rule_id), mask(evidence), field_name))
    out: dict[str, list[CriticalItem]] = {}
    for iid, _hash, agent, skill, channel, case_id, created in con.execute(
            "SELECT * FROM _rpt_critical ORDER BY agent, created_at DESC, interaction_id").fetchall():
        out.setdefault(agent, []).append(CriticalItem(iid, case_id or "", created, skill, channel,
                                                      tuple(failed.get(iid, ()))))
    return {k: tuple(v) for k, v in out.items()}


def _rule_failures(con, cap: int, file_of, mask=mask_text) -> dict[str, tuple[RuleFailure, ...]]:
    """Per rule, its failures in the period (at most `cap`, the lowest scores and newest first)."""
    # Each rule's `cap` failing interactions are picked on the outcome letters alone (a top-n per
    # rule), and only those are expanded with their evidence: expanding every failure of a month
    # first took most of the report's time. Each interaction gives a rule at least one row, so the
    # first `cap` rows are among those interactions' rows.
    letter = outcomes.letter_at("o.outcomes", "p.position")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _rpt_failed AS
        WITH picked AS (
            SELECT p.rule_id, min_by(b.interaction_id, {{'unscored': b.score IS NULL, 'score': coalesce(b.score, 0),
                                                        'newest': -epoch_us(b.created_at), 'id': b.interaction_id}},
                                     $cap) AS ids
            FROM rule_outcomes o JOIN _rpt_base b
              ON o.interaction_id = b.interaction_id AND o.rule_pack_hash = b.rule_pack_hash
            JOIN rule_pack_rules p ON p.rule_pack_hash = o.rule_pack_hash
            WHERE {letter} IN {outcomes.FAILED_LETTERS}
            GROUP BY p.rule_id)
        SELECT rule_id, unnest(ids) AS interaction_id FROM picked""", {"cap": cap})
    con.execute("""CREATE OR REPLACE TEMP TABLE _rpt_failed_base AS
                   SELECT * FROM _rpt_base b SEMI JOIN _rpt_failed f USING (interaction_id)""")
    rows = con.execute(f"""
        WITH f AS ({outcomes.failed_rules_sql("_rpt_failed_base")}),
        kept AS (
            SELECT f.rule_id, f.interaction_id, f.evidence, f.evidence_field, b.agent, b.skill, b.channel,
                   b.score, b.critical, b.dissatisfied, b.created_at
            FROM f SEMI JOIN _rpt_failed USING (rule_id, interaction_id)
            JOIN _rpt_failed_base b USING (interaction_id)
            QUALIFY row_number() OVER (PARTITION BY f.rule_id
                                       ORDER BY b.score NULLS LAST, b.created_at DESC, f.interaction_id,
                                                f.evidence_start NULLS LAST) <= $cap)
        SELECT k.rule_id, k.interaction_id, k.agent, i.case_id, k.created_at, k.skill, k.channel, k.score,
               k.critical, k.dissatisfied, k.evidence, k.evidence_field
        FROM kept k JOIN interactions i USING (interaction_id)
        ORDER BY k.rule_id, k.score NULLS LAST, k.created_at DESC, k.interaction_id""", {"cap": cap}).fetchall()
    con.execute("DROP TABLE _rpt_failed; DROP TABLE _rpt_failed_base")
    out: dict[str, list[RuleFailure]] = {}
    for (rule_id, iid, agent, case_id, created, skill, channel, score, critical, dissatisfied, evidence,
         field_name) in rows:
        out.setdefault(rule_id, []).append(RuleFailure(iid, agent, file_of(agent), case_id or "", created, skill,
                                                       channel, score, bool(critical), dissatisfied, mask(evidence),
                                                       field_name))
    return {k: tuple(v) for k, v in out.items()}


# --- everything -------------------------------------------------------------------------------

def prepare(con: duckdb.DuckDBPyConnection, period: Period, *, rule_info, file_of, segment_text,
            label_sql: str = DEFAULT_LABEL_SQL, label_params: dict | None = None, label_text: str = DEFAULT_LABEL_TEXT,
            min_sample: int = 30, review_per_agent: int = 8, low_score: float = 60.0,
            high_risk: float = 0.5, open_max_age_hours: float = 72.0, ranking_days: int = 7, review_team: int = 20,
            rule_failures_max: int = 500, critical_max: int = 50, mask=mask_text,
            operation: str | None = None) -> ReportData:
    """All data of one report, from the tables, for `period` (each step's time is logged at debug).

    Every text shown goes through `mask` (evidence, survey answers, model words) or `segment_text`
    (conversations), which mask card data, and personal data when the settings ask for it."""
    clock = [time.perf_counter()]

    def lap(what: str) -> None:
        now = time.perf_counter()
        log.debug("report data: %s in %.2f s", what, now - clock[0])
        clock[0] = now

    build_base(con, period, label_sql, label_params or {}, open_max_age_hours, operation=operation)
    lap("period rows")
    try:
        build_cells(con, period, label_sql, label_params or {}, operation=operation, rule_table="_rpt_rule_cells")
        lap("period facts")
        team_days = con.execute(
            f"SELECT day, {_mean()}, sum(n) FROM _rpt_cells GROUP BY day ORDER BY day").fetchall()
        team, team_var = _team(con, team_days)
        agents = _agents(con, team_var, min_sample, file_of)
        ranking = None
        if ranking_days and period.days < ranking_days:
            # A day is too few interactions to rank anyone: rank on the rolling window ending with
            # the period, and show the period's own figures beside it.
            ranking = Period(period.until - timedelta(days=ranking_days - 1), period.until)
            build_base(con, ranking, label_sql, label_params or {}, open_max_age_hours, "_rpt_rank",
                       "_rpt_rank_pending", operation=operation)
            build_cells(con, ranking, label_sql, label_params or {}, "_rpt_rank_pending", "_rpt_rank_cells",
                        operation=operation)
            ranked = _agents(con, team_var, min_sample, lambda _name: "", "_rpt_rank_cells", "_rpt_rank_pending")
            order = {a.name: i for i, a in enumerate(ranked)}
            window = {a.name: a for a in ranked}
            agents = tuple(sorted((replace(a, window=window.get(a.name)) for a in agents),
                                  key=lambda a: (order.get(a.name, len(order)), a.name)))
        queues = _queues(con, team_var)
        lap("team, agents and queues")
        rules = _rules(con, rule_info)
        agent_rules = _agent_rules(con, rule_info)
        focus = _focus(con, agent_rules, file_of, mask)
        lap("rules")
        _review(con, review_per_agent, low_score, high_risk, review_team)
        reviews, worst = _reviews(con, rule_info, segment_text, review_per_agent, review_team, file_of, mask)
        rule_failures = _rule_failures(con, rule_failures_max, file_of, mask)
        critical = _critical(con, rule_info, critical_max, mask)
        lap("review these first, worst interactions, failures per rule")
        quality = _quality(con, operation)
        hashes = tuple(h for (h,) in con.execute(
            "SELECT DISTINCT rule_pack_hash FROM _rpt_base WHERE rule_pack_hash IS NOT NULL ORDER BY 1").fetchall())
        models = tuple(m for (m,) in con.execute(
            "SELECT DISTINCT model_id FROM _rpt_base WHERE model_id IS NOT NULL ORDER BY 1").fetchall())
        lap("data quality")
        return ReportData(
            period=period, team=team, agents=agents, rules=rules, quality=quality, rule_pack_hashes=hashes,
            model_ids=models, min_sample=min_sample, label_text=label_text,
            open_max_age_hours=open_max_age_hours, ranking=ranking, queues=queues,
            agent_rules=agent_rules, focus=focus, reviews=reviews, worst=worst, rule_failures=rule_failures,
            rule_failures_max=rule_failures_max, critical=critical, critical_max=critical_max,
        )
    finally:
        drop_temp(con)
