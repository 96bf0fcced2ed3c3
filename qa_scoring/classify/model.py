"""The fitted classifier as a scikit-learn Pipeline, and as plain data in the `models` table.

A model is stored as JSON (`spec`): vocabularies, idf, categories, coefficients, intercept, the
Platt calibration, versions, the label mapping, the training window, metrics and curves. Loading
validates every part's type, shape and range before anything is built, so a swapped or edited
model is refused with one clear line; nothing in a spec is ever executed, imported or unpickled
(patterns and code such as the tokeniser are fixed by MODEL_FORMAT, not read from the spec).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import duckdb
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from qa_scoring import store
from qa_scoring.classify.features import TEXT_FIELDS, Explainer, InteractionFeatures
from qa_scoring.errors import ModelError

MODEL_KIND = "qa-scoring/dissatisfaction-classifier"
MODEL_FORMAT = 1  # bump when the spec layout or the tokeniser/folding changes
MAX_TERMS = 500_000  # per field: anything bigger is not a model this code wrote
KEEP_MODELS = 20


def make_pipeline(features: InteractionFeatures, C: float = 1.0) -> Pipeline:
    """The one scikit-learn Pipeline: features → logistic regression (fixed random_state)."""
    return Pipeline([("features", features),
                     ("model", LogisticRegression(C=C, solver="liblinear", dual=True, max_iter=2000, random_state=0))])


class Predictor:
    """A fitted pipeline plus its Platt calibration: risk and explanations for a batch."""

    def __init__(self, pipeline: Pipeline, platt: tuple[float, float]):
        self.pipeline = pipeline
        self.platt = platt
        self.features: InteractionFeatures = pipeline.named_steps["features"]
        self.model: LogisticRegression = pipeline.named_steps["model"]
        self.coef = self.model.coef_.ravel()
        self._names = None
        self._explainer = None

    def names(self) -> list[tuple[str, str]]:
        if self._names is None:
            self._names = self.features.feature_names()
        return self._names

    def explainer(self) -> Explainer:
        if self._explainer is None:
            self._explainer = Explainer(self.coef, self.names())
        return self._explainer

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * scores + b)))

    def risk(self, batch: dict) -> np.ndarray:
        """Calibrated probability of a dissatisfied customer for each row of `batch`."""
        return self.calibrate(self.pipeline.decision_function(batch))

    def risk_and_terms(self, batch: dict, top: int = 5) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """Risk per row, its explanation as a JSON text (the top terms, strongest first), and the
        number of tokens the model read and of those unknown to it (InteractionFeatures.transform_and_count)."""
        X, tokens, unknown = self.features.transform_and_count(batch)
        scores = self.model.decision_function(X)
        terms = self.explainer().explain_json(X, batch, top)
        return self.calibrate(scores), terms, tokens, unknown

    def to_spec(self) -> dict:
        return {"features": self.features.to_spec(),
                "model": {"coef": [float(x) for x in self.coef], "intercept": float(self.model.intercept_[0])},
                "calibration": {"method": "platt", "a": self.platt[0], "b": self.platt[1]}}

    @classmethod
    def from_spec(cls, spec: dict) -> Predictor:
        """Rebuild an equivalent predictor from a validated spec."""
        features = InteractionFeatures.from_spec(spec["features"])
        pipeline = make_pipeline(features)
        model = pipeline.named_steps["model"]
        model.coef_ = np.asarray([spec["model"]["coef"]], dtype=np.float64)
        model.intercept_ = np.asarray([spec["model"]["intercept"]], dtype=np.float64)
        model.classes_ = np.array([0, 1])
        model.n_features_in_ = model.coef_.shape[1]
        cal = spec["calibration"]
        return cls(pipeline, (float(cal["a"]), float(cal["b"])))


# --- validation -------------------------------------------------------------------------------

class _Bad(Exception):
    pass


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise _Bad(what)


def _finite(x, what: str) -> None:
    _need(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x),
          f"{what} is not a finite number")


def _floats(xs, n: int | None, what: str) -> None:
    _need(isinstance(xs, list), f"{what} is not a list")
    if n is not None:
        _need(len(xs) == n, f"{what} has {len(xs)} values, expected {n}")
    arr = np.asarray(xs, dtype=object)
    _need(all(type(x) in (int, float) for x in arr) and bool(np.isfinite(np.asarray(xs, dtype=float)).all()),
          f"{what} holds a value that is not a finite number")


def _strings(xs, what: str, unique: bool = True) -> None:
    _need(isinstance(xs, list) and all(isinstance(x, str) for x in xs), f"{what} is not a list of strings")
    if unique:
        _need(len(set(xs)) == len(xs), f"{what} has duplicates")


def _sklearn_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def validate_spec(spec, model_id: str = "?") -> None:
    """Refuse (ModelError, one line) a spec this code did not write or cannot read; executes nothing."""
    import sklearn

    if not isinstance(spec, dict) or spec.get("kind") != MODEL_KIND:
        raise ModelError(f"model {model_id}: not a qa-scoring classifier (damaged or tampered model)")
    version = spec.get("format")
    if version != MODEL_FORMAT:
        raise ModelError(f"model {model_id} was written in model format {version!r}; this qa-scoring "
                         f"reads format {MODEL_FORMAT}: retrain with 'qa-scoring train'")
    trained_with = str((spec.get("versions") or {}).get("sklearn", "?"))
    if _sklearn_minor(trained_with) != _sklearn_minor(sklearn.__version__):
        raise ModelError(f"model {model_id} was trained with scikit-learn {trained_with}; this is "
                         f"{sklearn.__version__}: retrain with 'qa-scoring train'")
    try:
        feats = spec["features"]
        _need(isinstance(feats, dict), "features is not an object")
        _need(feats.get("ngram_max") in (1, 2, 3) and type(feats.get("ngram_max")) is int,
              "features.ngram_max must be 1, 2 or 3")
        _need(feats.get("sublinear_tf") is True, "features.sublinear_tf must be true")
        text = feats["text"]
        _need(isinstance(text, dict) and sorted(text) == sorted(TEXT_FIELDS),
              f"features.text must have exactly the fields {', '.join(TEXT_FIELDS)}")
        total = 0
        for field in TEXT_FIELDS:
            part = text[field]
            _need(isinstance(part, dict), f"features.text.{field} is not an object")
            _strings(part.get("vocabulary"), f"features.text.{field}.vocabulary")
            n = len(part["vocabulary"])
            _need(0 < n <= MAX_TERMS, f"features.text.{field}.vocabulary has {n} terms")
            _floats(part.get("idf"), n, f"features.text.{field}.idf")
            _need(all(x > 0 for x in part["idf"]), f"features.text.{field}.idf must be positive")
            total += n
        for key in ("channels", "skills", "rules"):
            _strings(feats.get(key), f"features.{key}")
            total += len(feats[key])
        if "subject_channels" in feats:  # absent in models written before train chose them
            _strings(feats["subject_channels"], "features.subject_channels")
        handle = feats.get("handle")
        _need(isinstance(handle, dict), "features.handle is not an object")
        _finite(handle.get("center"), "features.handle.center")
        _finite(handle.get("scale"), "features.handle.scale")
        _need(handle["scale"] > 0, "features.handle.scale must be positive")
        total += 2
        model = spec["model"]
        _need(isinstance(model, dict), "model is not an object")
        _floats(model.get("coef"), total, "model.coef")
        _finite(model.get("intercept"), "model.intercept")
        cal = spec["calibration"]
        _need(isinstance(cal, dict) and cal.get("method") == "platt", "calibration.method must be 'platt'")
        _finite(cal.get("a"), "calibration.a")
        _finite(cal.get("b"), "calibration.b")
        _check_metrics(spec.get("metrics"))
    except _Bad as bad:
        raise ModelError(f"model {model_id} is damaged or tampered: {bad}") from None
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise ModelError(f"model {model_id} is damaged or tampered: missing or wrong part ({err})") from None
    _check_id(spec, model_id)


# What the report formats as numbers (a string there crashed it). Other keys are not read as
# numbers, so train may add texts and lists (the classify lane's per-channel decisions) freely.
METRIC_NUMBERS = ("roc_auc", "pr_auc", "brier", "n_train", "n_test")  # required
METRIC_OPTIONAL = ("log_loss", "agent_only_roc_auc", "positive_rate")  # a number or null
METRIC_BASELINES = ("baseline", "text_baseline")  # objects of numbers or nulls (besides kind, fields)


def _check_metrics(metrics) -> None:
    """`metrics` holds numbers wherever the report reads numbers."""
    _need(isinstance(metrics, dict), "metrics is not an object")
    for key in METRIC_NUMBERS:
        _finite(metrics.get(key), f"metrics.{key}")
    for key in METRIC_OPTIONAL:
        if metrics.get(key) is not None:
            _finite(metrics[key], f"metrics.{key}")
    for name in METRIC_BASELINES:
        part = metrics.get(name)
        if part is None:
            continue
        _need(isinstance(part, dict), f"metrics.{name} is not an object")
        for key, value in part.items():
            if key not in ("kind", "fields") and value is not None:
                _finite(value, f"metrics.{name}.{_clip(key)}")


def _clip(key) -> str:
    text = "".join(c if c.isprintable() else "?" for c in str(key))
    return text if len(text) <= 40 else text[:37] + "..."


def _check_id(spec: dict, model_id: str) -> None:
    """Refuse a spec whose content no longer gives its own id: edited after training (a flipped
    coefficient, another intercept or calibration, an id swapped with another model's row).

    The id is an unkeyed hash: it detects edits and damage, not someone who also recomputes it.
    """
    if model_id_for(spec) != model_id:
        raise ModelError(f"model {model_id} is damaged or tampered: its content does not match its id "
                         f"(edited after training); retrain with 'qa-scoring train'")


def predictor_from_json(text: str, model_id: str = "?") -> Predictor:
    """Parse, validate and rebuild a stored model (also the entry point of prediction workers)."""
    try:
        spec = json.loads(text)
    except RecursionError:
        raise ModelError(f"model {model_id} is damaged or tampered: nested too deeply") from None
    except (TypeError, ValueError) as err:
        raise ModelError(f"model {model_id} is damaged or tampered: not JSON ({err})") from None
    validate_spec(spec, model_id)
    return Predictor.from_spec(spec)


# --- the models table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelInfo:
    """The current model as the report's model page needs it (everything but the big arrays)."""

    model_id: str
    created_at: object
    run_id: int | None
    metrics: dict  # roc_auc, pr_auc, brier, baseline{...}, n_train, n_test, split_at, ...
    label_mapping: dict
    training: dict  # window, split dates, class balance, unknown answers
    curves: dict  # roc [[fpr, tpr]...], pr [[recall, precision]...], calibration [{...}]
    top_terms: dict  # dissatisfied / satisfied: [{term, field, weight}]
    versions: dict

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def model_id_for(spec: dict) -> str:
    """The model's id: a hash of its whole spec (save_model; loading recomputes it to refuse edits)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def save_model(con: duckdb.DuckDBPyConnection, spec: dict, run_id: int | None) -> str:
    """Store a model as the current one (inside the caller's transaction); returns its model_id."""
    model_id = model_id_for(spec)
    con.execute("UPDATE models SET is_current = false WHERE is_current")
    con.execute("DELETE FROM models WHERE model_id = ?", [model_id])
    con.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, true)",
                [model_id, store.utc_now(), run_id, json.dumps(spec, ensure_ascii=False),
                 json.dumps(spec["metrics"]), json.dumps(spec["versions"])])
    # Keep the newest KEEP_MODELS (a model is ~1-3 MB of JSON; one a night adds up).
    con.execute("""DELETE FROM models WHERE NOT is_current AND model_id NOT IN
                   (SELECT model_id FROM models ORDER BY created_at DESC LIMIT ?)""", [KEEP_MODELS])
    return model_id


