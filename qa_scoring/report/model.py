"""The classifier's evaluation as the model page shows it, from classify.py.

classify.py owns the model; this module only reads it, through `classify.current_model(con)`, which
refuses a damaged or edited model (the page then has no model). It tolerates the shapes a curve may be stored in
(`{"fpr": [...], "tpr": [...]}`, `[[x, y], ...]` or `[{"fpr": x, "tpr": y}, ...]`). No model is
`None`, which the page shows as a "no model yet" section.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from qa_scoring.classify.features import AGENT_TOKEN, TEXT_FIELDS, fold
from qa_scoring.mask import mask_cards

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelView:
    model_id: str
    created_at: Any
    metrics: tuple[tuple[str, float | int | str], ...]  # (name, value) in display order
    baseline: tuple[tuple[str, float | int | str], ...]
    compared: tuple[tuple[str, Any, Any, Any], ...]  # (name, model, prior baseline, plain text baseline; None: not measured)
    text_fields: tuple[str, ...]  # the fields the plain text baseline read
    split: tuple[tuple[str, Any], ...]
    mapping: tuple[tuple[str, str], ...]
    top_terms: tuple[str, ...]  # words (text features) toward dissatisfaction, no two alike
    top_signals: tuple[tuple[str, str], ...]  # (kind, shown name) of the other features: failed rules, channel…
    roc: tuple[tuple[float, float], ...]  # (fpr, tpr)
    pr: tuple[tuple[float, float], ...]  # (recall, precision)
    calibration: tuple[tuple[float, float, int], ...]  # (mean predicted, observed rate, n)
    positive_rate: float | None
    # (operation, held-out surveys, ROC AUC, PR AUC, Brier) when the model was evaluated on several
    per_operation: tuple = ()


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
        except (ValueError, RecursionError):
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
            pred = _get(value, "mean_risk", "mean_predicted", "prob_pred", "predicted")
            obs = _get(value, "observed", "prob_true", "fraction_positive")
            ns = _get(value, "n", "count", "counts", default=[0] * len(pred or []))
            rows = list(zip(pred or [], obs or [], ns))
        else:
            rows = [(_get(b, "mean_risk", "mean_predicted", "predicted", "prob_pred"), _get(b, "observed", "prob_true", "fraction_positive"),
                     _get(b, "n", "count", default=0)) if isinstance(b, dict) else tuple(b) + (0,) * (3 - len(b))
                    for b in value or []]
        return tuple((float(p), float(o), int(n or 0)) for p, o, n in rows if p is not None and o is not None)
    except (TypeError, ValueError):
        return ()


_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "agent_only_roc_auc", "n_train", "n_test")
_SPLIT = ("train_from", "train_to", "split_at", "test_to", "test_fraction", "n_features", "calibration")


def _features(value: Any) -> list[tuple[str, str | None]]:
    """(term, field) from a list (strings, [term, weight] or {term, field}) or classify's {dissatisfied: [...]}."""
    if isinstance(value, dict):
        value = value.get("dissatisfied", [])
    out = []
    for item in value or []:
        field = None
        if isinstance(item, dict):
            item, field = _get(item, "term", "word"), item.get("field")
        elif isinstance(item, list | tuple):
            item = item[0] if item else None
        if item is not None:
            out.append((str(item), None if field is None else str(field)))
    return out


