"""The report stage: HTML structure, escaping of hostile text, fairness and honesty of the numbers,
the atomic folder swap and the CLI (the real-Chromium tests are in test_browser.py)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from qa_scoring import store
from qa_scoring.classify.model import model_id_for
from qa_scoring.cli import cli
from qa_scoring.config import load_settings
from qa_scoring.errors import InputError
from qa_scoring.ingest import import_files
from qa_scoring.report import render_reports
from qa_scoring.report import render as render_mod
from qa_scoring.report.data import Segment
from qa_scoring.report.i18n import CATALOGUES, Formatter
from qa_scoring.report.text import agent_file_names, segment_text

HERE = Path(__file__).resolve().parent
PACK = "pack-test-hash"


# --- fixtures: the derived tables, filled by hand (set-based SQL, like the real stages) ----------

CURT = "(?i)(ya le dije|no se puede|nothing i can do|already told you)"


# the layout classify.py stores (kind, metrics, curves, training, label_mapping, top_terms)
MODEL_METRICS = {"roc_auc": 0.83, "pr_auc": 0.61, "brier": 0.12, "log_loss": 0.4, "n_train": 800, "n_test": 200,
                 "baseline": {"roc_auc": 0.5, "pr_auc": 0.3, "brier": 0.21, "kind": "prior", "accuracy": 0.7},
                 "split_at": "2026-11-07 00:00:00"}
MODEL_SPEC = {"kind": "qa-scoring/dissatisfaction-classifier", "metrics": MODEL_METRICS,
              "curves": {"roc": [[0, 0], [0.1, 0.5], [0.3, 0.8], [1, 1]], "pr": [[0, 1], [0.5, 0.7], [1, 0.3]],
                         "calibration": [{"from": 0, "to": 0.1, "n": 50, "mean_risk": 0.06, "observed": 0.08},
                                         {"from": 0.4, "to": 0.5, "n": 30, "mean_risk": 0.45, "observed": 0.4}]},
              "training": {"train_from": "2026-10-15 00:00:00", "split_at": "2026-11-07 00:00:00", "n_test": 200,
                           "class_balance": {"test_dissatisfied": 60, "test_satisfied": 140}},
              "label_mapping": {"scale": "auto", "numeric": "1-5: 4-5 satisfied", "unknown": "<i>never used</i>"},
              "top_terms": {"dissatisfied": [{"term": "ladrones", "field": "body", "weight": 1.2},
                                             {"term": "<b>bold</b>", "field": "answer", "weight": 0.9}],
                            "satisfied": [{"term": "gracias", "field": "body", "weight": -1.0}]}}
MODEL_ID = model_id_for(MODEL_SPEC)  # loading recomputes a model's id from its spec


def fill_derived(con, *, model: bool = True, pack: str = PACK) -> None:
    """rule_results for three rules (with evidence offsets), interaction_scores, predictions, models."""
    con.execute("""
        CREATE OR REPLACE TEMP TABLE long_results AS
        SELECT interaction_id, 'greeting' AS rule_id, TRUE AS applicable,
               regexp_matches(coalesce(answer, ''), '(?i)(buen[oa]s|hola|hello|good|hi)') AS passed,
               NULL::VARCHAR AS evidence, NULL::VARCHAR AS evidence_field, NULL::INTEGER AS evidence_start,
               NULL::INTEGER AS evidence_end, $pack AS rule_pack_hash, 1 AS run_id FROM interactions
        UNION ALL
        SELECT interaction_id, 'no_curt', TRUE, m IS NULL, m, CASE WHEN m IS NOT NULL THEN 'answer' END,
               CASE WHEN m IS NOT NULL THEN strpos(answer, m) - 1 END,
               CASE WHEN m IS NOT NULL THEN strpos(answer, m) - 1 + length(m) END, $pack, 1
        FROM (SELECT interaction_id, answer, nullif(regexp_extract(coalesce(answer, ''), $curt, 0), '') AS m
              FROM interactions)
        UNION ALL
        SELECT interaction_id, 'email_closing', lower(trim(channel)) = 'email',
               CASE WHEN lower(trim(channel)) = 'email' THEN regexp_matches(coalesce(answer, ''), '(?i)(saludos|regards)') END,
               NULL, NULL, NULL, NULL, $pack, 1 FROM interactions
    """, {"pack": pack, "curt": CURT})
    store.insert_rule_results(con, "long_results")
    con.execute("""
        INSERT INTO interaction_scores (interaction_id, score, critical_failed, rules_applicable, rules_failed,
                                        content_hash, rule_pack_hash, run_id)
        SELECT r.interaction_id,
               CASE WHEN bool_or(rule_id = 'no_curt' AND applicable AND NOT passed) THEN 0
                    ELSE 100.0 * count(*) FILTER (applicable AND passed) / count(*) FILTER (applicable) END,
               bool_or(rule_id = 'no_curt' AND applicable AND NOT passed),
               count(*) FILTER (applicable), count(*) FILTER (applicable AND NOT passed),
               any_value(i.content_hash), $pack, 1
        FROM rule_results r JOIN interactions i USING (interaction_id) GROUP BY r.interaction_id
    """, {"pack": pack})
    if not model:
        return
    con.execute("""
        INSERT INTO predictions (interaction_id, risk, top_terms, model_id, run_id)
        SELECT interaction_id,
               least(0.97, 0.08 + 0.6 * (s.critical_failed::INT) + (hash(interaction_id) % 100) / 400.0),
               '["ladrones", "<script>alert(1)</script>", ["factura", 0.3]]', $model, 1
        FROM interaction_scores s
    """, {"model": MODEL_ID})
    con.execute("INSERT INTO models (model_id, created_at, run_id, spec, metrics, versions, is_current) "
                "VALUES (?, TIMESTAMP '2026-11-20 03:00:00', 1, ?, ?, NULL, TRUE)",
                [MODEL_ID, json.dumps(MODEL_SPEC), json.dumps(MODEL_METRICS)])


def settings_for(**report):
    return load_settings(environ={}, overrides={f"report.{k}": v for k, v in report.items()})


def row(**fields) -> dict:
    base = {"channel": "whatsapp", "agent_name": "Ana", "skill_id": "PQR", "case_id": "1", "subject": "s",
            "from": "57300", "to": "57301", "body": "hola", "answer": "Buenos días, listo.",
            "date_creation": "2026-11-02 10:00:00", "close_date": "2026-11-02 10:05:00",
            "evaluation_survey": "", "cod_act": "", "cod_description": "", "comments": "",
            "attachments": "", "status": "close"}
    base.update(fields)
    return base


def import_rows(con, tmp_path: Path, rows: list[dict], name: str = "rows.json") -> None:
    path = tmp_path / name
    path.write_text(json.dumps({"code": "200", "error": None, "msg": "", "data": rows}, ensure_ascii=False),
                    encoding="utf-8")
    import_files(con, [path], operation="default", tz="America/Bogota")


# --- an HTML checker ------------------------------------------------------------------------------

VOID = {"meta", "br", "link", "img", "hr", "input", "wbr", "source", "area", "base", "col", "embed"}
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "nav", "a", "main", "section", "div", "h1", "h2",
    "h3", "p", "span", "small", "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td", "br",
    "svg", "line", "text", "polyline", "circle", "i", "b", "strong", "dl", "dt", "dd", "ul", "li", "article",
    "mark", "footer", "bdi", "ol",
}


class PageCheck(HTMLParser):
    """Parses one page: tags, links, text, and whether every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.urls: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.text: list[str] = []
        self.errors: list[str] = []
        self.styles: list[str] = []
        self.ids: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            self.attrs.append((name, value or ""))
            if name in ("href", "src", "xlink:href", "action", "formaction", "srcset", "poster", "data"):
                self.urls.append(value or "")
            if name == "href":
                self.links.append(value or "")
            if name == "id":
                self.ids.append(value or "")
            if name == "style":
                self.styles.append(value or "")
        if tag == "style":
            self._in_style = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <line .../> in SVG: opened and closed at once
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> does not close {self.stack[-1:] or 'anything'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
        else:
            self.text.append(data)

    def handle_comment(self, data):
        self.errors.append(f"comment in output: {data[:40]!r}")


def check_page(path: Path) -> PageCheck:
    page = PageCheck()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page.errors, (path.name, page.errors[:3])
    assert not page.stack, (path.name, page.stack)
    assert page.tags <= ALLOWED_TAGS, (path.name, page.tags - ALLOWED_TAGS)
    for name, _value in page.attrs:
        assert not name.startswith("on"), (path.name, name)
    for url in page.urls:
        assert not re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", url, re.I), (path.name, url)  # local only
    for css in page.styles:
        assert "url(" not in css.replace(" ", "").lower() and "@import" not in css, (path.name, css[:80])
    return page


def check_report(out: Path) -> dict[str, PageCheck]:
    pages = {p.relative_to(out).as_posix(): check_page(p) for p in sorted(out.rglob("*.html"))}
    assert {"index.html", "rules.html", "model.html"} <= set(pages)
    for name, page in pages.items():  # every local link resolves to a file of the report (and its anchor)
        for link in page.links:
            path, _, anchor = link.partition("#")
            target = ((out / name).parent / path).resolve() if path else (out / name).resolve()
            assert target.is_file(), (name, link)
            if anchor:
                assert anchor in pages[target.relative_to(out.resolve()).as_posix()].ids, (name, link)
    agent_pages = {n for n in pages if n.startswith("agents/")}
    linked = {"agents/" + link.split("agents/", 1)[1].split("#")[0]
              for link in pages["index.html"].links if "agents/" in link}
    assert agent_pages == linked
    return pages


# --- the whole report on the bundled sample ---------------------------------------------------

@pytest.fixture
def sample_con(sample_db):
    connection = store.connect(sample_db)
    fill_derived(connection)
    yield connection
    connection.close()


def test_sample_report_structure_and_numbers(sample_con, tmp_path):
    out = tmp_path / "reports"
    summary = render_reports(sample_con, settings_for(), out_dir=out, since=None, until=None, run_id=7)
    d = summary.to_dict()
    assert d["index"] == str(out / "index.html") and d["out_dir"] == str(out)
    n_agents = store.fetch_one(sample_con, "SELECT count(DISTINCT agent_name) FROM interactions")[0]
    rule_pages = list((out / "rules").glob("*.html"))  # one per rule that failed in the period
    assert d["agents"] == n_agents and rule_pages and d["pages"] == n_agents + 4 + len(rule_pages)  # index, rules, model, calibration
    assert d["interactions"] == store.fetch_one(sample_con, "SELECT count(*) FROM interactions")[0]
    pages = check_report(out)
    index = " ".join(pages["index.html"].text)
    assert "Agentes, de peor a mejor" in index and "Calidad de los datos" in index
    assert "contracción bayesiana empírica" in index
    # footer on every page: run id, rule pack, model
    for page in pages.values():
        text = " ".join(page.text)
        assert "Ejecución" in text and PACK[:12] in text and MODEL_ID[:12] in text
    # evidence highlighted with <mark> on some agent page, and conversation text present
    agent_html = "".join(p.read_text(encoding="utf-8") for p in (out / "agents").glob("*.html"))
    assert re.search(r"<mark title=\"no_curt\">(?i:ya le dije|no se puede|nothing i can do|already told you)</mark>",
                     agent_html)
    assert "Revisar primero" in agent_html and "Resto del equipo" in agent_html
    # rules page with Wilson intervals and verdicts; model page with three SVG curves
    rules_text = " ".join(pages["rules.html"].text)
    assert "no_curt" in rules_text and "Insatisfechos si falla" in rules_text
    assert (out / "model.html").read_text(encoding="utf-8").count("<polyline class=\"line model\"") == 3
    assert not list(tmp_path.glob(".reports.*"))  # no temporary folder left behind


def test_english_and_deterministic(sample_con, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    render_reports(sample_con, settings_for(), out_dir=a, since=date(2026, 10, 20), until=date(2026, 11, 5), lang="en")
    render_reports(sample_con, settings_for(), out_dir=b, since=date(2026, 10, 20), until=date(2026, 11, 5), lang="en")
    index = (a / "index.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in index and "Agents, worst first" in index and "Oct 20\u2009–\u2009Nov 5, 2026 (17 days)" in index
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    stamp = re.compile(r"<dt>Generated</dt><dd>[^<]*</dd>")
    for rel in files_a:
        ta, tb = (a / rel).read_text(encoding="utf-8"), (b / rel).read_text(encoding="utf-8")
        assert stamp.sub("", ta) == stamp.sub("", tb), rel


def test_catalogues_match_and_formatting():
    assert set(CATALOGUES["es"]) == set(CATALOGUES["en"])
    es, en = Formatter("es"), Formatter("en")
    assert es.num(1234567.891, 1) == "1.234.567,9" and en.num(1234567.891, 1) == "1,234,567.9"
    assert es.pct(0.1234) == "12\u00a0%" and en.pct(0.1234) == "12%"
    assert en.pct(0.0004) == "<1%" and en.pct(0.9996) == ">99%" and en.pct(0.996, 1) == "99.6%"
    assert en.pct(0.0) == "0%" and en.pct(1.0) == "100%" and en.pct(None) == "–"
    assert en.score(99.97) == ">99.9" and en.score(100.0) == "100.0" and en.score(0.02) == "<0.1"
    assert en.signed(-1.25) == "\u22121.2" or en.signed(-1.25) == "\u22121.3"
    assert es.date(date(2026, 11, 3)) == "3 nov 2026" and en.date(date(2026, 11, 3)) == "Nov 3, 2026"


def test_wilson_and_shrinkage():
    from qa_scoring.report import stats

    low, high = stats.wilson(0, 10)
    assert low == 0 and abs(high - 0.2775) < 1e-3  # never a [0, 0] interval for 0 of 10
    low, high = stats.wilson(45, 100)
    assert abs(low - 0.3561) < 1e-3 and abs(high - 0.5476) < 1e-3
    assert stats.wilson(0, 0) is None
    # agents who differ no more than noise all shrink to the team; real differences survive
    assert stats.shrinkage_constant([1.0, -1.0, 0.5], [100, 100, 100], within_var=400.0) == 1e9
    k = stats.shrinkage_constant([-20.0, 0.0, 20.0, -25.0], [80, 80, 80, 4], within_var=1900.0)
    assert 1 < k < 10 and abs(stats.shrink(-25.0, 4, k)) < abs(stats.shrink(-20.0, 80, k))


def test_period_defaults_and_bounds(sample_con, tmp_path):
    from qa_scoring.report.data import Period, resolve_period

    first, last = store.fetch_one(sample_con, "SELECT min(created_at)::DATE, max(created_at)::DATE FROM interactions")
    assert resolve_period(sample_con, None, None) == Period(first, last)
    assert resolve_period(sample_con, last, None) == Period(last, last)
    assert resolve_period(sample_con, None, date(2020, 1, 1)) == Period(date(2020, 1, 1), date(2020, 1, 1))
    with pytest.raises(InputError, match=r"^report period: --since 2026-11-02 is after --until 2026-11-01$"):
        resolve_period(sample_con, date(2026, 11, 2), date(2026, 11, 1))


# --- text: highlighting by offsets and file names -----------------------------------------------

def test_segment_text_marks_offsets_and_ignores_bad_ones():
    text = "🤬 ya le dije <b>no</b>"
    field = segment_text("answer", text, [(2, 12, "curt"), (9, 12, "other"), (50, 60, "bad"), (5, 3, "bad")])
    assert [(s.text, s.mark) for s in field.segments] == [("🤬 ", False), ("ya le dije", True), (" <b>no</b>", False)]
    assert field.segments[1].label == "curt · other"
    assert "".join(s.text for s in field.segments) == text


def test_segment_text_excerpts_long_text_around_matches():
    text = "a" * 50_000 + "FOUND" + "b" * 50_000
    field = segment_text("body", text, [(50_000, 50_005, "r")])
    assert field.truncated and field.length == 100_005
    shown = "".join(s.text for s in field.segments if not s.gap)
    assert len(shown) < 2_000 and Segment("FOUND", mark=True, label="r") in field.segments
    assert sum(s.gap for s in field.segments) == 2


def test_agent_file_names_are_safe_and_unique():
    names = ["../../etc/passwd", ".", "..", "a/b\\c", "CON", "Ana", "ana", "ANA", "José Ñuñez 😀", "😀",
             "x" * 200, "", " ", "\u202eevil\u202c.exe", "con.html", "a" * 300 + "/b"]
    files = agent_file_names(names)
    assert len(set(files.values())) == len(names)
    for name, file in files.items():
        assert re.fullmatch(r"[a-z0-9-]{1,40}-[0-9a-f]{10}\.html", file), (name, file)
    assert files["José Ñuñez 😀"].startswith("jose-nunez-")


# --- hostile text through the whole path ----------------------------------------------------------

OWN_VECTORS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg/onload=alert(1)>",
    "\"><script>alert(document.domain)</script>", "'><a href=javascript:alert(1)>x</a>", "javascript:alert(1)",
    "</textarea><script>alert(1)</script>", "</title><script>alert(1)</script>", "</style><script>x()</script>",
    "<!--", "-->", "<![CDATA[x]]>", "{{7*7}}", "{% raw %}", "${7*7}", "#{7*7}", "<iframe srcdoc='<script>'>",
    "<a href=\"http://evil.example/\">x</a>", "<link rel=stylesheet href=//evil.example/x.css>",
    "<style>@import 'http://evil.example/x.css';body{background:url(http://evil.example/)}</style>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>", "<base href=http://evil.example/>",
    "<meta http-equiv=refresh content=0;url=http://evil.example/>", "\u202egnp.exe\u202c", "\u200f\u202b", "😀🤬🇨🇴",
    "&lt;script&gt;", "&#x3C;script&#x3E;", "%3Cscript%3E", "\\u003cscript\\u003e", "\x0b\x0c\u2028\u2029",
]


def hostile_rows() -> list[dict]:
    blns = json.loads((HERE / "blns.json").read_text(encoding="utf-8"))
    strings = blns + OWN_VECTORS + ["<b>" + "x" * 100_000 + "</b> ya le dije <script>"]
    rows = []
    for i, s in enumerate(strings):
        # every text field carries the string; the agent name too (a tenth of rows under one agent so
        # that agents have several interactions)
        rows.append(row(agent_name=s if i % 10 else "Agente <b>fijo</b>", case_id=s, subject=s, body=s,
                        answer=s + " ya le dije", comments=s, skill_id=s[:50], channel=s[:30] or "email",
                        evaluation_survey=s[:20], cod_description=s,
                        date_creation=f"2026-11-{1 + i % 28:02d} 10:{i % 60:02d}:00"))
    rows.append(row(agent_name="<script>q()</script>", date_creation="<script>x()</script>"))  # quarantined
    return rows


def visible_text(pages: dict) -> str:
    return "\n".join("".join(p.text) for p in pages.values())


def test_hostile_corpus_is_escaped_everywhere(con, tmp_path):
    import_rows(con, tmp_path, hostile_rows())
    fill_derived(con)
    con.execute("UPDATE predictions SET top_terms = to_json(['<script>t()</script>', '{{7*7}}', '\u202eabc'])")
    out = tmp_path / "out"
    render_reports(con, settings_for(review_per_agent=3), out_dir=out, since=None, until=None)
    pages = check_report(out)  # tags ⊆ allowed set, no on* attributes, local links only, balanced
    raw = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    lowered = raw.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<iframe" not in lowered
    assert "javascript:" not in "".join(v.lower() for page in pages.values() for v in page.urls)
    assert "<!--" not in raw and "]]>" not in raw.replace("]]&gt;", "")
    # and the text is shown, not mangled: agent names and the jinja-looking string round-trip
    text = visible_text(pages)
    assert "{{7*7}}" in text and "<script>alert(1)</script>" in text and "\u202egnp.exe\u202c" in text
    names = [n for (n,) in con.execute("SELECT DISTINCT agent_name FROM interactions").fetchall()]
    assert len(names) > 400
    index = "".join(pages["index.html"].text)
    for name in names:
        assert name in index, name
    assert len(list((out / "agents").glob("*.html"))) == len(names)
    # the 100k-character message is excerpted but its evidence is still marked
    assert re.search(r"<mark title=\"no_curt\">ya le dije</mark>", raw)


# --- fairness and honesty -----------------------------------------------------------------------

def _scored_rows(specs: list[tuple[str, str, float, int]]) -> list[tuple]:
    """(agent, skill, score, count) → rows for a hand-made store."""
    out, n = [], 0
    for agent, skill, score, count in specs:
        for _ in range(count):
            n += 1
            out.append((f"id{n}", agent, skill, score, datetime(2026, 11, 1 + n % 20, 9)))
    return out


def hand_store(con, specs, survey=None) -> None:
    import pyarrow as pa

    rows = _scored_rows(specs)
    hand_rows = pa.table({k: [r[i] for r in rows] for i, k in enumerate(("iid", "agent", "skill", "score", "ts"))})
    con.register("hand_rows", hand_rows)
    con.execute("CREATE TEMP TABLE hand AS SELECT * FROM hand_rows")
    con.unregister("hand_rows")
    con.execute("""
        INSERT INTO interactions (interaction_id, operation, agent_name, skill_id, channel, case_id, body, answer,
                                  created_at, closed_at, status, timezone, content_hash, page_id, position,
                                  first_seen, last_seen, changed_at, survey_raw, survey_score)
        SELECT iid, 'default', agent, skill, 'chat', iid, 'b', 'a', ts, ts + INTERVAL 5 MINUTE, 'close', 'UTC', 'h',
               'p', 0, ts, ts, ts,
               CASE WHEN score < 50 THEN '2' ELSE '5' END, CASE WHEN score < 50 THEN 2 ELSE 5 END FROM hand""")
    con.execute(f"""
        INSERT INTO interaction_scores (interaction_id, score, critical_failed, rules_applicable, rules_failed,
                                        content_hash, rule_pack_hash, run_id) SELECT iid, score, FALSE, 1, (score < 100)::INT, 'h', '{PACK}', 1 FROM hand""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE long_results AS
        SELECT iid AS interaction_id, 'r1' AS rule_id, TRUE AS applicable, score >= 50 AS passed,
               NULL::VARCHAR AS evidence, NULL::VARCHAR AS evidence_field, NULL::INTEGER AS evidence_start,
               NULL::INTEGER AS evidence_end, '{PACK}' AS rule_pack_hash, 1 AS run_id FROM hand""")
    store.insert_rule_results(con, "long_results")
    con.execute("DROP TABLE hand")


def agent_order(out: Path) -> list[str]:
    html = (out / "index.html").read_text(encoding="utf-8")
    table = html[html.index('id="agents"'):html.index('id="worst"')]  # the ranking, not the worst list
    return re.findall(r'<a href="agents/[^"]+"><bdi>([^<]*)</bdi>', table)


def test_hard_queue_does_not_make_an_agent_look_worse(con, tmp_path):
    # Everyone scores 40 on the hard queue and 90 on the easy one; Hard works only the hard queue.
    # Slow is 10 points under the team on the easy queue: Slow is the worst, not Hard.
    hand_store(con, [("Hard", "HARD", 40, 60), ("Mix", "HARD", 40, 60), ("Mix", "EASY", 90, 60),
                     ("Easy", "EASY", 90, 60), ("Slow", "EASY", 80, 60), ("Slow", "HARD", 40, 20)])
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    order = agent_order(out)
    assert order[0] == "Slow" and order.index("Hard") > 0
    hard = next((out / "agents").glob("hard-*.html")).read_text(encoding="utf-8")
    assert "same skill and channel" in hard


def test_small_sample_is_marked_and_not_ranked_at_the_ends(con, tmp_path):
    # pass/fail interactions (100 or 0): Big bad 62.5, Big mid 75, Big good 87.5 over 80 each; Tiny
    # 50 over 4. Tiny's raw difference is the worst, but 4 interactions are no evidence of that.
    hand_store(con, [("Big good", "S", 100, 70), ("Big good", "S", 0, 10), ("Big mid", "S", 100, 60),
                     ("Big mid", "S", 0, 20), ("Big bad", "S", 100, 50), ("Big bad", "S", 0, 30),
                     ("Tiny", "S", 100, 2), ("Tiny", "S", 0, 2)])
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    order = agent_order(out)
    assert order[0] == "Big bad" and order[-1] == "Big good" and order.index("Tiny") in (1, 2)
    html = (out / "index.html").read_text(encoding="utf-8")
    tiny_row = html[html.index("<bdi>Tiny</bdi>"):].split("</tr>")[0]
    assert "small sample" in tiny_row
    assert "empirical-Bayes shrinkage" in html


def test_rule_relation_verdict_with_wilson_intervals(con, tmp_path):
    hand_store(con, [("A", "S", 100, 80), ("A", "S", 30, 40), ("B", "S", 100, 70), ("B", "S", 30, 30)])
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    text = " ".join(check_page(out / "rules.html").text)
    # failing r1 ⇔ score 30 ⇔ survey 2 (dissatisfied): 100% vs 0% — "no 100% unless exact"
    assert "n = 70" in text and "n = 150" in text
    assert "100%" in text and "0%" in text
    assert "failing this rule goes with" in text or "no measurable relation yet" in text


def test_no_model_is_a_visible_section(con, tmp_path):
    import_rows(con, tmp_path, [row(case_id=str(i)) for i in range(5)])
    fill_derived(con, model=False)
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None)
    page = check_page(out / "model.html")
    assert "no-model" in page.ids and "Todavía no hay modelo" in " ".join(page.text)


# --- the folder swap ----------------------------------------------------------------------------

def test_failed_render_leaves_the_old_report(sample_con, tmp_path, monkeypatch):
    out = tmp_path / "reports"
    render_reports(sample_con, settings_for(), out_dir=out, since=None, until=None)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        pages = {"index.html": "half"}
        pages["agents/x.html"] = 1 / 0  # fails mid-way through producing the pages
        return pages

    monkeypatch.setattr(render_mod, "render_pages", broken)
    with pytest.raises(ZeroDivisionError):
        render_reports(sample_con, settings_for(), out_dir=out, since=None, until=None)
    monkeypatch.undo()

    real_write = Path.write_text
    calls = {"n": 0}

    def failing_write(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write)
    with pytest.raises(Exception, match=r"cannot write \(No space left on device\)"):
        render_reports(sample_con, settings_for(), out_dir=out, since=None, until=None)
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".reports")) == []


