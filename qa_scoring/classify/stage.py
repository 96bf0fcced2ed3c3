"""The `train` and `predict` stages: learn dissatisfaction from surveys, score every interaction.

train: label surveyed interactions in SQL (labels.py), hold out the newest `test_fraction` by
created_at, fit the features and a logistic regression on the older rows only, calibrate it with
Platt scaling fitted on the newest slice of the training rows (time-ordered, never the test rows),
evaluate on the held-out period against the prior baseline, store the model as data.

predict: stream the interactions that need it (no prediction from the current model, or changed
since) from DuckDB as Arrow batches, score them (two worker processes when there is enough work)
spill the results to a temporary Parquet file, and write them all inside ONE transaction.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss, precision_recall_curve,
                             roc_auc_score, roc_curve)

from qa_scoring import facts, store
from qa_scoring.classify.features import (AGENT_TOKEN, FEATURE_COLUMNS, TEXT_FIELDS, InteractionFeatures,
                                          SurfaceForms, _vectorizer, fold, fold_column)
from qa_scoring.classify.labels import DISSATISFIED, SATISFIED, UNKNOWN, LabelMapping
from qa_scoring.classify.model import (MODEL_FORMAT, MODEL_KIND, Predictor, load_current, make_pipeline,
                                       predictor_from_json, save_model)
from qa_scoring.config import Settings
from qa_scoring.errors import ModelError

log = logging.getLogger(__name__)

C_GRID = (0.5, 2.0)  # inverse regularisation, chosen on the calibration slice (time-ordered)
CALIBRATION_SHARE = 0.2  # newest share of the training rows used to choose C and fit Platt scaling
CURVE_POINTS = 60


# --- SQL --------------------------------------------------------------------------------------

READ_CHUNK_ROWS = 2048  # rows fetched from DuckDB at a time; batches are assembled from these
BATCH_CHARS = 40_000_000  # at most this much text in one scored batch, whatever batch_size says


def _text(col: str, max_chars: int) -> str:
    return f"CASE WHEN qa_blank(i.{col}) THEN '' ELSE left(i.{col}, {int(max_chars)}) END"


def features_select(max_chars: int) -> str:
    """The classifier's columns of `interactions i`, each text cut to its first `max_chars`
    characters (classifier.max_text_chars), so one huge field costs no more than a long one."""
    return f"""
    {_text('body', max_chars)} AS body, {_text('answer', max_chars)} AS answer,
    {_text('comments', max_chars)} AS comments, {_text('subject', max_chars)} AS subject,
    coalesce(lower(trim(i.channel)), '') AS channel, coalesce(trim(i.skill_id), '') AS skill,
    i.handle_seconds, coalesce(i.agent_name, '') AS agent_name"""


FEATURES_SELECT = features_select(10_000)  # the default cap
RULES_FAILED = """(
    SELECT interaction_id,
           coalesce(string_agg(rule_id, chr(31) ORDER BY rule_id) FILTER (WHERE applicable AND passed = false), '')
               AS rules_failed
    FROM rule_outcome_rows {where} GROUP BY interaction_id)"""


def _batch_dict(batch: pa.RecordBatch | pa.Table) -> dict:
    return {name: batch.column(name).to_pylist() for name in FEATURE_COLUMNS}


# --- train ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainSummary:
    """What `train` learned and how well it does on the held-out newest period."""

    model_id: str
    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float
    baseline: dict  # the same metrics for the prior (majority-rate) baseline
    text_baseline: dict  # ROC / PR AUC of a plain TF-IDF + logistic regression on the same text fields
    n_train: int
    n_test: int
    split_at: str  # created_at of the first held-out interaction
    train_from: str
    train_to: str
    test_to: str
    class_balance: dict  # dissatisfied / satisfied counts in train and test
    labels: dict  # surveyed, usable, unknown answers and the commonest unknown values
    label_mapping: dict
    agent_only_roc_auc: float | None  # the agents' training dissatisfaction rates alone, on the test set
    subject_channels: list  # the channels whose subject the model reads (chosen from the training rows)
    C: float
    n_features: int
    seconds: float
    # the same held-out metrics within each operation (the model learns across operations)
    per_operation: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def text(self) -> str:
        b = self.baseline
        agent = f"{self.agent_only_roc_auc:.3f}" if self.agent_only_roc_auc is not None else "-"
        plain = self.text_baseline
        unknown = self.labels["unknown"]
        return (f"model {self.model_id}: held-out {self.split_at} → {self.test_to} ({self.n_test:,} surveys; "
                f"trained on {self.n_train:,} from {self.train_from})\n"
                f"  ROC AUC {self.roc_auc:.3f} (baseline {b['roc_auc']:.3f}, plain text TF-IDF+LR "
                f"{plain['roc_auc']:.3f}, agent alone {agent}), "
                f"PR AUC {self.pr_auc:.3f} (baseline {b['pr_auc']:.3f}, plain text {plain['pr_auc']:.3f}), "
                f"Brier {self.brier:.3f} (baseline {b['brier']:.3f})\n"
                f"  dissatisfied {self.class_balance['train_dissatisfied']:,}/{self.n_train:,} train, "
                f"{self.class_balance['test_dissatisfied']:,}/{self.n_test:,} test; "
                f"unknown survey answers {unknown:,} (not used)\n"
                f"  subject read on: {', '.join(self.subject_channels) or 'no channel'}")


def _metrics(y: np.ndarray, p: np.ndarray) -> dict:
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1])),
            "accuracy": float(np.mean((p >= 0.5) == y))}


def _thin(points: list, n: int = CURVE_POINTS) -> list:
    if len(points) <= n:
        return points
    idx = sorted(set(np.linspace(0, len(points) - 1, n).round().astype(int).tolist()))
    return [points[i] for i in idx]


def _curves(y: np.ndarray, p: np.ndarray) -> dict:
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    bins = []
    edges = np.linspace(0, 1, 11)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, 9)
    for b in range(10):
        mask = which == b
        if mask.any():
            bins.append({"from": float(edges[b]), "to": float(edges[b + 1]), "n": int(mask.sum()),
                         "mean_risk": float(p[mask].mean()), "observed": float(y[mask].mean())})
    return {"roc": _thin([[round(float(a), 4), round(float(b), 4)] for a, b in zip(fpr, tpr)]),
            "pr": _thin([[round(float(r), 4), round(float(q), 4)] for r, q in zip(recall[::-1], precision[::-1])]),
            "calibration": bins}


def _agent_only_auc(train_agents: list, y_train: np.ndarray, test_agents: list, y_test: np.ndarray) -> float | None:
    """How far the agents' own dissatisfaction rates go alone: the model should do better than this.
    Agents are (operation, agent_name) keys: same-named agents of two operations are two agents."""
    prior, m = float(y_train.mean()), 10.0
    sums: dict[tuple, list[float]] = {}
    for a, y in zip(train_agents, y_train.tolist()):
        s = sums.setdefault(a, [0.0, 0.0])
        s[0] += y
        s[1] += 1
    rate = {a: (s[0] + m * prior) / (s[1] + m) for a, s in sums.items()}
    scores = np.array([rate.get(a, prior) for a in test_agents])
    return float(roc_auc_score(y_test, scores)) if len(set(scores.tolist())) > 1 else None


def _per_operation(operations: list, y_test: np.ndarray, p: np.ndarray) -> dict:
    """The held-out metrics within each operation; None where its test rows have one class only."""
    ops = np.asarray(operations, dtype=object)
    out = {}
    for op in sorted(set(operations)):
        mask = ops == op
        ys = y_test[mask]
        entry = {"n_test": int(mask.sum()), "test_dissatisfied": int(ys.sum())}
        if len(set(ys.tolist())) > 1:
            m = _metrics(ys, p[mask])
            entry.update({k: round(m[k], 4) for k in ("roc_auc", "pr_auc", "brier")})
        else:
            entry.update({"roc_auc": None, "pr_auc": None, "brier": None})
        out[op] = entry
    return out


def _text_baseline(features: InteractionFeatures, X_train, y_train: np.ndarray, X_test,
                   y_test: np.ndarray) -> dict:
    """The plain baseline the model must beat on real text: a logistic regression (C=1, balanced
    classes) on the TF-IDF columns of the same text fields only — no channel, skill, handle time or
    rules, no C search, no calibration. It reuses the model's own TF-IDF matrix, so it costs one fit."""
    n_text = features.n_text_columns()
    model = LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear", dual=True,
                               max_iter=2000, random_state=0)
    model.fit(X_train[:, :n_text], y_train)
    scores = model.decision_function(X_test[:, :n_text])
    return {"kind": "tfidf-lr", "fields": features.text_fields_used(),
            "roc_auc": float(roc_auc_score(y_test, scores)), "pr_auc": float(average_precision_score(y_test, scores))}


