"""The vectorised tokeniser and counts equal scikit-learn's, so predictions and explanations are
the same as with scikit-learn's own TfidfVectorizer.transform, on the sample and on hostile text."""

from __future__ import annotations

import json
import re
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from qa_scoring import store
from qa_scoring.classify.counts import TermIndex, learn_counts
from qa_scoring.classify import features as F
from qa_scoring.classify.features import TEXT_FIELDS, _vectorizer, fold
from qa_scoring.classify.model import load_current, predictor_from_json
from qa_scoring.classify.stage import FEATURES_SELECT, _batch_dict
from qa_scoring.cli import cli

BLNS = json.loads((Path(__file__).parent / "blns.json").read_text(encoding="utf-8"))
EDGES = ["", "a", "ab", "ab1 cd", "x_y zz", "_ab ab_", "hola\nmundo", "día\u00a0día", "\x00ab\x00cd", "ab\x00\x00",
         "ÀB-cd", "ﬁesta ﬁesta", "İstanbul ǅemal", "niño" * 50, "a b c d e", "ya le dije, ya le dije"]
HOSTILE = [fold(t) for t in BLNS + EDGES]


def _same(a: sp.csr_matrix, b) -> bool:
    b = sp.csr_matrix(b)
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data))


def _vocab(vec) -> list[str]:
    terms = [""] * len(vec.vocabulary_)
    for term, i in vec.vocabulary_.items():
        terms[i] = term
    return terms


@pytest.mark.parametrize("ngram_max", [1, 2, 3])
@pytest.mark.parametrize("min_df,max_features", [(1, None), (1, 40), (2, None)])
def test_counts_and_learned_vocabulary_equal_scikit_learns(ngram_max, min_df, max_features):
    docs = HOSTILE * 2 + ["dias habiles dias", "no me ayudaron nada", "me ayudaron", "nada nada nada"]
    vec = _vectorizer(ngram_max, max_features, min_df)
    vec.fit(docs)
    reference = vec._count_vocab(docs, True)[1]
    vocabulary, counts = learn_counts(docs, ngram_max, min_df, max_features)
    assert vocabulary == _vocab(vec)  # same terms, same columns (alphabetical, same frequency ties)
    assert _same(counts, reference)
    assert _same(TermIndex(vocabulary, ngram_max).counts(docs), reference)
    assert _same(TermIndex(vocabulary, ngram_max).counts(docs[::-1]), vec._count_vocab(docs[::-1], True)[1])


def test_a_vocabulary_nobody_can_match_counts_nothing():
    # Terms a tokeniser never produces (one letter, upper case, too many words, double spaces) and
    # the empty-field placeholder "" never match.
    index = TermIndex(["", "a", "Hola", "uno dos tres", "uno  dos", "uno dos"], 2)
    counts = index.counts(["uno dos tres", "hola a", ""])
    assert counts.toarray().tolist() == [[0, 0, 0, 0, 0, 1], [0] * 6, [0] * 6]


