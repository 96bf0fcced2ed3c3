"""Backtest: what a candidate rule pack would have done to a period's results, without changing them.

The candidate pack runs through the same compiled SQL as `score` over the period's interactions into
temporary tables, inside a transaction that is always rolled back: the current pack,
`interaction_scores`, the compact rule tables, predictions and reports stay exactly as they were.
Its outcome letters are then compared with the current pack's stored ones (outcomes.py) rule by
rule: grouped by the pair of letter strings first, then spread over the union of both packs'
rules, so a month of 3M interactions never becomes one row per interaction and rule. The rules'
own hashes (rules/stored.py) say which rules were added, removed, changed or left unchanged.

Every rule of the candidate is evaluated, the unchanged ones too: their letters then double as a
check that the stored results still are what the pack gives (a stale result shows as a flip of an
unchanged rule). The result renders as one self-contained HTML page (the reports' look, CSP,
escaping and atomic folder swap) and as the `--json` object (a contract, see the README).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from qa_scoring import outcomes, store
from qa_scoring.errors import InputError
from qa_scoring.report import stats
from qa_scoring.report.data import Period, Rate, TextField, resolve_period
from qa_scoring.report.i18n import LANGUAGES, Formatter
from qa_scoring.report.text import segment_text
from qa_scoring.rules.pack import RulePack
from qa_scoring.rules.score import BATCH_ROWS, SCORE_EXPR
from qa_scoring.rules.sql import _evaluate, compile_rule_pack
from qa_scoring.rules.stored import StoredRule, current_pack, pack_rules, rule_hash, text_in
from qa_scoring.rules.text import sql_identifier

log = logging.getLogger(__name__)

STATUSES = ("changed", "added", "removed", "unchanged")
_NA = f"('{outcomes.NOT_APPLICABLE}', '{outcomes.NO_RESULT}')"


@dataclass(frozen=True)
class RuleDiff:
    """One rule of either pack, current vs candidate, over the period."""

    rule_id: str
    title: str  # the candidate's title when it has the rule, else the current one's
    severity: str
    status: str  # changed | added | removed | unchanged
    in_current: bool
    in_candidate: bool
    current: Rate  # passed of applicable, current pack
    candidate: Rate
    difference: float | None  # candidate − current pass rate
    diff_low: float | None
    diff_high: float | None
    pass_to_fail: int
    fail_to_pass: int
    na_to_applicable: int
    applicable_to_na: int
    dissat_failed_current: Rate  # dissatisfied among surveyed interactions failing the rule
    dissat_failed_candidate: Rate
    dissat_passed_current: Rate
    dissat_passed_candidate: Rate

    @property
    def flipped(self) -> int:
        return self.pass_to_fail + self.fail_to_pass

    @property
    def gap_current(self) -> float | None:
        return _gap(self.dissat_failed_current, self.dissat_passed_current)

    @property
    def gap_candidate(self) -> float | None:
        return _gap(self.dissat_failed_candidate, self.dissat_passed_candidate)


def _gap(failed: Rate, passed: Rate) -> float | None:
    """How much more often a failing interaction's customer is dissatisfied (percentage points)."""
    if failed.share is None or passed.share is None:
        return None
    return failed.share - passed.share


@dataclass(frozen=True)
class AgentDiff:
    name: str
    n: int  # interactions in the period
    scored_current: int
    scored_candidate: int
    current_score: float | None
    candidate_score: float | None
    current_rank: int | None
    candidate_rank: int | None
    small: bool  # fewer scored interactions than [report] min_sample
    operation: str = ""  # an agent is (operation, name): same-named agents of two operations are two

    @property
    def change(self) -> float | None:
        if self.current_score is None or self.candidate_score is None:
            return None
        return self.candidate_score - self.current_score

    @property
    def rank_change(self) -> int | None:  # positive: moves up the ranking
        if self.current_rank is None or self.candidate_rank is None:
            return None
        return self.current_rank - self.candidate_rank


