"""The DuckDB store: schema and migrations, raw landing, typed interactions, quarantine, run log.

Data flows one way: a payload lands verbatim in `raw_pages`; `derive_page` turns its rows into typed
`interactions` (bad rows → `quarantine` with the reason) in the same transaction. Because the raw
pages are kept, `rebuild_interactions` can re-derive everything without calling the API.

`interaction_id` (the natural key, documented in the README): sha256 of
  operation · lower(trim(channel)) · trim(case_id) · created_at (parsed, so format variants agree)
truncated to 32 hex characters. Those are the fields of a row that do not change when Wolkvox
re-sends it with a later status, close date, survey or comment. `case_id` alone is not promised to be
unique per row, and the same case id on two channels or servers is two interactions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pyarrow as pa

from qa_scoring import __version__, htmltext, outcomes
from qa_scoring.errors import DamagedDatabaseError, InputError, LockedError, RunTimeError
from qa_scoring.parse import FIELDS, ParsedPage, column_name, decompress_payload, parse_payload

log = logging.getLogger(__name__)

SCHEMA_VERSION = 10
# The views as schema v2 / v3 created them (frozen: migrations replay history); v4 replaces them
# with outcomes.py's, which show the current pack only.
_RULE_RESULTS_VIEW_V2 = """
    CREATE VIEW rule_results AS
    SELECT o.interaction_id, r.rule_id,
           substr(o.outcomes, r.position, 1) <> 'n' AS applicable,
           CASE WHEN substr(o.outcomes, r.position, 1) <> 'n' THEN substr(o.outcomes, r.position, 1) = 'p' END AS passed,
           NULL::VARCHAR AS evidence, NULL::VARCHAR AS evidence_field,
           NULL::INTEGER AS evidence_start, NULL::INTEGER AS evidence_end,
           o.rule_pack_hash, o.run_id
    FROM rule_outcomes o JOIN rule_pack_rules r ON r.rule_pack_hash = o.rule_pack_hash
    WHERE substr(o.outcomes, r.position, 1) NOT IN ('e', '-')
    UNION ALL
    SELECT interaction_id, rule_id, true, false, evidence, evidence_field, evidence_start, evidence_end,
           rule_pack_hash, run_id
    FROM rule_evidence;
"""
_RULE_OUTCOME_ROWS_VIEW_V3 = """
    CREATE OR REPLACE VIEW rule_outcome_rows AS
    SELECT o.interaction_id, r.rule_id,
           substr(o.outcomes, r.position, 1) <> 'n' AS applicable,
           CASE WHEN substr(o.outcomes, r.position, 1) <> 'n' THEN substr(o.outcomes, r.position, 1) = 'p' END AS passed,
           o.rule_pack_hash, o.run_id
    FROM rule_outcomes o JOIN rule_pack_rules r ON r.rule_pack_hash = o.rule_pack_hash
    WHERE substr(o.outcomes, r.position, 1) <> '-';
"""
TEXT_COLUMNS = tuple(column_name(f) for f in FIELDS)



def insert_rule_results(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Add rule results given in the long contract form (a table or view named `source`, with the
    columns of `rule_results`): for tools and tests that produce results outside `score`. All rows
    of one pack hash must come in one call (the pack's rule positions are fixed by the first)."""
    con.execute(outcomes.compact_rule_results_sql(source))
    # Results from outside `score`: their pack is stored with ids for titles, current if none is.
    now = utc_now()
    con.execute(f"""
        INSERT INTO rule_packs (rule_pack_hash, rule_count, loaded_at, updated_at, is_current)
        SELECT rule_pack_hash, count(*), $now, $now, false FROM rule_pack_rules
        WHERE rule_pack_hash IN (SELECT DISTINCT rule_pack_hash FROM {source}) GROUP BY ALL
        ON CONFLICT DO NOTHING""", {"now": now})
    con.execute("UPDATE rule_pack_rules SET title = to_json(rule_id) WHERE title IS NULL")
    con.execute(f"""
        UPDATE rule_packs SET is_current = true, current_since = $now
        WHERE NOT (SELECT count(*) FILTER (is_current) > 0 FROM rule_packs)
          AND rule_pack_hash = (SELECT min(rule_pack_hash) FROM {source})""", {"now": now})


