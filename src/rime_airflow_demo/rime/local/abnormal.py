"""ABNORMAL_INPUTS stress tests: call the model on corrupted evaluation rows.

A sample of evaluation rows is corrupted one feature and one kind of fault
at a time. The faults are a missing value, a category the reference never
had, and numbers outside the reference range. The high number is the
reference maximum plus 9x its largest magnitude (10x the maximum for
positive data). The low number is negative for non-negative data, and
otherwise the minimum minus 9x the largest magnitude. Each test measures
how much the model's predictions move and how many decisions at 0.5 flip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rime_airflow_demo.rime.local.binning import is_numeric
from rime_airflow_demo.rime.local.metrics import DECISION_THRESHOLD
from rime_airflow_demo.rime.local.outcomes import Outcomes, SkippedTest, worst
from rime_airflow_demo.rime.local.thresholds import Thresholds, grade
from rime_airflow_demo.rime.protocol import Severity, TestCategory, TestResult

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MISSING_VALUES = "Missing Values"
OUT_OF_RANGE_HIGH = "Out-of-Range High"
OUT_OF_RANGE_LOW = "Out-of-Range Low"
UNSEEN_CATEGORICAL = "Unseen Categorical"
UNSEEN_VALUE = "__unseen_category__"
RANGE_FACTOR = 10.0

PredictFn = Callable[[Any], Any]


def injections(reference: pd.Series) -> dict[str, object]:
    """Return test name -> the abnormal value written into the feature for that test.

    Out-of-range values exist only for numeric features with a finite
    reference value.
    """
    values: dict[str, object] = {MISSING_VALUES: None}
    if not is_numeric(reference):
        values[UNSEEN_CATEGORICAL] = UNSEEN_VALUE
        return values
    finite = reference.to_numpy(dtype=float, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return values
    magnitude = float(np.max(np.abs(finite))) or 1.0
    low, high = float(finite.min()), float(finite.max())
    values[OUT_OF_RANGE_HIGH] = high + (RANGE_FACTOR - 1.0) * magnitude
    values[OUT_OF_RANGE_LOW] = -magnitude if low >= 0 else low - (RANGE_FACTOR - 1.0) * magnitude
    return values


def skipped_abnormal_tests(reference: pd.DataFrame, features: list[str], reason: str) -> Outcomes:
    """Return every abnormal-input test as skipped with ``reason``."""
    outcomes = Outcomes.empty()
    for feature in features:
        for test_name in injections(reference[feature]):
            outcomes.skipped.append(
                SkippedTest(test_name, TestCategory.ABNORMAL_INPUTS, (feature,), reason)
            )
    return outcomes


def abnormal_input_tests(
    reference: pd.DataFrame,
    evaluation: pd.DataFrame,
    features: list[str],
    predict_df: PredictFn,
    thresholds: Thresholds,
) -> Outcomes:
    """Run every injection of every feature on a sample of ``evaluation`` through ``predict_df``."""
    n_rows = min(thresholds.abnormal_sample_rows, len(evaluation))
    sample = evaluation[features].sample(n=n_rows, random_state=thresholds.seed)
    baseline = _predict(predict_df, sample)
    outcomes = Outcomes.empty()
    for feature in features:
        for test_name, value in injections(reference[feature]).items():
            corrupted = sample.copy()
            corrupted[feature] = _constant_column(sample[feature], value)
            outcomes.tests.append(
                _grade_injection(
                    test_name, feature, value, baseline, corrupted, predict_df, thresholds
                )
            )
    return outcomes


def _constant_column(original: pd.Series, value: object) -> pd.Series:
    import pandas as pd

    if value is None:
        dtype = float if is_numeric(original) else original.dtype
        return pd.Series([None] * len(original), index=original.index, dtype=dtype)
    return pd.Series([value] * len(original), index=original.index)


def _predict(predict_df: PredictFn, frame: pd.DataFrame) -> np.ndarray:
    predictions = np.asarray(predict_df(frame), dtype=float).reshape(-1)
    if predictions.shape[0] != len(frame):
        raise ValueError(
            f"predict_df returned {predictions.shape[0]} predictions for {len(frame)} rows; "
            "it must return one positive-class probability per row."
        )
    return predictions


def _grade_injection(
    test_name: str,
    feature: str,
    value: object,
    baseline: np.ndarray,
    corrupted: pd.DataFrame,
    predict_df: PredictFn,
    thresholds: Thresholds,
) -> TestResult:
    try:
        predictions = _predict(predict_df, corrupted)
    except Exception as exc:  # any model error on bad input is the finding itself
        log.info("The model raised %r on %s in feature %r", exc, test_name, feature)
        return TestResult(
            test_name=test_name,
            category=TestCategory.ABNORMAL_INPUTS,
            features=(feature,),
            severity=Severity.ALERT,
            metrics={"mean_abs_change": None, "flip_rate": None},
            description=(
                f"The model raised {type(exc).__name__}: {exc} when {feature!r} was set to "
                f"{value!r}; make it handle this input."
            ),
        )
    change = float(np.mean(np.abs(predictions - baseline)))
    flips = float(np.mean((predictions >= DECISION_THRESHOLD) != (baseline >= DECISION_THRESHOLD)))
    severity = worst(
        [
            grade(change, thresholds.abnormal_change_warning, thresholds.abnormal_change_alert),
            grade(flips, thresholds.abnormal_flip_warning, thresholds.abnormal_flip_alert),
        ]
    )
    return TestResult(
        test_name=test_name,
        category=TestCategory.ABNORMAL_INPUTS,
        features=(feature,),
        severity=severity,
        metrics={"mean_abs_change": change, "flip_rate": flips, "rows": float(len(corrupted))},
        description=(
            f"Setting {feature!r} to {value!r} in {len(corrupted)} evaluation rows moved the "
            f"predicted probability by {change:.4f} on average and flipped {flips:.2%} of the "
            f"decisions at {DECISION_THRESHOLD} (change warning at "
            f"{thresholds.abnormal_change_warning}, flip warning at "
            f"{thresholds.abnormal_flip_warning})."
        ),
    )