@dataclass(frozen=True)
class Flip:
    """One interaction whose outcome for one rule differs between the packs."""

    rule_id: str
    kind: str  # pass_to_fail | fail_to_pass | na_to_fail | fail_to_na
    interaction_id: str
    case_id: str
    agent: str
    created_at: datetime | None
    current_score: float | None
    candidate_score: float | None
    field: str | None  # the rule's field, shown with each side's evidence marked
    current_text: TextField | None
    candidate_text: TextField | None
    current_evidence: str | None
    candidate_evidence: str | None


@dataclass(frozen=True)
class BacktestData:
    period: Period
    interactions: int
    unscored: int  # period interactions with no current result (never scored under the current pack)
    current_pack: str
    candidate_pack: str
    current_source: str | None
    candidate_source: str
    rules: tuple[RuleDiff, ...]
    agents: tuple[AgentDiff, ...]
    flips: dict[str, tuple[Flip, ...]]  # rule_id → the listed flips, worst first
    current_mean: float | None
    candidate_mean: float | None
    label_text: str
    min_sample: int
    flips_per_rule: int
    operation: str | None = None  # the one operation compared (--operation), None for all
    operations: tuple[str, ...] = ()  # the operations with interactions in the period

    def count(self, status: str) -> int:
        return sum(1 for r in self.rules if r.status == status)


@dataclass(frozen=True)
class BacktestSummary:
    data: BacktestData
    out: str
    seconds: float

    def to_dict(self) -> dict:
        """The `backtest --json` object (a contract: keys below are relied on by outside tools)."""
        d = self.data
        return {
            "interactions": d.interactions, "current_pack": d.current_pack, "candidate_pack": d.candidate_pack,
            "since": str(d.period.since), "until": str(d.period.until), "unscored": d.unscored,
            "rules": {r.rule_id: {
                "status": r.status, "current_pass_rate": _rounded(r.current.share),
                "candidate_pass_rate": _rounded(r.candidate.share), "flipped": r.flipped,
                "pass_to_fail": r.pass_to_fail, "fail_to_pass": r.fail_to_pass,
                "na_to_applicable": r.na_to_applicable, "applicable_to_na": r.applicable_to_na,
                "current_applicable": r.current.n, "candidate_applicable": r.candidate.n,
            } for r in sorted(d.rules, key=lambda r: r.rule_id)},
            # keyed by agent name; by "operation/agent" when the period holds several operations
            "agents": {(f"{a.operation}/{a.name}" if len(d.operations) > 1 else a.name): {
                "current_score": _rounded(a.current_score, 2), "candidate_score": _rounded(a.candidate_score, 2),
                "n": a.n, "operation": a.operation} for a in sorted(d.agents, key=lambda a: (a.operation, a.name))},
            "operation": d.operation, "operations": list(d.operations),
            "out": self.out, "seconds": self.seconds,
        }

    def text(self) -> str:
        d = self.data
        changed = ", ".join(f"{n} {s}" for s in STATUSES if (n := d.count(s)))
        flipped = sum(r.flipped for r in d.rules)
        return (f"backtest {d.period.since} – {d.period.until}: {d.interactions:,} interactions, rules {changed}; "
                f"{flipped:,} pass/fail flips; mean score {_num(d.current_mean)} → {_num(d.candidate_mean)} "
                f"→ {self.out}")


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# --- the computation ----------------------------------------------------------------------------

