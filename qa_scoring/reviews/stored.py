"""The QA team's verdicts in the database: the one owner of `reviews` and `review_unmatched`.

Matching (documented in the README): a verdict names its interaction by `interaction_id` (exact),
else by `case_id` (trimmed), narrowed by `channel` when the row gives one. No time is used: the
date of an evaluation export is when the evaluation was made, not when the chat happened. A row
matching no interaction is `no_interaction`; one matching several (the same case id on two
channels, with no channel given) is `ambiguous`. The rule comes from `rule_id` (own shape) or from
the Wolkvox `ATTRIBUTE` through the current pack's `attribute:` keys (case- and accent-insensitive;
an attribute several rules name gives each of them the verdict). A row whose rule is unknown is
`no_rule` / `no_attribute` (checked first). Unmatched rows are stored and counted, never dropped.

Every verdict is kept (the history). The *effective* verdict of an (interaction, rule) is the
latest one, by `reviewed_at` (else the import time), whoever the reviewer; a reviewer's own latest
verdict is what inter-reviewer agreement uses. The row hash of a verdict is its content, so
importing the same file again (or a copy of it) adds nothing.

Overrides: with `reviews.override` on (the default), the effective verdict replaces the rule's
automatic outcome in the interaction's score and in every aggregate (`effective_outcomes_sql`);
the automatic score is kept beside it (`auto_score`), and `overrides` counts the verdicts that
changed an outcome. `apply_overrides` runs after every scoring and every import, so an override
survives rescoring and pack changes as long as the rule id exists in the current pack.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from qa_scoring import outcomes, store
from qa_scoring.errors import InputError
from qa_scoring.reviews.files import ReviewFile, fold, read_review_file

log = logging.getLogger(__name__)

REASONS = ("no_interaction", "no_rule", "no_attribute", "ambiguous")
VERDICT_LETTER = {"pass": outcomes.PASSED, "fail": outcomes.FAILED, "na": outcomes.NOT_APPLICABLE}

# A reviewer's latest verdict per (interaction, rule), and the latest of anyone (the effective one).
_ORDER = "ORDER BY coalesce(reviewed_at, imported_at) DESC, review_id DESC"
REVIEWER_LATEST_SQL = f"""SELECT * FROM reviews
    QUALIFY row_number() OVER (PARTITION BY interaction_id, rule_id, reviewer {_ORDER}) = 1"""
EFFECTIVE_SQL = f"""SELECT * FROM reviews
    QUALIFY row_number() OVER (PARTITION BY interaction_id, rule_id {_ORDER}) = 1"""


def period_sql(since, until, column: str = "i.created_at", operation: str | None = None) -> tuple[str, dict]:
    """A WHERE condition on the interaction's day (both ends inclusive, either may be None), and its
    operation when given, with its parameters: the one period filter of agreement, samples and disputes."""
    where, params = [], {}
    if operation is not None:
        where.append("i.operation = $operation")
        params["operation"] = operation
    if since:
        where.append(f"{column} >= $since")
        params["since"] = since
    if until:
        where.append(f"{column} < $until + INTERVAL 1 DAY")
        params["until"] = until
    return (" AND ".join(where) or "true"), params


@dataclass(frozen=True)
class ImportSummary:
    files: int
    rows: int  # verdict rows read (blank verdicts of an unfilled sample are not rows)
    imported: int  # new verdicts stored
    unchanged: int  # already stored (same content): re-importing changes nothing
    replaced: int  # new verdicts that supersede a reviewer's earlier one on the same (interaction, rule)
    unmatched: dict[str, int] = field(default_factory=dict)  # reason → rows of this import
    overridden: int = 0  # interactions whose score now includes at least one override

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        missing = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in self.unmatched.items() if n)
        return (f"read {self.rows:,} verdicts from {self.files} file(s): {self.imported:,} new "
                f"({self.replaced:,} replacing an earlier verdict), {self.unchanged:,} already stored"
                + (f"; unmatched: {missing}" if missing else "")
                + f"; {self.overridden:,} interactions scored with overrides")


def _current_rules(con: duckdb.DuckDBPyConnection) -> tuple[set[str], dict[str, list[str]]]:
    """The current pack's rule ids and folded attribute name → rule ids."""
    rows = con.execute(f"""SELECT rule_id, attributes FROM rule_pack_rules
                           WHERE rule_pack_hash IN {outcomes.CURRENT_PACK}""").fetchall()
    if not rows:
        raise InputError("reviews import: no rule pack has been scored yet (run 'qa-scoring score' first)")
    import json

    ids, by_attribute = set(), {}
    for rule_id, attributes in rows:
        ids.add(rule_id)
        for name in json.loads(attributes) if attributes else []:
            by_attribute.setdefault(fold(name), []).append(rule_id)
    return ids, by_attribute


