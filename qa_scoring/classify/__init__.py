"""The classifier stage: survey labels, a scikit-learn pipeline, honest evaluation, explained predictions.

Public interface (used by cli.py, the nightly `run` and the report):
  survey_label(value, classifier_settings=None) -> 'satisfied' | 'dissatisfied' | 'unknown' | None
  LabelMapping.from_settings(settings.classifier)  (.label(), .sql(), .describe())
  train_model(con, settings, *, run_id=None) -> TrainSummary
  predict_interactions(con, settings, *, run_id=None, full=False) -> PredictSummary
  current_model(con) -> ModelInfo | None
"""

from __future__ import annotations

import importlib

from qa_scoring.classify.labels import DISSATISFIED, SATISFIED, UNKNOWN, LabelMapping

# The model and stage modules import scikit-learn (seconds of start-up): loaded on first use, so that
# `score` and the daily facts (which need only the survey labels) do not pay for it.
_LAZY = {"ModelInfo": "model", "current_model": "model", "predictor_from_json": "model", "validate_spec": "model",
         "PredictSummary": "stage", "TrainSummary": "stage", "predict_interactions": "stage", "train_model": "stage"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"qa_scoring.classify.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["DISSATISFIED", "SATISFIED", "UNKNOWN", "LabelMapping", "ModelInfo", "PredictSummary",
           "TrainSummary", "current_model", "predict_interactions", "predictor_from_json", "survey_label",
           "train_model", "validate_spec"]


def survey_label(value: str | None, classifier_settings=None) -> str | None:
    """Label one survey answer with the configured mapping (the default when no settings are given)."""
    mapping = LabelMapping.from_settings(classifier_settings) if classifier_settings is not None else LabelMapping()
    return mapping.label(value)
