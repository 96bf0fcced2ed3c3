"""One language per report (issue 12 item 8): the catalogues are complete, numbers, dates, durations
and plurals follow the language (Babel), the engine's English internals are worded per language, and
the real demo reads in one language in Spanish and in English."""

from __future__ import annotations

import re
import string
from datetime import date, datetime
from pathlib import Path

import pytest

from qa_scoring.backtest import TEXT as BACKTEST_TEXT
from qa_scoring.cli import cli
from qa_scoring.report.data import Term
from qa_scoring.report.i18n import CATALOGUES, Formatter
from tests.conftest import REPO

ES, EN = Formatter("es"), Formatter("en")


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# --- the catalogues -------------------------------------------------------------------------------

def test_every_key_in_both_languages_with_the_same_placeholders_and_plural_forms():
    es, en = CATALOGUES["es"], CATALOGUES["en"]
    assert set(es) == set(en), set(es) ^ set(en)
    for key in es:
        a, b = es[key], en[key]
        assert type(a) is type(b), key  # a plural entry in one language is one in the other
        if isinstance(a, dict):
            assert {"one", "other"} <= set(a) and {"one", "other"} <= set(b), key
            for text in (*a.values(), *b.values()):
                assert placeholders(text) <= placeholders(a["other"]) | {"n"}, (key, text)
            assert placeholders(a["other"]) == placeholders(b["other"]), key
        else:
            assert placeholders(a) == placeholders(b), key
        for text in (a.values() if isinstance(a, dict) else [a]):
            assert text.strip(), key
    assert set(BACKTEST_TEXT["es"]) == set(BACKTEST_TEXT["en"])


def test_every_key_the_templates_and_the_renderer_use_is_in_the_catalogue():
    used: set[tuple[str, str]] = set()
    sources = [*(REPO / "templates").glob("*.html"), *(REPO / "qa_scoring" / "report").glob("*.py"),
               REPO / "qa_scoring" / "backtest.py"]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        used |= {("t", k) for k in re.findall(r"""\bt\(\s*['"]([a-z0-9_.]+)['"]\s*[,)]""", text)}
        used |= {("plural", k) for k in re.findall(r"""\.plural\(\s*['"]([a-z0-9_.]+)['"]\s*[,)]""", text)}
    assert len(used) > 150
    for how, key in sorted(used):
        for lang in ("es", "en"):
            entry = CATALOGUES[lang].get(key, BACKTEST_TEXT[lang].get(key))
            assert entry is not None, (lang, key)
            assert isinstance(entry, dict) == (how == "plural"), (how, key)  # t() of a plural entry is a bug


# --- formatting with Babel ------------------------------------------------------------------------

def test_numbers_percentages_and_scores_follow_the_language():
    assert ES.num(1234567.891, 1) == "1.234.567,9" and EN.num(1234567.891, 1) == "1,234,567.9"
    assert ES.num(2802) == "2.802" and EN.num(2802) == "2,802"
    assert ES.pct(0.1234) == "12\u00a0%" and EN.pct(0.1234) == "12%"
    assert ES.pct(0.996, 1) == "99,6\u00a0%" and EN.pct(0.996, 1) == "99.6%"
    assert EN.pct(0.0004) == "<1%" and ES.pct(0.9996) == ">99\u00a0%" and EN.pct(1.0) == "100%"
    assert ES.score(99.97) == ">99,9" and EN.score(0.02) == "<0.1" and ES.score(100.0) == "100,0"
    assert ES.signed(-1.5) == "\u22121,5" and EN.signed(3.25, 2) == "+3.25" and EN.signed(0.01) == "0.0"
    assert ES.ratio(2.14) == "2,1×" and EN.num(None) == "–" and ES.pct(float("nan")) == "–"