def split_words(features: list[tuple[str, str | None]], *, rule_title, agent_word: str,
                words: int = 20, signals: int = 10) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The model's words and its other signals, strongest first.

    Words are text features only (a rule id, a channel or a skill is not a word), and a word that
    folds to one already shown, or is part of one or contains one, is left out: "Cliente" from the
    comments after "cliente" from the body, "le dije" after "ya le dije". The agent's-name token reads
    as `agent_word`. The other features become (kind, name) signals, a rule by its title.
    """
    shown: list[list[str]] = []  # each word's surface words
    kept: list[list[str]] = []  # ... and the same folded
    other: list[tuple[str, str]] = []
    for term, field in features:
        if field is None or field in TEXT_FIELDS:
            surface, key = term.split(), fold(term).split()
            if not key or len(kept) >= words:
                continue
            for n, old in enumerate(kept):
                if _inside(key, old) or _inside(old, key):
                    break
                joined = _overlap(old, key) or _overlap(key, old)
                if joined:  # "ya le" and "le dije" are one phrase: show "ya le dije" once
                    first, second = (shown[n], surface) if _overlap(old, key) else (surface, shown[n])
                    if len(surface) == len(key) and len(shown[n]) == len(old):  # surface words line up
                        kept[n], shown[n] = joined, first + second[len(first) + len(second) - len(joined):]
                    break
            else:
                kept.append(key)
                shown.append(surface)
        elif len(other) < signals:
            if field == "rule":
                other.append(("rule", rule_title(term)))
            elif field == "handle":
                other.append((f"handle_{term}", ""))
            else:
                other.append((field, term))
    return (tuple(mask_cards(" ".join(w).replace(AGENT_TOKEN, agent_word)) for w in shown),  # a token can be a PAN
            tuple(dict.fromkeys(other)))


def _inside(part: list[str], whole: list[str]) -> bool:
    """`part` is a run of consecutive words of `whole`."""
    return any(whole[i:i + len(part)] == part for i in range(len(whole) - len(part) + 1))


def _overlap(head: list[str], tail: list[str]) -> list[str] | None:
    """`head` then `tail` sharing at least one word where they meet ("ya le" + "le dije"), else None."""
    for k in range(min(len(head), len(tail)) - 1, 0, -1):
        if head[-k:] == tail[:k]:
            return head + tail[k:]
    return None


def _scalar_items(value: Any, keys: tuple[str, ...] | None = None) -> tuple[tuple[str, Any], ...]:
    d = _as_dict(value)
    names = keys if keys is not None else tuple(sorted(d))
    return tuple((k, d[k]) for k in names if isinstance(d.get(k), int | float | str) and not isinstance(d.get(k), bool))


def load_model_view(con, *, rule_title=lambda rule_id: rule_id, agent_word: str = "[agent]") -> ModelView | None:
    """The current model's evaluation, or None when there is no model yet (`rule_title` names a rule
    by its id, `agent_word` stands for the agent's own name in a word)."""
    from qa_scoring import classify
    from qa_scoring.errors import ModelError

    try:
        info: Any = classify.current_model(con)
    except ModelError as err:
        # A damaged or edited model must not take the whole report down, nor be shown: its figures
        # are not the ones training measured.
        log.warning("report: the model page leaves out the current model: %s", err)
        return None
    if info is None:
        return None
    metrics = _as_dict(_get(info, "metrics"))
    curves = _as_dict(_get(info, "curves"))
    training = _as_dict(_get(info, "training"))
    balance = _as_dict(training.get("class_balance"))
    positive = metrics.get("positive_rate")
    if positive is None and balance.get("test_dissatisfied") is not None and training.get("n_test"):
        positive = balance["test_dissatisfied"] / training["n_test"]
    shown = _scalar_items(metrics, _METRICS)
    base = dict(_scalar_items(metrics.get("baseline")))
    plain = _as_dict(metrics.get("text_baseline"))
    plain_numbers = {k: v for k, v in _scalar_items(plain) if k != "kind"}
    compared = tuple((k, v, base.get(k), plain_numbers.get(k)) for k, v in shown) + tuple(
        (k, None, v, plain_numbers.get(k)) for k, v in sorted(base.items()) if k != "kind" and k not in dict(shown))
    words, signals = split_words(_features(_get(info, "top_terms")), rule_title=rule_title, agent_word=agent_word)
    mapping = []
    for key, value in _as_dict(_get(info, "label_mapping")).items():
        mapping.append((str(key), ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return ModelView(
        model_id=str(_get(info, "model_id", default="?")),
        created_at=_get(info, "created_at"),
        metrics=shown,
        baseline=tuple((k, v) for k, v in base.items() if k != "kind"),
        compared=compared,
        text_fields=tuple(str(f) for f in plain.get("fields", ()) if isinstance(f, str)) if isinstance(plain.get("fields"), list) else (),
        split=_scalar_items(training, _SPLIT) + tuple(
            (f"class_balance.{k}", v) for k, v in _scalar_items(balance)),
        mapping=tuple(mapping),
        top_terms=words,
        top_signals=signals,
        roc=_points(curves.get("roc") or metrics.get("roc_curve"), ("fpr", "x"), ("tpr", "y")),
        pr=_points(curves.get("pr") or metrics.get("pr_curve"), ("recall", "x"), ("precision", "y")),
        calibration=_bins(curves.get("calibration") or metrics.get("calibration")),
        positive_rate=float(positive) if isinstance(positive, int | float) else None,
        per_operation=_per_operation(metrics.get("per_operation")),
    )


def _per_operation(raw) -> tuple:
    rows = []
    for op, entry in _as_dict(raw).items():
        entry = _as_dict(entry)
        rows.append((str(op), *(entry.get(k) if isinstance(entry.get(k), int | float) else None
                                for k in ("n_test", "roc_auc", "pr_auc", "brier"))))
    return tuple(rows) if len(rows) > 1 else ()
