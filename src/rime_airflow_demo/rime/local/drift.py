"""DRIFT stress tests: feature, prediction and label drift from reference to evaluation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rime_airflow_demo.rime.local.binning import feature_psi, is_numeric
from rime_airflow_demo.rime.local.outcomes import Outcomes, SkippedTest
from rime_airflow_demo.rime.local.thresholds import Thresholds, grade
from rime_airflow_demo.rime.protocol import TestCategory, TestResult

if TYPE_CHECKING:
    import pandas as pd

FEATURE_DRIFT = "Feature Drift"
PREDICTION_DRIFT = "Prediction Drift"
LABEL_DRIFT = "Label Drift"


def ks_test(reference: np.ndarray, evaluation: np.ndarray) -> tuple[float | None, float | None]:
    """Return the two-sample Kolmogorov-Smirnov statistic and p-value, ignoring NaN values."""
    from scipy import stats

    first = reference[~np.isnan(reference)]
    second = evaluation[~np.isnan(evaluation)]
    if first.size == 0 or second.size == 0:
        return None, None
    result = stats.ks_2samp(first, second)
    return float(result.statistic), float(result.pvalue)


def drift_tests(
    reference: pd.DataFrame,
    evaluation: pd.DataFrame,
    features: list[str],
    predictions: tuple[np.ndarray, np.ndarray],
    labels: tuple[np.ndarray, np.ndarray],
    thresholds: Thresholds,
) -> Outcomes:
    """Grade the PSI of each feature, of the predictions and of the labels.

    ``predictions`` and ``labels`` are (reference, evaluation) pairs; labels
    may contain NaN for unlabelled rows, which are left out.
    """
    import pandas as pd

    outcomes = Outcomes.empty()
    for feature in features:
        outcomes.tests.append(_feature_drift(reference[feature], evaluation[feature], thresholds))

    reference_predictions = pd.Series(predictions[0], dtype=float)
    evaluation_predictions = pd.Series(predictions[1], dtype=float)
    outcomes.tests.append(
        _psi_test(
            PREDICTION_DRIFT,
            (),
            reference_predictions,
            evaluation_predictions,
            thresholds,
            "the predicted probabilities",
        )
    )

    reference_labels, evaluation_labels = (values[~np.isnan(values)] for values in labels)
    if reference_labels.size == 0 or evaluation_labels.size == 0:
        outcomes.skipped.append(
            SkippedTest(
                LABEL_DRIFT, TestCategory.DRIFT, (), "Label Drift needs labels in both datasets."
            )
        )
    else:
        outcomes.tests.append(
            _psi_test(
                LABEL_DRIFT,
                (),
                pd.Series(reference_labels.astype(int).astype(str)),
                pd.Series(evaluation_labels.astype(int).astype(str)),
                thresholds,
                "the labels",
            )
        )
    return outcomes


def _feature_drift(
    reference: pd.Series, evaluation: pd.Series, thresholds: Thresholds
) -> TestResult:
    feature = str(reference.name)
    test = _psi_test(
        FEATURE_DRIFT, (feature,), reference, evaluation, thresholds, f"feature {feature!r}"
    )
    if not (is_numeric(reference) and is_numeric(evaluation)):
        return test
    statistic, p_value = ks_test(
        reference.to_numpy(dtype=float, na_value=np.nan),
        evaluation.to_numpy(dtype=float, na_value=np.nan),
    )
    metrics = {**test.metrics, "ks_statistic": statistic, "ks_pvalue": p_value}
    return TestResult(
        test.test_name, test.category, test.features, test.severity, metrics, test.description
    )


def _psi_test(
    test_name: str,
    features: tuple[str, ...],
    reference: pd.Series,
    evaluation: pd.Series,
    thresholds: Thresholds,
    subject: str,
) -> TestResult:
    value = feature_psi(
        reference, evaluation, thresholds.drift_quantile_bins, thresholds.psi_epsilon
    )
    return TestResult(
        test_name=test_name,
        category=TestCategory.DRIFT,
        features=features,
        severity=grade(value, thresholds.psi_warning, thresholds.psi_alert),
        metrics={"psi": value},
        description=(
            f"The PSI of {subject} from the reference to the evaluation set is {value:.4f} "
            f"(warning at {thresholds.psi_warning}, alert at {thresholds.psi_alert})."
        ),
    )