def test_dates_periods_and_plurals_follow_the_language():
    one, first, last = date(2026, 11, 13), date(2026, 10, 15), date(2026, 11, 13)
    assert ES.date(date(2026, 11, 3)) == "3 nov 2026" and EN.date(date(2026, 11, 3)) == "Nov 3, 2026"
    assert ES.short_date(one) == "13 nov" and EN.short_date(one) == "Nov 13"
    assert ES.datetime(datetime(2026, 11, 3, 14, 5)) == "3 nov 2026 14:05"
    # one day reads as one day: no "13 nov 2026 – 13 nov 2026 (1 días)"
    assert ES.period(one, one) == "13 nov 2026 (1 día)" and EN.period(one, one) == "Nov 13, 2026 (1 day)"
    assert ES.period(first, last) == "15 oct\u2009–\u200913 nov 2026 (30 días)"
    assert EN.period(first, last) == "Oct 15\u2009–\u2009Nov 13, 2026 (30 days)"
    assert ES.plural("more_rules", 1) == "y 1 regla más" and ES.plural("more_rules", 3) == "y 3 reglas más"
    assert EN.plural("more_rules", 1) == "and 1 more rule" and EN.plural("words_n", 1) == "1 word"
    assert ES.plural("days_n", 1000) == "1.000 días"
    assert ES.plural("open_pending_note", 1, hours="72").startswith("1 interacción sigue abierta")
    with pytest.raises(TypeError):
        ES.t("days_n")  # a plural entry needs its count


def test_durations_in_the_unit_a_reader_thinks_in():
    assert [ES.duration(s) for s in (45, 300, 3600, 5716, 134804, 267840)] == [
        "45 s", "5 min", "1 h", "1,6 h", "37,4 h", "3,1 días"]
    assert [EN.duration(s) for s in (45, 300, 3600, 134804, 267840)] == [
        "45 sec", "5 min", "1 hr", "37.4 hr", "3.1 days"]
    assert ES.duration(86400) == "24 h" and EN.duration(-300) == "\u22125 min" and ES.duration(None) == "–"


# --- the engine's English internals, worded per language ----------------------------------------

def test_measured_evidence_is_worded_per_language():
    cases = [("134804 s (max 86400 s)", "duration", "37,4 h (máx. 24 h)", "37.4 hr (max 24 hr)"),
             ("37 chars (min 40 chars)", "length", "37 caracteres (mín. 40)", "37 characters (min 40)"),
             ("1 words (min 3 words)", "length", "1 palabra (mín. 3)", "1 word (min 3)"),
             ("401 words (max 400 words)", "length", "401 palabras (máx. 400)", "401 words (max 400)"),
             ("-20 s (min 0 s)", "duration", "\u221220 s (mín. 0 s)", "\u221220 sec (min 0 sec)"),
             ("900 s (min 60, max 3600 s)", "duration", "15 min (mín. 60 s, máx. 1 h)", "15 min (min 60 sec, max 1 hr)")]
    for raw, kind, es, en in cases:
        assert (ES.evidence(raw, kind), EN.evidence(raw, kind)) == (es, en), raw
    # a value that only looks like a measure (an in_set rule's cod_act, a phrase) is the user's text
    assert ES.evidence("5 s (max 3 s)", "in_set") == "5 s (max 3 s)"
    assert ES.evidence("ya le dije", "contains_none") == "ya le dije" and ES.evidence(None) == ""


