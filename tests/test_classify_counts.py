"""The vectorised tokeniser and counts equal scikit-learn's, so predictions and explanations are
the same as with scikit-learn's own TfidfVectorizer.transform, on the sample and on hostile text."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from qa_scoring import store
from qa_scoring.classify.counts import TermIndex, learn_counts
from qa_scoring.classify.features import TEXT_FIELDS, _vectorizer, explain, fold
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


def _reference(predictor, batch: dict):
    """Risk and explanations the way they were computed before: scikit-learn's TfidfVectorizer.transform."""
    features = predictor.features
    folded = features._fold(batch)
    X = features._assemble([features.vectorizers_[f].transform(folded[f]) for f in TEXT_FIELDS], batch)
    risk = predictor.calibrate(predictor.model.decision_function(X))
    terms = explain(X, predictor.coef, predictor.names(), batch, 5)
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
        risk, terms = predictor.risk_and_terms(batch)
        ref_risk, ref_terms = _reference(predictor_from_json(spec, model_id), batch)
        assert np.abs(risk - ref_risk).max() <= 1e-6
        assert terms == ref_terms
        assert sum(t != "[]" for t in terms) > len(terms) / 2  # explanations are not all empty


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