# Forward-only migrations: MIGRATIONS[i] brings the schema from version i to i + 1.
MIGRATIONS: list[str] = [
    f"""
    CREATE TABLE raw_pages (
        page_id      VARCHAR PRIMARY KEY,  -- sha256 of (operation, kind, window, payload sha256)
        seq          BIGINT NOT NULL,      -- landing order; rebuild replays pages in this order
        kind         VARCHAR NOT NULL,     -- 'import' or 'api'
        source       VARCHAR NOT NULL,     -- file path or 'chat_4' request (never the token)
        operation    VARCHAR NOT NULL,
        timezone     VARCHAR NOT NULL,     -- the zone of the naive local times in this payload
        window_start TIMESTAMP,            -- API window (local time), NULL for imports
        window_end   TIMESTAMP,
        format       VARCHAR NOT NULL,     -- json | ndjson | csv
        sha256       VARCHAR NOT NULL,     -- of the verbatim payload
        bytes        BIGINT NOT NULL,
        row_count    BIGINT NOT NULL,
        fetched_at   TIMESTAMP NOT NULL,   -- UTC
        run_id       BIGINT,
        payload_zlib BLOB NOT NULL         -- the verbatim payload, zlib-compressed (lossless);
                                           -- v3 renames it `payload` and adds `payload_codec`
    );
    CREATE SEQUENCE raw_pages_seq;
    -- No PRIMARY KEY: an ART index on 40M keys costs memory and triples insert time; uniqueness
    -- holds by construction (one row per key per page, delete-then-insert in derive_page).
    CREATE TABLE interactions (
        interaction_id    VARCHAR NOT NULL,
        operation         VARCHAR NOT NULL,
        {", ".join(f"{c} VARCHAR" for c in TEXT_COLUMNS)},
        extra             VARCHAR,          -- unknown extra fields of the row, as JSON
        created_at        TIMESTAMP NOT NULL, -- naive local time of the operation (see timezone)
        closed_at         TIMESTAMP,
        handle_seconds    BIGINT,           -- closed_at - created_at; negative = impossible timestamps
        survey_raw        VARCHAR,          -- evaluation_survey with blanks as NULL
        survey_score      DOUBLE,           -- the survey as a number when it is one ('4,5' → 4.5)
        timezone          VARCHAR NOT NULL,
        content_hash      VARCHAR NOT NULL, -- md5 of every source field: tells updates from repeats
        page_id           VARCHAR NOT NULL, -- the raw page that last provided this row
        position          BIGINT NOT NULL,  -- its position in that page
        copies_in_page    INTEGER NOT NULL DEFAULT 1, -- how often that page carried it (> 1: duplicates merged)
        first_seen        TIMESTAMP NOT NULL, -- fetched_at of the first page with this interaction
        last_seen         TIMESTAMP NOT NULL, -- fetched_at of the latest page with it
        changed_at        TIMESTAMP NOT NULL  -- fetched_at of the page that last changed its content
    );
    -- One row per distinct bad row: the nightly look-back re-fetches the same bad rows, which must
    -- not inflate the count. page_id/position point at the latest page that carried it.
    CREATE TABLE quarantine (
        row_hash  VARCHAR NOT NULL,         -- md5 of operation + the row's fields
        operation VARCHAR NOT NULL,
        page_id   VARCHAR NOT NULL,
        position  BIGINT NOT NULL,
        source    VARCHAR NOT NULL,
        reason    VARCHAR NOT NULL,
        raw_row   VARCHAR                   -- the row's fields as JSON (verbatim in raw_pages)
    );
    CREATE TABLE runs (
        run_id         BIGINT PRIMARY KEY,
        command        VARCHAR NOT NULL,
        started_at     TIMESTAMP NOT NULL,  -- UTC
        ended_at       TIMESTAMP,
        status         VARCHAR NOT NULL,    -- running | success | failed (contract)
        counts         JSON,
        rule_pack_hash VARCHAR,
        model_id       VARCHAR,
        metrics        JSON,
        versions       JSON,
        error          VARCHAR,
        pid            INTEGER
    );
    CREATE SEQUENCE runs_seq;
    CREATE TABLE watermarks (
        operation  VARCHAR NOT NULL,
        report     VARCHAR NOT NULL,        -- 'chat_4'
        watermark  TIMESTAMP NOT NULL,      -- local time up to which every window has committed
        updated_at TIMESTAMP NOT NULL,
        PRIMARY KEY (operation, report)
    );
    CREATE TABLE rule_results (
        interaction_id VARCHAR NOT NULL,
        rule_id        VARCHAR NOT NULL,
        applicable     BOOLEAN NOT NULL,
        passed         BOOLEAN,             -- NULL when not applicable
        evidence       VARCHAR,             -- the matched text or the out-of-bounds value
        evidence_field VARCHAR,             -- which column the evidence was found in
        evidence_start INTEGER,             -- character offsets of the match in that column
        evidence_end   INTEGER,
        rule_pack_hash VARCHAR NOT NULL,
        run_id         BIGINT
    );
    -- interaction_scores and predictions have no PRIMARY KEY either: stages delete then insert in
    -- one transaction, and re-inserting the same keys made DuckDB's index work at COMMIT cost 25 s
    -- of a 40 s full rescoring of 1M interactions (13.6 s without it). Uniqueness is tested.
    CREATE TABLE interaction_scores (
        interaction_id   VARCHAR NOT NULL,
        score            DOUBLE,            -- 0-100; NULL when no rule applies
        critical_failed  BOOLEAN NOT NULL,
        rules_applicable INTEGER NOT NULL,
        rules_failed     INTEGER NOT NULL,
        content_hash     VARCHAR NOT NULL,  -- of the interaction when scored (incremental scoring)
        rule_pack_hash   VARCHAR NOT NULL,
        run_id           BIGINT
    );
    CREATE TABLE models (
        model_id    VARCHAR PRIMARY KEY,
        created_at  TIMESTAMP NOT NULL,
        run_id      BIGINT,
        spec        JSON NOT NULL,          -- the whole model as data (no pickles)
        metrics     JSON,
        versions    JSON,
        is_current  BOOLEAN NOT NULL
    );
    CREATE TABLE predictions (
        interaction_id VARCHAR NOT NULL,
        risk           DOUBLE NOT NULL,     -- calibrated probability of a dissatisfied customer
        top_terms      JSON,                -- the words that pushed the risk up, strongest first
        model_id       VARCHAR NOT NULL,
        run_id         BIGINT,
        input_hash     VARCHAR,             -- what the features were computed from (incremental predict)
        predicted_at   TIMESTAMP            -- UTC
    );
    -- The API's blank conventions, in one place for every stage.
    -- CASE, not OR: DuckDB evaluates every branch of an OR, and trim() of long texts is not free.
    CREATE MACRO qa_blank(s) AS CASE WHEN s IS NULL THEN true ELSE trim(s) IN ('', '-') END;
    """,
    # v2: rule results stored compactly; `rule_results` (the contract) becomes a view with the same
    # columns and rows. Writing 31M long rows (1M interactions x 31 rules) cost 4.9 s of a 13.9 s
    # full rescoring, nearly all of it DuckDB's per-row string storage (interaction_id, rule_id and
    # the pack hash repeated per rule); one row per interaction plus the few evidence rows costs ~0.5 s.
    f"""
    CREATE TABLE rule_pack_rules (
        rule_pack_hash VARCHAR NOT NULL,
        position       INTEGER NOT NULL,    -- 1-based, rules sorted by id (the pack hash's order)
        rule_id        VARCHAR NOT NULL,
        PRIMARY KEY (rule_pack_hash, position)
    );
    CREATE TABLE rule_outcomes (
        interaction_id VARCHAR NOT NULL,
        outcomes       VARCHAR NOT NULL,    -- one letter per rule at its position: n = not applicable,
                                            -- p = passed, f = failed, e = failed with a rule_evidence row,
                                            -- '-' = no result (only from insert_rule_results)
        rule_pack_hash VARCHAR NOT NULL,
        run_id         BIGINT
    );
    CREATE TABLE rule_evidence (             -- failed rules that carry evidence (a match or a value)
        interaction_id VARCHAR NOT NULL,
        rule_id        VARCHAR NOT NULL,
        evidence       VARCHAR,
        evidence_field VARCHAR,
        evidence_start INTEGER,
        evidence_end   INTEGER,
        rule_pack_hash VARCHAR NOT NULL,
        run_id         BIGINT
    );
    {outcomes.compact_rule_results_sql('rule_results')}
    DROP TABLE rule_results;
    {_RULE_RESULTS_VIEW_V2}
    """,
    # v3: raw payloads in any codec, named per page (parse.PAYLOAD_CODEC, zstd for new pages: 4.8x
    # faster than zlib and 35% smaller on chat_4 JSON). Existing pages stay zlib; raw_payload()
    # reads both. No default: every landing names its codec.
    """
    ALTER TABLE raw_pages RENAME COLUMN payload_zlib TO payload;
    ALTER TABLE raw_pages ADD COLUMN payload_codec VARCHAR DEFAULT 'zlib';
    ALTER TABLE raw_pages ALTER COLUMN payload_codec SET NOT NULL;
    ALTER TABLE raw_pages ALTER COLUMN payload_codec DROP DEFAULT;
    """ + _RULE_OUTCOME_ROWS_VIEW_V3,
    # v4: the rule pack is a stored object (rules/stored.py). `rule_packs` has one row per pack with
    # one explicit current pack; rule_pack_rules carries each rule's metadata (titles for reports,
    # the rule's own hash for backtest); the scores of packs that are not current are kept in
    # `kept_scores` (their outcome rows stay in rule_outcomes / rule_evidence), so scoring under
    # another pack no longer destroys results. Existing results become the current pack's.
    f"""
    CREATE TABLE rule_packs (
        rule_pack_hash VARCHAR PRIMARY KEY,
        source         VARCHAR,             -- the folder it was loaded from (NULL before v4)
        engine_version VARCHAR,
        rule_count     INTEGER NOT NULL,
        loaded_at      TIMESTAMP NOT NULL,  -- UTC, first stored
        updated_at     TIMESTAMP NOT NULL,  -- metadata last refreshed (titles may change, the hash does not)
        current_since  TIMESTAMP,           -- when score last made it the current pack
        is_current     BOOLEAN NOT NULL     -- exactly one pack is current once anything was scored
    );
    ALTER TABLE rule_pack_rules ADD COLUMN title JSON;        -- a text, or {{language: text}}
    ALTER TABLE rule_pack_rules ADD COLUMN description JSON;
    ALTER TABLE rule_pack_rules ADD COLUMN field VARCHAR;
    ALTER TABLE rule_pack_rules ADD COLUMN check_kind VARCHAR;
    ALTER TABLE rule_pack_rules ADD COLUMN severity VARCHAR;
    ALTER TABLE rule_pack_rules ADD COLUMN weight DOUBLE;
    ALTER TABLE rule_pack_rules ADD COLUMN file VARCHAR;
    ALTER TABLE rule_pack_rules ADD COLUMN line INTEGER;
    ALTER TABLE rule_pack_rules ADD COLUMN rule_hash VARCHAR; -- sha256 of what decides this rule's outcome
    UPDATE rule_pack_rules SET title = to_json(rule_id);
    CREATE TABLE kept_scores AS SELECT * FROM interaction_scores WHERE false;
    INSERT INTO rule_packs
        SELECT rule_pack_hash, NULL, NULL, count(*), current_timestamp::TIMESTAMP, current_timestamp::TIMESTAMP,
               NULL, false
        FROM rule_pack_rules GROUP BY rule_pack_hash;
    UPDATE rule_packs SET is_current = true, current_since = current_timestamp::TIMESTAMP
    WHERE rule_pack_hash = (  -- the pack of the scores (else of the rule results) that exist
        SELECT rule_pack_hash FROM (SELECT rule_pack_hash, 1 AS scored FROM interaction_scores
                                    UNION ALL SELECT rule_pack_hash, 0 FROM rule_outcomes)
        GROUP BY 1 ORDER BY max(scored) DESC, count(*) DESC, 1 LIMIT 1);
    {outcomes.RULE_RESULTS_VIEW}
    {outcomes.RULE_OUTCOME_ROWS_VIEW}
    """,
    # v5: the QA team's own verdicts (reviews/stored.py owns these tables). Every imported verdict is
    # kept (history); the latest one per (interaction, rule) overrides the automatic outcome in the
    # score, which keeps the automatic one beside it. Rules name the Wolkvox attributes they stand for.
    """
    CREATE SEQUENCE reviews_seq;
    CREATE TABLE reviews (
        review_id      BIGINT NOT NULL,
        interaction_id VARCHAR NOT NULL,
        rule_id        VARCHAR NOT NULL,
        verdict        VARCHAR NOT NULL,    -- pass | fail | na
        reviewer       VARCHAR NOT NULL,
        reviewed_at    TIMESTAMP,           -- as the file gives it (local time); NULL: not given
        note           VARCHAR,
        source         VARCHAR NOT NULL,    -- the file it came from
        line           INTEGER NOT NULL,
        row_hash       VARCHAR NOT NULL,    -- md5 of the verdict's content: re-importing adds nothing
        imported_at    TIMESTAMP NOT NULL,  -- UTC
        run_id         BIGINT
    );
    CREATE TABLE review_unmatched (         -- rows that matched no interaction, rule or attribute
        row_hash    VARCHAR NOT NULL,
        reason      VARCHAR NOT NULL,       -- no_interaction | no_rule | no_attribute | ambiguous
        source      VARCHAR NOT NULL,
        line        INTEGER NOT NULL,
        case_id     VARCHAR,
        channel     VARCHAR,
        rule        VARCHAR,                -- the rule id or the Wolkvox attribute as given
        reviewer    VARCHAR,
        imported_at TIMESTAMP NOT NULL,
        run_id      BIGINT
    );
    ALTER TABLE rule_pack_rules ADD COLUMN attributes JSON;   -- Wolkvox evaluation attributes (a list)
    ALTER TABLE interaction_scores ADD COLUMN overrides INTEGER DEFAULT 0;  -- human verdicts that changed an outcome
    ALTER TABLE interaction_scores ADD COLUMN auto_score DOUBLE;            -- the rules' own score when overridden
    ALTER TABLE interaction_scores ADD COLUMN auto_critical_failed BOOLEAN;
    ALTER TABLE kept_scores ADD COLUMN overrides INTEGER DEFAULT 0;
    ALTER TABLE kept_scores ADD COLUMN auto_score DOUBLE;
    ALTER TABLE kept_scores ADD COLUMN auto_critical_failed BOOLEAN;
    """,
    # v6: HTML bodies/answers are stored as their plain text (what rules, the classifier and the
    # report read); the raw HTML is kept beside it. Existing rows are converted by _plain_text_v6.
    """
    ALTER TABLE interactions ADD COLUMN body_html VARCHAR;    -- the raw body when it was HTML, else NULL
    ALTER TABLE interactions ADD COLUMN answer_html VARCHAR;
    """,
    # v7: each stored rule keeps what it checks and where it applies (Rule.spec()), so a report can
    # say why a rule applied and what it expected without reading the YAML folder. NULL for packs
    # stored before v7 until they are scored again.
    """
    ALTER TABLE rule_pack_rules ADD COLUMN spec JSON;
    """,
    # v8: stored daily facts (facts.py owns them): per operation, agent, skill, channel, local day and
    # open flag, the counts and sums reports, trends and drift alarms read instead of rescanning the
    # interactions. Empty here: the first refresh after the migration (score, predict) builds every day.
    """
    CREATE TABLE daily_facts (
        operation        VARCHAR NOT NULL,
        agent            VARCHAR,             -- as given (NULL only in hand-made test tables)
        skill            VARCHAR NOT NULL,    -- trimmed, '–' when blank (as the report shows it)
        channel          VARCHAR NOT NULL,    -- lower(trim()), '–' when blank
        day              DATE NOT NULL,       -- local day of created_at
        is_open          BOOLEAN NOT NULL,    -- status open (or no status and no close date)
        interactions     BIGINT NOT NULL,
        scored           BIGINT NOT NULL,     -- with a score (some rule applied)
        score_sum        DOUBLE NOT NULL,
        score_sq_sum     DOUBLE NOT NULL,     -- for the variance: (sq - sum^2/n) / (n - 1)
        critical         BIGINT NOT NULL,
        overridden       BIGINT NOT NULL,     -- scores carrying a human verdict
        surveyed         BIGINT NOT NULL,     -- a survey answer, readable or not
        labeled          BIGINT NOT NULL,     -- satisfied or dissatisfied under the mapping
        dissatisfied     BIGINT NOT NULL,
        predicted        BIGINT NOT NULL,
        risk_sum         DOUBLE NOT NULL,
        labeled_predicted BIGINT NOT NULL,    -- labelled and predicted: calibration
        labeled_risk_sum DOUBLE NOT NULL,
        labeled_predicted_dissatisfied BIGINT NOT NULL,
        no_answer        BIGINT NOT NULL,     -- blank answer
        bad_time         BIGINT NOT NULL      -- closed before created
    );
    CREATE TABLE daily_rule_facts (
        operation  VARCHAR NOT NULL,
        agent      VARCHAR,
        skill      VARCHAR NOT NULL,
        channel    VARCHAR NOT NULL,
        day        DATE NOT NULL,
        is_open    BOOLEAN NOT NULL,
        rule_id    VARCHAR NOT NULL,
        total      BIGINT NOT NULL,           -- interactions with a result for this rule
        applicable BIGINT NOT NULL,
        passed     BIGINT NOT NULL,
        fail_lab   BIGINT NOT NULL,           -- failed and labelled / of them dissatisfied
        fail_dis   BIGINT NOT NULL,
        pass_lab   BIGINT NOT NULL,
        pass_dis   BIGINT NOT NULL
    );
    CREATE TABLE facts_state (
        name  VARCHAR PRIMARY KEY,            -- label_mapping | rule_pack_hash
        value VARCHAR NOT NULL
    );
    -- Drift alarms (alarms.py owns them): what each night's comparison of a day with its trailing
    -- baseline found, kept per run so `runs` and later reports can show them.
    CREATE TABLE alarms (
        run_id        BIGINT,
        operation     VARCHAR NOT NULL,
        day           DATE NOT NULL,        -- the day compared
        kind          VARCHAR NOT NULL,     -- rule_pass_rate | rule_applicability | dissatisfaction | ...
        rule_id       VARCHAR,              -- NULL when not a rule
        channel       VARCHAR,              -- for volume alarms
        rate          DOUBLE,               -- the day's rate (a count for volume)
        baseline_rate DOUBLE,
        baseline_low  DOUBLE,               -- the limits for the day's sample size
        baseline_high DOUBLE,
        n             BIGINT,               -- the day's sample size
        baseline_n    BIGINT,
        p_value       DOUBLE,
        detected_at   TIMESTAMP NOT NULL    -- UTC
    );
""",
    # v9: per prediction, how many word tokens the model read in the interaction's text fields and
    # how many of them it had no term for: the input-drift alarm's "share of unknown words". NULL on
    # predictions made before v9; the next `predict` predicts those again (same risk, counts filled).
    """
    ALTER TABLE predictions ADD COLUMN tokens INTEGER;          -- tokens read (after folding, the text cap, the agent-name blank)
    ALTER TABLE predictions ADD COLUMN unknown_tokens INTEGER;  -- of them, words that are no term of their field's vocabulary
    """,
    # v10: the daily facts sum the predictions' token counts (the unknown-words alarm reads them). The
    # stored pack hash is forgotten so that the next refresh rebuilds every day with the new sums
    # (and reports aggregate from the raw tables until then).
    """
    ALTER TABLE daily_facts ADD COLUMN tokens BIGINT DEFAULT 0;          -- sum of predictions.tokens
    ALTER TABLE daily_facts ADD COLUMN unknown_tokens BIGINT DEFAULT 0;  -- sum of predictions.unknown_tokens
    DELETE FROM facts_state WHERE name = 'rule_pack_hash';
    """,
]

DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S",
                "%Y-%m-%dT%H:%M", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f"]


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> tuple | None:
    """First row of a query, consuming the whole result.

    DuckDB 2.0 refuses new work on a connection whose previous result was not read to the end, so
    `execute(...).fetchone()` on a multi-row (or even one-row) result is a trap: use this instead.
    """
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


def utc_now() -> datetime:
    """Naive UTC timestamp for bookkeeping columns."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def versions() -> dict[str, str]:
    """Versions that matter to reproduce a result.

    scikit-learn's version comes from its installed metadata: every command records a run, and
    importing scikit-learn there cost each one (`import` too) ~0.6 s of start-up.
    """
    from importlib.metadata import version

    return {"qa_scoring": __version__, "duckdb": duckdb.__version__, "sklearn": version("scikit-learn"),
            "python": platform.python_version()}


def connect(path: str | os.PathLike, read_only: bool = False, memory_limit: str = "",
            create: bool = True) -> duckdb.DuckDBPyConnection:
    """Open (creating and migrating when needed) the database; a held lock is a clear one-line error.

    `memory_limit` (e.g. "8GB", validated by config) caps DuckDB's memory; it spills to disk beyond.
    With `read_only` or `create=False` a missing file is an error: commands that only read data
    (report, runs, export) must not leave an empty database behind.
    """
    path = Path(path)
    if (read_only or not create) and not path.exists():
        raise InputError(f"{path}: no such database (run 'qa-scoring import' or 'fetch' first)")
    if path.parent and not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as err:
        text = str(err)
        match = re.search(r"PID (\d+)", text)
        if "lock" in text.lower():
            who = f" (pid {match.group(1)})" if match else ""
            raise LockedError(f"{path} is in use by another process{who}") from None
        if "not a valid DuckDB database" in text:
            raise InputError(f"{path}: not a qa-scoring database (not a DuckDB file)") from None
        raise database_fault(path, err) from None
    except duckdb.Error as err:
        raise InputError(f"{path}: not a qa-scoring database ({str(err).splitlines()[0]})") from None
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit.strip()}'")  # a validated size, not user text
    if not read_only:
        # DuckDB checkpoints the WAL into the file every 16 MB by default: with one commit per API
        # window that was half the time of a 3M-row fetch (benchmarks/bench_fetch.py). A larger
        # threshold checkpoints a few times per night instead; a crash just replays a longer WAL.
        con.execute("SET checkpoint_threshold = '1GB'")
        migrate(con)
    return con


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = fetch_one(con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'")[0]
    if not exists:
        return 0
    row = fetch_one(con, "SELECT max(version) FROM schema_version")
    return row[0] or 0


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Apply pending forward migrations, each in its own transaction."""
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise InputError(f"database schema version {current} is newer than this qa-scoring ({SCHEMA_VERSION}); upgrade qa-scoring")
    for version in range(current, SCHEMA_VERSION):
        with atomic(con):
            if version == 0:
                con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMP)")
            con.execute(MIGRATIONS[version])
            if version + 1 == 6:
                _plain_text_v6(con)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version + 1, utc_now()])
        log.debug("migrated schema to version %d", version + 1)


