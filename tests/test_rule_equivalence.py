"""The rule engine's fast paths decide exactly like its reference paths: every rule's outcome
(pass / fail / na) and evidence offsets are equal on the bundled sample, the dense profile and
hostile text (tests/blns.json), negation edge cases included."""

from __future__ import annotations

import importlib.util
import json
import random
import textwrap

import pytest

from qa_scoring import store
from qa_scoring.ingest import import_files
from qa_scoring.resources import rules_dir
from qa_scoring.rules import load_rule_pack, score_interactions
from qa_scoring.rules import sql as sql_module
from qa_scoring.rules.text import NEGATION_CUES
from tests.conftest import REPO, write_files
from tests.test_rules import add_rows

RESULTS = """SELECT interaction_id, rule_id, applicable, passed, evidence, evidence_field, evidence_start, evidence_end
             FROM rule_results ORDER BY interaction_id, rule_id"""
BLNS = json.loads((REPO / "tests" / "blns.json").read_text(encoding="utf-8"))
BODY_PHRASES = load_rule_pack(rules_dir()).rules  # the default pack: its negation rule's list below
EMPATHY = next(r for r in BODY_PHRASES if r.id == "empatia_cliente_molesto")
UPSET = EMPATHY.when["field_contains"]["body"]


def reference(monkeypatch) -> None:
    """Make the compiler take the reference paths (spoil each negated phrase's first character)."""
    monkeypatch.setattr(sql_module, "negation_risk", lambda phrases, **opts: (False, None))


def both_ways(con, pack, monkeypatch) -> tuple[list, list]:
    """(rule results of the fast paths, rule results of the reference paths) for the same rows."""
    score_interactions(con, pack)
    fast = con.execute(RESULTS).fetchall()
    with monkeypatch.context() as patch:
        reference(patch)
        score_interactions(con, pack, full=True)
        slow = con.execute(RESULTS).fetchall()
    return fast, slow


def negation_pack(tmp_path, lists: dict[str, list[str]], extra: str = ""):
    """One contains_any, one contains_none (evidence) and one when.field_contains rule per phrase list."""
    rules = []
    for name, phrases in lists.items():
        quoted = json.dumps(phrases, ensure_ascii=False)
        rules.append(f"""
          - {{id: any_{name}, title: A, field: body, negation: true, {extra}check: {{contains_any: {quoted}}},
             weight: 1, severity: major}}
          - {{id: none_{name}, title: N, field: body, negation: true, {extra}check: {{contains_none: {quoted}}},
             weight: 1, severity: major}}
          - {{id: when_{name}, title: W, field: answer, negation: true, {extra}when: {{field_contains: {{body: {quoted}}}}},
             check: {{not_empty: true}}, weight: 1, severity: minor}}""")
    root = tmp_path / f"pack{len(list(tmp_path.iterdir()))}"
    write_files(root, {"pack.yaml": "rules:" + textwrap.dedent("".join(rules))})
    return load_rule_pack(root)


LISTS = {
    "upset": UPSET,  # the default pack's list: "terrible" inside "terrible service", English and Spanish
    "accents": ["pésimo servicio", "queja", "molestó", "es el colmo", "niño", "acción"],
    "short": ["ok", "ya", "mal servicio", "mal"],
    "apology": EMPATHY.arg,  # risky texts: "I understand" (one-letter word), "disculpas" inside "pido disculpas"
    "cues": ["no es mi problema", "terrible no", "sin respuesta", "¡queja!", "a veces", "molesto"],
}
PIECES = (list(NEGATION_CUES) + ["NO", "Nó", "ño", "NUNCA", "jamas", "JAMÁS", "don’t", "DONT", "sin", "Ni", "nor"]
          + [p for ps in LISTS.values() for p in ps]
          + ["MOLESTO", "Molesta", "molésto", "pesimo  servicio", "pésimo\nservicio", "TERRIBLE SERVICE", "quejas",
             "nomolesto", "molestos", "okay", "yaa", "malo", "servicio", "Mal", "accion", "nino", "NIÑO"]
          + ["estoy", "muy", "el", "señor", "me", "es", "x", "_", "1", "😡", "<b>", "ǂ", "xido disculpas", "i"]
          + [".", ",", "!", "?", ";", "¿", "¡", "-", "'", "’", "\n", "\t", "  ", "\r\n", "..."])


def random_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = [rng.choice(PIECES if rng.random() < 0.9 else BLNS) for _ in range(rng.randint(1, 12))]
        texts.append("".join(p + rng.choice([" ", " ", " ", "", ", ", "\n"]) for p in parts))
    return texts


def test_fast_negation_decides_like_spoiling_the_negated_character_on_random_and_hostile_text(con, tmp_path,
                                                                                          monkeypatch):
    pack = negation_pack(tmp_path, LISTS)
    risks = {name: sql_module.negation_risk(phrases) for name, phrases in LISTS.items()}
    assert all(usable for usable, _ in risks.values())
    assert {name for name, (_, risk) in risks.items() if risk} == {"apology", "cues"}
    texts = random_texts(11, 3000) + BLNS
    add_rows(con, [{"body": t, "answer": "ok"} for t in texts])
    fast, slow = both_ways(con, pack, monkeypatch)
    assert fast == slow
    for name in LISTS:  # the comparison saw both outcomes of every rule, and evidence
        outcomes = {(a, p) for _, rule, a, p, *_ in slow if rule == f"when_{name}"}
        assert {(True, True), (False, None)} <= outcomes or {(True, True), (False, False)} <= outcomes, name
        assert sum(1 for _, rule, a, p, ev, *_ in slow if rule == f"none_{name}" and ev) > 100, name
        assert sum(1 for _, rule, a, p, *_ in slow if rule == f"any_{name}" and p is False) > 100, name