def _evaluate_candidate(con: duckdb.DuckDBPyConnection, pack: RulePack, batch_rows: int) -> None:
    """bt_cand (interaction_id, outcomes, score) and bt_cand_evidence for the interactions of bt_base."""
    compiled = compile_rule_pack(pack)
    con.execute("CREATE TEMP TABLE bt_cand (interaction_id VARCHAR, outcomes VARCHAR, score DOUBLE)")
    con.execute("""CREATE TEMP TABLE bt_cand_evidence (interaction_id VARCHAR, rule_id VARCHAR, evidence VARCHAR,
                   evidence_field VARCHAR, evidence_start INTEGER, evidence_end INTEGER)""")
    batches = con.execute("SELECT rid // $size, count(*) FROM bt_base GROUP BY ALL ORDER BY 1",
                          {"size": batch_rows}).fetchall()
    columns = ", ".join(sql_identifier(c) for c in compiled.columns)
    for batch, _rows in batches:
        lo, hi = int(batch) * batch_rows, (int(batch) + 1) * batch_rows
        source = (f"(SELECT {columns} FROM interactions WHERE rowid >= {lo} AND rowid < {hi} "
                  f"AND rowid IN (SELECT rid FROM bt_base WHERE rid >= {lo} AND rid < {hi}))")
        _evaluate(con, compiled, source, "bt_wide")
        con.execute(f"INSERT INTO bt_cand SELECT interaction_id, outcomes, {SCORE_EXPR} FROM bt_wide")
        con.execute("INSERT INTO bt_cand_evidence " + compiled.evidence_sql.format(wide="bt_wide"))
        con.execute("DROP TABLE bt_wide")


def _statuses(current: dict[str, StoredRule], candidate: RulePack) -> dict[str, str]:
    out = {}
    for rule in candidate.rules:
        old = current.get(rule.id)
        out[rule.id] = ("added" if old is None else
                        "unchanged" if old.rule_hash is not None and old.rule_hash == rule_hash(rule) else "changed")
    for rule_id in current:
        out.setdefault(rule_id, "removed")
    return out


def _rule_counts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    """Per rule of bt_rules: applicable / passed per side, flips, and the survey split per side."""
    cur = f"CASE WHEN r.cur_pos IS NULL OR g.cur_outcomes IS NULL THEN '{outcomes.NOT_APPLICABLE}' " \
          f"ELSE {outcomes.letter_at('g.cur_outcomes', 'r.cur_pos')} END"
    cand = f"CASE WHEN r.cand_pos IS NULL OR g.cand_outcomes IS NULL THEN '{outcomes.NOT_APPLICABLE}' " \
           f"ELSE {outcomes.letter_at('g.cand_outcomes', 'r.cand_pos')} END"
    failed, passed = outcomes.FAILED_LETTERS, f"'{outcomes.PASSED}'"

    def side(x: str) -> str:
        return f"""coalesce(sum(n) FILTER ({x} NOT IN {_NA}), 0), coalesce(sum(n) FILTER ({x} = {passed}), 0),
            coalesce(sum(n) FILTER ({x} IN {failed} AND dissatisfied IS NOT NULL), 0),
            coalesce(sum(n) FILTER ({x} IN {failed} AND dissatisfied), 0),
            coalesce(sum(n) FILTER ({x} = {passed} AND dissatisfied IS NOT NULL), 0),
            coalesce(sum(n) FILTER ({x} = {passed} AND dissatisfied), 0)"""

    rows = con.execute(f"""
        WITH g AS (SELECT cur_outcomes, cand_outcomes, dissatisfied, count(*) AS n FROM bt_pair GROUP BY ALL),
        s AS (SELECT r.rule_id, g.n, g.dissatisfied, {cur} AS c, {cand} AS k FROM g CROSS JOIN bt_rules r)
        SELECT rule_id, {side('c')}, {side('k')},
               coalesce(sum(n) FILTER (c = {passed} AND k IN {failed}), 0),
               coalesce(sum(n) FILTER (c IN {failed} AND k = {passed}), 0),
               coalesce(sum(n) FILTER (c IN {_NA} AND k NOT IN {_NA}), 0),
               coalesce(sum(n) FILTER (c NOT IN {_NA} AND k IN {_NA}), 0)
        FROM s GROUP BY rule_id""").fetchall()
    return {r[0]: tuple(int(v) for v in r[1:]) for r in rows}


