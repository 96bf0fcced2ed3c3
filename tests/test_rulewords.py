"""A failure because something is missing (no evidence) says what the rule expected and why it applied,
from the rule's spec stored with the pack (schema v7), in the report's language."""

from __future__ import annotations

import re

from qa_scoring import store
from qa_scoring.report import render_reports
from qa_scoring.report.i18n import Formatter
from qa_scoring.report.rulewords import what_expected, why_applied
from qa_scoring.resources import rules_dir
from qa_scoring.rules import load_rule_pack
from qa_scoring.rules.score import score_interactions
from tests.test_report import import_rows, row, settings_for


def test_a_spec_in_words_per_language():
    spec = {"field": "answer", "kind": "contains_any", "arg": ["hola", "buenos días", "a", "b", "c", "d"],
            "when": {"channel": ["Email"], "field_contains": {"body": ["molesto"]}, "min_length": {"body": 1200}}}
    es, en = Formatter("es"), Formatter("en")
    assert what_expected(spec, es) == "alguna de estas en la respuesta del agente: «hola», «buenos días», «a», «b», y 2 más"
    assert why_applied(spec, en) == ("the channel is «Email»; the customer's message contains one of these: «molesto»; "
                                     "the customer's message has at least 1,200 characters; there is text in the agent's answer")
    assert why_applied({"field": "answer", "kind": "not_empty", "arg": True, "when": {}}, es) == "se aplica a toda interacción"
    assert why_applied({"field": "answer", "kind": "matches", "arg": "x" * 100, "when": {"channel": ["whatsapp", "webchat"]}},
                       es) == "el canal es una de estas: «whatsapp», «webchat»; hay texto en la respuesta del agente"
    assert what_expected({"field": "answer", "kind": "matches", "arg": "x" * 100, "when": {}}, en) == \
        f"the agent's answer matching «{'x' * 79}…»"
    assert what_expected({"field": "comments", "kind": "not_empty", "arg": True, "when": {}}, en) == "text in the agent's note"
    assert what_expected({"field": "answer", "kind": "contains_none", "arg": ["x"], "when": {}}, en) == ""  # has evidence
    assert what_expected(None, en) == why_applied(None, en) == ""  # a pack stored before v7


def test_review_card_says_what_was_expected_and_why_the_rule_applied(con, tmp_path):
    import_rows(con, tmp_path, [row(case_id=str(n), channel="Email", body="<div>P&eacute;simo servicio, <b>molesto</b></div>",
                                    answer="Debe radicar una solicitud en la web.", comments="",
                                    date_creation=f"2026-11-0{1 + n} 10:00:00", close_date=f"2026-11-0{1 + n} 11:00:00")
                                for n in range(3)])
    score_interactions(con, load_rule_pack(rules_dir()))
    assert store.fetch_one(con, "SELECT count(*) FROM rule_pack_rules WHERE spec IS NULL")[0] == 0
    out = tmp_path / "out"
    render_reports(con, settings_for(low_score=100), out_dir=out, since=None, until=None, lang="en")
    html = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    fails = re.sub(r"\s+", " ", html[html.index('<ul class="fails">'):].split("</ul>")[0])
    empathy = next(li for li in fails.split("<li>") if "Empat" in li)
    assert "one of these in the agent&#39;s answer: «lamento», «lamentamos», «entiendo su molestia», «comprendo», and" in empathy
    assert ("it applied because: the customer&#39;s message contains one of these: «molesto», «molesta», "
            "«pésimo servicio»") in empathy and "there is text in the agent&#39;s answer" in empathy
    note = next(li for li in fails.split("<li>") if "text in the agent&#39;s note" in li)
    assert "it applied because: it applies to every interaction" in note
    # three cards fail the same rules: each rule is explained on its first card only (pages print short)
    assert html.count("it applied because: the customer&#39;s message contains") == 1
    assert html.count("one of these in the agent&#39;s answer: «lamento»") == 1
