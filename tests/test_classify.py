"""The classifier: survey labels, refusals, an honest held-out evaluation, explained predictions,
persistence as data (round trip, tampering, versions), incremental and parallel prediction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from qa_scoring import store
from qa_scoring.classify import (LabelMapping, current_model, predict_interactions, predictor_from_json,
                                 survey_label, train_model)
from qa_scoring.classify.features import TEXT_FIELDS, InteractionFeatures, fold
from qa_scoring.classify.model import Predictor, make_pipeline, model_id_for
from qa_scoring.classify.stage import FEATURES_SELECT, _batch_dict
from qa_scoring.cli import cli
from qa_scoring.config import ClassifierSettings, load_settings
from qa_scoring.errors import ModelError

SAT, DIS, UNK = "satisfied", "dissatisfied", "unknown"


# --- labels -----------------------------------------------------------------------------------

LABELS = [
    # value, scale, expected
    ("5", "auto", SAT), ("4", "auto", SAT), ("3", "auto", DIS), ("2", "auto", DIS), ("1", "auto", DIS),
    ("4,5", "auto", SAT), ("4.5", "auto", SAT), ("3,5", "auto", DIS), ("2,5", "auto", DIS),
    ("10", "auto", SAT), ("9", "auto", SAT), ("8", "auto", SAT), ("7", "auto", DIS), ("6", "auto", DIS),
    ("0", "auto", DIS), ("11", "auto", UNK), ("-1", "auto", UNK), ("5/5", "auto", UNK), ("1e1", "auto", UNK),
    ("nan", "auto", UNK), (" 4 ", "auto", SAT), ("\t2\n", "auto", DIS),
    ("Satisfecho", "auto", SAT), ("Muy satisfecho", "auto", SAT), ("Muy insatisfecho", "auto", DIS),
    ("MUY  INSATISFECHO.", "auto", DIS), ("Insatisfecho", "auto", DIS), ("bueno", "auto", SAT),
    ("malo", "auto", DIS), ("Excelente", "auto", SAT), ("¡Excelente!", "auto", SAT), ("pésimo", "auto", DIS),
    ("PESIMO", "auto", DIS), ("Regular", "auto", DIS), ("sí", "auto", SAT), ("Si", "auto", SAT),
    ("no", "auto", DIS), ("yes", "auto", SAT), ("No", "auto", DIS), ("good", "auto", SAT), ("bad", "auto", DIS),
    ("meh", "auto", UNK), ("5 estrellas", "auto", UNK), ("", "auto", None), ("  ", "auto", None),
    ("-", "auto", None), (None, "auto", None),
    ("5", "1-5", SAT), ("3", "1-5", DIS), ("6", "1-5", UNK), ("0", "1-5", UNK),
    ("5", "1-10", DIS), ("8", "1-10", SAT), ("7,9", "1-10", DIS), ("0", "1-10", UNK), ("10", "1-10", SAT),
    ("0", "0-10", DIS), ("8", "0-10", SAT), ("11", "0-10", UNK), ("bueno", "1-10", SAT),
]


@pytest.fixture(scope="module")
def mem():
    connection = duckdb.connect()
    yield connection
    connection.close()


@pytest.mark.parametrize("value,scale,expected", LABELS)
def test_survey_label_table_in_python_and_sql(mem, value, scale, expected):
    mapping = LabelMapping.from_settings(ClassifierSettings(scale=scale))
    assert survey_label(value, ClassifierSettings(scale=scale)) == expected
    expr, params = mapping.sql("v")
    got = mem.execute(f"SELECT {expr} FROM (SELECT $v::VARCHAR AS v)", {**params, "v": value}).fetchall()[0][0]
    assert got == expected  # the set-based mapping agrees with the Python one


def test_default_is_the_1_to_5_contract():
    assert [survey_label(str(v)) for v in range(1, 6)] == [DIS, DIS, DIS, SAT, SAT]


def test_configured_words_extend_and_override_the_defaults():
    settings = load_settings(environ={}, overrides={
        "classifier.satisfied_words": ["De acuerdo", "Genial"], "classifier.dissatisfied_words": ["Bueno"]})
    assert survey_label("de acuerdo", settings.classifier) == SAT
    assert survey_label("GENIAL", settings.classifier) == SAT
    assert survey_label("bueno", settings.classifier) == DIS  # the configured side wins
    assert survey_label("malo", settings.classifier) == DIS


# --- small databases --------------------------------------------------------------------------

def _row(i: int, survey: str, bad: bool) -> dict:
    answer = ("Eso no se puede. Ya le dije." if bad else
              "Buenos días, con gusto le ayudo. Su caso quedó resuelto. ¿Algo más en lo que pueda ayudarle?")
    return {"channel": "whatsapp", "agent_name": f"Agente {i % 5}", "skill_id": "0012", "case_id": str(1000 + i),
            "subject": "", "from": "57300", "to": "57311", "body": "Hola, necesito ayuda con mi factura",
            "answer": answer, "date_creation": f"2026-10-{1 + i // 60:02d} {8 + (i % 60) // 6:02d}:{i % 60:02d}:00",
            "close_date": "", "evaluation_survey": survey, "cod_act": "", "cod_description": "",
            "comments": "", "attachments": "", "status": "close"}


def _db(tmp_path: Path, rows: list[dict]) -> Path:
    data = tmp_path / "rows.json"
    data.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    path = tmp_path / "small.duckdb"
    con = store.connect(path)
    from qa_scoring.ingest import import_files
    import_files(con, [data], operation="default", tz="America/Bogota")
    con.close()
    return path


def test_train_refuses_too_few_labels(tmp_path, runner):
    db = _db(tmp_path, [_row(i, "5" if i % 3 else "1", i % 3 == 0) for i in range(60)] + [_row(60, "meh", False)])
    result = runner.invoke(cli, ["--db", str(db), "train"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: too few survey labels to train: 60 usable answers (20 dissatisfied, "
                                     "40 satisfied) (1 unknown answers not used); need at least 200 "
                                     "(classifier.min_labels)")
    assert "Traceback" not in result.output


def test_train_refuses_one_class(tmp_path, runner):
    db = _db(tmp_path, [_row(i, "5", False) for i in range(250)])
    result = runner.invoke(cli, ["--db", str(db), "train", "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == ("Error: all 250 usable survey answers are satisfied: cannot learn "
                                     "dissatisfaction from one class")


def test_train_refuses_too_few_of_one_class(tmp_path, runner):
    db = _db(tmp_path, [_row(i, "1" if i < 10 else "4", i < 10) for i in range(250)])
    result = runner.invoke(cli, ["--db", str(db), "train"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("Error: too few dissatisfied survey answers to train: 10; need at least 30 "
                                     "of each class (classifier.min_per_class)")


def test_the_plain_text_baseline_reads_only_the_text(tmp_path, runner):
    # Only the channel tells the classes apart; every text is the same: the plain TF-IDF + LR
    # baseline can do no better than chance, the model (which also reads the channel) can.
    rows = []
    for i in range(300):
        row = _row(i, "1" if i % 3 == 0 else "5", False)
        row["channel"] = "chat" if i % 3 == 0 else "whatsapp"
        rows.append(row)
    db = _db(tmp_path, rows)
    result = runner.invoke(cli, ["--db", str(db), "train", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["text_baseline"]["kind"] == "tfidf-lr"
    assert out["text_baseline"]["fields"] == ["body", "answer"]
    assert out["text_baseline"]["roc_auc"] == 0.5
    assert out["roc_auc"] > 0.95
    text = runner.invoke(cli, ["--db", str(db), "train"]).stdout
    assert "plain text TF-IDF+LR 0.500" in text


def test_subject_is_read_on_the_channels_where_it_is_free_text_that_helps(tmp_path, runner):
    # chat: the subject is the customer's own title and tells the classes apart (80% of the time);
    # whatsapp: the subject is the customer's name; both channels' bodies and answers say nothing.
    import random
    rng = random.Random(3)
    good, bad = ["excelente atención", "muy buen servicio", "todo resuelto rápido"], \
        ["pésimo servicio", "nadie me ayuda", "sigo sin respuesta"]
    names = [f"{a} {b}" for a in ("Ana", "Luis", "Marta", "Jorge", "Lucía", "Pedro", "Sofía", "Juan")
             for b in ("Pérez", "Gómez", "Rojas", "Díaz", "Ruiz", "Torres", "Vargas", "Castro")]
    rows = []
    for i in range(600):
        dissatisfied = rng.random() < 0.4
        row = _row(i, "1" if dissatisfied else "5", False)
        if i % 2:
            row["channel"] = "chat"
            row["subject"] = rng.choice(bad if dissatisfied == (rng.random() < 0.8) else good)
        else:
            row["subject"] = rng.choice(names)
        rows.append(row)
    db = _db(tmp_path, rows)
    result = runner.invoke(cli, ["--db", str(db), "train", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["subject_channels"] == ["chat"]
    assert out["text_baseline"]["fields"] == ["body", "answer", "subject"]
    assert out["roc_auc"] > 0.6  # only half the rows (chat) carry a signal
    con = store.connect(db)
    info = current_model(con)
    assert info.training["subject"]["chat"]["used"] and info.training["subject"]["chat"]["roc_auc"] > 0.7
    assert info.training["subject"]["whatsapp"]["why"] == "does not help"
    model_id, spec = con.execute("SELECT model_id, spec::VARCHAR FROM models WHERE is_current").fetchall()[0]
    con.close()
    predictor = predictor_from_json(spec, model_id)
    base = {k: [v] for k, v in {"body": "Hola", "answer": "Con gusto", "comments": "", "subject": "pésimo servicio",
                                "channel": "chat", "skill": "0012", "handle_seconds": 60.0,
                                "agent_name": "Agente 1", "rules_failed": ""}.items()}
    risk_bad = predictor.risk(base)[0]
    risk_good = predictor.risk({**base, "subject": ["excelente atención"]})[0]
    assert risk_bad > risk_good + 0.2  # the chat subject is read
    on_whatsapp = {**base, "channel": ["whatsapp"]}
    assert predictor.risk(on_whatsapp)[0] == predictor.risk({**on_whatsapp, "subject": ["excelente atención"]})[0]
    assert "subject read on: chat" in runner.invoke(cli, ["--db", str(db), "train"]).stdout
    older = json.loads(spec)  # a model stored before train chose: the subject was read on email only
    del older["features"]["subject_channels"]
    loaded = predictor_from_json(json.dumps(older), model_id_for(older))
    assert loaded.features.subject_channels_ == ["email", "e-mail", "correo", "mail"]
    older["features"]["subject_channels"] = "chat"
    with pytest.raises(ModelError, match="features.subject_channels is not a list of strings"):
        predictor_from_json(json.dumps(older), model_id_for(older))


def test_predict_without_a_model_is_a_clear_error(sample_db, runner):
    result = runner.invoke(cli, ["--db", str(sample_db), "predict"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: no trained model: run 'qa-scoring train' first"
    con = store.connect(sample_db)
    assert current_model(con) is None
    con.close()


# --- the sample -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def _trained_template(_sample_db_template, tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("trained") / "trained.duckdb"
    shutil.copy(_sample_db_template, path)
    from click.testing import CliRunner
    result = CliRunner().invoke(cli, ["--db", str(path), "train", "--json"])
    assert result.exit_code == 0, result.output
    return path, json.loads(result.stdout)


@pytest.fixture
def trained(_trained_template, tmp_path) -> tuple[Path, dict]:
    path = tmp_path / "trained.duckdb"
    shutil.copy(_trained_template[0], path)
    return path, _trained_template[1]


def test_sample_model_beats_the_baseline_on_the_newest_period(trained):
    db, summary = trained
    for key in ("roc_auc", "pr_auc", "brier", "baseline", "n_train", "n_test", "split_at"):
        assert key in summary  # the `train --json` contract
    assert summary["roc_auc"] >= 0.70
    assert summary["roc_auc"] >= summary["baseline"]["roc_auc"] + 0.15
    assert summary["pr_auc"] > summary["baseline"]["pr_auc"] + 0.1
    assert summary["brier"] < summary["baseline"]["brier"]
    assert summary["agent_only_roc_auc"] is None or summary["roc_auc"] > summary["agent_only_roc_auc"]
    plain = summary["text_baseline"]  # the sample's text carries signal; the model must not do worse
    assert 0.65 < plain["roc_auc"] <= summary["roc_auc"] and plain["pr_auc"] <= summary["pr_auc"]
    assert summary["n_test"] == round(0.2 * (summary["n_train"] + summary["n_test"]))
    con = store.connect(db)
    usable = con.execute("SELECT count(*) FROM interactions WHERE survey_raw IS NOT NULL").fetchall()[0][0]
    newest = con.execute("SELECT created_at FROM interactions WHERE survey_raw IS NOT NULL "
                         "ORDER BY created_at DESC, interaction_id DESC LIMIT 1 OFFSET ?",
                         [summary["n_test"] - 1]).fetchall()[0][0]
    assert summary["n_train"] + summary["n_test"] + summary["labels"]["unknown"] == usable
    assert summary["split_at"] == newest.strftime("%Y-%m-%d %H:%M:%S")  # the newest 20% are held out
    info = current_model(con)
    assert info.model_id == summary["model_id"]
    assert info.metrics["roc_auc"] == summary["roc_auc"]
    assert info.metrics["text_baseline"] == plain
    assert info.curves["roc"][0] == [0.0, 0.0] and info.curves["roc"][-1] == [1.0, 1.0]
    assert sum(b["n"] for b in info.curves["calibration"]) == summary["n_test"]
    assert info.top_terms["dissatisfied"] and info.top_terms["satisfied"]
    assert "1-3 dissatisfied" in info.label_mapping["numeric"]
    assert con.execute("SELECT model_id, status FROM runs WHERE command = 'train'").fetchall() == [
        (summary["model_id"], "success")]
    con.close()


def test_predictions_for_every_interaction_with_real_words(trained, runner):
    db, summary = trained
    result = runner.invoke(cli, ["--db", str(db), "predict", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    con = store.connect(db)
    n = con.execute("SELECT count(*) FROM interactions").fetchall()[0][0]
    assert out["predicted"] == n and out["model_id"] == summary["model_id"]
    rows = con.execute(f"""SELECT p.risk, p.top_terms::VARCHAR, p.model_id, {FEATURES_SELECT}
                           FROM interactions i LEFT JOIN predictions p USING (interaction_id)""").fetchall()
    assert len(rows) == n
    texts_checked = 0
    for risk, terms, model_id, body, answer, comments, subject, *_ in rows:
        assert model_id == summary["model_id"] and 0.0 <= risk <= 1.0
        terms = json.loads(terms)
        assert len(terms) <= 5
        assert [t["weight"] for t in terms] == sorted((t["weight"] for t in terms), reverse=True)
        raw = dict(zip(TEXT_FIELDS, (body, answer, comments, subject)))
        for t in terms:
            assert t["weight"] > 0
            if t["field"] in TEXT_FIELDS:
                # the term is the interaction's own words, as written (accents and case kept)
                assert t["term"] in " ".join(raw[t["field"]].split()), (t, raw[t["field"]])
                texts_checked += 1
    assert texts_checked > n  # explanations are mostly words, not only channel / handle time
    accented = [t["term"] for r in rows for t in json.loads(r[1]) if fold(t["term"]) != t["term"].lower()]
    assert accented  # unfolded forms: "días", "gestión"... not "dias"
    con.close()


def test_predict_is_incremental(trained):
    db, _ = trained
    con = store.connect(db)
    settings = load_settings(environ={})
    first = predict_interactions(con, settings)
    again = predict_interactions(con, settings)
    assert again.predicted == 0 and again.up_to_date == first.predicted
    con.execute("UPDATE interactions SET content_hash = 'changed' WHERE interaction_id IN "
                "(SELECT interaction_id FROM interactions ORDER BY interaction_id LIMIT 3)")
    con.execute("DELETE FROM interactions WHERE interaction_id = (SELECT max(interaction_id) FROM interactions)")
    third = predict_interactions(con, settings)
    assert (third.predicted, third.removed) == (3, 1)
    assert predict_interactions(con, settings, full=True).predicted == first.predicted - 1
    con.close()


def test_saved_model_round_trips_to_identical_probabilities(sample_db):
    con = store.connect(sample_db)
    table = con.sql(f"SELECT {FEATURES_SELECT}, NULL::VARCHAR AS rules_failed, "
                    "survey_score < 4 AS y FROM interactions i WHERE survey_score BETWEEN 1 AND 5 "
                    "ORDER BY created_at").to_arrow_table()
    con.close()
    batch = _batch_dict(table)
    y = np.array(table.column("y").to_pylist(), dtype=int)
    features = InteractionFeatures()
    pipeline = make_pipeline(features)
    pipeline.fit(batch, y)  # the one scikit-learn Pipeline: features → logistic regression
    original = Predictor(pipeline, (1.3, -0.2))
    spec = {"kind": "qa-scoring/dissatisfaction-classifier", "format": 1,
            "versions": store.versions(), **original.to_spec(),
            "metrics": {"roc_auc": 0.5, "pr_auc": 0.5, "brier": 0.25, "n_train": len(y), "n_test": 0}}
    reloaded = predictor_from_json(json.dumps(spec), model_id_for(spec))  # loading recomputes the id
    assert np.array_equal(original.risk(batch), reloaded.risk(batch))
    assert reloaded.risk_and_terms(batch)[1] == original.risk_and_terms(batch)[1]


def _tamper(db: Path, change) -> None:
    con = duckdb.connect(str(db))
    text = con.execute("SELECT spec::VARCHAR FROM models WHERE is_current").fetchall()[0][0]
    spec = json.loads(text)
    new = change(spec)
    con.execute("UPDATE models SET spec = ? WHERE is_current", [new if isinstance(new, str) else json.dumps(spec)])
    con.close()


@pytest.mark.parametrize("change,message", [
    (lambda s: s["model"]["coef"].pop(), r"is damaged or tampered: model\.coef has \d+ values, expected \d+$"),
    (lambda s: s["features"]["text"]["body"].__setitem__("vocabulary", "__import__('os').system('x')"),
     r"is damaged or tampered: features\.text\.body\.vocabulary is not a list of strings$"),
    (lambda s: s["features"]["text"]["answer"]["idf"].__setitem__(0, "1; DROP TABLE models"),
     r"is damaged or tampered: features\.text\.answer\.idf holds a value that is not a finite number$"),
    (lambda s: s["calibration"].__setitem__("a", float("inf")), r"calibration\.a is not a finite number$"),
    (lambda s: s["features"].__setitem__("ngram_max", 40), r"features\.ngram_max must be 1, 2 or 3$"),
    (lambda s: json.dumps("cos\nsystem\n(S'echo pwned'\ntR."), r": not a qa-scoring classifier"),  # a pickle
    (lambda s: json.dumps({"py/object": "os.system"}), r": not a qa-scoring classifier \(damaged or tampered model\)$"),
    (lambda s: s.__setitem__("format", 99), r"was written in model format 99; this qa-scoring reads format 1: "
                                            r"retrain with 'qa-scoring train'$"),
    (lambda s: s["versions"].__setitem__("sklearn", "0.24.2"), r"was trained with scikit-learn 0\.24\.2; this is "
                                                               r"\d+\.\d+.*: retrain with 'qa-scoring train'$"),
])
def test_tampered_or_incompatible_model_is_refused(trained, runner, change, message):
    db, summary = trained
    _tamper(db, change)
    result = runner.invoke(cli, ["--db", str(db), "predict"])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith(f"Error: model {summary['model_id']}") and "\n" not in line
    assert __import__("re").search(message, line), line
    con = store.connect(db)
    assert con.execute("SELECT count(*) FROM predictions").fetchall() == [(0,)]
    con.close()


def test_rule_results_are_used_when_present_and_optional(trained):
    db, _ = trained
    con = store.connect(db)
    # A rule that fails on curt answers, as the rules stage would write it.
    con.execute("""CREATE TEMP TABLE long_results AS
                   SELECT interaction_id, 'no_curt_answer' AS rule_id, true AS applicable,
                          NOT (answer ILIKE '%ya le dije%') AS passed, NULL::VARCHAR AS evidence,
                          NULL::VARCHAR AS evidence_field, NULL::INTEGER AS evidence_start,
                          NULL::INTEGER AS evidence_end, 'pack1' AS rule_pack_hash, NULL::BIGINT AS run_id
                   FROM interactions""")
    store.insert_rule_results(con, "long_results")
    settings = load_settings(environ={})
    summary = train_model(con, settings)
    spec = json.loads(con.execute("SELECT spec::VARCHAR FROM models WHERE is_current").fetchall()[0][0])
    assert spec["features"]["rules"] == ["no_curt_answer"] and spec["training"]["uses_rules"]
    assert summary.roc_auc >= 0.70
    result = predict_interactions(con, settings, full=True)
    n = con.execute("SELECT count(*) FROM interactions").fetchall()[0][0]
    assert result.predicted == n
    flagged = con.execute("""SELECT count(*) FROM predictions, unnest(CAST(top_terms AS JSON[])) t(x)
                             WHERE x->>'term' = 'rule failed: no_curt_answer'""").fetchall()[0][0]
    assert flagged > 0
    con.close()


@pytest.mark.slow
def test_two_worker_processes_give_the_same_predictions(trained):
    db, _ = trained
    con = store.connect(db)
    one = load_settings(environ={}, overrides={"classifier.batch_size": 400, "classifier.workers": 1})
    two = load_settings(environ={}, overrides={"classifier.batch_size": 400, "classifier.workers": 2})
    assert predict_interactions(con, one, full=True).workers == 1
    first = con.execute("SELECT interaction_id, risk, top_terms::VARCHAR FROM predictions ORDER BY 1").fetchall()
    assert predict_interactions(con, two, full=True).workers == 2
    second = con.execute("SELECT interaction_id, risk, top_terms::VARCHAR FROM predictions ORDER BY 1").fetchall()
    assert first == second
    con.close()


def test_one_class_in_the_held_out_period_is_refused(tmp_path):
    rows = [_row(i, "1" if i % 2 else "5", i % 2 == 1) for i in range(200)] + [_row(200 + i, "5", False)
                                                                                  for i in range(60)]
    con = store.connect(_db(tmp_path, rows))
    with pytest.raises(ModelError, match=r"^the held-out period \(52 surveys from 2026-10-04 \d\d:\d\d\) has only "
                                         r"one class: cannot evaluate"):
        train_model(con, load_settings(environ={}))
    con.close()


def test_training_twice_on_the_same_data_gives_the_same_model(trained, runner):
    """Runs are reproducible: no thread races, fixed seeds (liblinear's global rand() once broke this)."""
    db, first = trained
    for _ in range(2):
        result = runner.invoke(cli, ["--db", str(db), "train", "--json"])
        assert result.exit_code == 0, result.output
        again = json.loads(result.stdout)
        assert (again["model_id"], again["brier"], again["roc_auc"]) == (first["model_id"], first["brier"], first["roc_auc"])


def test_training_uses_only_the_newest_labels_when_capped(sample_db, runner, tmp_path):
    cfg = tmp_path / "q.toml"
    cfg.write_text("[classifier]\nmax_train_rows = 400\n")
    result = runner.invoke(cli, ["--config", str(cfg), "--db", str(sample_db), "train", "--json"])
    assert result.exit_code == 0, result.output
    capped = json.loads(result.stdout)
    assert capped["n_train"] + capped["n_test"] == 400
    full = json.loads(runner.invoke(cli, ["--db", str(sample_db), "train", "--json"]).stdout)
    assert full["n_train"] + full["n_test"] > 400
    assert capped["split_at"] >= full["split_at"] or capped["n_test"] < full["n_test"]
    assert capped["train_from"] > full["train_from"]  # the oldest labels were left out


@pytest.mark.slow
def test_a_model_spec_nested_100k_levels_is_one_error_line(sample_db, tmp_path):
    """A stored model edited to nest 100k levels: `predict` refuses it in one line, `report` renders
    without it (issue 18 item 8); neither prints a traceback."""
    import subprocess
    import sys

    from qa_scoring import store as qstore

    con = qstore.connect(sample_db)
    con.execute("INSERT INTO models VALUES ('deadbeefdeadbeef', now()::TIMESTAMP, NULL, ?, NULL, NULL, true)",
                ["[" * 100_000 + "]" * 100_000])
    con.close()
    cmd = [sys.executable, "-m", "qa_scoring", "--db", str(sample_db)]
    predict = subprocess.run(cmd + ["predict"], capture_output=True, text=True, timeout=120)
    assert predict.returncode == 2 and "Traceback" not in predict.stderr
    assert predict.stderr.strip().splitlines()[-1] == (
        "Error: model deadbeefdeadbeef is damaged or tampered: nested too deeply")
    report = subprocess.run(cmd + ["report", "--out", str(tmp_path / "r")], capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr[-500:]