def _rules(con, current: dict[str, StoredRule], candidate: RulePack, status: dict[str, str],
           lang: str | None = None) -> tuple[RuleDiff, ...]:
    counts = _rule_counts(con)
    by_id = {r.id: r for r in candidate.rules}
    out = []
    for rule_id, st in status.items():
        (c_app, c_pass, c_fl, c_fd, c_pl, c_pd, k_app, k_pass, k_fl, k_fd, k_pl, k_pd,
         p2f, f2p, na2a, a2na) = counts.get(rule_id, (0,) * 16)
        new, old = by_id.get(rule_id), current.get(rule_id)
        interval = stats.difference_interval(c_pass, c_app, k_pass, k_app)
        out.append(RuleDiff(
            rule_id=rule_id, title=text_in(new.title, lang) if new else old.title,
            severity=new.severity if new else old.severity, status=st, in_current=old is not None,
            in_candidate=new is not None, current=Rate.of(c_pass, c_app), candidate=Rate.of(k_pass, k_app),
            difference=(k_pass / k_app - c_pass / c_app) if c_app and k_app else None,
            diff_low=interval[0] if interval else None, diff_high=interval[1] if interval else None,
            pass_to_fail=p2f, fail_to_pass=f2p, na_to_applicable=na2a, applicable_to_na=a2na,
            dissat_failed_current=Rate.of(c_fd, c_fl), dissat_failed_candidate=Rate.of(k_fd, k_fl),
            dissat_passed_current=Rate.of(c_pd, c_pl), dissat_passed_candidate=Rate.of(k_pd, k_pl)))
    # changes first (most flips first), then added, removed, unchanged
    out.sort(key=lambda r: (STATUSES.index(r.status), -(r.flipped + r.na_to_applicable + r.applicable_to_na),
                            r.rule_id))
    return tuple(out)


def _ranks(scores: dict[str, float | None]) -> dict[str, int | None]:
    """1 = best; ties share a rank; no score, no rank."""
    ordered = sorted((s for s in scores.values() if s is not None), reverse=True)
    first = {}
    for i, s in enumerate(ordered):
        first.setdefault(round(s, 6), i + 1)
    return {name: (first[round(s, 6)] if s is not None else None) for name, s in scores.items()}


def _agents(con, min_sample: int) -> tuple[AgentDiff, ...]:
    """Agents by (operation, name); ranks are within the operation, as the reports compare them."""
    rows = con.execute("""SELECT operation, agent, count(*), count(cur_score), avg(cur_score), count(cand_score),
                                 avg(cand_score)
                          FROM bt_pair GROUP BY operation, agent ORDER BY operation, agent""").fetchall()
    cur: dict = {}
    cand: dict = {}
    for op in {r[0] for r in rows}:
        cur.update({(op, a): k for a, k in _ranks({r[1]: r[4] for r in rows if r[0] == op}).items()})
        cand.update({(op, a): k for a, k in _ranks({r[1]: r[6] for r in rows if r[0] == op}).items()})
    out = [AgentDiff(name, int(n), int(nc), int(nk), sc, sk, cur[(op, name)], cand[(op, name)], min(nc, nk) < min_sample,
                     operation=op)
           for op, name, n, nc, sc, nk, sk in rows]
    out.sort(key=lambda a: (a.change is None, a.change if a.change is not None else 0.0, a.operation, a.name))
    return tuple(out)