def test_model_words_quarantine_reasons_and_field_names_are_worded_per_language():
    terms = [Term("El agente saluda", "rule"), Term("webchat", "channel"), Term("0007", "skill"),
             Term("handle time 25.1 h", "handle"), Term("no close time", "handle"), Term("time", "handle"),
             Term("ya le dije", "answer")]
    assert [ES.term(t) for t in terms] == [
        "regla incumplida: El agente saluda", "canal: webchat", "skill: 0007", "tiempo de gestión: 25,1 h",
        "sin hora de cierre", "tiempo de gestión", "ya le dije"]
    assert EN.term(terms[3]) == "handle time: 25.1 hr" and EN.term(terms[0]) == "rule failed: El agente saluda"
    reasons = ["bad date_creation", "missing agent_name", "missing case_id", "missing date_creation",
               "bad close_date", "date_creation", "close_date", "row is a list, not an object", "row has"]
    es = [ES.quarantine_reason(r) for r in reasons]
    assert es[:2] == ["fecha de creación ilegible (date_creation)", "sin agente (agent_name)"]
    assert all(r not in e for r, e in zip(reasons[:5], es)) and len(set(es)) == len(es)
    assert EN.quarantine_reason("bad date_creation") == "unreadable creation date (date_creation)"
    assert ES.quarantine_reason("something new") == "something new"  # a future reason still shows
    assert (ES.field("closed_at"), EN.field("cod_act"), ES.field("answer")) == ("Cierre", "Typification",
                                                                                "Respuesta del agente")


# --- the real demo in Spanish and in English -------------------------------------------------------

# Strings that only the engine writes (never a customer or an agent), by the language they belong to.
ENGLISH_INTERNALS = ["rule failed:", "channel: ", "handle time", "no close time", " s (max", " s (min",
                     re.compile(r"\d (?:words|chars) \((?:min|max)"), "bad date_creation", "missing agent_name",
                     "missing case_id", "missing date_creation", "fitted on the newest", "any other answer",
                     "10-point scale", " / The agent", "The agent greets", "Courteous closing", "Log loss",
                     "(1 días)", "Evidence", "Failed rules", "Customer's message"]
SPANISH_INTERNALS = ["regla incumplida", "canal: ", "tiempo de gestión", "sin hora de cierre", "(máx.", "(mín.",
                     "caracteres (", "fecha de creación ilegible", "sin agente (", "ajustada con el",
                     "cualquier otra respuesta", "escala de 10 puntos", "El agente saluda /", "El agente saluda",
                     "Cierre cordial", "Pérdida logarítmica", "días)", "Evidencia", "Reglas incumplidas",
                     "Respuesta del agente"]


def _found(pages: dict[str, str], needle) -> list[str]:
    hits = []
    for name, page in pages.items():
        if needle.search(page) if isinstance(needle, re.Pattern) else needle in page:
            hits.append(name)
    return hits


@pytest.mark.slow
def test_the_demo_reads_in_one_language_in_spanish_and_in_english(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["demo", "--out", "es"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["report", "--out", "en", "--lang", "en"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["report", "--out", "day", "--since", "2026-11-13", "--until", "2026-11-13"])
    assert result.exit_code == 0, result.output
    pages = {lang: {str(p.relative_to(tmp_path / lang)): p.read_text(encoding="utf-8")
                    for p in (tmp_path / lang).rglob("*.html")} for lang in ("es", "en", "day")}
    for needle in ENGLISH_INTERNALS:
        assert not _found(pages["es"], needle) and not _found(pages["day"], needle), needle
    for needle in SPANISH_INTERNALS:
        assert not _found(pages["en"], needle), needle
    # ... and the same facts are there, in each language's words
    joined = {lang: "".join(p.values()) for lang, p in pages.items()}
    for es, en in (("regla incumplida: ", "rule failed: "), ("(máx. 24 h)", "(max 24 hr)"), ("palabra (mín. 3)",
                   "word (min 3)"), ("fecha de creación ilegible", "unreadable creation date"),
                   ("El agente saluda", "The agent greets"), ("Platt, ajustada con el 20\u00a0%", "Platt, fitted on "
                   "the newest 20%"), ("tiempo de gestión: ", "handle time: ")):
        assert es in joined["es"] and en in joined["en"], (es, en)
    assert "13 nov 2026 (1 día)" in pages["day"]["index.html"]
    # the overview of the demo's two operations: thousands grouped per language
    assert "1.520" in pages["es"]["index.html"] and "1,520" in pages["en"]["index.html"]
    assert "1.430" in pages["es"]["index.html"] and "1,430" in pages["en"]["index.html"]
