"""Continuous tests: bin production rows by time and run the firewall's monitors on each bin.

Rows are grouped into bins of the firewall's bin size counted from a UTC
midnight (see ``binning.bin_start_seconds``). Each bin gets its row count,
performance metrics when it has labels, prediction and feature drift (PSI)
against the firewall's reference dataset, and the share of rows with an
abnormal value. Monitors compare these with ``Thresholds`` and emit a
``DetectionEvent`` for every WARNING or ALERT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np

from rime_airflow_demo.rime.local.binning import bin_start_seconds, feature_psi, is_numeric
from rime_airflow_demo.rime.local.metrics import ACCURACY, AUC, F1, binary_metrics
from rime_airflow_demo.rime.local.outcomes import worst
from rime_airflow_demo.rime.local.store import new_id
from rime_airflow_demo.rime.local.thresholds import Thresholds, grade
from rime_airflow_demo.rime.protocol import (
    BinResult,
    DetectionEvent,
    FirewallRef,
    Severity,
    TestCategory,
)

if TYPE_CHECKING:
    import pandas as pd

PREDICTION_DRIFT_PSI = "prediction_drift_psi"
FEATURE_DRIFT_PSI = "feature_drift_psi"
ABNORMAL_INPUT_RATE = "abnormal_input_rate"
MEAN_PREDICTION = "mean_prediction"
LABELLED_ROWS = "labelled_rows"
MONITORED_METRICS = (AUC, ACCURACY, F1)


def iso_utc(epoch_seconds: int) -> str:
    """Return ``epoch_seconds`` as ISO 8601 UTC text such as ``2024-03-01T00:00:00Z``."""
    moment = datetime.fromtimestamp(int(epoch_seconds), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def feature_metric_name(feature: str) -> str:
    """Return the bin-metric key of one feature's drift PSI."""
    return f"{FEATURE_DRIFT_PSI}:{feature}"


@dataclass(frozen=True)
class Baseline:
    """Reference of every bin: the firewall's reference rows, predictions and metrics."""

    frame: pd.DataFrame
    features: list[str]
    predictions: np.ndarray
    metrics: dict[str, float | None]

    @classmethod
    def from_reference(
        cls,
        frame: pd.DataFrame,
        features: list[str],
        labels: np.ndarray,
        predictions: np.ndarray,
    ) -> Baseline:
        """Compute the reference metrics from its labelled rows."""
        labelled = ~np.isnan(labels)
        metrics = binary_metrics(labels[labelled], predictions[labelled])
        return cls(
            frame=frame[features], features=features, predictions=predictions, metrics=metrics
        )

    def abnormal_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """Mark rows with a number outside the reference range, an unseen category, or a
        missing value in a feature that the reference never lacks."""
        abnormal = np.zeros(len(frame), dtype=bool)
        for feature in self.features:
            reference, values = self.frame[feature], frame[feature]
            missing = values.isna().to_numpy()
            if not bool(reference.isna().any()):
                abnormal |= missing
            if is_numeric(reference) and is_numeric(values):
                numbers = values.to_numpy(dtype=float, na_value=np.nan)
                known = reference.to_numpy(dtype=float, na_value=np.nan)
                known = known[np.isfinite(known)]
                if known.size:
                    outside = (numbers < known.min()) | (numbers > known.max())
                    abnormal |= outside & ~missing
            else:
                seen = reference.dropna().astype(str).unique()
                unseen = ~values.astype(str).isin(seen).to_numpy()
                abnormal |= unseen & ~missing
        return abnormal


def split_by_bin(timestamps: pd.Series, bin_size_s: int) -> dict[int, np.ndarray]:
    """Return bin start (epoch seconds) -> positions of the rows in that bin, by start."""
    from rime_airflow_demo.rime.local.datasets import epoch_seconds

    starts = bin_start_seconds(epoch_seconds(timestamps), bin_size_s)
    return {int(start): np.flatnonzero(starts == start) for start in np.unique(starts)}


@dataclass(frozen=True)
class BinInputs:
    """The rows of one bin with their labels (NaN when unlabelled) and predictions."""

    start_s: int
    frame: pd.DataFrame
    labels: np.ndarray
    predictions: np.ndarray