SUBJECT_MIN_ROWS = 200  # training rows of a channel with a subject, before its subject is considered
SUBJECT_MIN_AUC = 0.52  # a subject alone must rank the calibration slice at least this well ...
SUBJECT_Z = 2.33  # ... and better than chance with 99% confidence (small slices are noisy)
SUBJECT_MAX_AGENT = 0.2  # a channel whose subjects name the agent this often is not read (identity)


def choose_subject_channels(train: dict, y: np.ndarray) -> tuple[list[str], dict]:
    """The channels whose `subject` is free text that helps, decided from the training rows only.

    Per channel: enough rows with a subject, the agent's name in few of them (a subject that names
    the agent would teach the model who had the conversation), and a TF-IDF + logistic regression on
    the subject alone, fitted on the older training rows, ranks the newest CALIBRATION_SHARE (never
    the held-out test rows) with ROC AUC ≥ SUBJECT_MIN_AUC and SUBJECT_Z standard errors above
    chance (the Mann-Whitney null: sqrt((n1 + n0 + 1) / (12 n1 n0))). A customer's name or a fixed label
    ("Chat web") ranks no better than chance on later days, so it is left out.
    """
    n_fit = int(len(y) * (1 - CALIBRATION_SHARE))
    channel = np.asarray(train["channel"], dtype=object)
    folded = fold_column(train["subject"], train["agent_name"])
    has = np.fromiter((bool(t.strip()) for t in folded), dtype=bool, count=len(folded))
    chosen, report = [], {}
    for c in sorted({v for v in train["channel"] if v}):
        rows = np.flatnonzero((channel == c) & has)
        fit, cal = rows[rows < n_fit], rows[rows >= n_fit]
        entry = {"rows": int(len(rows)), "agent_name_share": None, "roc_auc": None, "used": False}
        report[c] = entry
        if len(rows) < SUBJECT_MIN_ROWS or len(set(y[fit].tolist())) < 2 or len(set(y[cal].tolist())) < 2:
            entry["why"] = "too few rows with a subject"
            continue
        share = float(np.mean([AGENT_TOKEN in folded[i] for i in rows]))
        entry["agent_name_share"] = round(share, 4)
        if share >= SUBJECT_MAX_AGENT:
            entry["why"] = "names the agent"
            continue
        vec = _vectorizer(2, 8000, 2)
        try:
            X_fit = vec.fit_transform([folded[i] for i in fit])
        except ValueError:  # no word in two subjects: no free text
            entry["why"] = "no repeated words"
            continue
        model = LogisticRegression(C=1.0, class_weight="balanced", solver="liblinear", random_state=0)
        scores = model.fit(X_fit, y[fit]).decision_function(vec.transform([folded[i] for i in cal]))
        auc = float(roc_auc_score(y[cal], scores))
        entry["roc_auc"] = round(auc, 4)
        n1 = int(y[cal].sum())
        n0 = len(cal) - n1
        needed = max(SUBJECT_MIN_AUC, 0.5 + SUBJECT_Z * float(np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))))
        entry["needed_roc_auc"] = round(needed, 4)
        entry["used"] = auc >= needed
        entry["why"] = "helps" if entry["used"] else "does not help"
        if entry["used"]:
            chosen.append(c)
    return chosen, report


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e4, solver="lbfgs", max_iter=1000).fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _fit_calibrated(features: InteractionFeatures, X, y: np.ndarray) -> tuple[Predictor, float]:
    """Choose C and fit Platt scaling on the newest CALIBRATION_SHARE of the training rows (fitting on
    the older ones), then refit the logistic regression on all training rows."""
    n_fit = int(len(y) * (1 - CALIBRATION_SHARE))
    y_fit, y_cal = y[:n_fit], y[n_fit:]
    best = None
    if len(set(y_fit.tolist())) == 2 and len(set(y_cal.tolist())) == 2:
        X_fit, X_cal = X[:n_fit], X[n_fit:]  # sliced once: the threads share them

        def cal_scores(C: float) -> np.ndarray:
            model = make_pipeline(features, C).named_steps["model"]
            return model.fit(X_fit, y_fit).decision_function(X_cal)

        # One fit after the other: liblinear draws from the C library's process-global rand(), so
        # two fits in threads interleave their draws and the model changes from run to run
        # (found by the kill-and-rerun test). Reproducible runs are worth the ~1.5x.
        grid_scores = [cal_scores(C) for C in C_GRID]
        del X_fit, X_cal
        for C, scores in zip(C_GRID, grid_scores):
            a, b = _platt(scores, y_cal)
            p = 1 / (1 + np.exp(-(a * scores + b)))
            loss = log_loss(y_cal, p, labels=[0, 1])
            log.debug("C=%s: calibration-slice log loss %.4f, AUC %.3f", C, loss, roc_auc_score(y_cal, scores))
            if best is None or loss < best[0]:
                best = (loss, C, (a, b))
    if best is None:
        log.warning("calibration slice has one class: using the logistic regression's own probabilities")
        best = (None, 1.0, (1.0, 0.0))
    _, C, platt = best
    pipeline = make_pipeline(features, C)
    pipeline.named_steps["model"].fit(X, y)  # features are already fitted on the same rows
    return Predictor(pipeline, platt), C


