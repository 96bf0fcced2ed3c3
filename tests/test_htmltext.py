"""HTML emails: stored as plain text (raw HTML kept), matched, classified and shown as plain text."""

from __future__ import annotations

import duckdb
import pytest

from qa_scoring import store
from qa_scoring.htmltext import html_to_text, looks_like_html
from qa_scoring.resources import rules_dir
from qa_scoring.rules import load_rule_pack
from qa_scoring.rules.score import score_interactions
from tests.test_packs import undo_v6
from tests.test_report import import_rows, row

UPSET_HTML = "<div>P&eacute;simo servicio</div>"
GMAIL = ('<div dir="ltr">Buenos d&iacute;as,<br><br>La se&ntilde;al se cae.</div><div><br></div>'
         '<div>Cordialmente,<br>Ana</div>')


@pytest.mark.parametrize("html, text", [
    (UPSET_HTML, "Pésimo servicio"),
    (GMAIL, "Buenos días,\n\nLa señal se cae.\n\nCordialmente,\nAna"),
    ("<p>uno</p><p>dos <b>tres</b>  cuatro</p>", "uno\n\ndos tres cuatro"),
    ("<html><head><style>p{x:1}</style><title>t</title></head><body>hola<script>alert(1)</script></body></html>",
     "hola"),
    ("<table><tr><td>a</td><td>b</td></tr></table>fin", "a b\n\nfin"),
    ("AT&amp;T&nbsp;ok", "AT&T ok"),
])
def test_html_to_text_reads_like_a_browser(html, text):
    assert looks_like_html(html)
    assert html_to_text(html) == text


@pytest.mark.parametrize("text", ["a < b > c", "<script>alert(1)</script>", "te quiero <3", "x&y; z", "", None])
def test_plain_chat_text_is_not_taken_for_html(text):
    assert not looks_like_html(text)


def test_html_email_is_matched_on_its_plain_text_and_raw_html_kept(con, tmp_path):
    import_rows(con, tmp_path, [
        row(case_id="1", channel="email", body=UPSET_HTML, answer="<div>Debe radicar una solicitud.</div>"),
        row(case_id="2", channel="email", body="<p>Hola</p>", answer="<p>Lamento lo ocurrido, Ana</p>"),
        row(case_id="3", body="a < b", answer="Buenos días"),
    ])
    body, body_html, answer, answer_html = store.fetch_one(
        con, "SELECT body, body_html, answer, answer_html FROM interactions WHERE case_id = '1'")
    assert (body, body_html) == ("Pésimo servicio", UPSET_HTML)
    assert (answer, answer_html) == ("Debe radicar una solicitud.", "<div>Debe radicar una solicitud.</div>")
    assert store.fetch_one(con, "SELECT body, body_html FROM interactions WHERE case_id = '3'") == ("a < b", None)

    score_interactions(con, load_rule_pack(rules_dir()))
    got = dict(con.execute("""SELECT i.case_id, CASE WHEN NOT applicable THEN 'na' WHEN passed THEN 'pass' ELSE 'fail' END
                              FROM rule_results r JOIN interactions i USING (interaction_id)
                              WHERE rule_id = 'empatia_cliente_molesto'""").fetchall())
    assert got["1"] == "fail"  # the upset-customer trigger fires on the decoded text
    # evidence offsets point into the stored (shown) text: the greeting rule's curt-phrase evidence etc.
    for text, evidence, start, end in con.execute("""
            SELECT CASE r.evidence_field WHEN 'body' THEN i.body ELSE i.answer END, r.evidence, r.evidence_start,
                   r.evidence_end FROM rule_results r JOIN interactions i USING (interaction_id)
            WHERE r.evidence_start IS NOT NULL""").fetchall():
        assert text[start:end] == evidence


def test_reimport_and_rebuild_give_the_same_rows(con, tmp_path):
    import_rows(con, tmp_path, [row(case_id="1", channel="email", body=GMAIL)])
    before = con.execute("SELECT body, body_html, content_hash FROM interactions").fetchall()
    import_rows(con, tmp_path, [row(case_id="1", channel="email", body=GMAIL), row(case_id="2")], name="b.json")
    assert store.fetch_one(con, "SELECT count(*) FROM interactions WHERE case_id = '1' AND changed_at = first_seen")[0] == 1
    query = "SELECT body, body_html, content_hash FROM interactions WHERE case_id = '1'"
    assert con.execute(query).fetchall() == before
    store.rebuild_interactions(con)
    assert con.execute(query).fetchall() == before


def test_v5_database_gets_plain_text_on_migration(db_path, tmp_path):
    con = store.connect(db_path)
    import_rows(con, tmp_path, [row(case_id="1", channel="email", body=UPSET_HTML), row(case_id="2")])
    clean = con.execute("SELECT case_id, body, body_html, content_hash FROM interactions ORDER BY 1").fetchall()
    undo_v6(con)  # back to v5, which stored HTML as it came
    assert store.fetch_one(con, "SELECT body FROM interactions WHERE case_id = '1'")[0] == UPSET_HTML
    con.close()
    con = store.connect(db_path)
    try:
        assert store.schema_version(con) == store.SCHEMA_VERSION
        assert con.execute("SELECT case_id, body, body_html, content_hash FROM interactions ORDER BY 1").fetchall() == clean
    finally:
        con.close()


def test_agent_page_shows_the_plain_text_of_an_html_email(con, tmp_path):
    from qa_scoring.report import render_reports
    from tests.test_report import settings_for

    import_rows(con, tmp_path, [row(case_id=str(n), channel="email", body=UPSET_HTML,
                                    answer="<div>Debe radicar una solicitud.</div>",
                                    date_creation=f"2026-11-0{1 + n} 10:00:00", close_date=f"2026-11-0{1 + n} 11:00:00")
                                for n in range(3)])
    score_interactions(con, load_rule_pack(rules_dir()))
    out = tmp_path / "out"
    render_reports(con, settings_for(low_score=100), out_dir=out, since=None, until=None)  # every one reviewed
    page = "".join(p.read_text(encoding="utf-8") for p in (out / "agents").glob("*.html"))
    assert "Pésimo servicio" in page
    assert "&amp;eacute;" not in page and "&lt;div" not in page
