"""Scoring (incremental, one transaction) and rule self-tests (`rules check`), both through the compiled SQL."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from qa_scoring import store
from qa_scoring.rules import stored
from qa_scoring.rules.pack import TEXT_FIELDS, Rule, RulePack, _raise_problems, load_rule_pack
from qa_scoring.rules.sql import CompiledPack, _col, _evaluate, compile_rule_pack
from qa_scoring.rules.text import sql_identifier

log = logging.getLogger(__name__)

# --- scoring --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScoreSummary:
    rule_pack_hash: str
    rules: int
    scored: int  # interactions (re)scored now
    unchanged: int  # interactions whose stored score was still valid
    rule_results: int
    critical_failed: int  # among the scored ones
    mean_score: float | None  # among the scored ones
    full: bool
    seconds: dict = field(default_factory=dict)  # per step, for the log and benchmarks

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        mean = "-" if self.mean_score is None else f"{self.mean_score:.1f}"
        return (f"scored {self.scored:,} interactions with {self.rules} rules (pack {self.rule_pack_hash[:12]}), "
                f"unchanged {self.unchanged:,}, mean score {mean}, critical failures {self.critical_failed:,}, "
                f"rule results {self.rule_results:,}")


# An interaction's score from the rule query's terms (backtest computes candidate scores with it too).
SCORE_EXPR = """CASE WHEN weight_applicable = 0 THEN NULL WHEN critical_failed THEN 0.0
                ELSE 100.0 * weight_passed / weight_applicable END"""
SCORE_SQL = f"""
    SELECT interaction_id, {SCORE_EXPR} AS score,
           critical_failed, rules_applicable, rules_failed, content_hash, $hash AS rule_pack_hash, $run_id AS run_id
    FROM qa_wide"""


def register_pack_rules(con: duckdb.DuckDBPyConnection, compiled: CompiledPack, pack_hash: str) -> None:
    """Record which rule sits at which position of this pack's outcome letters (once per pack)."""
    con.execute("""INSERT INTO rule_pack_rules (rule_pack_hash, position, rule_id)
        SELECT $hash, position, rule_id FROM unnest($ids) WITH ORDINALITY AS t(rule_id, position)
        ON CONFLICT DO NOTHING""", {"hash": pack_hash, "ids": list(compiled.rule_ids)})


def store_rule_results(con: duckdb.DuckDBPyConnection, compiled: CompiledPack, wide: str, params: dict) -> None:
    """Write the rule results of the wide table: one outcome row per interaction plus the evidence rows."""
    con.execute(f"""INSERT INTO rule_outcomes
        SELECT *, $hash AS rule_pack_hash, $run_id AS run_id FROM ({compiled.outcomes_sql.format(wide=wide)})""",
                params)
    con.execute(f"""INSERT INTO rule_evidence
        SELECT *, $hash AS rule_pack_hash, $run_id AS run_id FROM ({compiled.evidence_sql.format(wide=wide)})""",
                params)


# DuckDB scans a table in parallel by row group (122,880 rows): a night's 100k rows ran on one core.
# Below this size the rows are handed to DuckDB as small Arrow record batches, which it shares
# between threads (measured: the rule query on 100k rows 1.9 s -> 1.2 s on 2 cores, plus 0.2 s to fetch).
SMALL_BATCH_ROWS = 2 * 122_880