def test_fast_negation_with_case_and_accent_options(con, tmp_path, monkeypatch):
    pack = negation_pack(tmp_path, {"strict": ["Molesto", "PÉSIMO servicio", "queja"]},
                         extra="case_sensitive: true, accent_sensitive: true, ")
    add_rows(con, [{"body": t, "answer": "ok"} for t in random_texts(12, 1500)])
    fast, slow = both_ways(con, pack, monkeypatch)
    assert fast == slow


EDGE_CASES = [
    ("no estoy molesto", False), ("no estoy muy molesto", False),  # cue two words before: inside the window
    ("no estoy muy muy molesto", True),  # three words before: outside
    ("no, molesto", False), ("no. molesto", True), ("no; molesto", True), ("¿no? molesto", True),
    ("molesto no molesto", True), ("no molesto molesto", True), ("no molesto, molesto", True),
    ("no terrible molesto", True), ("ni molesto ni molesta", True), ("ni molesto, ni molesta", False),
    ("NO ESTOY MOLESTO", False), ("nó estoy molésto", False), ("Jamás,\tnunca molesto", False),
    ("sin queja", False), ("sin quejas", False), ("no terrible service", False), ("no pésimo\n servicio", False),
    ("don’t upset", False), ("I'm not upset", False), ("not upset but terrible", True), ("no molesto 😡", False),
    ("nomolesto", False), ("no", False), ("", None), ("molesto", True), ("no estoy molesto.\nMolesto!", True),
]


def test_negation_edge_cases_decide_as_before(con, tmp_path, monkeypatch):
    pack = negation_pack(tmp_path, {"upset": UPSET})
    add_rows(con, [{"body": text, "answer": "ok"} for text, _ in EDGE_CASES])
    fast, slow = both_ways(con, pack, monkeypatch)
    assert fast == slow
    outcome = {(iid, rule): (applicable, passed) for iid, rule, applicable, passed, *_ in fast}
    for n, (text, found) in enumerate(EDGE_CASES):
        expected = {None: (False, None), True: (True, True), False: (False, None)}[found]
        assert outcome[(f"i{n}", "when_upset")] == expected, text
        if found is not None:
            assert outcome[(f"i{n}", "any_upset")] == (True, found), text


@pytest.mark.parametrize("phrases, text", [
    (["pésimo servicio", "servicio"], "no pésimo servicio"),  # a phrase at a later word of the negated one
    (["pido disculpas", "disculpas"], "no xido disculpas"),  # ... of what the pattern takes for it
    (["no sirve", "molesto"], "no sirve molesto"),  # a phrase starting with a cue word
    (["terrible no", "molesto"], "muy terrible no estoy molesto"),  # ... or running into one
    (["I understand", "molesto"], "no I understand molesto"),  # a one-letter first word
    (["¡queja!", "molesto"], "no ¡queja! molesto"),  # edges that are not letters (a doubt, not a known case)
])
def test_texts_where_blanking_whole_matches_would_differ_take_the_reference_path(con, tmp_path, monkeypatch,
                                                                                  phrases, text):
    usable, risk = sql_module.negation_risk(phrases)
    assert usable and risk
    pack = negation_pack(tmp_path, {"l": phrases})
    add_rows(con, [{"body": t, "answer": "ok"} for t in [text] + random_texts(13, 300)])
    fast, slow = both_ways(con, pack, monkeypatch)
    assert fast == slow
    if phrases[0] != "¡queja!":  # the guard matters: without it the fast path decides this text differently
        monkeypatch.setattr(sql_module, "negation_risk", lambda phrases, **opts: (True, None))
        score_interactions(con, pack, full=True)
        assert con.execute(RESULTS).fetchall() != slow


def test_a_phrase_holding_the_negation_mark_always_takes_the_reference_path():
    assert sql_module.negation_risk(["molesto", "aǂb"]) == (False, None)


def _dense_file(tmp_path):
    spec = importlib.util.spec_from_file_location("generate_sample_for_equivalence",
                                                  REPO / "data" / "generate_sample.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    path = tmp_path / "dense.json"
    gen.write_file(str(path), "json", 4000, days=3, profile="dense")
    return path


def test_default_pack_decides_like_the_reference_on_the_dense_profile(con, tmp_path, monkeypatch):
    import_files(con, [_dense_file(tmp_path)], operation="t", tz="America/Bogota")
    fast, slow = both_ways(con, load_rule_pack(rules_dir()), monkeypatch)
    assert fast == slow
    assert sum(1 for row in slow if row[1] == "empatia_cliente_molesto" and row[2]) > 500


def test_default_pack_decides_like_the_reference_on_the_sample(sample_db, monkeypatch):
    con = store.connect(sample_db)
    try:
        fast, slow = both_ways(con, load_rule_pack(rules_dir()), monkeypatch)
    finally:
        con.close()
    assert fast == slow
    assert sum(1 for row in slow if row[4] is not None) > 100  # evidence rows compared too
