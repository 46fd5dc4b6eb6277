"""Conversion of rime-sdk 2.13 result frames and swagger objects into protocol values.

The SDK reports severities as ``SEVERITY_PASS``, ``SEVERITY_WARNING`` and
``SEVERITY_ALERT``, which become ``Severity.PASS``, ``WARNING`` and ``ALERT``.
It counts them in three buckets (``num_none_severity``, ``num_low_severity``,
``num_high_severity``), read here in the same order. Nothing here talks to RIME.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rime_airflow_demo.rime.protocol import (
    BinResult,
    DetectionEvent,
    MetricPair,
    Severity,
    SummaryCounts,
    TestCategory,
    TestResult,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SEVERITIES = {
    "SEVERITY_PASS": Severity.PASS,
    "SEVERITY_WARNING": Severity.WARNING,
    "SEVERITY_ALERT": Severity.ALERT,
}
_CASE_STATUS_SEVERITY = {
    "TEST_CASE_STATUS_FAIL": Severity.ALERT,
    "TEST_CASE_STATUS_WARNING": Severity.WARNING,
}
# RIME categories without a protocol counterpart of their own.
_CATEGORY_ALIASES = {"SUBSET_PERFORMANCE_DEGRADATION": TestCategory.SUBSET_PERFORMANCE}
_CATEGORY_PREFIX = "TEST_CATEGORY_TYPE_"
_MODEL_PERF_PREFIX = "metrics.model_perf."


def category_name(raw: object) -> str:
    """Return a RIME test category without its ``TEST_CATEGORY_TYPE_`` prefix."""
    return str(raw).removeprefix(_CATEGORY_PREFIX)


def to_category(raw: object) -> TestCategory | None:
    """Return the protocol category of a RIME category, or None when it has none."""
    name = category_name(raw)
    if name in TestCategory.__members__:
        return TestCategory(name)
    return _CATEGORY_ALIASES.get(name)


def to_severity(raw: object, case_status: object = None) -> Severity:
    """Map a RIME severity; an unspecified one falls back to the test-case status."""
    severity = SEVERITIES.get(str(raw))
    if severity is not None:
        return severity
    return _CASE_STATUS_SEVERITY.get(str(case_status), Severity.PASS)


def _count(value: Any) -> int:
    """Return an SDK count (``Int64`` cell, numeric string or missing) as a Python int."""
    if value is None:
        return 0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return 0 if math.isnan(number) else int(number)


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def summary_counts(result_df: pd.DataFrame) -> SummaryCounts:
    """Read the ``metrics.summary_counts.*`` columns of ``TestRun.get_result_df()``."""
    row = result_df.iloc[0]
    prefix = "metrics.summary_counts."
    return SummaryCounts(
        total=_count(row.get(prefix + "total")),
        passed=_count(row.get(prefix + "_pass")),
        warning=_count(row.get(prefix + "warning")),
        failed=_count(row.get(prefix + "fail")),
        skipped=_count(row.get(prefix + "skip")),
    )


def model_perf(result_df: pd.DataFrame) -> dict[str, MetricPair]:
    """Read ``metrics.model_perf.<M>.ref_metric`` and ``eval_metric`` into metric pairs."""
    row = result_df.iloc[0]
    names = {
        str(col).removeprefix(_MODEL_PERF_PREFIX).rsplit(".", 1)[0]
        for col in result_df.columns
        if str(col).startswith(_MODEL_PERF_PREFIX)
    }
    return {
        name: MetricPair(
            reference=_optional_float(row.get(f"{_MODEL_PERF_PREFIX}{name}.ref_metric")),
            evaluation=_optional_float(row.get(f"{_MODEL_PERF_PREFIX}{name}.eval_metric")),
        )
        for name in sorted(names)
    }


def category_severity_counts(category_df: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Count tests per category from ``TestRun.get_category_results_df()``.

    NOTE: RIME 2.13 names the buckets none, low and high severity. Reading them
    as PASS, WARNING and ALERT is an inference that the SDK does not document.
    """
    counts: dict[str, dict[str, int]] = {}
    for record in category_df.to_dict("records"):
        counts[category_name(record.get("test_category"))] = {
            Severity.PASS.value: _count(record.get("num_none_severity")),
            Severity.WARNING.value: _count(record.get("num_low_severity")),
            Severity.ALERT.value: _count(record.get("num_high_severity")),
        }
    return counts


