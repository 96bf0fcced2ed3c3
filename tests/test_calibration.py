"""The report's calibration page, disputed findings, low-agreement marks and the verdicts shown on
agent and rule pages (issue 14 part 5), on the bundled sample and its bundled reviews file."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import markupsafe
import pytest

from qa_scoring import store
from qa_scoring.report import charts
from qa_scoring.resources import sample_reviews
from test_reviews import HOSTILE, outcomes_of, run, unique_cases, write_csv


@pytest.fixture
def scored(sample_db, runner):
    run(runner, sample_db, "score")
    return sample_db


def render(runner, db, out: Path, *args) -> Path:
    run(runner, db, "report", "--out", str(out), *args)
    return out


def row_of(page: str, row_id: str) -> str:
    """The HTML of the table row with this id."""
    match = re.search(rf'<tr id="{re.escape(row_id)}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, row_id
    return match.group(1)


def expected_disputes(db: Path, reviews: Path) -> set[tuple[str, str]]:
    """(case_id, rule_id) whose latest verdict differs from the rule's outcome, computed from the file."""
    words = {"cumple": "pass", "no cumple": "fail", "n/a": "na"}
    by_case = {(case.strip(), rid): outcome for (_iid, rid), (outcome, case, _ch) in outcomes_of(db).items()}
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    with reviews.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            key = (r["case_id"], r["rule_id"])
            if key in by_case and (key not in latest or r["reviewed_at"] >= latest[key][0]):
                latest[key] = (r["reviewed_at"], words[r["verdict"]])
    return {key for key, (_when, verdict) in latest.items() if verdict != by_case[key]}


def test_the_bundled_reviews_give_a_calibration_page_that_matches_the_agreement_command(scored, runner, tmp_path):
    reviews, = sample_reviews()
    run(runner, scored, "reviews", "import", str(reviews))
    measured = json.loads(run(runner, scored, "reviews", "agreement", "--json").stdout)
    out = render(runner, scored, tmp_path / "r")
    page = (out / "calibration.html").read_text(encoding="utf-8")
    for rule_id, r in measured["rules"].items():
        row = row_of(page, f"cal-{rule_id}")
        assert f">{r['n']}<" in row.replace(" ", "")
        if r["kappa"] is not None:
            assert f"{r['kappa']:.2f}".replace(".", ",") in row
    # the planted disagreement reads "revise", the rule with 12 reviews "too few", the others reliable
    assert "revisar la regla" in row_of(page, "cal-empatia_cliente_molesto")
    assert "pocas revisiones" in row_of(page, "cal-presentacion_nombre")
    assert "confiable" in row_of(page, "cal-saludo_inicial")
    assert re.search(r"\bnan\b", page, re.I) is None
    # the chart: one dot-and-whisker per rule; the low rule drawn in its own colour
    assert page.count('<g class="kappa ') == len(measured["rules"])
    assert page.count('<g class="kappa revise"') == 1
    # disputes: exactly the (case, rule) pairs a hand computation from the file finds
    want = expected_disputes(scored, reviews)
    shown = int(re.search(r'id="disputes">[^<]*<small>\((\d+)\)</small>', page).group(1))
    assert shown == len(want) > 10
    assert "aplicado al puntaje" in page
    # the unmatched rows of the file (an unknown case, an unknown rule) are said, not dropped
    unmatched = re.search(r'id="cal-unmatched">(.*?)</p>', page, re.S).group(1)
    assert "sin interacción con ese caso: 1" in unmatched and "regla desconocida: 1" in unmatched
    # the rules page marks the low-agreement rule, and only it
    rules = (out / "rules.html").read_text(encoding="utf-8")
    marked = set(re.findall(r'href="calibration.html#cal-([a-z_]+)"', rules))
    assert marked == {"empatia_cliente_molesto"}
    # the index says how many reviews there are, by how many analysts, how fresh, and which rule is low
    index = (out / "index.html").read_text(encoding="utf-8")
    status = re.search(r'id="reviews-status">(.*?)</p>', index, re.S).group(1)
    assert f"{measured['verdicts']} veredictos de 2 analistas" in status and "13 nov 2026" in status
    assert "Empatía" in status


