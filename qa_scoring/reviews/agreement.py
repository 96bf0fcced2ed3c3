"""Agreement between the rules and the QA team: per rule 2×2 tables, Cohen's κ with a 95 % interval,
precision and recall of the rule's *fail*, and κ between reviewers (the ceiling a rule can reach).

Each reviewer's latest verdict on an (interaction, rule) is one judgment (reviews/stored.py); it is
compared with the rule's automatic outcome under the current pack (never the overridden one).
A judgment where exactly one side says "not applicable" is an N/A disagreement, counted apart; both
N/A agree and stay out of the table.

The interval is analytic: κ ± 1.96 · SE with the large-sample variance of Fleiss, Cohen & Everitt
(1969), clipped to [−1, 1]. It is exact to compute and reproducible (no resampling). It is too
narrow for small tables, so the report calls fewer than `MIN_REVIEWS` judgments "too few" whatever
κ is; where its variance is zero (no disagreement at all, or one side always said the same) there
is no interval (None) rather than a misleading point. κ is undefined (None) when the
two sides together used one class only (chance agreement is then 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date

import duckdb

from qa_scoring import outcomes, store
from qa_scoring.reviews.stored import REVIEWER_LATEST_SQL, period_sql, review_counts

MIN_REVIEWS = 30
RELIABLE, ACCEPTABLE = 0.8, 0.6
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Table:
    """Judgments on one rule: the rule's outcome (first) against the human's (second)."""

    pass_pass: int = 0
    pass_fail: int = 0  # the rule passed, the human says it failed (a miss)
    fail_pass: int = 0  # the rule failed, the human says it passed (a false alarm)
    fail_fail: int = 0

    @property
    def n(self) -> int:
        return self.pass_pass + self.pass_fail + self.fail_pass + self.fail_fail

    def __add__(self, other: "Table") -> "Table":
        return Table(self.pass_pass + other.pass_pass, self.pass_fail + other.pass_fail,
                     self.fail_pass + other.fail_pass, self.fail_fail + other.fail_fail)


@dataclass(frozen=True)
class Kappa:
    n: int
    agreement: float | None
    kappa: float | None
    low: float | None
    high: float | None


def cohen_kappa(table: Table) -> Kappa:
    """Cohen's κ of a 2×2 table with its analytic 95 % interval (Fleiss, Cohen & Everitt 1969)."""
    n = table.n
    if n == 0:
        return Kappa(0, None, None, None, None)
    p = [[table.pass_pass / n, table.pass_fail / n], [table.fail_pass / n, table.fail_fail / n]]
    rows = [p[0][0] + p[0][1], p[1][0] + p[1][1]]  # the rule's marginals
    cols = [p[0][0] + p[1][0], p[0][1] + p[1][1]]  # the human's
    observed = p[0][0] + p[1][1]
    chance = rows[0] * cols[0] + rows[1] * cols[1]
    if chance >= 1 - 1e-12:
        return Kappa(n, observed, None, None, None)
    kappa = (observed - chance) / (1 - chance)
    a = sum(p[i][i] * (1 - (rows[i] + cols[i]) * (1 - kappa)) ** 2 for i in range(2))
    b = (1 - kappa) ** 2 * sum(p[i][j] * (cols[i] + rows[j]) ** 2 for i in range(2) for j in range(2) if i != j)
    c = (kappa - chance * (1 - kappa)) ** 2
    variance = max(a + b - c, 0.0) / (n * (1 - chance) ** 2)
    if variance < 1e-15:  # no disagreement at all, or one side used one class: no interval to give
        return Kappa(n, observed, kappa, None, None)
    half = Z95 * math.sqrt(variance)
    return Kappa(n, observed, kappa, max(-1.0, kappa - half), min(1.0, kappa + half))


def verdict(k: Kappa) -> str:
    """The plain-words reading of a rule's agreement (a key of the report's catalogue)."""
    if k.n < MIN_REVIEWS:
        return "too_few"
    if k.kappa is None:
        return "undefined"
    if k.kappa >= RELIABLE:
        return "reliable"
    if k.kappa >= ACCEPTABLE:
        return "acceptable"
    return "revise"


@dataclass(frozen=True)
class RuleAgreement:
    rule_id: str
    table: Table
    kappa: Kappa
    precision: float | None  # of the rule's fail against the human's fail
    recall: float | None
    na_disagreements: int
    both_na: int
    humans: Kappa  # between reviewers on the same (interaction, rule)

    @property
    def verdict(self) -> str:
        return verdict(self.kappa)