def evaluate_bin(
    firewall: FirewallRef, rows: BinInputs, baseline: Baseline, thresholds: Thresholds
) -> tuple[BinResult, list[DetectionEvent]]:
    """Compute the metrics of one bin and the detection events of its monitors."""
    import pandas as pd

    start, end = iso_utc(rows.start_s), iso_utc(rows.start_s + firewall.bin_size_s)
    labelled = ~np.isnan(rows.labels)
    metrics: dict[str, float | None] = dict(
        binary_metrics(rows.labels[labelled], rows.predictions[labelled])
    )
    metrics[LABELLED_ROWS] = float(labelled.sum())
    metrics[MEAN_PREDICTION] = float(np.mean(rows.predictions))
    metrics[PREDICTION_DRIFT_PSI] = feature_psi(
        pd.Series(baseline.predictions, dtype=float),
        pd.Series(rows.predictions, dtype=float),
        thresholds.drift_quantile_bins,
        thresholds.psi_epsilon,
    )
    for feature in baseline.features:
        metrics[feature_metric_name(feature)] = feature_psi(
            baseline.frame[feature],
            rows.frame[feature],
            thresholds.drift_quantile_bins,
            thresholds.psi_epsilon,
        )
    metrics[ABNORMAL_INPUT_RATE] = float(np.mean(baseline.abnormal_rows(rows.frame)))

    monitor = _Monitor(firewall, start, end, thresholds)
    events = [
        *monitor.performance(metrics, baseline.metrics),
        *monitor.drift(metrics, baseline.features),
        *monitor.abnormal(metrics),
    ]
    result = BinResult(
        firewall_id=firewall.firewall_id,
        start=start,
        end=end,
        n_rows=len(rows.frame),
        severity=worst(event.severity for event in events),
        metrics=metrics,
        test_run_id=new_id(),
    )
    return result, events


@dataclass(frozen=True)
class _Monitor:
    firewall: FirewallRef
    start: str
    end: str
    thresholds: Thresholds

    def _event(
        self,
        metric: str,
        feature: str | None,
        value: float,
        severity: Severity,
        threshold: float,
        category: TestCategory,
        description: str,
    ) -> DetectionEvent:
        return DetectionEvent(
            event_id=new_id(),
            firewall_id=self.firewall.firewall_id,
            bin_start=self.start,
            bin_end=self.end,
            metric=metric,
            feature=feature,
            value=value,
            threshold=threshold,
            severity=severity,
            category=category,
            description=description,
        )

    def performance(
        self, metrics: dict[str, float | None], reference: dict[str, float | None]
    ) -> list[DetectionEvent]:
        warning, alert = self.thresholds.ct_perf_drop_warning, self.thresholds.ct_perf_drop_alert
        events = []
        for name in MONITORED_METRICS:
            value, expected = metrics[name], reference[name]
            if value is None or expected is None:
                continue
            severity = grade(expected - value, warning, alert)
            if severity is Severity.PASS:
                continue
            floor = expected - (alert if severity is Severity.ALERT else warning)
            events.append(
                self._event(
                    name,
                    None,
                    value,
                    severity,
                    floor,
                    TestCategory.MODEL_PERFORMANCE,
                    f"{name} is {value:.4f} in this bin, below {floor:.4f} "
                    f"(reference {expected:.4f} minus the allowed drop).",
                )
            )
        return events

    def drift(self, metrics: dict[str, float | None], features: list[str]) -> list[DetectionEvent]:
        checks: list[tuple[str, str | None, str]] = [
            (PREDICTION_DRIFT_PSI, None, PREDICTION_DRIFT_PSI),
            *[(FEATURE_DRIFT_PSI, feature, feature_metric_name(feature)) for feature in features],
        ]
        events = []
        for metric, feature, key in checks:
            value = metrics[key]
            severity = grade(value, self.thresholds.psi_warning, self.thresholds.psi_alert)
            if value is None or severity is Severity.PASS:
                continue
            limit = (
                self.thresholds.psi_alert
                if severity is Severity.ALERT
                else (self.thresholds.psi_warning)
            )
            subject = "the predictions" if feature is None else f"feature {feature!r}"
            events.append(
                self._event(
                    metric,
                    feature,
                    value,
                    severity,
                    limit,
                    TestCategory.DRIFT,
                    f"The PSI of {subject} against the reference is {value:.4f}, "
                    f"at or above {limit}.",
                )
            )
        return events

    def abnormal(self, metrics: dict[str, float | None]) -> list[DetectionEvent]:
        value = metrics[ABNORMAL_INPUT_RATE]
        warning = self.thresholds.ct_abnormal_rate_warning
        alert = self.thresholds.ct_abnormal_rate_alert
        severity = grade(value, warning, alert)
        if value is None or severity is Severity.PASS:
            return []
        limit = alert if severity is Severity.ALERT else warning
        return [
            self._event(
                ABNORMAL_INPUT_RATE,
                None,
                value,
                severity,
                limit,
                TestCategory.ABNORMAL_INPUTS,
                f"{value:.2%} of the rows have a missing, out-of-range or unseen value, "
                f"at or above {limit:.0%}.",
            )
        ]