def _flips(con, rules: tuple[RuleDiff, ...], fields: dict[str, str | None], per_rule: int,
           current_hash: str) -> dict[str, tuple[Flip, ...]]:
    """Up to `per_rule` interactions per rule whose failing status changed, largest score drop first."""
    wanted = [r.rule_id for r in rules if r.flipped or (r.status != "unchanged"
                                                       and (r.na_to_applicable or r.applicable_to_na))]
    if not wanted or per_rule <= 0:
        return {}
    cur = f"CASE WHEN r.cur_pos IS NULL OR p.cur_outcomes IS NULL THEN '{outcomes.NOT_APPLICABLE}' " \
          f"ELSE {outcomes.letter_at('p.cur_outcomes', 'r.cur_pos')} END"
    cand = f"CASE WHEN r.cand_pos IS NULL OR p.cand_outcomes IS NULL THEN '{outcomes.NOT_APPLICABLE}' " \
           f"ELSE {outcomes.letter_at('p.cand_outcomes', 'r.cand_pos')} END"
    failed, passed = outcomes.FAILED_LETTERS, f"'{outcomes.PASSED}'"
    rows = con.execute(f"""
        WITH s AS (SELECT p.interaction_id, p.agent, p.cur_score, p.cand_score, r.rule_id, {cur} AS c, {cand} AS k
                   FROM bt_pair p JOIN bt_rules r ON r.rule_id IN (SELECT unnest($wanted))),
        f AS (SELECT *, CASE WHEN c = {passed} AND k IN {failed} THEN 'pass_to_fail'
                             WHEN c IN {failed} AND k = {passed} THEN 'fail_to_pass'
                             WHEN c IN {_NA} AND k IN {failed} THEN 'na_to_fail'
                             WHEN c IN {failed} AND k IN {_NA} THEN 'fail_to_na' END AS kind
              FROM s),
        top AS (SELECT * FROM f WHERE kind IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY rule_id
                    ORDER BY coalesce(cand_score, 0) - coalesce(cur_score, 0), cand_score NULLS LAST, interaction_id) <= $n)
        SELECT t.rule_id, t.kind, t.interaction_id, i.case_id, t.agent, i.created_at, t.cur_score, t.cand_score,
               i.subject, i.body, i.answer, i.comments,
               ce.evidence, ce.evidence_field, ce.evidence_start, ce.evidence_end,
               ke.evidence, ke.evidence_field, ke.evidence_start, ke.evidence_end
        FROM top t JOIN interactions i USING (interaction_id)
        LEFT JOIN rule_evidence ce ON ce.interaction_id = t.interaction_id AND ce.rule_id = t.rule_id
                                  AND ce.rule_pack_hash = $current
        LEFT JOIN bt_cand_evidence ke ON ke.interaction_id = t.interaction_id AND ke.rule_id = t.rule_id
        ORDER BY t.rule_id, coalesce(t.cand_score, 0) - coalesce(t.cur_score, 0), t.cand_score NULLS LAST,
                 t.interaction_id""", {"wanted": wanted, "n": per_rule, "current": current_hash}).fetchall()
    out: dict[str, list[Flip]] = {}
    for (rule_id, kind, iid, case_id, agent, created, cur_score, cand_score, subject, body, answer, comments,
         c_ev, c_field, c_start, c_end, k_ev, k_field, k_start, k_end) in rows:
        texts = {"subject": subject, "body": body, "answer": answer, "comments": comments}
        shown = c_field or k_field or fields.get(rule_id)
        shown = shown if shown in texts else None

        def marked(ev_field, start, end, label):
            if shown is None:
                return None
            spans = [(start, end, label)] if ev_field == shown and start is not None and end is not None else []
            return segment_text(shown, texts[shown], spans)

        out.setdefault(rule_id, []).append(Flip(
            rule_id, kind, iid, case_id or "", agent, created, cur_score, cand_score, shown,
            marked(c_field, c_start, c_end, "current"), marked(k_field, k_start, k_end, "candidate"), c_ev, k_ev))
    return {k: tuple(v) for k, v in out.items()}