def _top_terms(predictor: Predictor, batch: dict, k: int = 20) -> dict:
    """The strongest features overall in both directions, text terms in a surface form seen in training."""
    names, coef = predictor.names(), predictor.coef
    texts = {f: batch[f][:5000] for f in TEXT_FIELDS}
    folded = {f: [fold(t) if t else "" for t in texts[f]] for f in TEXT_FIELDS}  # once per field, not per term
    columns = {f: SurfaceForms(texts[f]) for f in TEXT_FIELDS}
    out = {}
    for direction, order in ((DISSATISFIED, np.argsort(-coef)), (SATISFIED, np.argsort(coef))):
        terms = []
        for c in order[:k]:
            if (coef[c] > 0) != (direction == DISSATISFIED):
                break
            kind, name = names[c]
            term = name
            if kind in TEXT_FIELDS:  # the commonest way the term is written in training text
                forms = Counter(columns[kind].find(name, i) for i, (t, f) in enumerate(zip(texts[kind], folded[kind]))
                                if t and name in f)
                term = forms.most_common(1)[0][0] if forms else name
            terms.append({"term": term, "field": kind, "weight": round(float(coef[c]), 4)})
        out[direction] = terms
    return out


def _label_counts(con: duckdb.DuckDBPyConnection, mapping: LabelMapping) -> tuple[dict, list]:
    expr, params = mapping.sql("survey_raw")
    rows = con.execute(f"SELECT {expr} AS label, count(*) FROM interactions WHERE survey_raw IS NOT NULL "
                       "GROUP BY ALL", params).fetchall()
    counts = {SATISFIED: 0, DISSATISFIED: 0, UNKNOWN: 0, **{k: v for k, v in rows if k}}
    top_unknown = con.execute(f"SELECT survey_raw, count(*) AS n FROM interactions WHERE survey_raw IS NOT NULL "
                              f"AND ({expr}) = '{UNKNOWN}' GROUP BY ALL ORDER BY n DESC, survey_raw LIMIT 10",
                              params).fetchall()
    return counts, [{"value": v, "count": n} for v, n in top_unknown]


