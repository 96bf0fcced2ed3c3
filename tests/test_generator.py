"""data/generate_sample.py: the bundled sample stays byte-identical; the dense profile is dense."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from qa_scoring import store
from qa_scoring.ingest import import_files
from qa_scoring.resources import rules_dir
from qa_scoring.rules import load_rule_pack, score_interactions
from qa_scoring.rules.text import NEGATION_CUES

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("generate_sample_under_test", REPO / "data" / "generate_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_default_profile_still_writes_the_bundled_sample(gen, tmp_path):
    for path in gen.write_sample(str(tmp_path)):
        assert Path(path).read_bytes() == (REPO / "data" / "sample" / Path(path).name).read_bytes()


@pytest.fixture(scope="module")
def dense_file(gen, tmp_path_factory):
    path = tmp_path_factory.mktemp("dense") / "dense.json"
    gen.write_file(str(path), "json", 3000, days=3, profile="dense")
    return path


def test_dense_json_is_one_line_with_a_space_after_every_colon_and_comma(dense_file):
    text = dense_file.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert len(doc["data"]) == 3000 and text.count("\n") == 1  # the final new line only
    assert text == json.dumps(doc, ensure_ascii=False) + "\n"  # json.dumps' layout: ", " and ": "
    assert 1000 < len(text.encode()) / 3000 < 1500  # ~1.2 KB a row
    assert len({r["agent_name"] for r in doc["data"]} - {"", "-"}) == 200
    assert {r["channel"] for r in doc["data"]} == {"whatsapp", "webchat", "Email", "facebook_page", "instagram"}


def test_dense_texts_use_only_the_small_vocabulary_and_the_negation_cues(gen):
    words = set(gen.dense_vocabulary())
    assert 140 <= len(words) <= 170
    assert {"no", "nunca", "jamás", "sin", "ni", "tampoco"} <= words and set(gen.DENSE_CUES) <= set(NEGATION_CUES)
    names = {w.lower() for n in gen.DENSE_NAMES for w in n.split()}
    seen = set()
    for row in gen.generate_rows(500, days=2, anomalies=False, profile="dense"):
        for field in ("body", "answer"):
            seen.update(re.findall(r"[^\W\d_]+", gen.strip_accents(row[field]).lower()))
    folded = {gen.strip_accents(w) for w in words | names} | {"tarjeta", "cvv"}  # + the echoed card
    assert seen <= folded, sorted(seen - folded)[:20]


def test_every_spanish_phrase_rule_fires_often_on_dense_data(dense_file, tmp_path):
    con = store.connect(tmp_path / "dense.duckdb")
    import_files(con, [dense_file], operation="t", tz="America/Bogota")
    pack = load_rule_pack(rules_dir())
    score_interactions(con, pack)
    stats = {rule_id: (applicable, passed) for rule_id, applicable, passed in con.execute(
        """SELECT rule_id, avg(applicable::INTEGER), avg(passed::INTEGER) FILTER (applicable)
           FROM rule_results GROUP BY 1""").fetchall()}
    for rule in pack.rules:
        if rule.kind not in ("contains_any", "contains_none") or rule.id.endswith("_en"):
            continue
        applicable, passed = stats[rule.id]
        found = passed if rule.kind == "contains_any" else 1 - passed
        if rule.when.get("field_contains"):  # the trigger (an upset or waiting customer) fires often too
            assert applicable > 0.2, rule.id
        assert found > 0.1, (rule.id, found)
    # many occurrences are negated: a cue within two words before a body phrase
    bodies = [b for (b,) in con.execute("SELECT body FROM interactions").fetchall()]
    negated = sum(bool(re.search(r"(?i)\b(no|nunca|sin|ni|tampoco)\b(\s+\S+){0,2}\s+(molest|queja|terrible)", b))
                  for b in bodies)
    assert negated > 0.05 * len(bodies)


def test_dense_profile_is_deterministic_and_rejects_unknown_profiles(gen, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    gen.write_file(str(a), "json", 300, days=1, profile="dense")
    gen.write_file(str(b), "json", 300, days=1, profile="dense")
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(ValueError, match="unknown profile"):
        gen.write_file(str(a), "json", 10, profile="sparse")
