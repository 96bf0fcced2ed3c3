"""Audit samples out: a stratified, seeded sample of (interaction, rule) pairs for the analysts to label.

For each rule of the current pack: up to half the sample where the rule failed (hits) and the rest
where it did not (passed or not applicable: a rule only ever checked where it fires can never show
a miss). Pairs already reviewed by anyone are left out. The order inside each stratum is md5(seed,
interaction, rule): the same database and seed give the same sample. Written as the project's own
review CSV (`reviews import` takes it back as it is, once the verdict column is filled) plus a
printable HTML worksheet beside it with the texts and the evidence highlighted.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from pathlib import Path

import duckdb

from qa_scoring import outcomes, store
from qa_scoring.errors import InputError, RunTimeError
from qa_scoring.reviews.files import OWN_COLUMNS
from qa_scoring.reviews.stored import period_sql

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_FIELDS = ("subject", "body", "answer", "comments")


@dataclass(frozen=True)
class SampleItem:
    interaction_id: str
    case_id: str
    channel: str
    agent: str
    created_at: datetime
    rule_id: str
    title: str
    description: str
    outcome: str  # pass | fail | na: the rule's automatic outcome
    evidence: str | None
    fields: tuple  # TextField of the texts shown


@dataclass(frozen=True)
class SampleSummary:
    out: str
    worksheet: str
    pairs: int
    rules: int
    hits: int
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        return (f"sampled {self.pairs:,} (interaction, rule) pairs over {self.rules} rules ({self.hits:,} where the "
                f"rule failed) → {self.out} and {self.worksheet}")


def _safe(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def draw_sample(con: duckdb.DuckDBPyConnection, *, per_rule: int, seed: int, since: date | None = None,
                until: date | None = None) -> list[tuple]:
    """(interaction_id, rule_id, letter) of the sample, ordered by rule then the seeded order."""
    period, params = period_sql(since, until)
    params.update({"seed": str(seed), "hits": (per_rule + 1) // 2, "per_rule": per_rule})
    letter = outcomes.letter_at("o.outcomes", "p.position")
    return con.execute(f"""
        WITH o AS (SELECT o.interaction_id, o.outcomes, o.rule_pack_hash FROM rule_outcomes o
                   JOIN interactions i USING (interaction_id)
                   WHERE o.rule_pack_hash IN {outcomes.CURRENT_PACK} AND {period}),
        pairs AS (SELECT o.interaction_id, p.rule_id, {letter} AS letter
                  FROM o JOIN rule_pack_rules p ON p.rule_pack_hash = o.rule_pack_hash
                  WHERE {letter} <> '{outcomes.NO_RESULT}'),
        open AS (SELECT * FROM pairs ANTI JOIN reviews r USING (interaction_id, rule_id)),
        ranked AS (SELECT *, letter IN {outcomes.FAILED_LETTERS} AS hit,
                          md5($seed || chr(31) || interaction_id || chr(31) || rule_id) AS draw,
                          row_number() OVER (PARTITION BY rule_id, letter IN {outcomes.FAILED_LETTERS}
                                             ORDER BY md5($seed || chr(31) || interaction_id || chr(31) || rule_id)) AS k
                   FROM open),
        hits AS (SELECT rule_id, count(*) FILTER (hit AND k <= $hits) AS h FROM ranked GROUP BY rule_id)
        SELECT r.interaction_id, r.rule_id, r.letter FROM ranked r JOIN hits USING (rule_id)
        WHERE (r.hit AND r.k <= $hits) OR (NOT r.hit AND r.k <= $per_rule - hits.h)
        ORDER BY r.rule_id, r.draw""", params).fetchall()


def _items(con, drawn: list[tuple], lang: str, personal: bool = False) -> list[SampleItem]:
    from qa_scoring.mask import mask_text
    from qa_scoring.report.data import subject_label
    from qa_scoring.report.text import segment_text
    from qa_scoring.rules.stored import rule_catalogue

    if not drawn:
        return []
    catalogue = rule_catalogue(con, lang)
    con.execute("CREATE OR REPLACE TEMP TABLE qa_sample (seq INTEGER, interaction_id VARCHAR, rule_id VARCHAR, letter VARCHAR)")
    con.executemany("INSERT INTO qa_sample VALUES (?, ?, ?, ?)", [(n, *d) for n, d in enumerate(drawn)])
    rows = con.execute(f"""
        SELECT s.interaction_id, s.rule_id, s.letter, i.case_id, i.channel, i.agent_name, i.created_at,
               i.subject, i.body, i.answer, i.comments,
               e.evidence, e.evidence_field, e.evidence_start, e.evidence_end
        FROM qa_sample s JOIN interactions i USING (interaction_id)
        LEFT JOIN rule_evidence e ON e.interaction_id = s.interaction_id AND e.rule_id = s.rule_id
                                  AND e.rule_pack_hash IN {outcomes.CURRENT_PACK}
        QUALIFY row_number() OVER (PARTITION BY s.seq ORDER BY e.evidence_start NULLS LAST) = 1
        ORDER BY s.seq""").fetchall()
    con.execute("DROP TABLE qa_sample")
    items = []
    for (iid, rule_id, letter, case_id, channel, agent, created, subject, body, answer, comments,
         evidence, ev_field, ev_start, ev_end) in rows:
        # Card numbers masked as on every report page (the mask keeps lengths: offsets stay exact).
        texts = {k: mask_text(v, personal) for k, v in
                 {"subject": subject, "body": body, "answer": answer, "comments": comments}.items()}
        evidence = mask_text(evidence, personal)
        rule = catalogue.get(rule_id)
        fields = []
        for key in TEXT_FIELDS:
            if not texts[key] and key in ("subject", "comments"):
                continue
            spans = ([(ev_start, ev_end, rule.title if rule else rule_id)]
                     if ev_field == key and ev_start is not None and ev_end is not None else [])
            field = segment_text(key, texts[key], spans)
            # what Wolkvox puts in `subject` depends on the channel (a name on chat channels)
            fields.append(replace(field, label=subject_label(channel.strip().lower() if channel else ""))
                          if key == "subject" else field)
        outcome = ("fail" if letter in (outcomes.FAILED, outcomes.FAILED_WITH_EVIDENCE)
                   else "pass" if letter == outcomes.PASSED else "na")
        items.append(SampleItem(iid, case_id or "", channel or "", agent or "", created, rule_id,
                                rule.title if rule else rule_id, rule.description if rule else "", outcome,
                                evidence, tuple(fields)))
    return items


WORDS = {
    "es": {"title": "Hoja de auditoría", "help": "Para cada fila: lea el texto y marque si el agente cumple la "
           "regla. Anote el veredicto en la columna «verdict» del CSV ({csv}) — cumple, no cumple o n/a — con su "
           "nombre en «reviewer», y vuelva a importarlo con «qa-scoring reviews import».",
           "case": "Caso", "agent": "Agente", "channel": "Canal", "date": "Fecha", "rule": "Regla",
           "auto": "Resultado automático", "pass": "cumple", "fail": "no cumple", "na": "no aplica",
           "verdict": "Veredicto", "note": "Nota", "empty": "(vacío)", "subject": "Asunto", "subject_chat": "Nombre del cliente",
           "subject_social": "Autor de la publicación", "body": "Cliente",
           "answer": "Agente", "comments": "Nota interna", "pairs": "{n} pares (interacción, regla)",
           "truncated": "texto de {n} caracteres: se muestran el inicio y el contexto de la evidencia"},
    "en": {"title": "Audit worksheet", "help": "For each row: read the text and tick whether the agent meets the "
           "rule. Write the verdict in the CSV's «verdict» column ({csv}) — pass, fail or na — with your name under "
           "«reviewer», and import it back with «qa-scoring reviews import».",
           "case": "Case", "agent": "Agent", "channel": "Channel", "date": "Date", "rule": "Rule",
           "auto": "Automatic outcome", "pass": "pass", "fail": "fail", "na": "not applicable",
           "verdict": "Verdict", "note": "Note", "empty": "(empty)", "subject": "Subject", "subject_chat": "Customer name",
           "subject_social": "Post author", "body": "Customer",
           "answer": "Agent", "comments": "Internal note", "pairs": "{n} (interaction, rule) pairs",
           "truncated": "a {n}-character text: its start and the evidence's context are shown"},
}


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise RunTimeError(f"{path}: cannot write ({err.strerror or err})") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_sample(con: duckdb.DuckDBPyConnection, out: Path, *, per_rule: int = 10, seed: int = 0,
                 since: date | None = None, until: date | None = None, lang: str = "es",
                 bom: bool = False, mask_personal: bool = False) -> SampleSummary:
    """Draw the sample and write the CSV and, beside it, the worksheet (`<out>.html`)."""
    from qa_scoring.report.i18n import Formatter
    from qa_scoring.report.render import environment

    out = Path(out)
    if per_rule < 1:
        raise InputError(f"reviews sample --per-rule {per_rule}: must be at least 1")
    if not out.parent.exists():
        raise InputError(f"reviews sample --out: folder {out.parent} does not exist")
    if out.suffix.lower() == ".html":
        raise InputError(f"reviews sample --out {out}: give the CSV file name; the worksheet is written beside it")
    if store.fetch_one(con, "SELECT count(*) FROM rule_packs WHERE is_current")[0] == 0:
        raise InputError("reviews sample: no rule pack has been scored yet (run 'qa-scoring score' first)")
    worksheet = out.with_name(out.name + ".html") if out.suffix.lower() != ".csv" else out.with_suffix(".html")
    items = _items(con, draw_sample(con, per_rule=per_rule, seed=seed, since=since, until=until), lang,
                   mask_personal)

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(OWN_COLUMNS)
            for it in items:
                w.writerow([_safe(v) for v in (it.case_id, it.channel, it.interaction_id, it.rule_id, "", "", "", "")])

    words = WORDS.get(lang, WORDS["es"])
    fmt = Formatter(lang)
    html = environment().get_template("worksheet.html").render(
        w=words, f=fmt, items=items, lang=lang, csv_name=out.name,
        generated=fmt.datetime(store.utc_now()) + " UTC")
    _write_atomic(out, write_csv)
    _write_atomic(worksheet, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return SampleSummary(out=str(out), worksheet=str(worksheet), pairs=len(items),
                         rules=len({i.rule_id for i in items}), hits=sum(i.outcome == "fail" for i in items), seed=seed)