def _check_labels(counts: dict, cs) -> None:
    sat, dis, unknown = counts[SATISFIED], counts[DISSATISFIED], counts[UNKNOWN]
    n = sat + dis
    extra = f" ({unknown:,} unknown answers not used)" if unknown else ""
    if n and (sat == 0 or dis == 0):
        which = SATISFIED if dis == 0 else DISSATISFIED
        raise ModelError(f"all {n:,} usable survey answers are {which}: cannot learn dissatisfaction "
                         f"from one class{extra}")
    if n < cs.min_labels:
        raise ModelError(f"too few survey labels to train: {n:,} usable answers ({dis:,} dissatisfied, "
                         f"{sat:,} satisfied){extra}; need at least {cs.min_labels:,} (classifier.min_labels)")
    for name, k in ((DISSATISFIED, dis), (SATISFIED, sat)):
        if k < cs.min_per_class:
            raise ModelError(f"too few {name} survey answers to train: {k:,}; need at least "
                             f"{cs.min_per_class:,} of each class (classifier.min_per_class)")


def train_model(con: duckdb.DuckDBPyConnection, settings: Settings, *, run_id: int | None = None) -> TrainSummary:
    """Fit the classifier on surveyed interactions, evaluate on the newest ones, store it as current."""
    started = time.perf_counter()
    cs = settings.classifier
    mapping = LabelMapping.from_settings(cs)
    counts, top_unknown = _label_counts(con, mapping)
    _check_labels(counts, cs)
    expr, params = mapping.sql("i.survey_raw")
    use_rules = bool(store.fetch_one(con, "SELECT count(*) FROM (SELECT 1 FROM rule_results LIMIT 1)")[0])
    rules_join = (f"LEFT JOIN {RULES_FAILED.format(where='')} f USING (interaction_id)" if use_rules else "")
    # The newest `max_train_rows` labels only: training time and memory stay bounded as history
    # grows (a month of a large operation is ~500k surveys: 2 minutes and 5.6 GB uncapped).
    limit = f"LIMIT {int(cs.max_train_rows)}" if cs.max_train_rows else ""
    table = con.sql(f"""
        SELECT * FROM (
            SELECT i.interaction_id, i.created_at, i.operation, {features_select(cs.max_text_chars)},
                   {'f.rules_failed' if use_rules else 'NULL::VARCHAR'} AS rules_failed,
                   CASE ({expr}) WHEN '{DISSATISFIED}' THEN 1 ELSE 0 END AS y
            FROM interactions i {rules_join}
            WHERE i.survey_raw IS NOT NULL AND ({expr}) IN ('{SATISFIED}', '{DISSATISFIED}')
            ORDER BY i.created_at DESC, i.interaction_id DESC {limit})
        ORDER BY created_at, interaction_id""", params=params).to_arrow_table()
    n = table.num_rows
    n_test = max(1, int(round(n * cs.test_fraction)))
    n_train = n - n_test
    y = np.asarray(table.column("y").to_pylist(), dtype=np.int64)
    created = table.column("created_at").to_pylist()
    split_at = created[n_train]
    y_train, y_test = y[:n_train], y[n_train:]
    operations = table.column("operation").to_pylist()
    agents = list(zip(operations, table.column("agent_name").to_pylist()))
    for part, ys, since in (("training", y_train, created[0]), ("held-out", y_test, split_at)):
        if len(set(ys.tolist())) < 2:
            raise ModelError(f"the {part} period ({len(ys):,} surveys from {since:%Y-%m-%d %H:%M}) has only "
                             f"one class: cannot {'learn' if part == 'training' else 'evaluate'}; adjust "
                             f"classifier.test_fraction or wait for more surveys")
    train, test = _batch_dict(table.slice(0, n_train)), _batch_dict(table.slice(n_train))
    del table

    subject_channels, subject_report = choose_subject_channels(train, y_train)
    features = InteractionFeatures(use_rules=use_rules, subject_channels=tuple(subject_channels))
    X_train = features.fit_transform(train)
    predictor, C = _fit_calibrated(features, X_train, y_train)
    X_test = features.transform(test)
    p = predictor.calibrate(predictor.model.decision_function(X_test))
    metrics = _metrics(y_test, p)
    plain = _text_baseline(features, X_train, y_train, X_test, y_test)
    del X_test
    prior = np.full(len(y_test), y_train.mean())
    baseline = {**_metrics(y_test, prior), "kind": "prior",
                "accuracy": float(np.mean(y_test == int(y_train.mean() >= 0.5)))}
    agent_auc = _agent_only_auc(agents[:n_train], y_train, agents[n_train:], y_test)
    per_operation = _per_operation(operations[n_train:], y_test, p)
    versions = store.versions()
    fmt = "%Y-%m-%d %H:%M:%S"
    training = {
        "train_from": created[0].strftime(fmt), "train_to": created[n_train - 1].strftime(fmt),
        "split_at": split_at.strftime(fmt), "test_to": created[-1].strftime(fmt),
        "n_train": n_train, "n_test": n_test, "test_fraction": cs.test_fraction,
        "class_balance": {"train_dissatisfied": int(y_train.sum()), "train_satisfied": int(n_train - y_train.sum()),
                          "test_dissatisfied": int(y_test.sum()), "test_satisfied": int(n_test - y_test.sum())},
        "labels": {"surveyed": sum(counts.values()), "usable": n, "unknown": counts[UNKNOWN],
                   "unknown_values": top_unknown},
        "calibration": "platt, fitted on the newest 20% of the training rows", "C": C,
        "subject": subject_report, "uses_rules": use_rules, "max_text_chars": cs.max_text_chars, "n_features": int(X_train.shape[1]),
    }
    all_metrics = {**metrics, "baseline": baseline, "text_baseline": plain, "agent_only_roc_auc": agent_auc,
                   "per_operation": per_operation, "n_train": n_train, "n_test": n_test, "split_at": training["split_at"]}
    spec = {"kind": MODEL_KIND, "format": MODEL_FORMAT, "versions": versions, **predictor.to_spec(),
            "label_mapping": mapping.describe(), "training": training, "metrics": all_metrics,
            "curves": _curves(y_test, p), "top_terms": _top_terms(predictor, train)}
    with store.atomic(con):
        model_id = save_model(con, spec, run_id)
    log.debug("model %s: ROC AUC %.3f on %d held-out surveys (baseline %.3f)", model_id,
             metrics["roc_auc"], n_test, baseline["roc_auc"])
    return TrainSummary(
        model_id=model_id, roc_auc=metrics["roc_auc"], pr_auc=metrics["pr_auc"], brier=metrics["brier"],
        log_loss=metrics["log_loss"], baseline=baseline, text_baseline=plain, n_train=n_train, n_test=n_test,
        split_at=training["split_at"], train_from=training["train_from"], train_to=training["train_to"],
        test_to=training["test_to"], class_balance=training["class_balance"], labels=training["labels"],
        label_mapping=mapping.describe(), agent_only_roc_auc=agent_auc, subject_channels=subject_channels, C=C,
        n_features=training["n_features"], seconds=round(time.perf_counter() - started, 2),
        per_operation=per_operation)