def test_an_agent_page_shows_the_rule_and_the_review_with_who_when_and_why_escaped(scored, runner, tmp_path):
    results = outcomes_of(scored)
    cases = unique_cases(scored)
    (iid, rid), (_, case, ch) = next((k, v) for k, v in sorted(results.items())
                                     if v[0] == "fail" and v[1].strip() in cases and k[1] == "saludo_inicial")
    f = write_csv(tmp_path / "v.csv", ["case_id", "channel", "rule_id", "verdict", "reviewer", "reviewed_at", "note"],
                  [[case, ch, rid, "cumple", HOSTILE, "2026-11-12 10:30:00", HOSTILE + " 4242-4242-4242-4242"]])
    run(runner, scored, "reviews", "import", str(f))
    con = store.connect(scored, read_only=True)
    agent, = store.fetch_one(con, "SELECT agent_name FROM interactions WHERE interaction_id = ?", [iid])
    con.close()
    out = render(runner, scored, tmp_path / "r")
    index = (out / "index.html").read_text(encoding="utf-8")
    link = re.search(rf'<a href="(agents/[^"]+)"><bdi>{re.escape(html.escape(agent))}</bdi></a>', index).group(1)
    page = (out / link).read_text(encoding="utf-8")
    section = re.search(r'<section id="overrides".*?</section>', page, re.S).group(0)
    assert "regla: no cumple · revisión: cumple" in section
    assert "12 nov 2026" in section and "aplicado al puntaje" in section
    assert "(interacciones: 1)" in section  # the score says it includes an override
    assert str(markupsafe.escape(HOSTILE)) in section  # the reviewer, escaped
    for name in ("index.html", link, "calibration.html", *[str(p.relative_to(out)) for p in out.glob("rules/*")]):
        text = (out / name).read_text(encoding="utf-8")
        assert "<script>" not in text and "4242-4242-4242-4242" not in text, name
    # the rule's own page shows the verdict beside the failure
    rule_page = next(p for p in out.glob("rules/*.html") if "saludo" in p.name and "email" not in p.name)
    assert "revisión: cumple" in rule_page.read_text(encoding="utf-8")
    # in English, the same line in English
    en = render(runner, scored, tmp_path / "en", "--lang", "en")
    assert "rule: fail · review: pass" in (en / link).read_text(encoding="utf-8")


def test_with_overrides_off_the_dispute_is_shown_but_not_applied(scored, runner, tmp_path):
    results = outcomes_of(scored)
    cases = unique_cases(scored)
    (_iid, rid), (_, case, ch) = next((k, v) for k, v in sorted(results.items())
                                      if v[0] == "fail" and v[1].strip() in cases)
    config = tmp_path / "qa.toml"
    config.write_text("[reviews]\noverride = false\n", encoding="utf-8")
    f = write_csv(tmp_path / "v.csv", ["case_id", "channel", "rule_id", "verdict", "reviewer"],
                  [[case, ch, rid, "pass", "Ana"]])
    run(runner, scored, "--config", str(config), "reviews", "import", str(f))
    out = tmp_path / "r"
    run(runner, scored, "--config", str(config), "report", "--out", str(out))
    page = (out / "calibration.html").read_text(encoding="utf-8")
    assert "está desactivado" in page and "aplicado al puntaje" not in page
    assert re.search(r'id="disputes">[^<]*<small>\(1\)</small>', page)


def test_without_reviews_the_pages_say_so_and_how_to_start(scored, runner, tmp_path):
    out = render(runner, scored, tmp_path / "r")
    assert "qa-scoring reviews import" in (out / "calibration.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "Aún no hay revisiones del equipo de calidad" in index
    assert 'href="calibration.html"' in index


def test_whisker_chart_places_estimates_and_intervals_on_the_scale():
    c = charts.whisker_chart([("a", 0.4, 0.1, 0.7, "revise", ""), ("b", None, None, None, "undefined", ""),
                              ("c", 1.5, -3.0, 1.0, "reliable", "")],
                             x_range=(-0.2, 1.0), xticks=[(0.0, "0")], width=460, label_width=100)
    span = c.right - c.left
    a, b, cc = c.rows
    assert a.x == pytest.approx(c.left + span * 0.6 / 1.2, abs=0.1)
    assert (a.low, a.high) == (pytest.approx(c.left + span * 0.3 / 1.2, abs=0.1),
                               pytest.approx(c.left + span * 0.9 / 1.2, abs=0.1))
    assert b.x is None and b.low is None  # undefined κ: nothing drawn
    assert cc.x == c.right and cc.low == c.left  # out-of-range values sit at the edges
    assert a.y < b.y < cc.y <= c.bottom