def backtest_pack(con: duckdb.DuckDBPyConnection, candidate: RulePack, *, since: date | None = None,
                  until: date | None = None, label_sql: str, label_params: dict | None = None,
                  label_text: str = "", min_sample: int = 30, flips_per_rule: int = 10,
                  batch_rows: int = BATCH_ROWS, lang: str | None = None,
                  operation: str | None = None) -> BacktestData:
    """Compare the candidate pack with the current one on the period's interactions; changes nothing.

    Everything runs in one transaction that is rolled back, whatever happens: the temporary tables go
    with it, and no stored table can change (the current results, the run log aside, stay byte-equal).
    """
    clock = time.perf_counter()
    current_hash = current_pack(con)
    if current_hash is None:
        raise InputError("backtest: there is no current rule pack yet (run 'qa-scoring score' first)")
    current = pack_rules(con, current_hash, lang)
    status = _statuses(current, candidate)
    cand_pos = {rule_id: i + 1 for i, rule_id in enumerate(sorted(r.id for r in candidate.rules))}
    source = store.fetch_one(con, "SELECT source FROM rule_packs WHERE rule_pack_hash = ?", [current_hash])[0]
    con.execute("BEGIN TRANSACTION")
    try:
        period = resolve_period(con, since, until, operation)
        con.execute(f"""
            CREATE TEMP TABLE bt_base AS
            SELECT i.rowid AS rid, i.interaction_id, i.operation, i.agent_name AS agent, ({label_sql}) AS dissatisfied,
                   s.score AS cur_score, o.outcomes AS cur_outcomes
            FROM interactions i
            LEFT JOIN interaction_scores s USING (interaction_id)
            LEFT JOIN rule_outcomes o ON o.interaction_id = i.interaction_id AND o.rule_pack_hash = $current
            WHERE i.created_at >= $since AND i.created_at < $until
              AND ($operation IS NULL OR i.operation = $operation)""",
                    {**(label_params or {}), "current": current_hash, "operation": operation,
                     "since": datetime.combine(period.since, datetime.min.time()),
                     "until": datetime.combine(period.until + timedelta(days=1), datetime.min.time())})
        _evaluate_candidate(con, candidate, batch_rows)
        log.debug("backtest: candidate evaluated in %.2f s", time.perf_counter() - clock)
        con.execute("""CREATE TEMP TABLE bt_pair AS
                       SELECT b.*, c.outcomes AS cand_outcomes, c.score AS cand_score
                       FROM bt_base b LEFT JOIN bt_cand c USING (interaction_id)""")
        ids = sorted(status)
        con.execute("""CREATE TEMP TABLE bt_rules AS
                       SELECT unnest($ids) AS rule_id, unnest($cur)::INTEGER AS cur_pos, unnest($cand)::INTEGER AS cand_pos""",
                    {"ids": ids, "cur": [current[i].position if i in current else None for i in ids],
                     "cand": [cand_pos.get(i) for i in ids]})
        rules = _rules(con, current, candidate, status, lang)
        agents = _agents(con, min_sample)
        fields = {r.id: r.field for r in candidate.rules} | {k: v.field for k, v in current.items() if k not in cand_pos}
        flips = _flips(con, rules, fields, flips_per_rule, current_hash)
        operations = tuple(r[0] for r in con.execute("SELECT DISTINCT operation FROM bt_base ORDER BY 1").fetchall())
        n, unscored, cur_mean, cand_mean = store.fetch_one(
            con, "SELECT count(*), count(*) FILTER (cur_outcomes IS NULL), avg(cur_score), avg(cand_score) FROM bt_pair")
    finally:
        con.execute("ROLLBACK")
    log.debug("backtest: compared in %.2f s", time.perf_counter() - clock)
    return BacktestData(period=period, interactions=int(n), unscored=int(unscored), current_pack=current_hash,
                        candidate_pack=candidate.hash, current_source=source, candidate_source=str(candidate.path),
                        rules=rules, agents=agents, flips=flips, current_mean=cur_mean, candidate_mean=cand_mean,
                        label_text=label_text, min_sample=min_sample, flips_per_rule=flips_per_rule,
                        operation=operation, operations=operations)