@pytest.fixture(scope="module")
def trained_sample(_sample_db_template, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exact") / "trained.duckdb"
    shutil.copy(_sample_db_template, path)
    from click.testing import CliRunner
    result = CliRunner().invoke(cli, ["--db", str(path), "train", "--json"])
    assert result.exit_code == 0, result.output
    return path


@lru_cache(maxsize=4096)
def _reference_pattern(term: str) -> re.Pattern:
    """features._surface_pattern as it was before it started with a character class."""
    parts = []
    for word in term.split(" "):
        if word == F.AGENT_TOKEN:
            parts.append(r"[^\W\d_]+(?:[\W\d_]+[^\W\d_]+){0,3}?")
            continue
        parts.append("".join(f"[{re.escape(F._CLASSES[c])}]" if c in F._CLASSES else re.escape(c) for c in word))
    return re.compile(r"(?<![^\W\d_])" + F._SEP.join(parts) + r"(?![^\W\d_])")


def _reference_surface(term: str, raw: str | None) -> str:
    if raw:
        match = _reference_pattern(term).search(raw)
        if match:
            return " ".join(match.group(0).split())
    return term


def test_surface_forms_are_found_as_before():
    terms = ["dias habiles", "ya le dije", "qaagentname le", "le qaagentname", "senor", "nino", "ab", "fiesta",
             "istanbul", "zz", "x", ""]
    raws = BLNS + EDGES + ["DÍAS hábiles", "xdías hábiles", "\ndías\nhábiles", "días, hábiles", "1días hábiles",
                           "_días hábiles", "días hábilesx", "Ya le dije", "aya le dije", "ya  le\tdije!",
                           "Le habla María José", "María le", "señor", "SEÑOR", "niño", "ñiño", "ﬁesta", "İstanbul"]
    column = F.SurfaceForms(raws + [None, ""])  # the batch way: one column, searched row by row
    found = 0
    for term in terms + ["Dias", "dias_habiles", "días"]:
        for row, raw in enumerate(raws):
            expected = _reference_surface(term, raw)
            assert F.surface_form(term, raw) == expected, (term, raw)
            assert column.find(term, row) == expected, (term, raw)
            found += expected != term
        assert column.find(term, len(raws)) == column.find(term, len(raws) + 1) == term
    assert found > 20
    assert F.surface_form("dias habiles", "Son 3 DÍAS  hábiles.") == "DÍAS hábiles"


def _reference_explain(X: sp.csr_matrix, coef: np.ndarray, names: list[tuple[str, str]], batch: dict,
                       top: int = 5) -> list[list[dict]]:
    """explain() as it was before the single-key sort (numpy lexsort over the batch)."""
    contrib = X.multiply(coef.astype(np.float32)).tocsr()
    contrib.eliminate_zeros()
    rows = np.repeat(np.arange(X.shape[0]), np.diff(contrib.indptr))
    keep = contrib.data >= 1e-4  # a push too small to show (it would round to 0) is no reason
    rows, cols, vals = rows[keep], contrib.indices[keep], contrib.data[keep]
    order = np.lexsort((-vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, rows, side="left")
    chosen = (np.arange(len(rows)) - starts) < 2 * top  # candidates; overlapping n-grams drop out below
    out: list[list[dict]] = [[] for _ in range(X.shape[0])]
    seen: list[list[tuple[str, str]]] = [[] for _ in range(X.shape[0])]
    handle = batch["handle_seconds"]
    for r, c, v in zip(rows[chosen].tolist(), cols[chosen].tolist(), vals[chosen].tolist()):
        if len(out[r]) >= top:
            continue
        kind, name = names[c]
        if kind in TEXT_FIELDS:
            # "ya le dije", "le dije" and "dije" are one phrase: keep the strongest, skip its parts.
            padded = f" {name} "
            if any(k == kind and (padded in f" {n} " or f" {n} " in padded) for k, n in seen[r]):
                continue
            seen[r].append((kind, name))
            term = _reference_surface(name, batch[kind][r])
        elif kind == "handle":
            term = ("handle time " + F._human_seconds(handle[r]) if name == "time" else "no close time")
        elif kind == "rule":
            term = f"rule failed: {name}"
        else:
            term = f"{kind}: {name}"
        out[r].append({"term": term, "field": kind, "weight": round(v, 4)})
    return out


def _reference_agent_pattern(agent_name: str) -> re.Pattern | None:
    """features._agent_pattern as it was before it started with a literal per name word."""
    words = sorted({w for w in re.findall(r"[a-z]{3,}", fold(agent_name))}, key=len, reverse=True)
    if not words:
        return None
    name = "(?:" + "|".join(words) + ")"
    return re.compile(rf"\b{name}(?:[^a-z0-9]+{name})*\b")


def test_the_agent_name_is_blanked_as_before():
    names = ["María José Pérez", "Ana", "Jo", "Ann Annabel", "  ", "José-María O'Neil", "Ñoño Ñu"] + BLNS[:200]
    texts = BLNS + EDGES + ["le habla maría josé pérez", "xmaria jose", "maria-jose", "_maria", "1maria",
                            "mariajose", "maria  jose, perez!", "amaria maria", "annabel ann annx", "nono nu"]
    folded = [fold(t) for t in texts]
    blanked = 0
    for agent in names:
        mine, ref = F._agent_pattern(agent), _reference_agent_pattern(agent)
        assert (mine is None) == (ref is None), agent
        if mine is not None:
            for text in folded:
                assert mine.sub(F.AGENT_TOKEN, text) == ref.sub(F.AGENT_TOKEN, text), (agent, text)
                blanked += F.AGENT_TOKEN in mine.sub(F.AGENT_TOKEN, text)
    assert blanked >= 8  # the name is found, not only left alone


def _reference(predictor, batch: dict):
    """Risk and explanations the way they were computed before: scikit-learn's TfidfVectorizer.transform,
    scipy's hstack, the lexsort explain."""
    features = predictor.features
    folded = features._fold(batch)
    X = features._assemble([features.vectorizers_[f].transform(folded[f]) for f in TEXT_FIELDS], batch)
    risk = predictor.calibrate(predictor.model.decision_function(X))
    terms = _reference_explain(X, predictor.coef, predictor.names(), batch, 5)
    return risk, [json.dumps(t, ensure_ascii=False) for t in terms]


def _hostile_batch(batch: dict) -> dict:
    n = len(BLNS) + len(EDGES)
    raw = BLNS + EDGES
    out = {k: [v[i % len(v)] for i in range(n)] for k, v in batch.items()}
    for k, field in enumerate(TEXT_FIELDS):
        out[field] = [raw[(i + 7 * k) % n] + " " + batch[field][i % len(batch[field])] for i in range(n)]
    out["agent_name"] = [raw[(i + 3) % n] if i % 3 else out["agent_name"][i] for i in range(n)]
    return out


def test_predictions_and_explanations_equal_scikit_learns_on_the_sample_and_hostile_text(trained_sample):
    con = store.connect(trained_sample)
    model_id, spec = load_current(con)
    table = con.sql(f"SELECT {FEATURES_SELECT}, NULL::VARCHAR AS rules_failed FROM interactions i "
                    "ORDER BY interaction_id").to_arrow_table()
    con.close()
    sample = _batch_dict(table)
    for batch in (sample, _hostile_batch(sample)):
        predictor = predictor_from_json(spec, model_id)
        risk, terms, _, _ = predictor.risk_and_terms(batch)
        ref_risk, ref_terms = _reference(predictor_from_json(spec, model_id), batch)
        assert np.abs(risk - ref_risk).max() <= 1e-6
        assert terms == ref_terms
        assert sum(t != "[]" for t in terms) > len(terms) / 2  # explanations are not all empty


def test_explanations_break_ties_as_before():
    # Few distinct values and weights: many equal pushes within a row, which the order of the
    # columns must break exactly as the lexsort did.
    rng = np.random.default_rng(5)
    X = sp.random(300, 40, density=0.4, format="csr", dtype=np.float32, random_state=rng,
                  data_rvs=lambda k: rng.choice(np.array([0.25, 0.5, 1.0], np.float32), k))
    coef = rng.choice(np.array([-1.0, 0.0, 5e-5, 0.5, 2.0]), 40)
    names = [("channel", f"c{i}") for i in range(38)] + [("handle", "time"), ("rule", "r1")]
    batch = {"handle_seconds": [float(i * 60) for i in range(300)]}
    for top in (1, 3, 5, 12):
        got = F.explain(X, coef, names, batch, top)
        assert got == _reference_explain(X, coef, names, batch, top)
    assert sum(len(t) for t in got) > 300


def test_explanations_as_json_are_json_dumps_of_them():
    # Channel, skill and rule names are user text: quotes, backslashes, control characters, emoji.
    rng = np.random.default_rng(7)
    n_cols = 60
    X = sp.random(400, n_cols, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    coef = rng.normal(size=n_cols)
    coef[5] = 1e300  # its pushes overflow float32: infinite
    kinds = ["channel", "skill", "rule"]
    names = [(kinds[i % 3], BLNS[(i * 37) % len(BLNS)] + '"\\\n\x01') for i in range(n_cols - 2)]
    names += [("handle", "time"), ("handle", "missing")]
    batch = {"handle_seconds": [float(i * 97) for i in range(400)]}
    explainer = F.Explainer(coef, names)
    got = explainer.explain_json(X, batch, 5)
    assert got == [json.dumps(t, ensure_ascii=False) for t in explainer.explain(X, batch, 5)]
    assert any("Infinity" in t for t in got) and sum(t != "[]" for t in got) > 300


# --- the text cap and the batch bound (issue 18 item 14) ----------------------------------------

def test_batches_are_bounded_by_rows_and_by_text_and_keep_every_row_in_order():
    import pyarrow as pa

    from qa_scoring.classify.stage import _batches

    texts = ["x" * n for n in [5, 5, 30, 1, 1, 1, 100, 2, 2, 2, 2]]
    def chunk(part):
        return pa.record_batch({f: pa.array(part if f == "body" else [""] * len(part)) for f in TEXT_FIELDS}
                               | {"n": pa.array(range(len(part)))})
    reader = [chunk(texts[:4]), chunk(texts[4:9]), chunk(texts[9:])]
    out = list(_batches(reader, max_rows=3, max_chars=12))
    sizes = [[len(t) for t in b.column("body").to_pylist()] for b in out]
    assert sum(sizes, []) == [len(t) for t in texts]  # nothing lost, nothing reordered
    assert all(len(s) <= 3 for s in sizes)
    assert all(sum(s) <= 12 or len(s) == 1 for s in sizes)  # a row bigger than the bound goes alone
    assert sizes == [[5, 5], [30], [1, 1, 1], [100], [2, 2, 2], [2]]


def test_a_huge_text_field_is_read_only_up_to_the_cap(trained_sample, tmp_path, runner):
    import time

    db = tmp_path / "huge.duckdb"
    shutil.copy(trained_sample, db)
    cfg = tmp_path / "q.toml"
    cfg.write_text("[classifier]\nmax_text_chars = 300\n")
    con = store.connect(db)
    target = con.execute("SELECT interaction_id FROM interactions ORDER BY interaction_id LIMIT 1").fetchall()[0][0]
    con.execute("UPDATE interactions SET body = repeat('no me ayudaron ', 2000000), content_hash = 'huge' "
                "WHERE interaction_id = ?", [target])  # 30 MB in one field
    con.close()
    started = time.perf_counter()
    result = runner.invoke(cli, ["--config", str(cfg), "--db", str(db), "predict", "--json"])
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - started < 20  # uncapped, tokenising 30 MB alone took longer
    con = store.connect(db)
    huge = con.execute("SELECT risk, top_terms::VARCHAR FROM predictions WHERE interaction_id = ?", [target]).fetchall()
    con.execute("UPDATE interactions SET body = left(body, 300), content_hash = 'cut' WHERE interaction_id = ?",
                [target])
    con.close()
    result = runner.invoke(cli, ["--config", str(cfg), "--db", str(db), "predict", "--json"])
    assert json.loads(result.stdout)["predicted"] == 1
    con = store.connect(db)
    cut = con.execute("SELECT risk, top_terms::VARCHAR FROM predictions WHERE interaction_id = ?", [target]).fetchall()
    con.close()
    assert huge == cut  # the model saw exactly the first 300 characters


def test_the_text_cap_is_checked(tmp_path, runner):
    cfg = tmp_path / "q.toml"
    cfg.write_text("[classifier]\nmax_text_chars = 0\n")
    result = runner.invoke(cli, ["--config", str(cfg), "--db", str(tmp_path / "x.duckdb"), "predict"])
    assert result.exit_code == 2
    assert "max_text_chars" in result.stderr and "must be >= 1" in result.stderr


# --- tokens and unknown tokens per prediction (schema v9, the input-drift alarm's figures) -------

def test_a_token_is_unknown_when_it_is_no_term_by_itself():
    # "me" is only part of the bigram "no me": the model has no weight for the word alone.
    index = TermIndex(["ayudaron", "no", "no me"], 2)
    _, tokens, unknown = index.counts_and_tokens(["no me ayudaron nada", "", "a 12 ab_c nino x1y", "no no no"])
    assert tokens.tolist() == [4, 0, 1, 3]  # "a", "12", "ab_c", "x1y" are no tokens
    assert unknown.tolist() == [2, 0, 1, 0]


def _direct_token_counts(predictor, batch: dict) -> tuple[list[int], list[int]]:
    """Per row, the words sklearn's token pattern finds in each text field as the model reads it
    (folded, the agent's name blanked, the subject only on its channels), and how many of them are
    no term of that field's vocabulary: one Python loop per row, the plain way."""
    features = predictor.features
    n = len(batch["channel"])
    tokens, unknown = [0] * n, [0] * n
    for field in TEXT_FIELDS:
        vocabulary = set(features.vectorizers_[field].vocabulary_)
        for i in range(n):
            text = batch[field][i]
            if field == "subject" and batch["channel"][i] not in features.subject_channels_:
                text = None
            text = fold(text) if text else ""
            agent = batch["agent_name"][i]
            pattern = F._agent_pattern(agent) if field in F.AGENT_FIELDS and agent else None
            if pattern is not None and text:
                text = pattern.sub(F.AGENT_TOKEN, text)
            words = re.findall(F.TOKEN_PATTERN, text)
            tokens[i] += len(words)
            unknown[i] += sum(w not in vocabulary for w in words)
    return tokens, unknown


def test_token_counts_equal_a_direct_count_on_the_sample_and_hostile_text(trained_sample):
    con = store.connect(trained_sample)
    model_id, spec = load_current(con)
    table = con.sql(f"SELECT {FEATURES_SELECT}, NULL::VARCHAR AS rules_failed FROM interactions i "
                    "ORDER BY interaction_id").to_arrow_table()
    con.close()
    sample = _batch_dict(table)
    predictor = predictor_from_json(spec, model_id)
    shares = []
    for batch in (sample, _hostile_batch(sample)):
        _, _, tokens, unknown = predictor.risk_and_terms(batch)
        direct_tokens, direct_unknown = _direct_token_counts(predictor, batch)
        assert tokens.tolist() == direct_tokens
        assert unknown.tolist() == direct_unknown
        assert (unknown > 0).any() and (unknown < tokens).any()
        shares.append(unknown.sum() / tokens.sum())
    assert shares[1] > shares[0] + 0.1  # hostile text is mostly words the model never learned
    # The sample's model reads no subject (too few per channel): read it on every channel, where
    # its words count too (unknown ones: this model learned no subject term).
    predictor.features.subject_channels_ = sorted({c for c in sample["channel"] if c})
    _, _, tokens, unknown = predictor.risk_and_terms(sample)
    assert (tokens.tolist(), unknown.tolist()) == _direct_token_counts(predictor, sample)
    assert tokens.sum() > sum(_direct_token_counts(predictor_from_json(spec, model_id), sample)[0])


def _predictions(db) -> list[tuple]:
    con = store.connect(db)
    try:
        return con.execute("SELECT interaction_id, risk, top_terms::VARCHAR, tokens, unknown_tokens "
                           "FROM predictions ORDER BY interaction_id").fetchall()
    finally:
        con.close()


def test_predict_stores_the_token_counts_of_what_the_model_read(trained_sample, tmp_path, runner):
    db = tmp_path / "counted.duckdb"
    shutil.copy(trained_sample, db)
    con = store.connect(db)
    ids = [r[0] for r in con.execute("SELECT interaction_id FROM interactions ORDER BY interaction_id LIMIT 40").fetchall()]
    for k, target in enumerate(ids):  # hostile text in the database itself, beside the agent's name
        con.execute("UPDATE interactions SET body = ?, answer = ? || ' ' || coalesce(agent_name, '') || ' ' || answer, "
                    "content_hash = md5(random()::VARCHAR) WHERE interaction_id = ?",
                    [BLNS[k * 7 % len(BLNS)], BLNS[(k * 13 + 5) % len(BLNS)], target])
    con.close()
    result = runner.invoke(cli, ["--db", str(db), "predict", "--json"])
    assert result.exit_code == 0, result.output
    con = store.connect(db)
    model_id, spec = load_current(con)
    table = con.sql(f"SELECT {FEATURES_SELECT}, NULL::VARCHAR AS rules_failed FROM interactions i "
                    "ORDER BY interaction_id").to_arrow_table()
    con.close()
    tokens, unknown = _direct_token_counts(predictor_from_json(spec, model_id), _batch_dict(table))
    stored = _predictions(db)
    assert [r[3] for r in stored] == tokens
    assert [r[4] for r in stored] == unknown
    assert sum(tokens) > 10 * len(tokens)


def test_a_v8_database_migrates_and_the_next_predict_fills_the_counts(trained_sample, tmp_path, runner):
    from tests.test_packs import undo_v9

    db = tmp_path / "v8.duckdb"
    shutil.copy(trained_sample, db)
    assert runner.invoke(cli, ["--db", str(db), "predict"]).exit_code == 0
    before = _predictions(db)
    con = store.connect(db)
    undo_v9(con)  # as v8 left it: predictions without the counts
    assert store.schema_version(con) == 8
    con.close()
    con = store.connect(db)
    assert store.schema_version(con) == store.SCHEMA_VERSION
    assert con.execute("SELECT count(*), count(tokens), count(unknown_tokens) FROM predictions").fetchall() \
        == [(len(before), 0, 0)]
    con.close()
    result = runner.invoke(cli, ["--db", str(db), "predict", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["predicted"] == len(before)  # each prediction again, counted
    after = _predictions(db)
    assert [(r[0], r[2], r[3], r[4]) for r in after] == [(r[0], r[2], r[3], r[4]) for r in before]
    assert max(abs(a[1] - b[1]) for a, b in zip(after, before)) <= 1e-12
    result = runner.invoke(cli, ["--db", str(db), "predict", "--json"])
    assert json.loads(result.stdout)["predicted"] == 0  # and then nothing is left to do
