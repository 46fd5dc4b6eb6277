"""One stress test run: every test category on a reference and an evaluation dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rime_airflow_demo.rime.local.abnormal import (
    PredictFn,
    abnormal_input_tests,
    skipped_abnormal_tests,
)
from rime_airflow_demo.rime.local.cleanliness import cleanliness_tests
from rime_airflow_demo.rime.local.datasets import Dataset
from rime_airflow_demo.rime.local.drift import drift_tests
from rime_airflow_demo.rime.local.outcomes import Outcomes
from rime_airflow_demo.rime.local.performance import model_performance, subset_performance
from rime_airflow_demo.rime.local.thresholds import Thresholds
from rime_airflow_demo.rime.protocol import MetricPair

NO_MODEL_REASON = "no model could be called: the registered model directory is not loadable."


@dataclass(frozen=True)
class StressInputs:
    """The two datasets, their predictions, the features to test and the model, if any."""

    reference: Dataset
    evaluation: Dataset
    reference_predictions: np.ndarray
    evaluation_predictions: np.ndarray
    features: list[str]
    predict_df: PredictFn | None
    no_model_reason: str = NO_MODEL_REASON


def run_stress_tests(
    inputs: StressInputs, thresholds: Thresholds
) -> tuple[Outcomes, dict[str, MetricPair]]:
    """Run the five test categories and return their outcomes and the model-performance pairs.

    Label-based tests use only the rows that have a label.
    """
    reference, evaluation = inputs.reference, inputs.evaluation
    reference_labelled = ~np.isnan(reference.labels)
    evaluation_labelled = ~np.isnan(evaluation.labels)

    outcomes, model_perf = model_performance(
        (reference.labels[reference_labelled], inputs.reference_predictions[reference_labelled]),
        (
            evaluation.labels[evaluation_labelled],
            inputs.evaluation_predictions[evaluation_labelled],
        ),
        thresholds,
    )
    outcomes.extend(
        subset_performance(
            evaluation.frame.loc[evaluation_labelled].reset_index(drop=True),
            inputs.features,
            evaluation.labels[evaluation_labelled],
            inputs.evaluation_predictions[evaluation_labelled],
            thresholds,
        )
    )
    outcomes.extend(
        drift_tests(
            reference.frame,
            evaluation.frame,
            inputs.features,
            (inputs.reference_predictions, inputs.evaluation_predictions),
            (reference.labels, evaluation.labels),
            thresholds,
        )
    )
    if inputs.predict_df is None:
        outcomes.extend(
            skipped_abnormal_tests(reference.frame, inputs.features, inputs.no_model_reason)
        )
    else:
        outcomes.extend(
            abnormal_input_tests(
                reference.frame, evaluation.frame, inputs.features, inputs.predict_df, thresholds
            )
        )
    outcomes.extend(
        cleanliness_tests(reference.frame, evaluation.frame, inputs.features, thresholds)
    )
    return outcomes, model_perf
