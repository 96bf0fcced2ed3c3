"""The classifier stage: survey labels, a scikit-learn pipeline, honest evaluation, explained predictions.

Public interface (used by cli.py, the nightly `run` and the report):
  survey_label(value, classifier_settings=None) -> 'satisfied' | 'dissatisfied' | 'unknown' | None
  LabelMapping.from_settings(settings.classifier)  (.label(), .sql(), .describe())
  train_model(con, settings, *, run_id=None) -> TrainSummary
  predict_interactions(con, settings, *, run_id=None, full=False) -> PredictSummary
  current_model(con) -> ModelInfo | None
"""

from __future__ import annotations

from qa_scoring.classify.labels import DISSATISFIED, SATISFIED, UNKNOWN, LabelMapping
from qa_scoring.classify.model import ModelInfo, current_model, predictor_from_json, validate_spec
from qa_scoring.classify.stage import PredictSummary, TrainSummary, predict_interactions, train_model

__all__ = ["DISSATISFIED", "SATISFIED", "UNKNOWN", "LabelMapping", "ModelInfo", "PredictSummary",
           "TrainSummary", "current_model", "predict_interactions", "predictor_from_json", "survey_label",
           "train_model", "validate_spec"]


def survey_label(value: str | None, classifier_settings=None) -> str | None:
    """Label one survey answer with the configured mapping (the default when no settings are given)."""
    mapping = LabelMapping.from_settings(classifier_settings) if classifier_settings is not None else LabelMapping()
    return mapping.label(value)