def _case_metrics(record: Mapping[Any, Any], metric_columns: list[str]) -> dict[str, float | None]:
    metrics: dict[str, float | None] = {}
    for column in metric_columns:
        value = _optional_float(record.get(column))
        if value is not None:
            metrics[column.split(":", 1)[1]] = value
    return metrics


def test_results(cases_df: pd.DataFrame) -> tuple[TestResult, ...]:
    """Convert ``get_test_cases_df(show_test_case_metrics=True)`` rows into ``TestResult``s.

    NOTE: rows whose RIME category has no ``TestCategory`` (for example
    ADVERSARIAL or BIAS_AND_FAIRNESS) are left out of the per-test rows and
    logged. The summary and category counts still include them.
    """
    metric_columns = [str(col) for col in cases_df.columns if ":" in str(col)]
    results = []
    skipped: dict[str, int] = {}
    for record in cases_df.to_dict("records"):
        category = to_category(record.get("test_category"))
        if category is None:
            name = category_name(record.get("test_category"))
            skipped[name] = skipped.get(name, 0) + 1
            continue
        features = record.get("features")
        results.append(
            TestResult(
                test_name=str(record.get("test_batch_type", "")),
                category=category,
                features=tuple(str(f) for f in features) if isinstance(features, list) else (),
                severity=to_severity(record.get("severity"), record.get("status")),
                metrics=_case_metrics(record, metric_columns),
            )
        )
    if skipped:
        log.warning("Left out test cases of categories without a protocol category: %s", skipped)
    return tuple(results)


test_results.__test__ = False  # type: ignore[attr-defined]  # not a pytest test function


def iso_utc(moment: datetime) -> str:
    """Format ``moment`` as ISO 8601 in UTC; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def bin_result(firewall_id: str, test_run: Any) -> BinResult:
    """Convert a continuous-test run (swagger ``TestrunresultTestRunDetail``) into a bin."""
    interval = test_run.bin_time_interval
    metrics = test_run.metrics
    counts = metrics.summary_counts if metrics is not None else None
    if counts is not None and _count(counts.fail):
        severity = Severity.ALERT
    elif counts is not None and _count(counts.warning):
        severity = Severity.WARNING
    else:
        severity = Severity.PASS
    values: dict[str, float | None] = {}
    if metrics is not None:
        for name, pair in sorted((metrics.model_perf or {}).items()):
            values[name] = _optional_float(pair.eval_metric)
        if metrics.average_prediction is not None:
            values["average_prediction"] = _optional_float(metrics.average_prediction)
    url = test_run.web_app_url.url if test_run.web_app_url is not None else ""
    return BinResult(
        firewall_id=firewall_id,
        start=iso_utc(interval.start_time),
        end=iso_utc(interval.end_time),
        n_rows=_count(metrics.num_inputs) if metrics is not None else 0,
        severity=severity,
        metrics=values,
        test_run_id=str(test_run.test_run_id),
        link=url,
    )


def detection_events(
    events_df: pd.DataFrame, firewall_id: str, project_id: str, bins: tuple[BinResult, ...]
) -> tuple[DetectionEvent, ...]:
    """Select the rows of ``ContinuousTest.get_events_df()`` that fall on ``bins``.

    The SDK's frame has no event id, firewall id, value or threshold. The id is
    built from the monitor id and the bin start; the value is the bin's metric
    of the same name. NOTE: the threshold is reported as NaN because RIME 2.13
    does not expose it in event listings.
    """
    if events_df.empty or "event_time_range.start_time" not in events_df.columns:
        return ()
    by_start = {b.start: b for b in bins}
    events = []
    for record in events_df.to_dict("records"):
        if str(record.get("project_id", project_id)) != project_id:
            continue
        start = iso_utc(record["event_time_range.start_time"].to_pydatetime())
        matched = by_start.get(start)
        category = to_category(record.get("test_category"))
        if matched is None or category is None:
            continue
        metric = str(record.get("event_object_name", ""))
        value = matched.metrics.get(metric)
        events.append(
            DetectionEvent(
                event_id=f"{record.get('monitor_id', metric)}@{start}",
                firewall_id=firewall_id,
                bin_start=matched.start,
                bin_end=matched.end,
                metric=metric,
                feature=None,
                value=float("nan") if value is None else value,
                threshold=float("nan"),
                severity=to_severity(record.get("severity")),
                category=category,
                description=str(record.get("description") or ""),
            )
        )
    return tuple(events)
