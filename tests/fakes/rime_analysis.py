"""Small, real computations behind the fake RIME server's test runs.

The fake server never returns canned results: every stress-test and
continuous-test number comes from the rows and predictions that were uploaded
and registered. The tests are deliberately simple (AUC change, mean shift and
missing-value rate per feature), enough for contract tests to check that the
adapter carries each number through unchanged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Severity thresholds of the fake's tests, in the unit of each statistic.
AUC_DROP_WARNING = 0.02
AUC_DROP_ALERT = 0.05
MEAN_SHIFT_WARNING = 0.2  # standardised mean difference
MEAN_SHIFT_ALERT = 0.5
MISSING_RATE_WARNING = 0.05  # increase in the missing-value rate


def read_table(key: str, content: bytes) -> pd.DataFrame:
    """Parse an uploaded CSV or Parquet file; the file name's suffix decides the format."""
    if key.endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(content))
    return pd.read_csv(io.BytesIO(content))


def auc(labels: pd.Series, scores: pd.Series) -> float | None:
    """Return the ROC AUC of ``scores`` for 0/1 ``labels``, or None when one class is absent."""
    y = labels.to_numpy(dtype=float)
    s = scores.to_numpy(dtype=float)
    n_pos = int((y == 1).sum())
    n_neg = int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = pd.Series(s).rank(method="average").to_numpy()
    rank_sum = float(ranks[y == 1].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass
class TestOutcome:
    """One fake test: its batch type, category, features, severity and statistic."""

    __test__ = False  # not a pytest test class

    batch_type: str
    category: str
    features: list[str]
    severity: str
    metric_name: str
    value: float


@dataclass
class RunAnalysis:
    """Everything the fake server reports for one test run."""

    num_inputs: int
    model_perf: dict[str, dict[str, float]] = field(default_factory=dict)
    tests: list[TestOutcome] = field(default_factory=list)

    def summary_counts(self) -> dict[str, str]:
        counts = {"SEVERITY_PASS": 0, "SEVERITY_WARNING": 0, "SEVERITY_ALERT": 0}
        for test in self.tests:
            counts[test.severity] += 1
        return {
            "total": str(len(self.tests)),
            "pass": str(counts["SEVERITY_PASS"]),
            "warning": str(counts["SEVERITY_WARNING"]),
            "fail": str(counts["SEVERITY_ALERT"]),
            "skip": "0",
        }

    def severity_counts(self) -> dict[str, str]:
        summary = self.summary_counts()
        return {
            "numNoneSeverity": summary["pass"],
            "numLowSeverity": summary["warning"],
            "numHighSeverity": summary["fail"],
        }


def _grade(value: float, warning: float, alert: float) -> str:
    if value > alert:
        return "SEVERITY_ALERT"
    if value > warning:
        return "SEVERITY_WARNING"
    return "SEVERITY_PASS"


def feature_columns(frame: pd.DataFrame, excluded: set[str]) -> list[str]:
    """Return the numeric columns of ``frame`` that are model features."""
    return [
        str(col)
        for col in frame.columns
        if col not in excluded and pd.api.types.is_numeric_dtype(frame[col])
    ]


def analyse(
    ref: pd.DataFrame,
    ev: pd.DataFrame,
    *,
    label_col: str,
    ref_scores: pd.Series | None,
    eval_scores: pd.Series | None,
    excluded: set[str],
) -> RunAnalysis:
    """Compare ``ev`` with ``ref``: model performance, then drift and missing values per feature."""
    result = RunAnalysis(num_inputs=len(ev))
    ref_auc = auc(ref[label_col], ref_scores) if ref_scores is not None else None
    eval_auc = auc(ev[label_col], eval_scores) if eval_scores is not None else None
    if ref_auc is not None and eval_auc is not None:
        result.model_perf["AUC"] = {"refMetric": ref_auc, "evalMetric": eval_auc}
        drop = ref_auc - eval_auc
        result.tests.append(
            TestOutcome(
                "model_performance:auc",
                "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE",
                [],
                _grade(drop, AUC_DROP_WARNING, AUC_DROP_ALERT),
                "auc_drop",
                drop,
            )
        )
    for col in feature_columns(ref, excluded | {label_col}):
        if col not in ev.columns:
            continue
        ref_values = ref[col].astype(float)
        eval_values = ev[col].astype(float)
        spread = float(np.nanstd(ref_values)) or 1.0
        shift = abs(float(np.nanmean(eval_values)) - float(np.nanmean(ref_values))) / spread
        result.tests.append(
            TestOutcome(
                "drift:mean_shift",
                "TEST_CATEGORY_TYPE_DRIFT",
                [col],
                _grade(shift, MEAN_SHIFT_WARNING, MEAN_SHIFT_ALERT),
                "mean_shift",
                shift,
            )
        )
        missing_increase = float(eval_values.isna().mean() - ref_values.isna().mean())
        result.tests.append(
            TestOutcome(
                "abnormal_inputs:missing_values",
                "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS",
                [col],
                _grade(missing_increase, MISSING_RATE_WARNING, 1.0),
                "missing_rate_increase",
                missing_increase,
            )
        )
    return result


def category_results(analysis: RunAnalysis) -> list[dict[str, Any]]:
    """Group the tests of a run into RIME category results (worst severity per category)."""
    order = ["SEVERITY_PASS", "SEVERITY_WARNING", "SEVERITY_ALERT"]
    by_category: dict[str, list[TestOutcome]] = {}
    for test in analysis.tests:
        by_category.setdefault(test.category, []).append(test)
    items = []
    for category, tests in sorted(by_category.items()):
        severities = [t.severity for t in tests]
        items.append(
            {
                "id": category.removeprefix("TEST_CATEGORY_TYPE_").lower(),
                "severity": max(severities, key=order.index),
                "testBatchTypes": sorted({t.batch_type for t in tests}),
                "failingTestTypes": sorted(
                    {t.batch_type for t in tests if t.severity == "SEVERITY_ALERT"}
                ),
                "severityCounts": {
                    "numNoneSeverity": str(severities.count("SEVERITY_PASS")),
                    "numLowSeverity": str(severities.count("SEVERITY_WARNING")),
                    "numHighSeverity": str(severities.count("SEVERITY_ALERT")),
                },
                "testCategory": category,
                "riskCategory": "RISK_CATEGORY_TYPE_OPERATIONAL_HEALTH",
            }
        )
    return items


_METRIC_CATEGORY = {
    "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE": "TEST_METRIC_CATEGORY_PERFORMANCE_DIFF",
    "TEST_CATEGORY_TYPE_DRIFT": "TEST_METRIC_CATEGORY_DRIFT_STAT",
    "TEST_CATEGORY_TYPE_ABNORMAL_INPUTS": "TEST_METRIC_CATEGORY_FAILING_INPUTS",
}

_CASE_STATUS = {
    "SEVERITY_PASS": "TEST_CASE_STATUS_PASS_UNSPECIFIED",
    "SEVERITY_WARNING": "TEST_CASE_STATUS_WARNING",
    "SEVERITY_ALERT": "TEST_CASE_STATUS_FAIL",
}


def test_cases(test_run_id: str, analysis: RunAnalysis) -> list[dict[str, Any]]:
    """Return the RIME test cases of a run, one per fake test."""
    return [
        {
            "testRunId": test_run_id,
            "features": test.features,
            "testBatchType": test.batch_type,
            "status": _CASE_STATUS[test.severity],
            "severity": test.severity,
            "testCategory": test.category,
            "category": test.category.removeprefix("TEST_CATEGORY_TYPE_").title(),
            "metrics": [
                {
                    "metric": test.metric_name,
                    "category": _METRIC_CATEGORY[test.category],
                    "floatValue": test.value,
                }
            ],
        }
        for test in analysis.tests
    ]


test_cases.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function