def load_current(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(model_id, spec JSON text) of the current model, or None."""
    row = store.fetch_one(con, "SELECT model_id, spec::VARCHAR FROM models WHERE is_current "
                               "ORDER BY created_at DESC LIMIT 1")
    return (row[0], row[1]) if row else None


def current_model(con: duckdb.DuckDBPyConnection) -> ModelInfo | None:
    """The current model's evaluation, mapping, window, curves and top terms; None when none."""
    row = store.fetch_one(con, "SELECT model_id, created_at, run_id, spec::VARCHAR FROM models "
                               "WHERE is_current ORDER BY created_at DESC LIMIT 1")
    if row is None:
        return None
    model_id, created_at, run_id, text = row
    try:
        spec = json.loads(text)
    except RecursionError:
        raise ModelError(f"model {model_id} is damaged or tampered: nested too deeply") from None
    except ValueError:
        raise ModelError(f"model {model_id} is damaged or tampered: not JSON") from None
    if not isinstance(spec, dict) or spec.get("kind") != MODEL_KIND:
        raise ModelError(f"model {model_id}: not a qa-scoring classifier (damaged or tampered model)")
    # Not validate_spec: a model of another scikit-learn version still shows on the report's page.
    try:
        _check_metrics(spec.get("metrics"))
    except _Bad as bad:
        raise ModelError(f"model {model_id} is damaged or tampered: {bad}") from None
    _check_id(spec, model_id)
    return ModelInfo(model_id=model_id, created_at=created_at, run_id=run_id,
                     metrics=spec.get("metrics") or {}, label_mapping=spec.get("label_mapping") or {},
                     training=spec.get("training") or {}, curves=spec.get("curves") or {},
                     top_terms=spec.get("top_terms") or {}, versions=spec.get("versions") or {})