def test_refuses_to_replace_a_folder_that_is_not_a_report(sample_con, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(InputError, match=r"folder is not empty and is not a qa-scoring report"):
        render_reports(sample_con, settings_for(), out_dir=out, since=None, until=None)
    assert (out / "thesis.docx").read_text(encoding="utf-8") == "precious"


# --- the CLI ------------------------------------------------------------------------------------

def test_cli_report_json_and_errors(runner, sample_db, tmp_path):
    out = tmp_path / "r"
    result = runner.invoke(cli, ["--db", str(sample_db), "report", "--out", str(out), "--since", "2026-10-20",
                                 "--until", "2026-10-31", "--lang", "en", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["since"] == "2026-10-20" and summary["until"] == "2026-10-31" and summary["lang"] == "en"
    assert Path(summary["index"]).is_file()
    runs = store.connect(sample_db)
    assert store.fetch_one(runs, "SELECT command, status FROM runs ORDER BY run_id DESC LIMIT 1") == ("report", "success")
    runs.close()

    bad = runner.invoke(cli, ["--db", str(sample_db), "report", "--out", str(out), "--since", "2026-11-30",
                              "--until", "2026-11-01"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines()[-1] == "Error: report period: --since 2026-11-30 is after --until 2026-11-01"
    wrong = runner.invoke(cli, ["--db", str(sample_db), "report", "--since", "30/11/2026"])
    assert wrong.exit_code == 2 and "--since" in wrong.stderr


def test_cli_report_on_an_empty_database(runner, db_path, tmp_path):
    store.connect(db_path).close()
    result = runner.invoke(cli, ["--db", str(db_path), "report", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: report: the database has no interactions yet (run 'qa-scoring import' or 'fetch' first)")


def test_empty_period_renders_a_clear_page(sample_con, tmp_path):
    out = tmp_path / "r"
    summary = render_reports(sample_con, settings_for(), out_dir=out, since=date(2030, 1, 1), until=date(2030, 1, 2))
    assert summary.interactions == 0 and summary.agents == 0
    assert "No hay interacciones en este periodo." in " ".join(check_page(out / "index.html").text)


# --- end to end with the real stages ------------------------------------------------------------

@pytest.mark.slow
def test_cli_score_train_predict_report_on_the_sample(runner, sample_db, tmp_path):
    """The bundled sample through the real rule pack and classifier, then the report in English."""
    for args in (["score"], ["train"], ["predict"]):
        result = runner.invoke(cli, ["--db", str(sample_db), *args])
        assert result.exit_code == 0, (args, result.output)
    out = tmp_path / "reports"
    result = runner.invoke(cli, ["--db", str(sample_db), "report", "--out", str(out), "--lang", "en", "--json"])
    assert result.exit_code == 0, result.output
    pages = check_report(out)
    model_html = (out / "model.html").read_text(encoding="utf-8")
    assert "no-model" not in pages["model.html"].ids and model_html.count('class="line model"') == 3
    rules_text = " ".join(pages["rules.html"].text)
    assert "failing this rule goes with" in rules_text  # the sample plants rules that matter
    assert re.search(r"<mark title=\"[^\"]+\">", "".join(p.read_text(encoding="utf-8")
                                                      for p in (out / "agents").glob("*.html")))


def test_rule_cells_from_compact_outcomes_equal_counts_over_rule_results(sample_db):
    """The report counts rules on the compact outcome letters; they must equal plain counts over the
    rule_results contract (N/A, passes, failures with and without evidence, survey labels)."""
    from qa_scoring.report import data
    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    from qa_scoring import facts

    con = store.connect(sample_db)
    score_interactions(con, load_rule_pack(rules_dir()))
    # the stored facts' survey mapping (read from daily_rule_facts), then another one (aggregated raw)
    for label, params in (facts.label_sql(facts.stored_mapping(con)), (data.DEFAULT_LABEL_SQL, {})):
        period = data.resolve_period(con, None, None)
        data.build_base(con, period, label, params)
        data.build_cells(con, period, label, params, rule_table="_rpt_rule_cells")
        check_rule_cells(con)
    con.close()


def check_rule_cells(con) -> None:
    got = con.execute("SELECT * FROM _rpt_rule_cells ORDER BY ALL").fetchall()
    want = con.execute("""
        SELECT b.agent, b.skill, b.channel, r.rule_id, count(*),
               count(*) FILTER (r.applicable), count(*) FILTER (r.applicable AND r.passed),
               count(*) FILTER (r.applicable AND NOT r.passed AND b.dissatisfied IS NOT NULL),
               count(*) FILTER (r.applicable AND NOT r.passed AND b.dissatisfied),
               count(*) FILTER (r.applicable AND r.passed AND b.dissatisfied IS NOT NULL),
               count(*) FILTER (r.applicable AND r.passed AND b.dissatisfied)
        FROM rule_results r JOIN _rpt_base b ON r.interaction_id = b.interaction_id
                                            AND r.rule_pack_hash = b.rule_pack_hash
        GROUP BY ALL ORDER BY ALL""").fetchall()
    assert got == want
    assert sum(row[7] for row in want) > 0 and store.fetch_one(con, "SELECT count(*) FROM rule_evidence")[0] > 0


def test_review_failures_from_compact_storage_equal_rule_results(sample_db):
    from qa_scoring.report import data
    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    con = store.connect(sample_db)
    score_interactions(con, load_rule_pack(rules_dir()))
    con.execute("CREATE TEMP TABLE _rpt_review AS SELECT interaction_id, rule_pack_hash FROM interaction_scores "
                "WHERE rules_failed > 0 OR hash(interaction_id) % 7 = 0")
    want = con.execute("""
        SELECT rr.interaction_id, rr.rule_id, rr.evidence, rr.evidence_field, rr.evidence_start, rr.evidence_end
        FROM rule_results rr JOIN _rpt_review r USING (interaction_id, rule_pack_hash)
        WHERE rr.applicable AND NOT rr.passed
        ORDER BY rr.interaction_id, rr.rule_id, rr.evidence_start NULLS LAST""").fetchall()
    assert data._review_failures(con) == want
    assert any(row[2] is None for row in want) and any(row[4] is not None for row in want)
    con.close()


# --- issue 12: what a QA lead must be able to trust -----------------------------------------------

def test_rule_that_fails_without_surveys_is_not_called_never_failing(con, tmp_path):
    """Issue 12 item 2: the verdict counts every failure, not only the surveyed ones."""
    rows = [row(case_id=f"ok{i}", evaluation_survey="5") for i in range(8)]
    rows += [row(case_id=f"bad{i}", answer="Buenos días, ya le dije que no.") for i in range(2)]  # no survey
    import_rows(con, tmp_path, rows)
    fill_derived(con)
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    html = (out / "rules.html").read_text(encoding="utf-8")
    curt = html[html.index("<strong>no_curt</strong>"):].split("</tr>")[0]
    assert "never fails" not in curt
    assert "failures: 2, none with a survey" in curt
    greeting = html[html.index("<strong>greeting</strong>"):].split("</tr>")[0]
    assert "never fails in this period" in greeting


def test_open_interactions_are_left_out_until_they_close_or_age(con, tmp_path):
    """Issue 12 item 1: a pending open interaction is in no figure; it is counted apart, counts once
    older than [report] open_max_age_hours, and is rescored when it closes."""
    rows = [row(case_id=f"c{i}", date_creation=f"2026-11-05 10:0{i}:00", close_date=f"2026-11-05 10:3{i}:00")
            for i in range(4)]
    rows.append(row(case_id="open-new", date_creation="2026-11-05 11:00:00", close_date="", answer="", status="open"))
    rows.append(row(case_id="open-old", date_creation="2026-11-01 09:00:00", close_date="", answer="", status="open",
                    agent_name="Beto"))
    import_rows(con, tmp_path, rows)
    fill_derived(con)  # greeting fails on the empty answers: the open ones score 50
    out = tmp_path / "out"
    summary = render_reports(con, settings_for(), out_dir=out, since=date(2026, 11, 5), until=date(2026, 11, 5),
                             lang="en")
    assert summary.interactions == 5 and summary.open_pending == 1
    page = check_page(out / "index.html")
    assert "open-pending" in page.ids
    text = " ".join(page.text)
    assert "1 interaction is still open (created less than 72 h ago)" in text  # one, not "1 interactions"
    kpi = (out / "index.html").read_text(encoding="utf-8").split('<div class="value">')[2]
    assert kpi.startswith("100.0<")  # the team score of the closed ones only
    # the old open one (4 days before the newest interaction) counts as it is
    summary = render_reports(con, settings_for(), out_dir=out, since=date(2026, 11, 1), until=date(2026, 11, 5),
                             lang="en")
    assert summary.open_pending == 1 and summary.agents == 2
    assert "Beto" in " ".join(check_page(out / "index.html").text)
    # 0 h: every open interaction counts at once
    summary = render_reports(con, settings_for(open_max_age_hours=0), out_dir=out, since=date(2026, 11, 5),
                             until=date(2026, 11, 5), lang="en")
    assert summary.open_pending == 0
    kpi = (out / "index.html").read_text(encoding="utf-8").split('<div class="value">')[2]
    assert kpi.startswith("90.0<")  # (4 × 100 + 50) / 5


def test_open_interaction_is_rescored_when_it_closes(con, tmp_path):
    from qa_scoring.resources import rules_dir
    from qa_scoring.rules import load_rule_pack, score_interactions

    pack = load_rule_pack(rules_dir())
    import_rows(con, tmp_path, [row(case_id="9", close_date="", answer="", status="open")])
    score_interactions(con, pack)
    before = store.fetch_one(con, "SELECT score FROM interaction_scores")[0]
    import_rows(con, tmp_path, [row(case_id="9", status="close", answer="Buenos días, soy Ana. ¿Algo más?")], "b.json")
    summary = score_interactions(con, pack)
    assert summary.scored == 1
    assert store.fetch_one(con, "SELECT score FROM interaction_scores")[0] > before


def scored_store(con, tmp_path, specs, pack: str = PACK) -> None:
    """Interactions with the given scores: specs = (case_id, agent, score, critical, survey, risk).

    Rule `r1` fails on every score under 100 (evidence: the answer, unless critical), the critical rule `pci` fails
    on the critical ones (evidence: the card number in the answer)."""
    rows = [row(case_id=c, agent_name=a, evaluation_survey=sv, date_creation=f"2026-11-02 {10 + n // 60}:{n % 60:02d}:00",
                close_date=f"2026-11-02 {12 + n // 60}:{n % 60:02d}:00",
                answer="Deme el número 4242 4242 4242 4242 y el CVV 123" if crit else f"Buenos días ({c})")
            for n, (c, a, _score, crit, sv, _risk) in enumerate(specs)]
    import_rows(con, tmp_path, rows)
    import pyarrow as pa

    con.register("spec_rows", pa.table({"case_id": [s[0] for s in specs], "score": [float(s[2]) for s in specs],
                                        "critical": [s[3] for s in specs], "risk": [s[5] for s in specs]}))
    con.execute("CREATE OR REPLACE TEMP TABLE spec AS SELECT i.interaction_id, i.answer, i.content_hash, s.* "
                "FROM spec_rows s JOIN interactions i USING (case_id)")
    con.unregister("spec_rows")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE long_results AS
        SELECT interaction_id, 'r1' AS rule_id, TRUE AS applicable, score >= 100 AS passed,
               CASE WHEN score < 100 AND NOT critical THEN answer END AS evidence,
               CASE WHEN score < 100 AND NOT critical THEN 'answer' END AS evidence_field,
               CASE WHEN score < 100 AND NOT critical THEN 0 END AS evidence_start,
               CASE WHEN score < 100 AND NOT critical THEN length(answer) END AS evidence_end,
               $pack AS rule_pack_hash, 1 AS run_id
        FROM spec
        UNION ALL
        SELECT interaction_id, 'pci', TRUE, NOT critical,
               CASE WHEN critical THEN '4242 4242 4242 4242' END, CASE WHEN critical THEN 'answer' END,
               CASE WHEN critical THEN strpos(answer, '4242') - 1 END,
               CASE WHEN critical THEN strpos(answer, '4242') - 1 + 19 END, $pack, 1
        FROM spec""", {"pack": pack})
    store.insert_rule_results(con, "long_results")
    con.execute("UPDATE rule_pack_rules SET severity = 'critical' WHERE rule_id = 'pci'")
    con.execute("""INSERT INTO interaction_scores (interaction_id, score, critical_failed, rules_applicable,
                                                   rules_failed, content_hash, rule_pack_hash, run_id)
                   SELECT interaction_id, score, critical, 2, (score < 100)::INT + critical::INT, content_hash, $pack, 1
                   FROM spec""", {"pack": pack})
    con.execute("""INSERT INTO predictions (interaction_id, risk, top_terms, model_id, run_id)
                   SELECT interaction_id, risk, '[]', $model, 1 FROM spec WHERE risk IS NOT NULL""",
                {"model": MODEL_ID})


def review_cases(html: str) -> list[str]:
    return re.findall(r'<span class="case">Case <bdi>([^<]*)</bdi>', html)


def test_review_lists_lead_with_critical_failures_and_lowest_scores(con, tmp_path):
    """Issue 12 item 3: critical failures and the lowest scores come before rules-vs-model
    disagreements, on the agent page and in a team-wide list; each rule lists its failures."""
    specs = [("crit", "Ana", 0, True, "", 0.3), ("s54", "Ana", 54, False, "1", 0.4),
             ("s23", "Ana", 23, False, "", 0.2), ("s40", "Ana", 40, False, "", 0.3)]
    specs += [(f"d{i}", "Ana", 95, False, "1", 0.8) for i in range(8)]  # high score, unhappy customer
    specs += [(f"ok{i}", "Ana", 100, False, "5", 0.1) for i in range(10)]
    specs += [("b10", "Beto", 10, False, "", 0.2)] + [(f"bok{i}", "Beto", 100, False, "5", 0.1) for i in range(10)]
    scored_store(con, tmp_path, specs)
    out = tmp_path / "out"
    render_reports(con, settings_for(review_per_agent=8), out_dir=out, since=None, until=None, lang="en")
    pages = check_report(out)
    ana = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    cases = review_cases(ana)
    assert cases[:4] == ["crit", "s23", "s40", "s54"] and len(cases) == 8
    assert all(c.startswith("d") for c in cases[4:])
    # the team list: the critical failure, then the lowest scores whoever had them
    index = (out / "index.html").read_text(encoding="utf-8")
    worst = index[index.index('id="worst"'):index.index('id="quality"')]
    assert re.findall(r'<td class="name"><bdi>([^<]*)</bdi></td>', worst)[:5] == ["crit", "b10", "s23", "s40", "s54"]
    # every failure of r1 on its own page (links checked by check_report)
    rule_pages = [n for n in pages if n.startswith("rules/")]
    assert len(rule_pages) == 2
    r1 = next(n for n in rule_pages if n.startswith("rules/r1-"))
    r1_html = (out / r1).read_text(encoding="utf-8")
    shown = re.findall(r'<td class="name"><bdi>([^<]*)</bdi>', r1_html)
    assert sorted(shown) == sorted(c for c, _a, score, *_ in specs if score < 100)
    assert shown[:2] == ["crit", "b10"]  # lowest score first
    # capped: the count stays the full one
    render_reports(con, settings_for(rule_failures_max=3), out_dir=out, since=None, until=None, lang="en")
    r1_html = (out / r1).read_text(encoding="utf-8")
    assert len(re.findall(r'<td class="name"><bdi>', r1_html)) == 3 and "Showing 3 of 13" in r1_html
    assert re.findall(r'<td class="name"><bdi>([^<]*)</bdi>', r1_html) == shown[:3]  # the first 3 of them all


def test_critical_failures_come_first(con, tmp_path):
    """Issue 12 item 4: a banner at the top of the summary (who, how many), the agent page leading
    with all of the agent's critical failures, critical rules first on the rules page."""
    specs = [(f"crit{i}", "Ana", 0, True, "", 0.3) for i in range(3)]
    specs += [(f"ok{i}", "Ana", 100, False, "5", 0.1) for i in range(30)]
    specs += [(f"low{i}", "Beto", 20, False, "1", 0.6) for i in range(10)] + [("bc", "Beto", 0, True, "", 0.5)]
    scored_store(con, tmp_path, specs)
    out = tmp_path / "out"
    render_reports(con, settings_for(review_per_agent=1), out_dir=out, since=None, until=None, lang="en")
    check_report(out)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert index.index('id="critical"') < index.index('class="kpis"')
    banner = index[index.index('id="critical"'):index.index("</section>")]
    assert "Critical failures in the period: 4" in banner
    agents = re.findall(r'<a href="agents/[^"#]+#critical"><bdi>([^<]*)</bdi></a> <strong>(\d+)</strong>', banner)
    assert agents == [("Ana", "3"), ("Beto", "1")]
    assert re.search(r'<a href="rules/pci-[0-9a-f]+\.html">pci</a> <strong>4</strong>', banner)
    ana = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    assert ana.index('id="critical"') < ana.index('class="kpis"')
    section = ana[ana.index('id="critical"'):ana.index("</section>")]
    assert "Critical failures: 3" in section
    assert sorted(re.findall(r"<bdi>(crit\d)</bdi>", section)) == ["crit0", "crit1", "crit2"]
    rules = (out / "rules.html").read_text(encoding="utf-8")
    assert re.findall(r'<td class="name rule" id="r-([^"]+)">', rules) == ["pci", "r1"]


def test_card_numbers_and_cvvs_are_masked_on_every_page(con, tmp_path):
    """Issue 12 item 7: at most the last four digits of a card number on any page, the CVV next to
    it masked, the evidence mark kept on the masked text; personal data masked on request."""
    from qa_scoring.mask import CARD_RE

    specs = [(f"crit{i}", "Ana", 0, True, "", 0.3) for i in range(3)] + [("ok", "Ana", 100, False, "5", 0.1)]
    scored_store(con, tmp_path, specs)
    con.execute("UPDATE predictions SET top_terms = to_json(['4242 4242 4242 4242', 'cvv 123'])")
    import_rows(con, tmp_path, [row(case_id="mail", agent_name="Ana", subject="juan.perez@example.com",
                                    body="Mi celular es +57 300 123 4567 y mi cédula 52123456",
                                    answer="Buenos días, tarjeta 5500-0000-0000-0004 cvc: 987",
                                    date_creation="2026-11-02 12:00:00", close_date="2026-11-02 12:30:00")], "m.json")
    con.execute(f"""INSERT INTO interaction_scores (interaction_id, score, critical_failed, rules_applicable,
                                                    rules_failed, content_hash, rule_pack_hash, run_id)
                    SELECT interaction_id, 30, FALSE, 2, 1, content_hash, '{PACK}', 1 FROM interactions
                    WHERE case_id = 'mail'""")  # a low score: on the review list
    out = tmp_path / "out"
    render_reports(con, settings_for(review_per_agent=10), out_dir=out, since=None, until=None, lang="en")
    pages = check_report(out)
    raw = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    text = visible_text(pages)
    assert not CARD_RE.search(text), CARD_RE.search(text)
    assert "4242 4242 4242 4242" not in raw and "5500-0000-0000-0004" not in raw
    assert "CVV 123" not in text and "cvv 123" not in text and "cvc: 987" not in text
    assert '<mark title="pci">•••• •••• •••• 4242</mark>' in raw  # the evidence mark on the masked text
    assert "CVV •••" in text and "••••-••••-••••-0004 cvc: •••" in text
    assert "juan.perez@example.com" in text and "52123456" in text  # personal data shown by default
    render_reports(con, settings_for(mask_personal=True), out_dir=out, since=None, until=None, lang="en")
    text = visible_text(check_report(out))
    assert "juan.perez@example.com" not in text and "j•••••••••@•••••••.com" in text
    assert "+57 300 123 4567" not in text and "+•• ••• ••• ••67" in text and "••••••56" in text


def test_masking_keeps_the_length_of_any_text():
    from qa_scoring.mask import mask_text

    blns = json.loads((HERE / "blns.json").read_text(encoding="utf-8"))
    for s in blns + OWN_VECTORS + ["4242 4242 4242 4242 123", "x" * 5000 + "4111111111111111"]:
        for personal in (False, True):
            assert len(mask_text(s, personal)) == len(s), s
    assert mask_text("4242424242424242") == "••••••••••••4242"
    assert mask_text("pedido 12345678, 2026-11-02", personal=False) == "pedido 12345678, 2026-11-02"


def test_one_day_report_ranks_on_a_rolling_window_and_says_so(con, tmp_path):
    """Issue 12 item 5: a one-day report ranks the agents on the last [report] ranking_days days."""
    hand_store(con, [("Good", "S", 100, 120), ("Mid", "S", 100, 90), ("Mid", "S", 40, 30),
                     ("Bad", "S", 100, 60), ("Bad", "S", 40, 60)])
    week, day = tmp_path / "week", tmp_path / "day"
    render_reports(con, settings_for(min_sample=10), out_dir=week, since=date(2026, 11, 14), until=date(2026, 11, 20),
                   lang="en")
    render_reports(con, settings_for(min_sample=10), out_dir=day, since=date(2026, 11, 20), until=date(2026, 11, 20),
                   lang="en")
    assert agent_order(day) == agent_order(week) == ["Bad", "Mid", "Good"]
    page = check_page(day / "index.html")
    assert "ranking-window" in page.ids
    assert "computed over a window of 7 days (Nov 14\u2009–\u200920, 2026)" in " ".join(page.text)
    html = (day / "index.html").read_text(encoding="utf-8")
    table = html[html.index('id="agents"'):html.index('id="worst"')]
    assert "◔ small sample" not in table  # a week is enough; the day alone (~12 each) would not be
    render_reports(con, settings_for(min_sample=10, ranking_days=0), out_dir=day, since=date(2026, 11, 20),
                   until=date(2026, 11, 20), lang="en")
    assert "ranking-window" not in check_page(day / "index.html").ids


def test_small_detail_cells_are_marked_not_painted(con, tmp_path):
    """Issue 12 item 5: a queue or rule row from one interaction is a hint, shown with its interval,
    never a bold red finding; a real gap on enough interactions still is."""
    hand_store(con, [("Ana", "S", 100, 80), ("Ana", "RARE", 0, 1), ("Ana", "WEAK", 40, 40),
                     ("Beto", "S", 100, 80), ("Beto", "RARE", 100, 40), ("Beto", "WEAK", 100, 40)])
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    ana = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    queues = ana[ana.index("By skill and channel"):ana.index('id="rules"')]
    rare = queues[queues.rfind("<tr", 0, queues.index("<bdi>RARE</bdi>")):].split("</tr>")[0]
    assert 'class="small-n"' in rare and "small n" in rare and "delta bad" not in rare
    assert re.search(r"0\.0<br><span class=\"ci\">0\.0–\d", rare)  # the one interaction's wide interval
    weak = queues[queues.rfind("<tr", 0, queues.index("<bdi>WEAK</bdi>")):].split("</tr>")[0]
    assert "delta bad" in weak and "small-n" not in weak


def test_wilson_bounds_never_read_more_than_99_to_more_than_99(con, tmp_path):
    """Issue 12 item 5: a 100 % pass rate's interval ends at exactly 100 %, with the decimals needed."""
    from qa_scoring.report import stats

    assert stats.wilson(3000, 3000)[1] == 1.0 and stats.wilson(0, 3000)[0] == 0.0
    hand_store(con, [("Ana", "S", 100, 1500), ("Beto", "S", 100, 1499), ("Beto", "S", 40, 1)])
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    text = visible_text(check_report(out))
    assert ">99%–>99%" not in text and re.search(r"\[99\.\d%–100\.0%\]", text)
    assert re.search(r"\[99\.\d\d%–99\.99%\]", text)  # 2999 of 3000: two decimals make the ends differ


def test_subject_is_labelled_by_channel(con, tmp_path):
    """Issue 12 item 9: Wolkvox's `subject` is an e-mail subject, a post's author on social
    networks and the customer's name on chat channels."""
    specs = [("w", "whatsapp", "Yolanda García"), ("e", "Email", "Solicitud de reembolso"),
             ("f", "facebook_page", "Mauricio Moreno"), ("c", "webchat", "Camilo Zapata")]
    import_rows(con, tmp_path, [row(case_id=c, channel=ch, subject=sj, answer="") for c, ch, sj in specs])
    fill_derived(con)  # greeting fails on every empty answer: all four are review candidates
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="es")
    html = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    got = dict(re.findall(r"<dt>([^<]+)</dt>\s*<dd>([^<]+)</dd>", html))
    assert got["Nombre del cliente"] in ("Yolanda García", "Camilo Zapata")
    assert got["Asunto"] == "Solicitud de reembolso" and got["Autor de la publicación"] == "Mauricio Moreno"
    assert html.count("<dt>Nombre del cliente</dt>") == 2


def test_three_things_to_work_on(con, tmp_path):
    """Issue 12, also worth doing: the rules with the largest significant gap to the same-mix team,
    one example each; nothing when no gap is significant."""
    specs = [(f"a{i}", "Ana", 50 if i < 20 else 100, False, "", 0.2) for i in range(40)]
    specs += [(f"b{i}", "Beto", 50 if i < 3 else 100, False, "", 0.2) for i in range(60)]
    scored_store(con, tmp_path, specs)
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    ana = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    box = ana[ana.index('id="focus"'):ana.index("</section>", ana.index('id="focus"'))]
    assert "Three things to work on" in box and "<strong>r1</strong>" in box and "pci" not in box
    assert "passes 50% against the team&#39;s 95% on the same mix (−45.0 pp)" in box
    assert re.search(r"Example: (<a href=\"#i-[0-9a-f]+\">)?Case <bdi>(a1?\d)</bdi>.*«<bdi>Buenos días \(\2\)</bdi>»", box)
    beto = next((out / "agents").glob("beto-*.html")).read_text(encoding="utf-8")
    assert "No rule is clearly below the team in this period" in beto


def test_a_rule_failing_for_something_missing_says_what_was_expected(con, tmp_path):
    """Issue 12, also worth doing (in part): a failure without evidence shows what the rule expects."""
    import_rows(con, tmp_path, [row(case_id="x", answer="")])
    fill_derived(con)
    con.execute("UPDATE rule_pack_rules SET description = to_json('The agent greets (hola, buenos días…)') "
                "WHERE rule_id = 'greeting'")
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="en")
    html = next((out / "agents").glob("ana-*.html")).read_text(encoding="utf-8")
    fails = html[html.index('<ul class="fails">'):].split("</ul>")[0]
    assert "what was expected and not found: The agent greets (hola, buenos días…)" in fails


@pytest.mark.parametrize("lang, sentences", [
    ("es", ["de un cliente insatisfecho y uno satisfecho tomados al azar", "qué tan limpia es la lista ordenada por riesgo",
            "la distancia media al cuadrado entre el riesgo predicho y lo que pasó"]),
    ("en", ["of one dissatisfied and one satisfied customer picked at random", "how clean the list sorted by risk is",
            "the mean squared distance between the predicted risk and what happened"]),
])
def test_model_page_explains_roc_pr_and_brier_in_one_sentence_each(con, tmp_path, lang, sentences):
    """Issue 12, also worth doing: each evaluation metric the page shows is explained in plain words."""
    import_rows(con, tmp_path, [row(case_id=str(i)) for i in range(5)])
    fill_derived(con)
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang=lang)
    page = check_page(out / "model.html")
    html = (out / "model.html").read_text(encoding="utf-8")
    helps = html[html.index('<div id="metric-help">'):].split("</div>")[0]
    assert [s in helps for s in sentences] == [True, True, True]
    assert helps.count('<p class="help">') == 3  # one each; log loss and the counts have none
    assert "metric-help" in page.ids


def test_model_words_are_words_without_rule_ids_or_near_duplicates(con, tmp_path):
    """Issue 12, also worth doing: the model page's words are text features only, each shown once
    ("Cliente" after "cliente", "le dije" after "ya le dije"); rules, channel, skill and handle time
    are listed apart, a rule by its title."""
    import_rows(con, tmp_path, [row(case_id=str(i)) for i in range(5)])
    fill_derived(con)
    terms = [("cliente", "body"), ("greeting", "rule"), ("Cliente", "comments"), ("Cliente no", "subject"),
             ("Ya le", "answer"), ("le dije", "answer"), ("dije", "body"), ("mi nombre es qaagentname", "answer"),
             ("PQR", "skill"), ("time", "handle"), ("días", "body"), ("DIAS", "comments"), ("<b>x</b>", "answer")]
    con.execute("UPDATE models SET spec = json_merge_patch(spec, ?)",
                [json.dumps({"top_terms": {"dissatisfied": [{"term": t, "field": f, "weight": 1.0} for t, f in terms]}})])
    edited = json.loads(con.execute("SELECT spec::VARCHAR FROM models").fetchone()[0])
    con.execute("UPDATE models SET model_id = ?", [model_id_for(edited)])  # else refused as tampered
    con.execute("UPDATE rule_pack_rules SET title = to_json('El agente saluda') WHERE rule_id = 'greeting'")
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None)
    html = (out / "model.html").read_text(encoding="utf-8")
    box = {name: re.findall(r"<bdi>(.*?)</bdi>", html[html.index(f'id="model-{name}"'):].split("</div>")[0])
           for name in ("words", "signals")}
    assert box["words"] == ["cliente", "Ya le dije", "mi nombre es [nombre del agente]", "días",
                            "&lt;b&gt;x&lt;/b&gt;"]
    assert box["signals"] == ["regla incumplida: El agente saluda", "skill: PQR", "tiempo de gestión más largo"]


def test_model_page_shows_the_plain_text_baseline_beside_the_model(con, tmp_path):
    """Issue 17 part 2: the plain TF-IDF + LR baseline `train` measures is on the model page, beside
    the model and the prior baseline, with the texts it read."""
    import_rows(con, tmp_path, [row(case_id=str(i)) for i in range(5)])
    fill_derived(con)
    plain = {"kind": "tfidf-lr", "fields": ["body", "answer", "subject"], "roc_auc": 0.7123, "pr_auc": 0.4567}
    con.execute("UPDATE models SET spec = json_merge_patch(spec, ?)",
                [json.dumps({"metrics": {"roc_auc": 0.8011, "text_baseline": plain}})])
    edited = json.loads(con.execute("SELECT spec::VARCHAR FROM models").fetchone()[0])
    con.execute("UPDATE models SET model_id = ?", [model_id_for(edited)])
    out = tmp_path / "out"
    render_reports(con, settings_for(), out_dir=out, since=None, until=None, lang="es")
    html = (out / "model.html").read_text(encoding="utf-8")
    table = html[html.index("<h3>Evaluación</h3>"):].split("</table>")[0]
    assert "Texto simple (TF-IDF + RL)" in table
    roc = next(r for r in table.split("<tr>") if "ROC AUC" in r)
    assert re.findall(r'<td class="num">([^<]*)</td>', roc)[0] == "0,801"
    assert re.findall(r'<td class="num">([^<]*)</td>', roc)[2] == "0,712"
    help_text = html[html.index('id="text-baseline-help"'):].split("</p>")[0]
    assert "Textos leídos: mensaje del cliente, respuesta del agente, asunto." in help_text


def test_review_candidates_ranked_among_the_most_urgent_equal_ranking_them_all():
    """The review picks (each agent's `per_agent` most urgent, the team's `team` most urgent) are
    ranked among those picks only; what is kept and every rank that decides what is shown equal
    ranking every candidate (ties on score, no risk, no survey, critical, low and high scores)."""
    import duckdb

    from qa_scoring.report import data as rd

    con = duckdb.connect()
    con.execute("""
        CREATE TEMP TABLE _rpt_base AS
        SELECT 'id' || lpad(i::VARCHAR, 5, '0') AS interaction_id, 'agent' || (hash(i) % 12)::VARCHAR AS agent,
               [NULL, 0.0, 25.0, 50.0, 55.5, 59.9, 60.0, 75.0, 90.0, 95.0, 100.0][1 + (hash(i * 3) % 11)::INT] AS score,
               hash(i * 5) % 10 = 0 AS critical,
               [NULL, 0.05, 0.1, 0.5, 0.5, 0.9, 0.97][1 + (hash(i * 7) % 7)::INT] AS risk,
               hash(i * 11) % 3 = 0 AS surveyed,
               [NULL, TRUE, FALSE][1 + (hash(i * 13) % 3)::INT] AS dissatisfied
        FROM range(4000) t(i)""")
    urgency = f"""{rd._TIER_SQL}, CASE WHEN NOT critical AND score < $low THEN score END NULLS LAST,
                  coalesce(dissatisfied, FALSE) DESC, risk DESC NULLS LAST, interaction_id"""
    for k, team in ((8, 20), (1, 50), (3, 0)):
        params = {"low": 60.0, "high": 0.5, "k": k, "team": team}
        reference = con.execute(f"""
            SELECT * FROM (SELECT interaction_id,
                                  row_number() OVER (PARTITION BY agent ORDER BY {urgency}) AS agent_rank,
                                  row_number() OVER (ORDER BY {urgency}) AS team_rank
                           FROM _rpt_base WHERE {rd._CANDIDATE_SQL})
            WHERE agent_rank <= $k OR team_rank <= $team""", params).fetchall()
        rd._review(con, k, 60.0, 0.5, team)
        got = con.execute("SELECT interaction_id, agent_rank, team_rank FROM _rpt_review").fetchall()

        def shown(rows):
            return sorted((iid, min(a, k + 1), min(t, team + 1)) for iid, a, t in rows)

        assert len(reference) >= k * 12 and shown(got) == shown(reference)