@dataclass(frozen=True)
class Agreement:
    since: date | None
    until: date | None
    rules: tuple[RuleAgreement, ...]
    overall: Kappa
    humans: Kappa
    unmatched: dict
    verdicts: int
    reviewers: int
    operation: str | None = None  # the one operation judged, None for all

    def to_dict(self) -> dict:
        """The `reviews agreement --json` object (**contract**: rules.*, overall.n/kappa, unmatched)."""
        def r4(x):
            return None if x is None else round(x, 4)

        rules = {}
        for r in self.rules:
            rules[r.rule_id] = {
                "n": r.kappa.n, "agreement": r4(r.kappa.agreement), "kappa": r4(r.kappa.kappa),
                "kappa_low": r4(r.kappa.low), "kappa_high": r4(r.kappa.high), "precision": r4(r.precision),
                "recall": r4(r.recall), "na_disagreements": r.na_disagreements, "both_na": r.both_na,
                "table": asdict(r.table), "verdict": r.verdict,
                "humans": {"n": r.humans.n, "kappa": r4(r.humans.kappa)}}
        return {"rules": rules,
                "overall": {"n": self.overall.n, "kappa": r4(self.overall.kappa), "kappa_low": r4(self.overall.low),
                            "kappa_high": r4(self.overall.high), "agreement": r4(self.overall.agreement)},
                "humans": {"n": self.humans.n, "kappa": r4(self.humans.kappa), "kappa_low": r4(self.humans.low),
                           "kappa_high": r4(self.humans.high)},
                "unmatched": {k: v for k, v in self.unmatched.items() if v},
                "verdicts": self.verdicts, "reviewers": self.reviewers,
                "since": self.since and self.since.isoformat(), "until": self.until and self.until.isoformat(),
                "operation": self.operation}

    def text(self) -> str:
        k = self.overall
        shown = "undefined" if k.kappa is None else f"{k.kappa:.2f}"
        lines = [f"{self.verdicts:,} verdicts by {self.reviewers} reviewer(s); overall κ {shown} on {k.n:,} judgments"]
        for r in self.rules:
            kk = r.kappa
            ci = "" if kk.low is None else f" [{kk.low:5.2f}, {kk.high:5.2f}]"
            kap = "  –  " if kk.kappa is None else f"{kk.kappa:5.2f}{ci}"
            lines.append(f"  {r.rule_id:<28} n={kk.n:<5} κ {kap}  {r.verdict.replace('_', ' ')}")
        return "\n".join(lines)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def agreement(con: duckdb.DuckDBPyConnection, since: date | None = None, until: date | None = None,
              operation: str | None = None) -> Agreement:
    """Per rule of the current pack with judgments in the period (by the interaction's day), of one
    operation when given."""
    where, params = period_sql(since, until, operation=operation)
    letter = outcomes.letter_at("o.outcomes", "p.position")
    f, p, n = outcomes.FAILED_LETTERS, outcomes.PASSED, outcomes.NOT_APPLICABLE
    judged = f"""
        WITH v AS ({REVIEWER_LATEST_SQL}),
        o AS (SELECT o.* FROM rule_outcomes o SEMI JOIN v ON v.interaction_id = o.interaction_id
              WHERE o.rule_pack_hash IN {outcomes.CURRENT_PACK})
        SELECT v.interaction_id, v.rule_id, v.reviewer, v.verdict,
               CASE WHEN {letter} IN {f} THEN 'fail' WHEN {letter} = '{p}' THEN 'pass'
                    WHEN {letter} = '{n}' THEN 'na' END AS auto
        FROM v JOIN o ON o.interaction_id = v.interaction_id
        JOIN rule_pack_rules p ON p.rule_pack_hash = o.rule_pack_hash AND p.rule_id = v.rule_id
        JOIN interactions i ON i.interaction_id = v.interaction_id
        WHERE {where}"""
    rows = con.execute(f"""
        SELECT rule_id,
               count(*) FILTER (auto = 'pass' AND verdict = 'pass'), count(*) FILTER (auto = 'pass' AND verdict = 'fail'),
               count(*) FILTER (auto = 'fail' AND verdict = 'pass'), count(*) FILTER (auto = 'fail' AND verdict = 'fail'),
               count(*) FILTER ((auto = 'na') <> (verdict = 'na')), count(*) FILTER (auto = 'na' AND verdict = 'na')
        FROM ({judged}) WHERE auto IS NOT NULL GROUP BY rule_id ORDER BY rule_id""", params).fetchall()
    pairs = dict(((r[0]), Table(*r[1:])) for r in con.execute(f"""
        WITH j AS ({judged})
        SELECT a.rule_id,
               count(*) FILTER (a.verdict = 'pass' AND b.verdict = 'pass'),
               count(*) FILTER (a.verdict = 'pass' AND b.verdict = 'fail'),
               count(*) FILTER (a.verdict = 'fail' AND b.verdict = 'pass'),
               count(*) FILTER (a.verdict = 'fail' AND b.verdict = 'fail')
        FROM j a JOIN j b ON a.interaction_id = b.interaction_id AND a.rule_id = b.rule_id AND a.reviewer < b.reviewer
        WHERE a.verdict <> 'na' AND b.verdict <> 'na'
        GROUP BY a.rule_id""", params).fetchall())
    rules, total, humans = [], Table(), Table()
    for rule_id, pp, pf, fp, ff, na_dis, both_na in rows:
        table = Table(int(pp), int(pf), int(fp), int(ff))
        between = pairs.get(rule_id, Table())
        total, humans = total + table, humans + between
        rules.append(RuleAgreement(rule_id=rule_id, table=table, kappa=cohen_kappa(table),
                                   precision=_ratio(ff, fp + ff), recall=_ratio(ff, pf + ff),
                                   na_disagreements=int(na_dis), both_na=int(both_na), humans=cohen_kappa(between)))
    counts = review_counts(con, operation)
    return Agreement(since=since, until=until, rules=tuple(rules), overall=cohen_kappa(total),
                     humans=cohen_kappa(humans), unmatched=counts["unmatched"], verdicts=counts["verdicts"],
                     reviewers=counts["reviewers"], operation=operation)
