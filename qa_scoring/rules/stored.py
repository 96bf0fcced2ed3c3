"""Rule packs as stored objects: `rule_packs`, each rule's metadata in `rule_pack_rules`, the current
pack, the kept results of the other packs, `rules list` and `rules prune`.

Reports, exports, `runs` and backtest read rule titles, severities and weights from here, by pack
hash, never from the YAML folder configured now. A pack is stored each time `score` runs with it:
when only its titles or descriptions changed (same hash), the stored text is updated and nothing is
rescored. Exactly one pack is *current*: the one `score` last ran. Its scores are the rows of
`interaction_scores`; the scores of the other packs wait in `kept_scores` and their outcome rows stay
in `rule_outcomes` / `rule_evidence`, so switching back to a pack restores its results without
rescoring (only interactions that changed since are scored again). Old packs go only by
`rules prune --keep N`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from qa_scoring import store
from qa_scoring.errors import InputError
from qa_scoring.rules.pack import ENGINE_VERSION, Rule, RulePack

log = logging.getLogger(__name__)


def rule_hash(rule: Rule) -> str:
    """sha256 of what decides this rule's outcomes (its part of the pack hash): equal hashes, equal results."""
    spec = {"engine": ENGINE_VERSION, "rule": rule.spec()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def text_in(value, lang: str | None = None) -> str:
    """A stored title or description (a text, or {language: text}) in `lang`, else its first language."""
    if isinstance(value, str) and value.startswith(("{", '"')):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    if isinstance(value, dict):
        return str(value.get(lang) or next(iter(value.values()), "") if value else "")
    return "" if value is None else str(value)


@dataclass(frozen=True)
class StoredRule:
    """One rule of a stored pack, as reports and backtest need it."""

    rule_id: str
    position: int
    title: str
    description: str
    field: str | None
    check_kind: str | None
    severity: str
    weight: float | None
    file: str | None
    line: int | None
    rule_hash: str | None
    spec: dict | None = None  # what it checks and where it applies (Rule.spec()); None before v7

    def to_dict(self) -> dict:
        return asdict(self)


def store_rule_pack(con: duckdb.DuckDBPyConnection, pack: RulePack) -> None:
    """Store the pack and its rules' metadata under its hash (titles and descriptions are refreshed)."""
    now = store.utc_now()
    ids = sorted(r.id for r in pack.rules)  # the positions of the outcome letters (rules/sql.py)
    position = {rule_id: i + 1 for i, rule_id in enumerate(ids)}
    rows = pa.Table.from_pylist([{
        "position": position[r.id], "rule_id": r.id,
        "title": json.dumps(r.title, ensure_ascii=False), "description": json.dumps(r.description, ensure_ascii=False),
        "field": r.field, "check_kind": r.kind, "severity": r.severity, "weight": float(r.weight),
        "file": r.file, "line": r.line, "rule_hash": rule_hash(r),
        "attributes": json.dumps(list(r.attributes), ensure_ascii=False),
        "spec": json.dumps(r.spec(), ensure_ascii=False)} for r in pack.rules],
        schema=pa.schema([("position", pa.int32()), ("rule_id", pa.string()), ("title", pa.string()),
                          ("description", pa.string()), ("field", pa.string()), ("check_kind", pa.string()),
                          ("severity", pa.string()), ("weight", pa.float64()), ("file", pa.string()),
                          ("line", pa.int32()), ("rule_hash", pa.string()), ("attributes", pa.string()),
                          ("spec", pa.string())]))
    con.execute("""
        INSERT INTO rule_packs (rule_pack_hash, source, engine_version, rule_count, loaded_at, updated_at, is_current)
        VALUES ($hash, $source, $engine, $n, $now, $now, false)
        ON CONFLICT (rule_pack_hash) DO UPDATE SET source = excluded.source, engine_version = excluded.engine_version,
            rule_count = excluded.rule_count, updated_at = excluded.updated_at""",
                {"hash": pack.hash, "source": str(pack.path), "engine": ENGINE_VERSION, "n": len(ids), "now": now})
    con.register("qa_pack_rows", rows)
    try:
        # DuckDB's ON CONFLICT DO UPDATE cannot update a key column; the rule at a position never
        # changes under one hash, so delete + insert is the same as an update of the metadata.
        con.execute("DELETE FROM rule_pack_rules WHERE rule_pack_hash = ?", [pack.hash])
        con.execute("""INSERT INTO rule_pack_rules BY NAME
            SELECT $hash AS rule_pack_hash, position, rule_id, title::JSON AS title, description::JSON AS description,
                   field, check_kind, severity, weight, file, line, rule_hash, attributes::JSON AS attributes,
                   spec::JSON AS spec
            FROM qa_pack_rows""", {"hash": pack.hash})
    finally:
        con.unregister("qa_pack_rows")


def current_pack(con: duckdb.DuckDBPyConnection) -> str | None:
    """The hash of the current pack (the one `score` last ran), or None before any scoring."""
    row = store.fetch_one(con, "SELECT rule_pack_hash FROM rule_packs WHERE is_current")
    return row[0] if row else None


def make_current(con: duckdb.DuckDBPyConnection, pack_hash: str) -> bool:
    """Make a stored pack the current one, inside the caller's transaction; True when it changed.

    The scores in `interaction_scores` (the old current pack's) move to `kept_scores`, and the new
    pack's kept scores, if any, move back: its earlier results are current again without rescoring.
    """
    if current_pack(con) == pack_hash:
        return False
    con.execute("""
        DELETE FROM kept_scores WHERE rule_pack_hash IN (SELECT DISTINCT rule_pack_hash FROM interaction_scores);
        INSERT INTO kept_scores BY NAME SELECT * FROM interaction_scores;
        DELETE FROM interaction_scores;""")
    con.execute("INSERT INTO interaction_scores BY NAME SELECT * FROM kept_scores WHERE rule_pack_hash = ?", [pack_hash])
    con.execute("DELETE FROM kept_scores WHERE rule_pack_hash = ?", [pack_hash])
    con.execute("""UPDATE rule_packs SET is_current = (rule_pack_hash = $hash),
                       current_since = CASE WHEN rule_pack_hash = $hash THEN $now ELSE current_since END""",
                {"hash": pack_hash, "now": store.utc_now()})
    log.debug("rule pack %s is now the current pack", pack_hash[:12])
    return True


def pack_rules(con: duckdb.DuckDBPyConnection, pack_hash: str, lang: str | None = None) -> dict[str, StoredRule]:
    """rule_id → StoredRule of one stored pack (empty when the pack is unknown), texts in `lang`."""
    rows = con.execute("""SELECT rule_id, position, title, description, field, check_kind, severity, weight,
                                 file, line, rule_hash
                          FROM rule_pack_rules WHERE rule_pack_hash = ? ORDER BY position""", [pack_hash]).fetchall()
    return {r[0]: StoredRule(r[0], int(r[1]), text_in(r[2], lang) or r[0], text_in(r[3], lang), r[4], r[5], r[6] or "",
                             r[7], r[8], r[9], r[10]) for r in rows}


def rule_catalogue(con: duckdb.DuckDBPyConnection, lang: str | None = None) -> dict[str, StoredRule]:
    """rule_id → StoredRule for reports: the current pack's rules, then any other stored pack's
    (newest wins) for rule ids the current pack no longer has."""
    rows = con.execute("""
        SELECT r.rule_id, r.position, r.title, r.description, r.field, r.check_kind, r.severity, r.weight,
               r.file, r.line, r.rule_hash, r.spec
        FROM rule_pack_rules r JOIN rule_packs p USING (rule_pack_hash)
        ORDER BY p.is_current, p.updated_at, p.rule_pack_hash, r.position""").fetchall()
    return {r[0]: StoredRule(r[0], int(r[1]), text_in(r[2], lang) or r[0], text_in(r[3], lang), r[4], r[5],
                             r[6] or "", r[7], r[8], r[9], r[10], _spec(r[11])) for r in rows}


def _spec(value) -> dict | None:
    try:
        spec = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


# --- rules list / prune ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredPack:
    rule_pack_hash: str
    current: bool
    source: str | None
    rules: int
    loaded_at: datetime
    updated_at: datetime
    current_since: datetime | None
    interactions: int  # with results kept under this pack

    def to_dict(self) -> dict:
        return {k: (v.isoformat(sep=" ") if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


def list_packs(con: duckdb.DuckDBPyConnection) -> list[StoredPack]:
    """Every stored pack, the current one first, then the most recently current."""
    rows = con.execute("""
        WITH n AS (SELECT rule_pack_hash, count(*) AS n FROM rule_outcomes GROUP BY ALL)
        SELECT p.rule_pack_hash, p.is_current, p.source, p.rule_count, p.loaded_at, p.updated_at, p.current_since,
               coalesce(n.n, 0)
        FROM rule_packs p LEFT JOIN n USING (rule_pack_hash)
        ORDER BY p.is_current DESC, p.current_since DESC NULLS LAST, p.loaded_at DESC, p.rule_pack_hash""").fetchall()
    return [StoredPack(h, bool(c), s, int(n), la, ua, cs, int(k)) for h, c, s, n, la, ua, cs, k in rows]


@dataclass(frozen=True)
class PruneSummary:
    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    interactions_dropped: int  # result rows (one per interaction and pack) removed

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        if not self.dropped:
            return f"nothing to prune: {len(self.kept)} pack(s) kept"
        return (f"dropped {len(self.dropped)} pack(s) ({', '.join(h[:12] for h in self.dropped)}) with "
                f"{self.interactions_dropped:,} interaction results; kept {len(self.kept)}")


def prune_packs(con: duckdb.DuckDBPyConnection, keep: int) -> PruneSummary:
    """Drop every pack but the current one and the most recently current others, `keep` in all, in one
    transaction: their results, kept scores and metadata."""
    if keep < 1:
        raise InputError(f"rules prune --keep {keep}: must be at least 1 (the current pack is always kept)")
    with store.atomic(con):
        packs = list_packs(con)
        kept, dropped = packs[:keep], packs[keep:]
        hashes = [p.rule_pack_hash for p in dropped]
        if hashes:
            for table in ("rule_outcomes", "rule_evidence", "kept_scores", "rule_pack_rules", "rule_packs"):
                con.execute(f"DELETE FROM {table} WHERE rule_pack_hash IN (SELECT unnest($h))", {"h": hashes})
    return PruneSummary(kept=tuple(p.rule_pack_hash for p in kept), dropped=tuple(hashes),
                        interactions_dropped=sum(p.interactions for p in dropped))