_IN_SCHEMA = pa.schema([("seq", pa.int64()), ("source", pa.string()), ("line", pa.int32()),
                        ("case_id", pa.string()), ("interaction_id", pa.string()), ("channel", pa.string()),
                        ("rule_id", pa.string()), ("rule", pa.string()), ("reason", pa.string()),
                        ("verdict", pa.string()), ("reviewer", pa.string()), ("reviewed_at", pa.timestamp("us")),
                        ("note", pa.string())])


def _incoming(files: list[ReviewFile], ids: set[str], by_attribute: dict[str, list[str]]) -> pa.Table:
    """One row per (verdict, rule): the rule resolved, or the reason it could not be."""
    columns: dict[str, list] = {name: [] for name in _IN_SCHEMA.names}
    attribute_rules: dict[str, list] = {}
    for f in files:
        for r in f.rows:
            if r.attribute is not None:
                targets = attribute_rules.get(r.attribute)
                if targets is None:
                    rules = sorted(set(by_attribute.get(fold(r.attribute), [])))
                    targets = attribute_rules[r.attribute] = [(rule, None) for rule in rules] or [(None, "no_attribute")]
                shown = r.attribute
            else:
                targets = [(r.rule_id, None if r.rule_id in ids else "no_rule")]
                shown = r.rule_id
            for rule_id, reason in targets:
                for name, value in (("seq", len(columns["seq"])), ("source", f.path), ("line", r.line),
                                    ("case_id", r.case_id), ("interaction_id", r.interaction_id),
                                    ("channel", r.channel), ("rule_id", rule_id), ("rule", shown),
                                    ("reason", reason), ("verdict", r.verdict), ("reviewer", r.reviewer),
                                    ("reviewed_at", r.reviewed_at), ("note", r.note)):
                    columns[name].append(value)
    return pa.table(columns, schema=_IN_SCHEMA)