# --- the page ---------------------------------------------------------------------------------------

TEXT = {
    "es": {
        "bt_title": "Backtest de reglas", "bt_subtitle": "Qué habría cambiado el paquete candidato",
        "bt_help": "El paquete candidato se evaluó sobre las interacciones del periodo sin cambiar los resultados "
                   "actuales. Cada regla se compara por su propio hash: agregada, eliminada, cambiada o igual.",
        "bt_current": "Paquete actual", "bt_candidate": "Paquete candidato", "bt_unscored": "sin resultado actual",
        "bt_rules": "Reglas", "bt_status_changed": "cambiada", "bt_status_added": "agregada",
        "bt_status_removed": "eliminada", "bt_status_unchanged": "igual", "bt_flips": "Cambios pasa ↔ falla",
        "bt_mean_score": "Puntaje medio", "bt_pass_rate": "Tasa de cumplimiento", "bt_difference": "Diferencia (IC 95 %)",
        "bt_applicable": "Aplica", "bt_p2f": "pasa → falla", "bt_f2p": "falla → pasa", "bt_na": "N/A ↔ aplica",
        "bt_dissat": "Insatisfechos si falla / si pasa",
        "bt_dissat_help": "Entre las interacciones con encuesta: qué parte de los clientes quedó insatisfecha cuando "
                          "la regla falla y cuando pasa, con el paquete actual y con el candidato. Una brecha mayor "
                          "significa que la regla predice mejor a los clientes insatisfechos.",
        "bt_gap": "brecha", "bt_agents": "Agentes", "bt_agents_help": "Puntaje medio del periodo con cada paquete, "
                  "el cambio y el puesto en el ranking (1 = mejor).",
        "bt_rank": "Puesto", "bt_change": "Cambio", "bt_small": "muestra pequeña",
        "bt_flipped": "Interacciones que cambian", "bt_flipped_help": "Por regla, hasta {n} interacciones cuyo "
                      "resultado cambia, primero las que más bajan de puntaje; la evidencia de cada paquete resaltada.",
        "bt_kind_pass_to_fail": "pasa → falla", "bt_kind_fail_to_pass": "falla → pasa",
        "bt_kind_na_to_fail": "N/A → falla", "bt_kind_fail_to_na": "falla → N/A",
        "bt_no_changes": "Ningún resultado cambia con el paquete candidato.", "bt_no_evidence": "sin evidencia",
        "bt_interactions": "Interacciones", "bt_rules_summary": "Reglas: {changed} cambiadas, {added} agregadas, "
                           "{removed} eliminadas, {unchanged} iguales",
    },
    "en": {
        "bt_title": "Rule backtest", "bt_subtitle": "What the candidate pack would have changed",
        "bt_help": "The candidate pack was evaluated on the period's interactions without changing the current "
                   "results. Each rule is compared by its own hash: added, removed, changed or unchanged.",
        "bt_current": "Current pack", "bt_candidate": "Candidate pack", "bt_unscored": "without a current result",
        "bt_rules": "Rules", "bt_status_changed": "changed", "bt_status_added": "added",
        "bt_status_removed": "removed", "bt_status_unchanged": "unchanged", "bt_flips": "Pass ↔ fail flips",
        "bt_mean_score": "Mean score", "bt_pass_rate": "Pass rate", "bt_difference": "Difference (95% CI)",
        "bt_applicable": "Applies", "bt_p2f": "pass → fail", "bt_f2p": "fail → pass", "bt_na": "N/A ↔ applies",
        "bt_dissat": "Dissatisfied when failed / passed",
        "bt_dissat_help": "Among surveyed interactions: the share of dissatisfied customers when the rule fails and "
                          "when it passes, under the current and the candidate pack. A wider gap means the rule "
                          "predicts unhappy customers better.",
        "bt_gap": "gap", "bt_agents": "Agents", "bt_agents_help": "The period's mean score under each pack, the "
                  "change and the ranking position (1 = best).",
        "bt_rank": "Rank", "bt_change": "Change", "bt_small": "small sample",
        "bt_flipped": "Interactions that change", "bt_flipped_help": "Per rule, up to {n} interactions whose "
                      "outcome changes, the largest score drop first; each pack's evidence highlighted.",
        "bt_kind_pass_to_fail": "pass → fail", "bt_kind_fail_to_pass": "fail → pass",
        "bt_kind_na_to_fail": "N/A → fail", "bt_kind_fail_to_na": "fail → N/A",
        "bt_no_changes": "No result changes under the candidate pack.", "bt_no_evidence": "no evidence",
        "bt_interactions": "Interactions", "bt_rules_summary": "Rules: {changed} changed, {added} added, "
                           "{removed} removed, {unchanged} unchanged",
    },
}