# --- predict ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PredictSummary:
    """What `predict` wrote."""

    model_id: str
    predicted: int  # interactions (re)scored now
    up_to_date: int  # interactions whose prediction from this model was still current
    removed: int  # predictions of interactions that no longer exist
    full: bool
    workers: int
    mean_risk: float | None  # over the interactions scored now
    high_risk: int  # scored now with risk >= 0.5
    seconds: float
    rows_per_second: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def text(self) -> str:
        mean = f", mean risk {self.mean_risk:.3f}, {self.high_risk:,} at 0.5 or more" if self.predicted else ""
        return (f"model {self.model_id}: predicted {self.predicted:,} interactions{mean} "
                f"({self.up_to_date:,} already current, {self.removed:,} removed) in {self.seconds:.1f} s")


_worker_predictor: Predictor | None = None


def _worker_init(spec_text: str, model_id: str) -> None:
    global _worker_predictor
    _worker_predictor = predictor_from_json(spec_text, model_id)


def _worker_score(batch: pa.RecordBatch) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    return _worker_predictor.risk_and_terms(_batch_dict(batch))


def _input_hash(use_rules: bool) -> str:
    # The features of an interaction change when its content changes or, for a model that reads rule
    # results, when it was scored by another rule pack.
    return ("md5(i.content_hash || '|' || coalesce(s.rule_pack_hash, ''))" if use_rules else "i.content_hash")


