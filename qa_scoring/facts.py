"""Stored daily facts: the one owner of `daily_facts`, `daily_rule_facts` and `facts_state`
(their schema is migration v6 in store.py).

One `daily_facts` row per (operation, agent, skill, channel, local day, open) holds the counts and
sums every report figure, trend and alarm needs — interactions, scores (sum and sum of squares, for
means and intervals), critical failures, surveys answered / labelled / dissatisfied, predicted risk
(overall and among the labelled, for calibration), blank answers, impossible times, and the words the
model read and of them the ones it had no term for (the input-drift alarm's unknown words). One
`daily_rule_facts` row per the same keys and rule holds the rule's total / applicable / passed and
the survey split of failed and passed interactions. They are the current rule pack's figures with
the QA team's overrides applied (the score is `interaction_scores.score`; rule letters are the
effective ones, reviews/stored.py), so a figure read from the facts equals the one computed from the
raw tables (tests/test_facts.py proves it).

The local day is `created_at::DATE`: `created_at` is already the operation's naive local time.
`is_open` keeps open interactions apart (report/data.py's policy leaves recent open ones out).

Maintenance: `score`, `predict` and `reviews import` call `refresh_facts` inside their own
transaction with the (operation, day) pairs they touched; a whole rescoring, a rebuild, a removed
interaction or a changed survey mapping refreshes everything. A day is always recomputed whole
(delete its rows, aggregate its interactions again), so a refresh is idempotent and a rerun gives
the same table as a clean build.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING
from datetime import date, datetime, timedelta

import duckdb

from qa_scoring import outcomes

if TYPE_CHECKING:  # classify/__init__ imports scikit-learn's side; load the labels only when used
    from qa_scoring.classify.labels import LabelMapping

log = logging.getLogger(__name__)

KEYS = ("operation", "agent", "skill", "channel", "day", "is_open")

# Same normalisation as the report shows (report/data.py build_base).
SKILL_SQL = "CASE WHEN qa_blank(i.skill_id) THEN '–' ELSE trim(i.skill_id) END"
CHANNEL_SQL = "CASE WHEN qa_blank(i.channel) THEN '–' ELSE lower(trim(i.channel)) END"
# An open interaction: the status says so; without a status, the missing close date does.
OPEN_SQL = ("CASE WHEN NOT qa_blank(i.status) THEN lower(trim(i.status)) = 'open' "
            "ELSE i.closed_at IS NULL END")


def label_sql(mapping: LabelMapping, column: str = "i.survey_raw") -> tuple[str, dict]:
    """TRUE = dissatisfied, FALSE = satisfied, NULL = no usable answer, and its parameters."""
    from qa_scoring.classify.labels import DISSATISFIED, SATISFIED

    expr, params = mapping.sql(column)
    return f"CASE ({expr}) WHEN '{DISSATISFIED}' THEN TRUE WHEN '{SATISFIED}' THEN FALSE END", params


def _mapping_json(mapping: LabelMapping) -> str:
    return json.dumps(asdict(mapping), sort_keys=True, ensure_ascii=False)


def _state(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    rows = con.execute("SELECT value FROM facts_state WHERE name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def _set_state(con: duckdb.DuckDBPyConnection, name: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO facts_state VALUES (?, ?)", [name, value])


def stored_mapping(con: duckdb.DuckDBPyConnection) -> LabelMapping:
    """The survey mapping the facts were counted with (the default before any was given)."""
    from qa_scoring.classify.labels import LabelMapping

    text = _state(con, "label_mapping")
    if text is None:
        return LabelMapping()
    data = json.loads(text)
    return LabelMapping(scale=data["scale"], satisfied_words=tuple(data["satisfied_words"]),
                        dissatisfied_words=tuple(data["dissatisfied_words"]))


def _current_pack(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute("SELECT rule_pack_hash FROM rule_packs WHERE is_current").fetchall()
    return rows[0][0] if rows else ""


NO_DAYS = "SELECT NULL::VARCHAR AS operation, NULL::DATE AS day WHERE false"


def touched_days_sql(ids: str) -> str:
    """(operation, day) pairs of the interactions whose ids are in relation `ids` (column interaction_id)."""
    return f"""SELECT DISTINCT i.operation, i.created_at::DATE AS day
               FROM interactions i SEMI JOIN ({ids}) t ON t.interaction_id = i.interaction_id"""


def refresh_facts(con: duckdb.DuckDBPyConnection, days: str | None = None, *,
                  labels: LabelMapping | None = None, params: dict | None = None, rule_facts: bool = True) -> int:
    """Recompute the facts of the (operation, day) pairs in relation `days` (all days when None),
    inside the caller's transaction; returns how many (operation, day) pairs were refreshed.

    `labels` is the survey mapping in force; None keeps the one the facts were counted with. A
    different mapping, or another current rule pack than the facts were counted under, refreshes
    every day (each day's figures must come from one mapping and one pack).

    `rule_facts=False` leaves the days' daily_rule_facts as they are, for a caller that knows them
    current: predict right after score in one run (predictions are no part of them, and score left
    every day's rule facts current). A refresh of every day always counts both tables.
    """
    mapping = labels or stored_mapping(con)
    mapping_text, pack = _mapping_json(mapping), _current_pack(con)
    if days is not None and (_state(con, "label_mapping") != mapping_text or _state(con, "rule_pack_hash") != pack):
        # (also the first refresh after the v8 migration, when no state exists yet)
        log.debug("facts: survey mapping or rule pack changed: refreshing every day")
        days = None
    if days is None:
        con.execute("""CREATE OR REPLACE TEMP TABLE qa_fact_days AS
                       SELECT DISTINCT operation, created_at::DATE AS day FROM interactions""")
        con.execute("DELETE FROM daily_facts; DELETE FROM daily_rule_facts")
    else:
        con.execute(f"CREATE OR REPLACE TEMP TABLE qa_fact_days AS SELECT DISTINCT operation, day FROM ({days})",
                    params or {})
        con.execute("DELETE FROM daily_facts f USING qa_fact_days d WHERE f.operation = d.operation AND f.day = d.day")
        if rule_facts:
            con.execute("""DELETE FROM daily_rule_facts f USING qa_fact_days d
                           WHERE f.operation = d.operation AND f.day = d.day""")
    n_days, lo, hi = con.execute("SELECT count(*), min(day), max(day) FROM qa_fact_days").fetchall()[0]
    if n_days:
        _aggregate(con, label_sql(mapping), lo, hi, rule_table="daily_rule_facts" if rule_facts or days is None else None)
    con.execute("DROP TABLE qa_fact_days")
    _set_state(con, "label_mapping", mapping_text)
    _set_state(con, "rule_pack_hash", pack)
    return int(n_days)


def period_facts(con: duckdb.DuckDBPyConnection, since: date, until: date, *, operation: str | None = None,
                 label: tuple[str, dict] | None = None, target: str = "qa_period_facts",
                 rule_target: str | None = None) -> int:
    """The facts of the days `since`..`until` (inclusive) of `operation` (every one when None) into the
    temp table `target` (daily_facts' columns; `rule_target`, when given: daily_rule_facts' ones), for
    a report to read; returns how many (operation, day) pairs had to be aggregated from the raw tables.

    The stored rows serve every day they cover as the tables are now. A day whose number of
    interactions differs from its facts' (imported but not scored yet, or a hand-filled table), or
    every day when the report's survey mapping `label` ((sql, params) as `label_sql` gives them) or
    the current rule pack is not the one the facts were counted with, is aggregated from the raw
    tables here, the same way, without writing anything: the report's figures never depend on
    whether `score` ran after the last import. Same number, other rows (a row deleted and another
    landed on the same day without a rescoring) is not detected: every path that removes
    interactions refreshes the facts."""
    lo = datetime.combine(since, datetime.min.time())
    hi = datetime.combine(until + timedelta(days=1), datetime.min.time())
    stored = _state(con, "label_mapping")
    stale_all = (stored is None or _state(con, "rule_pack_hash") != _current_pack(con)
                 or (label is not None and label != label_sql(stored_mapping(con))))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE qa_period_days AS
        WITH raw AS (SELECT operation, created_at::DATE AS day, count(*) AS n FROM interactions
                     WHERE created_at >= $lo AND created_at < $hi AND ($operation IS NULL OR operation = $operation)
                     GROUP BY ALL),
        kept AS (SELECT operation, day, sum(interactions) AS n FROM daily_facts
                 WHERE day >= $since AND day <= $until AND ($operation IS NULL OR operation = $operation)
                 GROUP BY ALL)
        SELECT raw.operation, raw.day, $stale OR kept.n IS DISTINCT FROM raw.n AS stale
        FROM raw LEFT JOIN kept ON kept.operation = raw.operation AND kept.day = raw.day""",
                {"lo": lo, "hi": hi, "since": since, "until": until, "operation": operation, "stale": stale_all})
    tables = [("daily_facts", target)] + ([("daily_rule_facts", rule_target)] if rule_target else [])
    for source, name in tables:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {name} AS
                        SELECT f.* FROM {source} f
                        SEMI JOIN qa_period_days d ON d.operation = f.operation AND d.day = f.day AND NOT d.stale""")
    con.execute("CREATE OR REPLACE TEMP TABLE qa_fact_days AS SELECT operation, day FROM qa_period_days WHERE stale")
    n_days, first, last = con.execute("SELECT count(*), min(day), max(day) FROM qa_fact_days").fetchall()[0]
    if n_days:
        if label is None:
            label = label_sql(stored_mapping(con))
        _aggregate(con, label, first, last, target, rule_target)
    con.execute("DROP TABLE qa_fact_days; DROP TABLE qa_period_days")
    return int(n_days)


def _aggregate(con: duckdb.DuckDBPyConnection, label: tuple[str, dict], lo: date, hi: date,
               facts_table: str = "daily_facts", rule_table: str | None = "daily_rule_facts") -> None:
    """Insert the facts of the days in `qa_fact_days` (their old rows are gone) into `facts_table` and
    `rule_table` (None: no rule facts); `label` is the survey's (sql, params) from `label_sql`."""
    dissatisfied, label_params = label
    # The created_at range lets DuckDB skip row groups outside the refreshed days.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE qa_fact_rows AS
        SELECT i.interaction_id, i.operation, i.agent_name AS agent, {SKILL_SQL} AS skill, {CHANNEL_SQL} AS channel,
               i.created_at::DATE AS day, coalesce({OPEN_SQL}, FALSE) AS is_open,
               s.score, coalesce(s.critical_failed, FALSE) AS critical, coalesce(s.overrides, 0) > 0 AS overridden,
               s.rule_pack_hash, p.risk, p.tokens, p.unknown_tokens, i.survey_raw IS NOT NULL AS surveyed, ({dissatisfied}) AS dissatisfied,
               qa_blank(i.answer) AS no_answer, coalesce(i.handle_seconds < 0, FALSE) AS bad_time
        FROM interactions i
        SEMI JOIN qa_fact_days d ON d.operation = i.operation AND d.day = i.created_at::DATE
        LEFT JOIN interaction_scores s USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)
        WHERE i.created_at >= $lo AND i.created_at < $hi""",
                {**label_params, "lo": datetime.combine(lo, datetime.min.time()),
                 "hi": datetime.combine(hi + timedelta(days=1), datetime.min.time())})
    keys = ", ".join(KEYS)
    con.execute(f"""
        INSERT INTO {facts_table}
        SELECT {keys}, count(*), count(score), coalesce(sum(score), 0), coalesce(sum(score * score), 0),
               count(*) FILTER (critical), count(*) FILTER (overridden), count(*) FILTER (surveyed),
               count(dissatisfied), count(*) FILTER (dissatisfied), count(risk), coalesce(sum(risk), 0),
               count(risk) FILTER (dissatisfied IS NOT NULL),
               coalesce(sum(risk) FILTER (dissatisfied IS NOT NULL), 0),
               count(risk) FILTER (dissatisfied),
               count(*) FILTER (no_answer), count(*) FILTER (bad_time),
               coalesce(sum(tokens), 0), coalesce(sum(unknown_tokens), 0)
        FROM qa_fact_rows GROUP BY ALL""")
    if rule_table is None:
        con.execute("DROP TABLE qa_fact_rows")
        return
    # Rule counts from the effective letters (overrides applied), grouped before they are spread.
    from qa_scoring.reviews.stored import effective_outcomes_sql

    # Only the refreshed days' outcomes, picked by interaction id: a night's refresh of a few days
    # must not read the whole of rule_outcomes through the overrides' LEFT JOIN.
    con.execute("""CREATE OR REPLACE TEMP TABLE qa_fact_outcomes AS
                   SELECT o.* FROM rule_outcomes o
                   SEMI JOIN qa_fact_rows b ON o.interaction_id = b.interaction_id
                                           AND o.rule_pack_hash = b.rule_pack_hash""")
    grouped = f"""SELECT {", ".join(f"b.{k}" for k in KEYS)}, o.rule_pack_hash, o.outcomes, b.dissatisfied,
                         count(*) AS n
                  FROM {effective_outcomes_sql("qa_fact_outcomes")} o JOIN qa_fact_rows b
                    ON o.interaction_id = b.interaction_id AND o.rule_pack_hash = b.rule_pack_hash
                  GROUP BY ALL"""
    con.execute(f"""
        INSERT INTO {rule_table}
        SELECT {keys}, rule_id, total, app, pass, fail_lab, fail_dis, pass_lab, pass_dis
        FROM ({outcomes.rule_counts_sql(grouped, KEYS)})""")
    con.execute("DROP TABLE qa_fact_rows; DROP TABLE qa_fact_outcomes")