def render_backtest(data: BacktestData, out_dir: Path, lang: str = "es") -> str:
    """Write the diff report (one self-contained page) to `out_dir` atomically; returns the page's path."""
    from qa_scoring.report.render import environment, write_folder

    if lang not in LANGUAGES:
        raise InputError(f"backtest --lang {lang}: must be one of {', '.join(LANGUAGES)}")
    fmt = Formatter(lang)

    def t(key: str, **values: object) -> str:
        text = TEXT[lang].get(key)
        if text is None:
            return fmt.t(key, **values)
        return text.format(**values) if values else text

    footer = {"generated": fmt.datetime(store.utc_now()) + " UTC",
              "versions": " · ".join(f"{k} {v}" for k, v in store.versions().items())}
    html = environment().get_template("backtest.html").render(t=t, f=fmt, data=data, lang=lang, footer=footer)
    write_folder(Path(out_dir), {"index.html": html})
    return str(Path(out_dir) / "index.html")


def load_candidate(rules_dir: Path) -> RulePack:
    """The candidate pack, checked like `rules check` (examples too): every problem as file:line, exit 2."""
    from qa_scoring.rules import check_rule_pack, load_rule_pack

    check_rule_pack(rules_dir)
    return load_rule_pack(rules_dir)


def check_operation(con, command: str, operation: str | None) -> None:
    """An --operation naming no stored interactions is bad input (one line naming those stored)."""
    if operation is None:
        return
    stored = [r[0] for r in con.execute("SELECT DISTINCT operation FROM interactions ORDER BY 1").fetchall()]
    if operation not in stored:
        raise InputError(f"{command} --operation {operation}: no interactions of that operation "
                         f"(stored: {', '.join(stored) or 'none'})")


def run_backtest(con: duckdb.DuckDBPyConnection, settings, candidate: RulePack, *, out_dir: Path,
                 since: date | None = None, until: date | None = None, lang: str = "es",
                 flips_per_rule: int = 10, operation: str | None = None) -> BacktestSummary:
    """`qa-scoring backtest`: compare the candidate with the current pack, write the page."""
    from qa_scoring.report.render import _check_target, _label_sql, label_text

    started = time.perf_counter()
    if lang not in LANGUAGES:
        raise InputError(f"backtest --lang {lang}: must be one of {', '.join(LANGUAGES)}")
    _check_target(Path(out_dir))
    check_operation(con, "backtest", operation)
    label_sql, label_params, label_scale = _label_sql(settings)
    fmt = Formatter(lang)
    data = backtest_pack(con, candidate, since=since, until=until, label_sql=label_sql, label_params=label_params,
                         label_text=label_text(label_scale, fmt),
                         min_sample=settings.report.min_sample, flips_per_rule=flips_per_rule, lang=lang,
                         operation=operation)
    index = render_backtest(data, Path(out_dir), lang)
    return BacktestSummary(data=data, out=index, seconds=round(time.perf_counter() - started, 3))