def _with_text_marker(hash_sql: str) -> str:
    """The content hash of a row whose body/answer was converted from HTML: differs from the raw
    one, so rows converted by the v6 migration are rescored and a clean import agrees with them."""
    return f"md5({hash_sql} || ':plain-text')"


def _plain_text_v6(con: duckdb.DuckDBPyConnection) -> None:
    """Convert the HTML bodies/answers stored before v6 (only rows that look like HTML are read)."""
    rows = con.sql(
        "SELECT interaction_id, body, answer FROM interactions WHERE regexp_matches(body, $p) OR regexp_matches(answer, $p)",
        params={"p": htmltext.LOOKS_HTML}).to_arrow_table()
    if not rows.num_rows:
        return
    con.register("v6_text", htmltext.plain_text_columns(rows))
    try:
        con.execute(f"""
            UPDATE interactions i SET body = coalesce(t.body_text, t.body), answer = coalesce(t.answer_text, t.answer),
                body_html = CASE WHEN t.body_text IS NOT NULL THEN t.body END,
                answer_html = CASE WHEN t.answer_text IS NOT NULL THEN t.answer END,
                content_hash = {_with_text_marker('i.content_hash')}
            FROM v6_text t WHERE t.interaction_id = i.interaction_id""")
    finally:
        con.unregister("v6_text")