def import_reviews(con: duckdb.DuckDBPyConnection, paths: list[Path], *, reviewer: str | None = None,
                   run_id: int | None = None, override: bool = True) -> ImportSummary:
    """Read every file (all are checked before anything is stored), match, store, apply overrides:
    one transaction."""
    files = [read_review_file(Path(p), reviewer) for p in paths]
    ids, by_attribute = _current_rules(con)
    table = _incoming(files, ids, by_attribute)
    now = store.utc_now()
    params = {"now": now, "run_id": run_id}
    with store.atomic(con):
        con.register("qa_review_in", table)
        try:
            con.execute("""
                CREATE OR REPLACE TEMP TABLE qa_review_match AS
                WITH wanted AS (SELECT * FROM qa_review_in WHERE reason IS NULL),
                by_id AS (
                    SELECT w.seq, i.interaction_id FROM wanted w JOIN interactions i
                    ON i.interaction_id = w.interaction_id WHERE w.interaction_id IS NOT NULL),
                by_case AS (
                    SELECT w.seq, i.interaction_id FROM wanted w JOIN interactions i
                    ON trim(i.case_id) = w.case_id
                    WHERE w.interaction_id IS NULL
                      AND (w.channel IS NULL OR lower(trim(i.channel)) = lower(trim(w.channel)))),
                found AS (SELECT seq, count(*) AS n, min(interaction_id) AS interaction_id
                          FROM (SELECT * FROM by_id UNION ALL SELECT * FROM by_case) GROUP BY seq)
                SELECT w.*, f.interaction_id AS matched_id,
                       coalesce(w.reason, CASE WHEN f.n IS NULL THEN 'no_interaction'
                                               WHEN f.n > 1 THEN 'ambiguous' END) AS why
                FROM qa_review_in w LEFT JOIN found f USING (seq)""")
        finally:
            con.unregister("qa_review_in")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE qa_review_new AS
            SELECT *, md5(concat_ws(chr(31), matched_id, rule_id, verdict, reviewer,
                                    coalesce(strftime(reviewed_at, '%Y-%m-%d %H:%M:%S'), ''),
                                    coalesce(note, ''))) AS row_hash
            FROM qa_review_match WHERE why IS NULL""")
        rows, = store.fetch_one(con, "SELECT count(*) FROM qa_review_match")
        fresh, unchanged = store.fetch_one(con, """
            SELECT count(DISTINCT row_hash) FILTER (row_hash NOT IN (SELECT row_hash FROM reviews)),
                   count(*) FILTER (row_hash IN (SELECT row_hash FROM reviews)) FROM qa_review_new""")
        replaced, = store.fetch_one(con, """
            SELECT count(DISTINCT n.row_hash) FROM qa_review_new n JOIN reviews r
            ON r.interaction_id = n.matched_id AND r.rule_id = n.rule_id AND r.reviewer = n.reviewer
            WHERE n.row_hash NOT IN (SELECT row_hash FROM reviews)""")
        con.execute("""
            INSERT INTO reviews
            SELECT nextval('reviews_seq'), matched_id, rule_id, verdict, reviewer, reviewed_at, note, source, line,
                   row_hash, $now, $run_id
            FROM (SELECT * FROM qa_review_new WHERE row_hash NOT IN (SELECT row_hash FROM reviews)
                  QUALIFY row_number() OVER (PARTITION BY row_hash ORDER BY seq) = 1)
            ORDER BY seq""", params)
        con.execute("""
            INSERT INTO review_unmatched
            SELECT row_hash, why, source, line, case_id, channel, rule, reviewer, $now, $run_id
            FROM (SELECT *, md5(concat_ws(chr(31), why, coalesce(interaction_id, ''), coalesce(case_id, ''),
                                          coalesce(channel, ''), coalesce(rule, ''), verdict, reviewer,
                                          coalesce(strftime(reviewed_at, '%Y-%m-%d %H:%M:%S'), ''),
                                          coalesce(note, ''))) AS row_hash
                  FROM qa_review_match WHERE why IS NOT NULL)
            WHERE row_hash NOT IN (SELECT row_hash FROM review_unmatched)
            QUALIFY row_number() OVER (PARTITION BY row_hash ORDER BY seq) = 1""", params)
        unmatched = dict(con.execute("""SELECT why, count(*) FROM qa_review_match WHERE why IS NOT NULL
                                        GROUP BY why""").fetchall())
        con.execute("DROP TABLE qa_review_match; DROP TABLE qa_review_new")
        overridden = apply_overrides(con, enabled=override)
        from qa_scoring import facts

        facts.refresh_facts(con, facts.touched_days_sql("SELECT interaction_id FROM reviews"))
    return ImportSummary(files=len(files), rows=rows, imported=fresh, unchanged=unchanged, replaced=replaced,
                         unmatched={r: int(unmatched.get(r, 0)) for r in REASONS}, overridden=overridden)


def _letters_sql(enabled: bool, overridden_only: bool = False) -> str:
    """Per (interaction, rule) of the current pack for interactions with reviews (or with overrides
    applied before): the automatic letter and the effective one."""
    verdict_letter = (f"""CASE v.verdict WHEN 'pass' THEN '{outcomes.PASSED}'
                              WHEN 'na' THEN '{outcomes.NOT_APPLICABLE}'
                              WHEN 'fail' THEN CASE WHEN auto IN {outcomes.FAILED_LETTERS} THEN auto
                                                    ELSE '{outcomes.FAILED}' END
                              ELSE auto END""" if enabled else "auto")
    return f"""
        WITH touched AS (
            {"" if overridden_only else "SELECT interaction_id FROM reviews UNION "}
            SELECT interaction_id FROM interaction_scores WHERE overrides > 0),
        o AS (SELECT o.* FROM rule_outcomes o SEMI JOIN touched t ON o.interaction_id = t.interaction_id
              WHERE o.rule_pack_hash IN {outcomes.CURRENT_PACK}),
        spread AS (
            SELECT o.interaction_id, o.rule_pack_hash, p.position, p.rule_id, p.weight, p.severity,
                   {outcomes.letter_at('o.outcomes', 'p.position')} AS auto
            FROM o JOIN rule_pack_rules p ON p.rule_pack_hash = o.rule_pack_hash)
        SELECT s.*, {verdict_letter} AS letter, v.verdict, v.reviewer, v.reviewed_at, v.note
        FROM spread s LEFT JOIN ({EFFECTIVE_SQL}) v
            ON v.interaction_id = s.interaction_id AND v.rule_id = s.rule_id"""


def _failed(letter: str) -> str:
    return f"{letter} IN {outcomes.FAILED_LETTERS}"


def apply_overrides(con: duckdb.DuckDBPyConnection, enabled: bool = True) -> int:
    """Recompute the current pack's scores of every reviewed interaction from the effective letters
    (inside the caller's transaction); returns how many interactions now carry overrides."""
    if store.fetch_one(con, "SELECT count(*) FROM rule_packs WHERE is_current")[0] == 0:
        return 0
    na, none = outcomes.NOT_APPLICABLE, outcomes.NO_RESULT
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE qa_override AS
        SELECT interaction_id,
               count(*) FILTER (letter <> auto AND NOT ({_failed('letter')} AND {_failed('auto')})) AS overrides,
               coalesce(sum(weight) FILTER (letter NOT IN ('{na}', '{none}')), 0) AS weight_applicable,
               coalesce(sum(weight) FILTER (letter = '{outcomes.PASSED}'), 0) AS weight_passed,
               coalesce(bool_or(severity = 'critical' AND {_failed('letter')}), false) AS critical_failed,
               count(*) FILTER (letter NOT IN ('{na}', '{none}')) AS rules_applicable,
               count(*) FILTER ({_failed('letter')}) AS rules_failed
        FROM ({_letters_sql(enabled)}) GROUP BY interaction_id""")
    con.execute("""
        UPDATE interaction_scores s SET
            auto_score = CASE WHEN o.overrides > 0 THEN CASE WHEN s.overrides > 0 THEN s.auto_score ELSE s.score END END,
            auto_critical_failed = CASE WHEN o.overrides > 0 THEN
                CASE WHEN s.overrides > 0 THEN s.auto_critical_failed ELSE s.critical_failed END END,
            score = CASE WHEN o.overrides = 0 THEN (CASE WHEN s.overrides > 0 THEN s.auto_score ELSE s.score END)
                         WHEN o.weight_applicable = 0 THEN NULL WHEN o.critical_failed THEN 0.0
                         ELSE 100.0 * o.weight_passed / o.weight_applicable END,
            critical_failed = CASE WHEN o.overrides = 0
                                   THEN (CASE WHEN s.overrides > 0 THEN s.auto_critical_failed ELSE s.critical_failed END)
                                   ELSE o.critical_failed END,
            rules_applicable = o.rules_applicable, rules_failed = o.rules_failed,
            overrides = o.overrides
        FROM qa_override o
        WHERE s.interaction_id = o.interaction_id AND s.rule_pack_hash IN (SELECT rule_pack_hash FROM rule_packs
                                                                           WHERE is_current)""")
    n, = store.fetch_one(con, "SELECT count(*) FROM interaction_scores WHERE overrides > 0")
    con.execute("DROP TABLE qa_override")
    return int(n)


def effective_outcomes_sql(source: str = "rule_outcomes") -> str:
    """`rule_outcomes` (same columns) with the effective verdicts' letters in place of the automatic
    ones, for the interactions whose current score carries overrides: what aggregates count. With
    `reviews.override` off no score carries any, so this is `rule_outcomes` as it is. `source` may
    name a subset of `rule_outcomes` (same columns) to read instead of the whole table."""
    return f"""(
        WITH changed AS (
            SELECT interaction_id, rule_pack_hash, string_agg(letter, '' ORDER BY position) AS outcomes
            FROM ({_letters_sql(True, overridden_only=True)}) GROUP BY ALL)
        SELECT o.interaction_id, coalesce(c.outcomes, o.outcomes) AS outcomes, o.rule_pack_hash, o.run_id
        FROM {source} o LEFT JOIN changed c
            ON c.interaction_id = o.interaction_id AND c.rule_pack_hash = o.rule_pack_hash)"""


def disputes_sql(period: str = "true") -> str:
    """Every (interaction, rule) of the current pack whose effective verdict differs from the rule's
    automatic outcome, for interactions matching `period` (an SQL condition on `i`): interaction_id,
    agent, case_id, channel, created_at, rule_id, auto and verdict (pass | fail | na), reviewer,
    reviewed_at, note, reviewers (how many gave a latest verdict), split (they disagree among
    themselves), applied (the verdict is in the score: an override), and the rule's first evidence."""
    letter = outcomes.letter_at("o.outcomes", "p.position")
    f, p, na = outcomes.FAILED_LETTERS, outcomes.PASSED, outcomes.NOT_APPLICABLE
    return f"""
        WITH v AS ({EFFECTIVE_SQL}),
        own AS (SELECT interaction_id, rule_id, count(*) AS reviewers, count(DISTINCT verdict) > 1 AS split
                FROM ({REVIEWER_LATEST_SQL}) GROUP BY ALL),
        o AS (SELECT o.* FROM rule_outcomes o SEMI JOIN v ON v.interaction_id = o.interaction_id
              WHERE o.rule_pack_hash IN {outcomes.CURRENT_PACK}),
        judged AS (
            SELECT v.interaction_id, v.rule_id, v.verdict, v.reviewer, v.reviewed_at, v.note, o.rule_pack_hash,
                   CASE WHEN {letter} IN {f} THEN 'fail' WHEN {letter} = '{p}' THEN 'pass'
                        WHEN {letter} = '{na}' THEN 'na' END AS auto
            FROM v JOIN o ON o.interaction_id = v.interaction_id
            JOIN rule_pack_rules p ON p.rule_pack_hash = o.rule_pack_hash AND p.rule_id = v.rule_id)
        SELECT j.interaction_id, i.agent_name AS agent, i.case_id, i.channel, i.created_at, j.rule_id, j.auto,
               j.verdict, j.reviewer, j.reviewed_at, j.note, own.reviewers, own.split,
               coalesce(s.overrides > 0, FALSE) AS applied,
               (SELECT e.evidence FROM rule_evidence e
                WHERE e.interaction_id = j.interaction_id AND e.rule_id = j.rule_id
                  AND e.rule_pack_hash = j.rule_pack_hash ORDER BY e.evidence_start NULLS LAST LIMIT 1) AS evidence
        FROM judged j JOIN interactions i ON i.interaction_id = j.interaction_id
        JOIN own ON own.interaction_id = j.interaction_id AND own.rule_id = j.rule_id
        LEFT JOIN interaction_scores s ON s.interaction_id = j.interaction_id AND s.rule_pack_hash = j.rule_pack_hash
        WHERE j.auto IS NOT NULL AND j.auto <> j.verdict AND {period}"""


def review_counts(con: duckdb.DuckDBPyConnection, operation: str | None = None) -> dict:
    """How many verdicts exist, by how many reviewers, how fresh, and the unmatched rows by reason; of
    one operation when given. An unmatched row belongs to an operation when its case id is one of the
    operation's interactions; a row whose case id matches no interaction at all could belong to any,
    so every operation counts it."""
    if operation is None:
        verdicts, unmatched, params = "reviews", "review_unmatched", {}
    else:
        verdicts = """(SELECT * FROM reviews
                       WHERE interaction_id IN (SELECT interaction_id FROM interactions WHERE operation = $operation))"""
        unmatched = """(SELECT u.* FROM review_unmatched u
                        WHERE u.case_id IN (SELECT case_id FROM interactions WHERE operation = $operation)
                           OR u.case_id IS NULL OR u.case_id NOT IN (SELECT case_id FROM interactions
                                                                     WHERE case_id IS NOT NULL))"""
        params = {"operation": operation}
    n, reviewers, latest, imported = store.fetch_one(con, f"""
        SELECT count(*), count(DISTINCT reviewer), max(coalesce(reviewed_at, imported_at)), max(imported_at)
        FROM {verdicts}""", params)
    unmatched = dict(con.execute(f"SELECT reason, count(*) FROM {unmatched} GROUP BY reason", params).fetchall())
    return {"verdicts": int(n), "reviewers": int(reviewers), "latest": latest, "imported": imported,
            "unmatched": {r: int(unmatched.get(r, 0)) for r in REASONS}}
