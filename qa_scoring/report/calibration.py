"""Calibration data for the report: how well each rule agrees with the QA team's own verdicts
(reviews/agreement.py), the findings the team disputes, and the verdicts shown beside findings.

Agreement is measured over a window that ends with the report's last day and spans at least
`calibration_days` (a rule's reliability does not change from one day to the next, and a one-day
report holds too few reviews to say anything). The disputes listed are those of the same window;
the verdicts shown on agent and rule pages are those of the interactions those pages show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import duckdb

from qa_scoring import facts
from qa_scoring.report.data import Period, RuleInfo
from qa_scoring.reviews.agreement import Kappa, RuleAgreement, agreement
from qa_scoring.reviews.stored import disputes_sql, period_sql, review_counts

DISPUTES_MAX = 200  # disputes listed on the calibration page (the count is always the full one)
VERDICT_ORDER = ("revise", "acceptable", "undefined", "too_few", "reliable")  # what needs attention first


@dataclass(frozen=True)
class Dispute:
    """A human verdict that differs from the rule's automatic outcome on one interaction."""

    interaction_id: str
    agent: str
    agent_file: str | None  # the agent's page in this report, when the agent has one
    case_id: str
    channel: str
    created_at: datetime
    rule: RuleInfo
    auto: str  # pass | fail | na: what the rule said
    verdict: str  # what the latest human verdict says
    reviewer: str
    reviewed_at: datetime | None
    note: str | None
    reviewers: int  # reviewers with a verdict on this (interaction, rule)
    split: bool  # they do not agree among themselves
    applied: bool  # the verdict overrides the outcome in the score
    evidence: str | None


@dataclass(frozen=True)
class CalibrationRow:
    rule: RuleInfo
    agreement: RuleAgreement

    @property
    def kappa(self) -> Kappa:
        return self.agreement.kappa

    @property
    def verdict(self) -> str:
        return self.agreement.verdict


@dataclass(frozen=True)
class Calibration:
    window: Period
    verdicts: int
    reviewers: int
    latest: datetime | None  # the newest verdict (its review time, else its import time)
    imported: datetime | None  # the last import
    rows: tuple[CalibrationRow, ...]
    overall: Kappa
    humans: Kappa
    unmatched: dict[str, int]
    disputes: tuple[Dispute, ...]
    disputes_total: int
    override: bool  # reviews.override: verdicts replace outcomes in scores
    # the verdicts on the interactions of the report period, by interaction id (agent and rule pages)
    by_interaction: dict[str, tuple[Dispute, ...]] = field(default_factory=dict)
    # per agent: interactions of the report period whose score includes at least one override
    overridden: dict[str, int] = field(default_factory=dict)

    def of_agent(self, name: str) -> tuple[Dispute, ...]:
        """The agent's disputed findings in the report period, newest first."""
        return tuple(sorted((d for ds in self.by_interaction.values() for d in ds if d.agent == name),
                            key=lambda d: (d.created_at, d.interaction_id, d.rule.rule_id), reverse=True))

    @property
    def low(self) -> dict[str, CalibrationRow]:
        """Rules whose agreement with the team reads "revise" (enough reviews, κ below acceptable)."""
        return {r.rule.rule_id: r for r in self.rows if r.verdict == "revise"}

    @property
    def unmatched_total(self) -> int:
        return sum(self.unmatched.values())


def window_for(period: Period, days: int) -> Period:
    """The report period, stretched back to at least `days` days ending with its last day."""
    return Period(min(period.since, period.until - timedelta(days=max(days, 1) - 1)), period.until)


def _disputes(con, since: date, until: date, rule_info, file_of, mask, limit: int | None,
              operation: str | None = None) -> list[Dispute]:
    where, params = period_sql(since, until, operation=operation)
    order = "ORDER BY created_at DESC, interaction_id, rule_id"
    rows = con.execute(f"SELECT * FROM ({disputes_sql(where)}) {order}"
                       + (" LIMIT $limit" if limit is not None else ""),
                       {**params, **({"limit": limit} if limit is not None else {})}).fetchall()
    return [Dispute(iid, agent, file_of(agent), case_id or "", channel or "", created, rule_info(rule_id), auto,
                    verdict, reviewer, reviewed_at, mask(note), int(reviewers), bool(split), bool(applied),
                    mask(evidence))
            for (iid, agent, case_id, channel, created, rule_id, auto, verdict, reviewer, reviewed_at, note,
                 reviewers, split, applied, evidence) in rows]


def prepare_calibration(con: duckdb.DuckDBPyConnection, period: Period, *, rule_info, file_of, mask,
                        days: int = 90, override: bool = True, operation: str | None = None) -> Calibration | None:
    """The calibration data of a report on `period`; None when the database holds no verdicts."""
    counts = review_counts(con, operation)
    if not counts["verdicts"] and not sum(counts["unmatched"].values()):
        return None
    window = window_for(period, days)
    measured = agreement(con, window.since, window.until, operation)
    rows = tuple(sorted((CalibrationRow(rule_info(r.rule_id), r) for r in measured.rules),
                        key=lambda r: (VERDICT_ORDER.index(r.verdict), r.rule.rule_id)))
    where, params = period_sql(window.since, window.until, operation=operation)
    total, = con.execute(f"SELECT count(*) FROM ({disputes_sql(where)})", params).fetchone()
    listed = _disputes(con, window.since, window.until, rule_info, file_of, mask, DISPUTES_MAX, operation)
    in_period: dict[str, list[Dispute]] = {}
    for d in _disputes(con, period.since, period.until, rule_info, file_of, mask, None, operation):
        in_period.setdefault(d.interaction_id, []).append(d)
    # per agent, the period's interactions whose score carries an override: from the daily facts
    facts.period_facts(con, period.since, period.until, operation=operation, target="_cal_facts")
    overridden = dict(con.execute("SELECT agent, sum(overridden) FROM _cal_facts GROUP BY agent "
                                  "HAVING sum(overridden) > 0").fetchall())
    con.execute("DROP TABLE _cal_facts")
    return Calibration(window=window, verdicts=counts["verdicts"], reviewers=counts["reviewers"],
                       latest=counts["latest"], imported=counts["imported"], rows=rows, overall=measured.overall,
                       humans=measured.humans, unmatched={k: v for k, v in counts["unmatched"].items() if v},
                       disputes=tuple(listed), disputes_total=int(total), override=override,
                       by_interaction={k: tuple(v) for k, v in in_period.items()},
                       overridden={k: int(v) for k, v in overridden.items()})