@contextmanager
def atomic(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: everything inside commits together or not at all (a crash keeps the old state)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:  # after a failed write DuckDB may refuse even this: the first error is the one to show
            pass
        raise
    con.execute("COMMIT")


# --- faults of the database file ----------------------------------------------------------------

# DuckDB's exceptions when the file itself fails; any other DuckDB error is a bug and keeps its traceback.
_FILE_FAULTS = (duckdb.IOException, duckdb.TransactionException, duckdb.FatalException)
# Follow-up errors that hide the first one (the transaction or database failed before).
_FOLLOW_UPS = ("Current transaction is aborted", "database has been invalidated", "invalidated because of a previous")
_DAMAGED = ("Could not read enough bytes", "checksum", "Corrupt", "corrupt", "not a valid DuckDB",
            "Failed to read", "serialized", "Invalid block")


def _errors_in(err: BaseException) -> list[BaseException]:
    """`err` and the errors it happened while handling (the first one last)."""
    chain, seen = [], set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        chain.append(err)
        err = err.__cause__ or err.__context__
    return chain


def database_fault(path: str | os.PathLike, err: BaseException) -> RunTimeError | None:
    """A failure of the database file (damaged, folder not writable, disk full) as one line naming
    the file and what to do; None when `err` is not one (a bug, which keeps its traceback).

    Each happens inside a transaction or before any: DuckDB rolls it back, so the database is unchanged.
    """
    faults = [e for e in _errors_in(err) if isinstance(e, duckdb.Error)]
    if not any(isinstance(e, _FILE_FAULTS) for e in faults):
        return None
    lines = [str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__ for e in faults]
    first = next((line for line in reversed(lines) if not any(f in line for f in _FOLLOW_UPS)), lines[-1])
    path = Path(path)
    named = re.search(r'file "([^"]+)"', first)
    file = named.group(1) if named else str(path)
    if "No space left on device" in first or "Disk full" in first or "disk is full" in first:
        return RunTimeError(f"{path}: the disk is full (writing {file}): free space, then run the command "
                            f"again; the database was not changed")
    if "Read-only file system" in first or "Permission denied" in first:
        reason = "read-only file system" if "Read-only" in first else "permission denied"
        return RunTimeError(f"{path}: cannot write {file} ({reason}): the folder {path.parent} must be writable "
                            f"(DuckDB writes its journal {path.name}.wal beside the database); "
                            f"the database was not changed")
    if any(mark in first for mark in _DAMAGED):
        return DamagedDatabaseError(f"{path}: the database file is damaged or truncated ({first}): restore it from a "
                            f"backup, or start a new database and import or fetch again")
    return RunTimeError(f"{path}: the database failed: {first}")


# --- landing and deriving ---------------------------------------------------------------------

@dataclass(frozen=True)
class LandSummary:
    """What landing one payload did."""

    source: str
    rows: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    duplicates_merged: int = 0
    skipped: bool = False  # the identical payload had landed before: nothing to do

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DateRange:
    """The accepted interaction dates (config [ingest]): from `earliest` to `days_ahead` days after
    the page landed (its fetched_at, so `rebuild` decides exactly as the landing did). Rows dated
    outside it (year 0001, 9999-12-31, the epoch's 1970) are quarantined with the reason: they cannot
    be real and would stretch or break every report period."""

    earliest: datetime = datetime(2000, 1, 1)
    days_ahead: float = 1.0

    def params(self, fetched_at: datetime) -> dict:
        return {"earliest": self.earliest, "latest": fetched_at + timedelta(days=self.days_ahead),
                "range_text": f"{self.earliest:%Y-%m-%d} to {self.days_ahead:g} day(s) after landing; "
                              f"ingest.earliest_date, ingest.max_days_ahead"}


def _blank(expr: str) -> str:
    return f"CASE WHEN qa_blank({expr}) THEN NULL ELSE trim({expr}) END"


def _parse_ts(expr: str) -> str:
    formats = ", ".join(f"'{f}'" for f in DATE_FORMATS)
    return f"try_strptime({_blank(expr)}, [{formats}])"


def _staging_sql() -> str:
    """Typed, keyed, reasoned rows of the staged page (`staged_raw`, an Arrow table)."""
    raw_json = ("json_object(" + ", ".join(f"'{f}', {column_name(f)}" for f in FIELDS)
                + ", 'extra', extra::JSON)")
    content = "md5(concat_ws(chr(31), " + ", ".join(f"coalesce({c}, chr(30))" for c in TEXT_COLUMNS) + ", coalesce(extra, chr(30))))"
    body = f"""
    WITH typed AS (
        SELECT *,
            {_parse_ts('date_creation')} AS created_at,
            {_parse_ts('close_date')} AS closed_at,
            {_blank('evaluation_survey')} AS survey_raw
        FROM staged_raw
    )
    SELECT *,
        left(sha256(concat_ws(chr(31), $operation, lower(trim(channel)), trim(case_id),
             strftime(created_at, '%Y-%m-%d %H:%M:%S'))), 32) AS interaction_id,
        date_diff('second', created_at, closed_at) AS handle_seconds,
        -- 'nan' and 'inf' cast to DOUBLE too, and are no survey score.
        CASE WHEN isfinite(try_cast(replace(survey_raw, ',', '.') AS DOUBLE))
             THEN try_cast(replace(survey_raw, ',', '.') AS DOUBLE) END AS survey_score,
        CASE WHEN body_text IS NULL AND answer_text IS NULL THEN {content} ELSE {_with_text_marker(content)} END
            AS content_hash,
        CASE
            WHEN shape_error IS NOT NULL THEN shape_error
            WHEN qa_blank(case_id) THEN 'missing case_id'
            WHEN qa_blank(agent_name) THEN 'missing agent_name'
            WHEN qa_blank(date_creation) OR trim(date_creation) LIKE '0000-00-00%'
                THEN 'missing date_creation'
            WHEN created_at IS NULL THEN 'bad date_creation ' || to_json(date_creation)::VARCHAR
            WHEN closed_at IS NULL AND NOT qa_blank(close_date) AND trim(close_date) NOT LIKE '0000-00-00%'
                THEN 'bad close_date ' || to_json(close_date)::VARCHAR
            WHEN created_at NOT BETWEEN $earliest AND $latest
                THEN 'date_creation ' || to_json(date_creation)::VARCHAR || ' outside the accepted range ('
                     || $range_text || ')'
            WHEN closed_at NOT BETWEEN $earliest AND $latest
                THEN 'close_date ' || to_json(close_date)::VARCHAR || ' outside the accepted range ('
                     || $range_text || ')'
        END AS reason
    FROM typed
    """
    # Keep only what is derived (the text stays in the Arrow table, joined back by position at
    # insert time: copying 1 GB of text into a temp table twice cost seconds per million rows).
    # The row as JSON is only needed for quarantined rows.
    return f"""SELECT position, interaction_id, created_at, closed_at, survey_raw, handle_seconds,
        survey_score, content_hash, reason,
        CASE WHEN reason IS NOT NULL THEN {raw_json}::VARCHAR END AS raw_row
    FROM ({body})"""


def derive_page(con: duckdb.DuckDBPyConnection, page_id: str, source: str, operation: str,
                tz: str, fetched_at: datetime, parsed: ParsedPage, dates: DateRange = DateRange()) -> LandSummary:
    """Type, key and upsert one page's rows into interactions (bad rows → quarantine). Set-based.

    Must run inside the caller's transaction. The latest landed version of an interaction wins;
    first_seen is kept, changed_at moves only when the content changed.
    """
    con.register("staged_raw", htmltext.plain_text_columns(parsed.rows))
    try:
        return _derive_registered(con, page_id, source, operation, tz, fetched_at, dates)
    finally:
        con.unregister("staged_raw")


def _derive_registered(con: duckdb.DuckDBPyConnection, page_id: str, source: str, operation: str,
                       tz: str, fetched_at: datetime, dates: DateRange) -> LandSummary:
    con.execute("CREATE OR REPLACE TEMP TABLE staged AS " + _staging_sql(),
                {"operation": operation, **dates.params(fetched_at)})
    con.execute("""
        CREATE OR REPLACE TEMP TABLE bad AS
        SELECT md5($operation || chr(31) || raw_row) AS row_hash, position, reason, raw_row
        FROM staged WHERE reason IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY row_hash ORDER BY position DESC) = 1
    """, {"operation": operation})
    con.execute("DELETE FROM quarantine WHERE row_hash IN (SELECT row_hash FROM bad)")
    con.execute(
        "INSERT INTO quarantine SELECT row_hash, $operation, $page_id, position, $source, reason, raw_row FROM bad",
        {"operation": operation, "page_id": page_id, "source": source},
    )
    con.execute("DROP TABLE bad")
    # Within one page the same interaction may appear twice (a status change): the last one wins.
    con.execute("""
        CREATE OR REPLACE TEMP TABLE incoming AS
        SELECT s.*, i.first_seen AS old_first_seen, i.changed_at AS old_changed_at,
               i.content_hash AS old_hash
        FROM (SELECT *, count(*) OVER (PARTITION BY interaction_id) AS copies_in_page
              FROM staged WHERE reason IS NULL
              QUALIFY row_number() OVER (PARTITION BY interaction_id ORDER BY position DESC) = 1) s
        LEFT JOIN interactions i USING (interaction_id)
    """)
    total, quarantined = fetch_one(con, "SELECT count(*), count(reason) FROM staged")
    new, updated, unchanged, kept = fetch_one(con, """
        SELECT count(*) FILTER (old_hash IS NULL), count(*) FILTER (old_hash <> content_hash),
               count(*) FILTER (old_hash = content_hash), count(*) FROM incoming
    """)
    con.execute("DELETE FROM interactions WHERE interaction_id IN (SELECT interaction_id FROM incoming WHERE old_hash IS NOT NULL)")
    columns = ", ".join(f"coalesce(r.{c}_text, r.{c}) AS {c}" if c in htmltext.HTML_COLUMNS else f"r.{c}"
                        for c in TEXT_COLUMNS)
    columns += "".join(f", CASE WHEN r.{c}_text IS NOT NULL THEN r.{c} END AS {c}_html" for c in htmltext.HTML_COLUMNS)
    con.execute(f"""
        INSERT INTO interactions BY NAME
        SELECT n.interaction_id, $operation AS operation, {columns}, r.extra, n.created_at, n.closed_at,
               n.handle_seconds, n.survey_raw, n.survey_score, $tz AS timezone, n.content_hash,
               $page_id AS page_id, n.position, n.copies_in_page,
               coalesce(n.old_first_seen, $at) AS first_seen, $at AS last_seen,
               CASE WHEN n.old_hash = n.content_hash THEN n.old_changed_at ELSE $at END AS changed_at
        FROM incoming n JOIN staged_raw r USING (position)
    """, {"operation": operation, "tz": tz, "page_id": page_id, "at": fetched_at})
    con.execute("DROP TABLE staged")
    con.execute("DROP TABLE incoming")
    merged = total - quarantined - kept
    return LandSummary(source=source, rows=total, new=new, updated=updated, unchanged=unchanged,
                       quarantined=quarantined, duplicates_merged=merged)


def page_key(operation: str, kind: str, window: tuple[datetime, datetime] | None, sha: str) -> str:
    window_text = "" if window is None else f"{window[0]:%Y%m%d%H%M%S}-{window[1]:%Y%m%d%H%M%S}"
    return hashlib.sha256("\x1f".join([operation, kind, window_text, sha]).encode()).hexdigest()


def land_page(con: duckdb.DuckDBPyConnection, parsed: ParsedPage, *, source: str, kind: str,
              operation: str, tz: str, window: tuple[datetime, datetime] | None = None,
              run_id: int | None = None, fetched_at: datetime | None = None,
              transaction: bool = True, dates: DateRange = DateRange()) -> LandSummary:
    """Store one payload verbatim and derive its interactions, in one transaction.

    A payload identical to one already landed (same operation, kind, window and bytes) is skipped,
    so importing the same file twice changes nothing. With `transaction=False` the caller owns the
    transaction (import lands all its files in one).
    """
    page_id = page_key(operation, kind, window, parsed.sha256)
    fetched_at = fetched_at or utc_now()
    with (atomic(con) if transaction else nullcontext()):
        if fetch_one(con, "SELECT 1 FROM raw_pages WHERE page_id = ?", [page_id]):
            return LandSummary(source=source, rows=parsed.rows.num_rows, skipped=True)
        summary = derive_page(con, page_id, source, operation, tz, fetched_at, parsed, dates)
        # The payload row goes last (same transaction): its compression, started in a background
        # thread when the page was parsed, has had the parse and the derive to finish.
        # The blob comes in through Arrow: as a bound parameter the INSERT of a 1M-row page's blob
        # took 0.5 s alone and up to 2.2 s inside the import's transaction, through Arrow 0.2-1.1 s
        # (part of the writing moves to COMMIT; the sum is noisy on disk I/O).
        codec, blob = parsed.compressed()
        con.register("raw_payload", pa.table({"payload": pa.array([blob], pa.binary())}))
        try:
            con.execute(
                "INSERT INTO raw_pages (page_id, seq, kind, source, operation, timezone, window_start, "
                "window_end, format, sha256, bytes, row_count, fetched_at, run_id, payload_codec, payload) "
                "SELECT ?, nextval('raw_pages_seq'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, payload FROM raw_payload",
                [page_id, kind, source, operation, tz, window[0] if window else None,
                 window[1] if window else None, parsed.format, parsed.sha256, len(parsed.payload),
                 parsed.rows.num_rows, fetched_at, run_id, codec],
            )
        finally:
            con.unregister("raw_payload")
        return summary


@dataclass(frozen=True)
class RebuildSummary:
    pages: int
    rows: int
    interactions: int
    quarantined: int

    def to_dict(self) -> dict:
        return asdict(self)


def raw_payload(con: duckdb.DuckDBPyConnection, page_id: str) -> bytes:
    """The verbatim payload of one raw_pages row, whatever its codec, checked against its sha256."""
    row = fetch_one(con, "SELECT payload_codec, payload, bytes, sha256, source FROM raw_pages WHERE page_id = ?",
                    [page_id])
    if row is None:
        raise RunTimeError(f"raw page {page_id}: not in raw_pages")
    codec, blob, size, sha, source = row
    try:
        payload = decompress_payload(blob, codec, size)
    except Exception as err:  # zlib.error, pyarrow's errors, an unknown codec
        why = (str(err) or type(err).__name__).splitlines()[0]
        raise RunTimeError(f"raw page {page_id} ({source}): stored {codec} payload cannot be read ({why})") from None
    if len(payload) != size or hashlib.sha256(payload).hexdigest() != sha:
        raise RunTimeError(f"raw page {page_id} ({source}): stored {codec} payload does not match its sha256")
    return payload


def rebuild_interactions(con: duckdb.DuckDBPyConnection, dates: DateRange = DateRange()) -> RebuildSummary:
    """Re-derive interactions and quarantine from raw_pages, in landing order, in one transaction."""
    pages = con.execute(
        "SELECT page_id, source, operation, timezone, fetched_at, format FROM raw_pages ORDER BY seq"
    ).fetchall()
    rows = 0
    with atomic(con):
        con.execute("DELETE FROM interactions")
        con.execute("DELETE FROM quarantine")
        for page_id, source, operation, tz, fetched_at, fmt in pages:
            parsed = parse_payload(raw_payload(con, page_id), source, "csv" if fmt == "csv" else "json",
                                   compress=False)
            rows += derive_page(con, page_id, source, operation, tz, fetched_at, parsed, dates).rows
        from qa_scoring import facts  # the daily facts follow the re-derived interactions

        facts.refresh_facts(con)
    n, q = fetch_one(con, "SELECT (SELECT count(*) FROM interactions), (SELECT count(*) FROM quarantine)")
    return RebuildSummary(pages=len(pages), rows=rows, interactions=n, quarantined=q)


# --- run log ----------------------------------------------------------------------------------

KILLED = "killed: the process ended without closing its run (kill -9, crash or power loss)"


def close_dead_runs(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Mark as failed (killed) the runs still `running` that belong to another process; returns their ids.

    Called with the database open for writing: DuckDB then holds the file exclusively, so no other
    process can be running a command on it, and a `running` record of another pid is a dead one.
    """
    now = utc_now()
    dead = [row[0] for row in con.execute(
        "SELECT run_id FROM runs WHERE status = 'running' AND pid IS DISTINCT FROM ? ORDER BY run_id",
        [os.getpid()]).fetchall()]
    if dead:
        con.execute("UPDATE runs SET status = 'failed', ended_at = ?, error = ? WHERE run_id IN "
                    "(SELECT unnest(?::BIGINT[]))", [now, KILLED, dead])
        log.warning("run%s %s ended without closing %s record (killed?): marked failed",
                    "s" if len(dead) > 1 else "", ", ".join(map(str, dead)), "their" if len(dead) > 1 else "its")
    return dead


def start_run(con: duckdb.DuckDBPyConnection, command: str) -> int:
    """Record that a command started (closing the records of killed runs first); returns its run_id."""
    close_dead_runs(con)
    run_id = fetch_one(con, "SELECT nextval('runs_seq')")[0]
    con.execute(
        "INSERT INTO runs (run_id, command, started_at, status, versions, pid) VALUES (?, ?, ?, 'running', ?, ?)",
        [run_id, command, utc_now(), json.dumps(versions()), os.getpid()],
    )
    return run_id


def finish_run(con: duckdb.DuckDBPyConnection, run_id: int, status: str, *, counts: dict | None = None,
               error: str | None = None, rule_pack_hash: str | None = None, model_id: str | None = None,
               metrics: dict | None = None) -> None:
    """Close a run record as success or failed, with what it did."""
    con.execute(
        """UPDATE runs SET ended_at = ?, status = ?, counts = ?, error = ?,
               rule_pack_hash = coalesce(?, rule_pack_hash), model_id = coalesce(?, model_id),
               metrics = coalesce(?, metrics)
           WHERE run_id = ?""",
        [utc_now(), status, json.dumps(counts or {}, default=str), error, rule_pack_hash, model_id,
         json.dumps(metrics, default=str) if metrics is not None else None, run_id],
    )


def list_runs(con: duckdb.DuckDBPyConnection, last: int = 20) -> list[dict]:
    """The newest `last` runs, newest first; `counts` and `metrics` decoded from their JSON, with the
    source folder and rule count of each run's stored pack."""
    # A read-only open does not migrate: a database from before v4 has no rule_packs yet.
    packs = ("rule_packs" if schema_version(con) >= 4 else
             "(SELECT NULL::VARCHAR AS rule_pack_hash, NULL::VARCHAR AS source, NULL::INTEGER AS rule_count)")
    cur = con.execute(
        "SELECT r.run_id, r.command, r.started_at, r.ended_at, r.status, r.counts, r.rule_pack_hash, "
        "p.source AS rule_pack_source, p.rule_count AS rule_pack_rules, r.model_id, r.metrics, r.error "
        f"FROM runs r LEFT JOIN {packs} p USING (rule_pack_hash) ORDER BY r.run_id DESC LIMIT ?", [last])
    names = [d[0] for d in cur.description]
    runs = [dict(zip(names, row)) for row in cur.fetchall()]
    for run in runs:
        for key in ("counts", "metrics"):
            if isinstance(run[key], str):
                run[key] = json.loads(run[key])
    return runs


# --- watermarks -------------------------------------------------------------------------------

def get_watermark(con: duckdb.DuckDBPyConnection, operation: str, report: str = "chat_4") -> datetime | None:
    row = fetch_one(con, "SELECT watermark FROM watermarks WHERE operation = ? AND report = ?", [operation, report])
    return row[0] if row else None


def set_watermark(con: duckdb.DuckDBPyConnection, operation: str, watermark: datetime,
                  report: str = "chat_4") -> None:
    """Move the watermark forward (never back); call inside the window's transaction."""
    con.execute(
        """INSERT INTO watermarks VALUES (?, ?, ?, ?)
           ON CONFLICT (operation, report) DO UPDATE
           SET watermark = greatest(watermarks.watermark, excluded.watermark), updated_at = excluded.updated_at""",
        [operation, report, watermark, utc_now()],
    )