def predict_interactions(con: duckdb.DuckDBPyConnection, settings: Settings, *, run_id: int | None = None,
                         full: bool = False, rule_facts_current: bool = False) -> PredictSummary:
    """Give every interaction a risk and its top terms from the current model, in one transaction.

    `rule_facts_current`: score ran before in the same job, so only the daily facts' prediction
    figures need refreshing (facts.refresh_facts rule_facts=False)."""
    started = time.perf_counter()
    current = load_current(con)
    if current is None:
        raise ModelError("no trained model: run 'qa-scoring train' first")
    model_id, spec_text = current
    predictor = predictor_from_json(spec_text, model_id)
    use_rules = bool(predictor.features.rules_)
    ihash = _input_hash(use_rules)
    cs = settings.classifier
    # A prediction without token counts was made before schema v9: predicted again to fill them.
    todo = f"""
        SELECT i.interaction_id, {ihash} AS input_hash
        FROM interactions i LEFT JOIN interaction_scores s USING (interaction_id)
        LEFT JOIN predictions p USING (interaction_id)
        WHERE $full OR p.interaction_id IS NULL OR p.model_id <> $model_id
              OR p.input_hash IS DISTINCT FROM {ihash}
              OR p.tokens IS NULL"""
    params = {"full": full, "model_id": model_id}
    total = store.fetch_one(con, "SELECT count(*) FROM interactions")[0]
    n_todo = store.fetch_one(con, f"SELECT count(*) FROM ({todo})", params)[0]
    rules = (f"LEFT JOIN {RULES_FAILED.format(where='WHERE interaction_id IN (SELECT interaction_id FROM todo)')} f "
             "USING (interaction_id)") if use_rules else ""
    query = f"""
        WITH todo AS ({todo})
        SELECT t.interaction_id, t.input_hash, {features_select(cs.max_text_chars)},
               {'f.rules_failed' if use_rules else 'NULL::VARCHAR'} AS rules_failed
        FROM todo t JOIN interactions i USING (interaction_id) {rules}"""
    workers = min(cs.workers or (os.cpu_count() or 1), 8)
    workers = workers if n_todo > 2 * cs.batch_size and workers > 1 and _can_spawn() else 1
    n_done, risk_sum, high = 0, 0.0, 0
    # Score first, spilling results to a temporary Parquet file (memory stays bounded at any size),
    # then write them all in ONE transaction. Reading and writing the same database at once from
    # two connections can block DuckDB, so the two never overlap.
    with tempfile.TemporaryDirectory(prefix="qa-scoring-predict-") as tmp:
        spill = os.path.join(tmp, "predictions.parquet")
        writer = None
        if n_todo:
            reader = con.sql(query, params=params).to_arrow_reader(min(cs.batch_size, READ_CHUNK_ROWS))
            try:
                batches = _batches(reader, cs.batch_size, BATCH_CHARS)
                for batch, (risk, terms, tokens, unknown) in _scored(batches, predictor, spec_text, model_id,
                                                                      workers):
                    part = pa.table({"interaction_id": batch.column("interaction_id"),
                                     "input_hash": batch.column("input_hash"),
                                     "risk": pa.array(risk, pa.float64()), "top_terms": pa.array(terms, pa.string()),
                                     "tokens": pa.array(tokens, pa.int32()),
                                     "unknown_tokens": pa.array(unknown, pa.int32())})
                    writer = writer or pq.ParquetWriter(spill, part.schema)
                    writer.write_table(part)
                    n_done += len(risk)
                    risk_sum += float(risk.sum())
                    high += int((risk >= 0.5).sum())
                    log.debug("predicted %d / %d", n_done, n_todo)
            finally:
                reader.close()
                if writer is not None:
                    writer.close()
        with store.atomic(con):
            removed = store.fetch_one(con, "SELECT count(*) FROM predictions WHERE interaction_id NOT IN "
                                           "(SELECT interaction_id FROM interactions)")[0]
            if full:
                con.execute("DELETE FROM predictions")
            elif removed:
                con.execute("DELETE FROM predictions WHERE interaction_id NOT IN "
                            "(SELECT interaction_id FROM interactions)")
            if writer is not None:
                if not full:
                    con.execute("DELETE FROM predictions WHERE interaction_id IN "
                                "(SELECT interaction_id FROM read_parquet($spill))", {"spill": spill})
                con.execute("""INSERT INTO predictions (interaction_id, risk, top_terms, model_id, run_id,
                                                        input_hash, predicted_at, tokens, unknown_tokens)
                               SELECT interaction_id, risk, top_terms::JSON, $model_id, $run_id, input_hash, $at,
                                      tokens, unknown_tokens
                               FROM read_parquet($spill)""",
                            {"spill": spill, "model_id": model_id, "run_id": run_id, "at": store.utc_now()})
            # The days whose predicted risk changed (all of them after a removal: its day is gone).
            days = None if full or removed else (
                facts.touched_days_sql("SELECT interaction_id FROM read_parquet($spill)") if writer is not None
                else facts.NO_DAYS)
            facts.refresh_facts(con, days, labels=LabelMapping.from_settings(cs),
                                params={"spill": spill} if writer is not None else None,
                                rule_facts=not rule_facts_current)
    seconds = time.perf_counter() - started
    return PredictSummary(model_id=model_id, predicted=n_done, up_to_date=total - n_todo, removed=removed,
                          full=full, workers=workers, mean_risk=(risk_sum / n_done) if n_done else None,
                          high_risk=high, seconds=round(seconds, 2),
                          rows_per_second=round(n_done / seconds, 1) if seconds > 0 else 0.0)