def _as_parallel_source(con: duckdb.DuckDBPyConnection, source: str, rows: int) -> str:
    """Register the rows of `source` as Arrow record batches small enough for every thread to get some."""
    import pyarrow as pa

    threads = int(store.fetch_one(con, "SELECT current_setting('threads')")[0])
    table = con.sql(f"SELECT * FROM {source}").to_arrow_table()
    chunk = max(1024, -(-rows // (4 * threads)))
    con.register("qa_source", pa.Table.from_batches(table.to_batches(max_chunksize=chunk), schema=table.schema))
    return "qa_source"


BATCH_ROWS = 1_000_000  # interactions per evaluation batch: bounds memory (the wide table) on big rescoring


def score_interactions(con: duckdb.DuckDBPyConnection, pack: RulePack, *, full: bool = False,
                       run_id: int | None = None, batch_rows: int = BATCH_ROWS,
                       overrides: bool = True, labels=None) -> ScoreSummary:
    """Score new or changed interactions (all with `full` or a changed pack), replacing results in one transaction.

    The pack is stored (rules/stored.py) and becomes the current pack; the results of the pack
    that was current are kept, not replaced, and a pack scored before gets its kept results back.

    An interaction is rescored when it has no stored score, its content_hash differs from the one
    scored, or its score came from another rule pack (so a pack change rescored everything). The
    work runs in batches of `batch_rows` consecutive rows (row-id ranges, which DuckDB prunes to the
    row groups involved), so memory stays bounded and a nightly run reads only the night's rows.
    Human verdicts then override the automatic outcomes of reviewed interactions (reviews/stored.py;
    `overrides=False` restores the rules' own scores). The daily facts of the days touched are
    refreshed in the same transaction (facts.py; `labels` is the survey mapping in force).
    """
    from qa_scoring import facts
    from qa_scoring.reviews.stored import apply_overrides

    compiled = compile_rule_pack(pack)
    clock = _Clock()
    params = {"hash": pack.hash, "run_id": run_id}
    with store.atomic(con):
        stored.store_rule_pack(con, pack)
        stored.make_current(con, pack.hash)
        clock.lap("store the pack")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE qa_todo AS
            SELECT i.rowid AS rid, i.interaction_id, s.interaction_id IS NOT NULL AS had_score,
                   s.rule_pack_hash AS old_hash
            FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
            WHERE $full OR s.interaction_id IS NULL OR s.content_hash <> i.content_hash
                  OR s.rule_pack_hash <> $hash""", {"full": full, "hash": pack.hash})
        todo, replacing = store.fetch_one(con, "SELECT count(*), count(*) FILTER (had_score) FROM qa_todo")
        n_stored, total = store.fetch_one(con, "SELECT (SELECT count(*) FROM interaction_scores), "
                                             "(SELECT count(*) FROM interactions)")
        orphans = n_stored - (total - todo + replacing)
        everything = todo == total or orphans > 0  # a day of a removed interaction is unknown: all days
        if not everything:
            con.execute("CREATE OR REPLACE TEMP TABLE qa_fact_touch AS " + facts.touched_days_sql(
                "SELECT i.interaction_id FROM qa_todo t JOIN interactions i ON i.rowid = t.rid "
                "UNION ALL SELECT interaction_id FROM reviews"))
        clock.lap("select what to score")
        register_pack_rules(con, compiled, pack.hash)
        if replacing == n_stored and todo == total:  # everything is rescored
            con.execute("""DELETE FROM rule_outcomes WHERE rule_pack_hash IN (SELECT DISTINCT old_hash FROM qa_todo);
                           DELETE FROM rule_evidence WHERE rule_pack_hash IN (SELECT DISTINCT old_hash FROM qa_todo);
                           DELETE FROM interaction_scores;""")
        else:
            # Results of interactions that are about to be rescored or are gone (rebuild). Scores of
            # interactions still present = total - todo + replacing, so orphans exist only when the
            # stored count is larger: skip that anti-join (a scan of both tables) on a normal night.
            con.execute(f"""CREATE OR REPLACE TEMP TABLE qa_drop AS
                SELECT interaction_id, old_hash AS rule_pack_hash FROM qa_todo WHERE had_score
                {"UNION ALL SELECT interaction_id, rule_pack_hash FROM interaction_scores "
                 "ANTI JOIN interactions USING (interaction_id)" if orphans else ""}""")
            if store.fetch_one(con, "SELECT count(*) FROM qa_drop")[0]:
                # Only this interaction's results under the pack they were scored with: the kept
                # results of other packs stay.
                con.execute("DELETE FROM interaction_scores WHERE interaction_id IN (SELECT interaction_id FROM qa_drop)")
                for table in ("rule_outcomes", "rule_evidence"):
                    con.execute(f"""DELETE FROM {table} t USING qa_drop d
                                    WHERE t.interaction_id = d.interaction_id AND t.rule_pack_hash = d.rule_pack_hash""")
            con.execute("DROP TABLE qa_drop")
        clock.lap("drop old results")
        batches = con.execute("SELECT rid // $size AS batch, count(*) FROM qa_todo GROUP BY ALL ORDER BY 1",
                              {"size": batch_rows}).fetchall()
        critical, score_sum, score_count = 0, 0.0, 0
        for batch, rows in batches:
            lo, hi = int(batch) * batch_rows, (int(batch) + 1) * batch_rows
            wanted = "" if todo == total else " AND rowid IN (SELECT rid FROM qa_todo)"
            source = (f"(SELECT {', '.join(sql_identifier(c) for c in compiled.columns)} FROM interactions "
                      f"WHERE rowid >= {lo} AND rowid < {hi}{wanted})")
            if rows < SMALL_BATCH_ROWS:
                source = _as_parallel_source(con, source, rows)
            _evaluate(con, compiled, source, "qa_wide")
            if source == "qa_source":
                con.unregister("qa_source")
            clock.lap("evaluate rules")
            con.execute("INSERT INTO interaction_scores BY NAME " + SCORE_SQL, params)
            n_critical, n_sum, n_count = store.fetch_one(
                con, f"SELECT count(*) FILTER (critical_failed), sum(score), count(score) FROM ({SCORE_SQL})", params)
            critical, score_sum, score_count = critical + n_critical, score_sum + (n_sum or 0.0), score_count + n_count
            clock.lap("write interaction_scores")
            store_rule_results(con, compiled, "qa_wide", params)
            con.execute("DROP TABLE qa_wide")
            clock.lap("write rule_results")
        con.execute("DROP TABLE qa_todo")
        apply_overrides(con, enabled=overrides)
        clock.lap("apply review overrides")
        facts.refresh_facts(con, None if everything else "SELECT * FROM qa_fact_touch", labels=labels)
        if not everything:
            con.execute("DROP TABLE qa_fact_touch")
        clock.lap("refresh daily facts")
    clock.lap("commit")
    log.debug("scored %d interactions (%d unchanged) with %d rules in %d batch(es)", todo, total - todo,
             len(pack.rules), len(batches))
    log.debug("score timings: %s", clock)
    return ScoreSummary(rule_pack_hash=pack.hash, rules=len(pack.rules), scored=todo, unchanged=total - todo,
                        rule_results=todo * len(pack.rules), critical_failed=critical,
                        mean_score=round(score_sum / score_count, 2) if score_count else None, full=full,
                        seconds=clock.totals())


class _Clock:
    """Seconds per step, for the log and the benchmark."""

    def __init__(self) -> None:
        self.laps: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps.append((name, round(now - self._last, 3)))
        self._last = now

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, seconds in self.laps:
            out[name] = round(out.get(name, 0.0) + seconds, 3)
        return out

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.totals().items())


# --- self-tests -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckSummary:
    path: str
    rule_pack_hash: str
    files: int
    rules: int
    examples: int

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return f"ok: {self.rules} rules, {self.examples} examples passed"


def _short(values: dict, rule: Rule) -> str:
    text = values.get(rule.field) if rule.field else None
    if "closed_at_seconds" in values:
        text = f"{values['closed_at_seconds']:g} s"
    elif text is None:
        text = json.dumps({k: v for k, v in values.items()}, ensure_ascii=False)
    text = " ".join(str(text).split())
    return repr(text if len(text) <= 60 else text[:57] + "...")


def check_rule_pack(path: Path) -> CheckSummary:
    """Validate the pack and run every rule's examples through the scoring SQL in an in-memory DuckDB."""
    pack = load_rule_pack(path)
    compiled = compile_rule_pack(pack)
    examples = [(rule, ex) for rule in pack.rules for ex in rule.examples]
    con = duckdb.connect(":memory:")
    try:
        store.migrate(con)
        rows = []
        for n, (rule, ex) in enumerate(examples):
            values = dict(ex.values)
            seconds = values.pop("closed_at_seconds", None)
            created = values.pop("created_at", None) or "2026-01-05 10:00:00"
            closed = values.pop("closed_at", None)
            rows.append({"interaction_id": f"ex{n}", "created_at": created, "closed_at": closed,
                         "seconds": seconds, **{c: values.get(c) for c in TEXT_FIELDS}})
        con.execute("CREATE TEMP TABLE qa_examples (interaction_id VARCHAR, created_at VARCHAR, closed_at VARCHAR, "
                    "seconds DOUBLE, " + ", ".join(f"{_col(c)} VARCHAR" for c in TEXT_FIELDS) + ")")
        if rows:
            import pyarrow as pa

            con.register("qa_example_rows", pa.Table.from_pylist(rows, schema=pa.schema(
                [("interaction_id", pa.string()), ("created_at", pa.string()), ("closed_at", pa.string()),
                 ("seconds", pa.float64())] + [(c, pa.string()) for c in TEXT_FIELDS])))
            con.execute("INSERT INTO qa_examples SELECT * FROM qa_example_rows")
            con.unregister("qa_example_rows")
        source = f"""(SELECT interaction_id, 'example' AS content_hash, {', '.join(_col(c) for c in TEXT_FIELDS)},
                       try_cast(created_at AS TIMESTAMP) AS created_at,
                       coalesce(try_cast(closed_at AS TIMESTAMP),
                                try_cast(created_at AS TIMESTAMP) + to_seconds(seconds)) AS closed_at
                      FROM qa_examples)"""
        # The same path as `score`: compiled query, compact storage, read back through rule_results.
        stored.store_rule_pack(con, pack)
        stored.make_current(con, pack.hash)
        _evaluate(con, compiled, source, "qa_wide")
        store_rule_results(con, compiled, "qa_wide", {"hash": pack.hash, "run_id": None})
        got = {(iid, rid): (app, passed, ev) for iid, rid, app, passed, ev in con.execute(
            "SELECT interaction_id, rule_id, applicable, passed, evidence FROM rule_results").fetchall()}
    finally:
        con.close()
    problems = []
    for n, (rule, ex) in enumerate(examples):
        applicable, passed, evidence = got[(f"ex{n}", rule.id)]
        outcome = "na" if not applicable else "pass" if passed else "fail"
        if outcome != ex.expect:
            said = {"na": "is not applicable (when / empty field)", "pass": "passed", "fail": "failed"}[outcome]
            detail = f" (evidence {evidence!r})" if evidence else ""
            problems.append(f"{rule.file}:{ex.line}: rule {rule.id}: example {ex.expect}[{ex.index}] "
                            f"{_short(ex.values, rule)} {said}, expected {ex.expect}{detail}")
    if problems:
        _raise_problems(path, problems)
    return CheckSummary(path=str(path), rule_pack_hash=pack.hash, files=len({r.file for r in pack.rules}),
                        rules=len(pack.rules), examples=len(examples))


def default_rules_dir(settings) -> Path:
    """The configured rule pack, else the bundled one."""
    from qa_scoring.resources import rules_dir

    return Path(settings.rules.dir) if settings.rules.dir else rules_dir()
