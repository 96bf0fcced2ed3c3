"""The classifier's evaluation as the model page shows it, from classify.py or from the models table.

classify.py owns the model; this module only reads it. It asks `classify.current_model(con)` when
that exists, else the `models` row marked current, and tolerates the shapes a curve may be stored in
(`{"fpr": [...], "tpr": [...]}`, `[[x, y], ...]` or `[{"fpr": x, "tpr": y}, ...]`). No model is
`None`, which the page shows as a "no model yet" section.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelView:
    model_id: str
    created_at: Any
    metrics: tuple[tuple[str, float | int | str], ...]  # (name, value) in display order
    baseline: tuple[tuple[str, float | int | str], ...]
    split: tuple[tuple[str, str], ...]
    mapping: tuple[tuple[str, str], ...]
    top_terms: tuple[str, ...]
    roc: tuple[tuple[float, float], ...]  # (fpr, tpr)
    pr: tuple[tuple[float, float], ...]  # (recall, precision)
    calibration: tuple[tuple[float, float, int], ...]  # (mean predicted, observed rate, n)
    positive_rate: float | None


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """First present attribute or key among `names` (dataclass, object or dict)."""
    for name in names:
        if isinstance(obj, dict):
            if obj.get(name) is not None:
                return obj[name]
        elif getattr(obj, name, None) is not None:
            return getattr(obj, name)
    return default


def _as_dict(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    if isinstance(value, dict):
        return value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return {}


def _points(value: Any, xkeys: tuple[str, ...], ykeys: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    """Curve points from {x: [...], y: [...]}, [[x, y]...] or [{x:..., y:...}...]; bad ones dropped."""
    try:
        if isinstance(value, dict):
            xs, ys = _get(value, *xkeys), _get(value, *ykeys)
            pairs = list(zip(xs or [], ys or []))
        elif isinstance(value, list | tuple):
            pairs = [(_get(p, *xkeys), _get(p, *ykeys)) if isinstance(p, dict) else (p[0], p[1]) for p in value]
        else:
            return ()
        return tuple((float(x), float(y)) for x, y in pairs if x is not None and y is not None)
    except (TypeError, ValueError, IndexError, KeyError):
        return ()


def _bins(value: Any) -> tuple[tuple[float, float, int], ...]:
    try:
        if isinstance(value, dict):
            pred = _get(value, "mean_predicted", "prob_pred", "predicted")
            obs = _get(value, "observed", "prob_true", "fraction_positive")
            ns = _get(value, "n", "count", "counts", default=[0] * len(pred or []))
            rows = list(zip(pred or [], obs or [], ns))
        else:
            rows = [(_get(b, "mean_predicted", "predicted", "prob_pred"), _get(b, "observed", "prob_true", "fraction_positive"),
                     _get(b, "n", "count", default=0)) if isinstance(b, dict) else tuple(b) + (0,) * (3 - len(b))
                    for b in value or []]
        return tuple((float(p), float(o), int(n or 0)) for p, o, n in rows if p is not None and o is not None)
    except (TypeError, ValueError):
        return ()


_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "n_train", "n_test", "positive_rate")


def _terms(value: Any) -> tuple[str, ...]:
    out = []
    for item in value or []:
        if isinstance(item, dict):
            item = _get(item, "term", "word")
        elif isinstance(item, list | tuple):
            item = item[0] if item else None
        if item is not None:
            out.append(str(item))
    return tuple(out[:30])


def load_model_view(con) -> ModelView | None:
    """The current model's evaluation, or None when there is no model yet."""
    info: Any = None
    try:
        from qa_scoring import classify

        if hasattr(classify, "current_model"):
            info = classify.current_model(con)
    except ImportError:
        info = None
    except Exception as err:  # a broken model must not take the whole report down
        log.warning("report: cannot read the current model (%s); using the models table", err)
        info = None
    if info is None:
        from qa_scoring.store import fetch_one

        row = fetch_one(con, "SELECT model_id, created_at, spec, metrics FROM models WHERE is_current "
                             "ORDER BY created_at DESC, model_id LIMIT 1")
        if row is None:
            return None
        spec, metrics = _as_dict(row[2]), _as_dict(row[3])
        info = {**spec, **metrics, "model_id": row[0], "created_at": row[1], "metrics": metrics}
    metrics = {**_as_dict(_get(info, "metrics")), **_as_dict(_get(info, "evaluation"))}

    def pick(*names: str) -> Any:
        return _get(metrics, *names) if _get(metrics, *names) is not None else _get(info, *names)

    shown = tuple((k, v) for k in _METRICS if isinstance(v := pick(k), int | float))
    baseline_raw = pick("baseline")
    baseline = tuple((k, v) for k, v in sorted(_as_dict(baseline_raw).items())
                     if isinstance(v, int | float | str)) if isinstance(baseline_raw, dict) else (
        (("value", baseline_raw),) if isinstance(baseline_raw, int | float) else ())
    split_raw = pick("split")
    split = tuple((str(k), str(v)) for k, v in sorted(_as_dict(split_raw).items())) if isinstance(split_raw, dict) \
        else ((("split", str(split_raw)),) if split_raw else ())
    mapping_raw = pick("label_mapping", "mapping", "labels")
    mapping = tuple((str(k), ", ".join(map(str, v)) if isinstance(v, list) else str(v))
                    for k, v in _as_dict(mapping_raw).items())
    positive = pick("positive_rate")
    return ModelView(
        model_id=str(_get(info, "model_id", default="?")),
        created_at=_get(info, "created_at"),
        metrics=shown, baseline=baseline, split=split, mapping=mapping,
        top_terms=_terms(pick("top_terms", "terms")),
        roc=_points(pick("roc_curve", "roc"), ("fpr", "x"), ("tpr", "y")),
        pr=_points(pick("pr_curve", "pr"), ("recall", "x"), ("precision", "y")),
        calibration=_bins(pick("calibration", "calibration_bins")),
        positive_rate=float(positive) if isinstance(positive, int | float) else None,
    )
