"""MODEL_PERFORMANCE and SUBSET_PERFORMANCE stress tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from rime_airflow_demo.rime.local.binning import slice_masks
from rime_airflow_demo.rime.local.metrics import (
    ACCURACY,
    AUC,
    LOG_LOSS,
    METRIC_NAMES,
    accuracy,
    binary_metrics,
    degradation,
    roc_auc,
)
from rime_airflow_demo.rime.local.outcomes import Outcomes, SkippedTest
from rime_airflow_demo.rime.local.thresholds import Thresholds, grade
from rime_airflow_demo.rime.protocol import MetricPair, TestCategory, TestResult

if TYPE_CHECKING:
    import pandas as pd

SLICE_PREFIX = "slice "


def model_performance(
    reference: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    thresholds: Thresholds,
) -> tuple[Outcomes, dict[str, MetricPair]]:
    """Compare each metric on ``(labels, probabilities)`` of the evaluation vs the reference set.

    Returns one test per metric, graded by its degradation, and the metric
    pairs for ``StressTestResult.model_perf``.
    """
    reference_metrics = binary_metrics(*reference)
    evaluation_metrics = binary_metrics(*evaluation)
    outcomes = Outcomes.empty()
    model_perf: dict[str, MetricPair] = {}
    for name in METRIC_NAMES:
        before, after = reference_metrics[name], evaluation_metrics[name]
        model_perf[name] = MetricPair(reference=before, evaluation=after)
        change = degradation(name, before, after)
        if change is None:
            outcomes.skipped.append(
                SkippedTest(
                    name,
                    TestCategory.MODEL_PERFORMANCE,
                    (),
                    f"{name} needs both classes in the reference and the evaluation labels.",
                )
            )
            continue
        if name == LOG_LOSS:
            warning, alert = thresholds.log_loss_rise_warning, thresholds.log_loss_rise_alert
        else:
            warning, alert = thresholds.perf_drop_warning, thresholds.perf_drop_alert
        outcomes.tests.append(
            TestResult(
                test_name=name,
                category=TestCategory.MODEL_PERFORMANCE,
                features=(),
                severity=grade(change, warning, alert),
                metrics={"reference": before, "evaluation": after, "degradation": change},
                description=(
                    f"{name} is {after:.4f} on the evaluation set and {before:.4f} on the "
                    f"reference set, a degradation of {change:.4f} "
                    f"(warning at {warning}, alert at {alert})."
                ),
            )
        )
    return outcomes, model_perf


def subset_performance(
    frame: pd.DataFrame,
    features: list[str],
    labels: np.ndarray,
    probabilities: np.ndarray,
    thresholds: Thresholds,
) -> Outcomes:
    """Compare Accuracy and AUC of each feature's slices with the whole evaluation set.

    ``frame``, ``labels`` and ``probabilities`` hold the labelled evaluation
    rows only.
    """
    overall = binary_metrics(labels, probabilities)
    outcomes = Outcomes.empty()
    for feature in features:
        masks = {
            name: mask
            for name, mask in slice_masks(frame[feature], thresholds.subset_quantile_bins).items()
            if int(mask.sum()) >= thresholds.subset_min_rows
        }
        for metric, compute in ((ACCURACY, accuracy), (AUC, roc_auc)):
            slice_values = {
                name: compute(labels[mask], probabilities[mask]) for name, mask in masks.items()
            }
            outcomes.extend(
                _subset_test(feature, metric, overall[metric], slice_values, thresholds)
            )
    return outcomes


def _subset_test(
    feature: str,
    metric: str,
    overall: float | None,
    slice_values: dict[str, float | None],
    thresholds: Thresholds,
) -> Outcomes:
    test_name = f"Subset {metric}"
    measured = {name: value for name, value in slice_values.items() if value is not None}
    if overall is None or not measured:
        reason = (
            f"no slice of {feature!r} has {thresholds.subset_min_rows} or more labelled rows"
            f"{' with both classes' if metric == AUC else ''}."
        )
        return Outcomes(
            [],
            [
                SkippedTest(
                    test_name,
                    TestCategory.SUBSET_PERFORMANCE,
                    (feature,),
                    f"{test_name} skipped: {reason}",
                )
            ],
        )
    worst_slice = min(measured, key=lambda name: measured[name])
    gap = overall - measured[worst_slice]
    metrics: dict[str, float | None] = {
        "overall": overall,
        "worst_slice_value": measured[worst_slice],
        "gap": gap,
    }
    metrics.update({f"{SLICE_PREFIX}{name}": value for name, value in measured.items()})
    test = TestResult(
        test_name=test_name,
        category=TestCategory.SUBSET_PERFORMANCE,
        features=(feature,),
        severity=grade(gap, thresholds.subset_gap_warning, thresholds.subset_gap_alert),
        metrics=metrics,
        description=(
            f"{metric} of the slice {feature} = {worst_slice} is {measured[worst_slice]:.4f}, "
            f"{gap:.4f} below the whole evaluation set's {overall:.4f} "
            f"(warning at {thresholds.subset_gap_warning}, alert at {thresholds.subset_gap_alert})."
        ),
    )
    return Outcomes([test], [])
