"""Exports for BI tools (Power BI, Excel): scores, rule results or predictions as CSV or Parquet.

Written by DuckDB's COPY (set-based, streams), to a temporary file renamed into place. In CSV, text
cells starting with = + - @ (or a tab / carriage return) get a leading apostrophe so a spreadsheet
never runs them as formulas (CSV injection); numbers are left alone.

Every export carries the interaction's `status` (open / close / archived, as Wolkvox sent it): an
open interaction is scored as it stands and rescored when it closes, so BI tools can leave open ones
out the way the reports do (see report/data.py). Card numbers and CVVs in the text columns (evidence,
survey answers, model words) are masked as on the report pages (mask.py): exports are shared too.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from qa_scoring import store
from qa_scoring.errors import InputError
from qa_scoring.mask import masked_sql, register_sql
from qa_scoring.reviews.stored import EFFECTIVE_SQL

QUERIES = {
    "scores": f"""
        SELECT s.interaction_id, i.operation, i.agent_name, i.channel, i.skill_id, i.case_id,
               i.created_at, i.closed_at, i.status, i.cod_act, {masked_sql("i.survey_raw")} AS survey_raw, i.survey_score,
               s.score, s.critical_failed, s.rules_applicable, s.rules_failed, s.rule_pack_hash,
               -- the rules' own score where human verdicts overrode some outcomes (reviews/stored.py)
               coalesce(s.auto_score, s.score) AS auto_score, coalesce(s.overrides, 0) AS overrides,
               p.risk, p.model_id
        FROM interaction_scores s
        JOIN interactions i USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)
        ORDER BY i.created_at, s.interaction_id
    """,
    "rule_results": f"""
        SELECT r.interaction_id, i.operation, i.agent_name, i.channel, i.created_at, i.status, r.rule_id, r.applicable,
               r.passed, {masked_sql("r.evidence")} AS evidence, r.evidence_field, r.rule_pack_hash,
               coalesce(m.title->>'$.es', m.title->>'$') AS rule_title, m.severity, m.weight,
               v.verdict AS review_verdict, v.reviewer, v.reviewed_at, {masked_sql("v.note")} AS review_note
        FROM rule_results r JOIN interactions i USING (interaction_id)
        -- the effective human verdict, beside the automatic outcome
        LEFT JOIN (EFFECTIVE_REVIEWS) v ON v.interaction_id = r.interaction_id AND v.rule_id = r.rule_id
        -- the rule's metadata as stored with the pack that produced the result (rules/stored.py)
        LEFT JOIN rule_pack_rules m ON m.rule_pack_hash = r.rule_pack_hash AND m.rule_id = r.rule_id
        ORDER BY i.created_at, r.interaction_id, r.rule_id
    """,
    "predictions": f"""
        SELECT p.interaction_id, i.operation, i.agent_name, i.channel, i.created_at, i.status, p.risk,
               {masked_sql("p.top_terms::VARCHAR")} AS top_terms, p.model_id
        FROM predictions p JOIN interactions i USING (interaction_id)
        ORDER BY i.created_at, p.interaction_id
    """,
}
QUERIES["rule_results"] = QUERIES["rule_results"].replace("EFFECTIVE_REVIEWS", EFFECTIVE_SQL)
FORMATS = ("csv", "parquet")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportSummary:
    what: str
    format: str
    out: str
    rows: int

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return f"{self.rows:,} rows of {self.what} written to {self.out}"


def _neutralised(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """Wrap every text column of `query` so formula-looking cells become inert text."""
    columns = con.execute(f"DESCRIBE {query}").fetchall()
    starts = ", ".join(f"'{c}'" for c in _FORMULA_START).replace("'\t'", "chr(9)").replace("'\r'", "chr(13)")
    parts = []
    for name, kind, *_ in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        if kind == "VARCHAR":
            parts.append(f"CASE WHEN left({quoted}, 1) IN ({starts}) THEN '''' || {quoted} ELSE {quoted} END AS {quoted}")
        else:
            parts.append(quoted)
    return f"SELECT {', '.join(parts)} FROM ({query})"


def export(con: duckdb.DuckDBPyConnection, what: str, fmt: str, out: Path, *, bom: bool = False) -> ExportSummary:
    """Write one export file atomically and return how many rows it holds."""
    if what not in QUERIES:
        raise InputError(f"--what: unknown export {what!r} (choose {', '.join(QUERIES)})")
    if fmt not in FORMATS:
        raise InputError(f"--format: unknown format {fmt!r} (choose csv or parquet)")
    out = Path(out)
    if not out.parent.exists():
        raise InputError(f"--out: folder {out.parent} does not exist")
    query = QUERIES[what]
    register_sql(con)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if fmt == "csv":
            sql = _neutralised(con, query)
            con.execute(f"COPY ({sql}) TO '{_sql_path(tmp)}' (FORMAT csv, HEADER true)")
            if bom:
                _prepend_bom(tmp)
        else:
            con.execute(f"COPY ({query}) TO '{_sql_path(tmp)}' (FORMAT parquet)")
        rows = store.fetch_one(con, f"SELECT count(*) FROM ({query})")[0]
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportSummary(what=what, format=fmt, out=str(out), rows=rows)


def _sql_path(path: Path) -> str:
    """A file path as a SQL string literal body (COPY takes no parameter for its target)."""
    return str(path).replace("'", "''")


def _prepend_bom(path: Path) -> None:
    """Excel needs a UTF-8 byte order mark to read accents right; stream-copy to add it."""
    with_bom = path.with_name(path.name + ".bom")
    with open(path, "rb") as src, open(with_bom, "wb") as dst:
        dst.write(b"\xef\xbb\xbf")
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(with_bom, path)