def _can_spawn() -> bool:
    """Spawned workers re-import the main script; from stdin (`python -`) that hangs, so stay in-process."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return path is None or getattr(main, "__spec__", None) is not None or os.path.isfile(path)


def _batches(reader, max_rows: int, max_chars: int):
    """Tables of at most `max_rows` rows and `max_chars` characters of text (one row more only when
    it alone is bigger): the memory of a scored batch is bounded by its text, not its row count."""
    chunks, rows, chars = [], 0, 0
    for chunk in reader:
        lengths = np.zeros(chunk.num_rows, dtype=np.int64)
        for field in TEXT_FIELDS:
            lengths += pc.fill_null(pc.utf8_length(chunk.column(field)), 0).to_numpy()
        start = 0
        while start < chunk.num_rows:
            fits = int(np.searchsorted(np.cumsum(lengths[start:]), max_chars - chars, side="right"))
            take = min(max(fits, 0 if rows else 1), max_rows - rows, chunk.num_rows - start)
            if take:
                chunks.append(chunk.slice(start, take))
                rows += take
                chars += int(lengths[start:start + take].sum())
                start += take
            if start < chunk.num_rows or rows >= max_rows:  # this batch is full
                yield pa.Table.from_batches(chunks)
                chunks, rows, chars = [], 0, 0
    if chunks:
        yield pa.Table.from_batches(chunks)


def _scored(reader, predictor: Predictor, spec_text: str, model_id: str, workers: int):
    """Yield (batch, (risk, terms)) in order; with workers > 1, at most workers + 1 batches in flight."""
    if workers <= 1:
        for batch in reader:
            yield batch, predictor.risk_and_terms(_batch_dict(batch))
        return
    ctx = multiprocessing.get_context("spawn")  # never fork a process that holds DuckDB threads
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                             initargs=(spec_text, model_id)) as pool:
        pending: deque = deque()
        for batch in reader:
            pending.append((batch, pool.submit(_worker_score, batch)))
            if len(pending) > workers:
                done_batch, future = pending.popleft()
                yield done_batch, future.result()
        while pending:
            done_batch, future = pending.popleft()
            yield done_batch, future.result()
