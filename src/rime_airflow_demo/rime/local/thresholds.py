"""Severity thresholds of the local engine's stress tests and continuous-test monitors."""

from __future__ import annotations

from dataclasses import dataclass, fields

from rime_airflow_demo.rime.errors import InvalidInputError
from rime_airflow_demo.rime.protocol import Severity


@dataclass(frozen=True)
class Thresholds:
    """Limits that turn measured values into PASS, WARNING or ALERT.

    A value at or above a ``*_warning`` limit is a WARNING and at or above the
    matching ``*_alert`` limit an ALERT. Rates and shares are fractions in
    [0, 1]; metric drops are absolute differences of metrics in [0, 1].

    Model performance (stress test): ``perf_drop_*`` is the drop of AUC,
    Accuracy, Precision, Recall, F1 or Average Precision from the reference to
    the evaluation set. ``log_loss_rise_*`` is the rise of Log Loss.

    Subset performance: each feature is cut into ``subset_quantile_bins``
    quantile slices (numeric) or one slice per value (categorical, missing
    values as their own slice); slices with fewer than ``subset_min_rows``
    rows are skipped. ``subset_gap_*`` is how far the worst slice's Accuracy
    or AUC falls below the whole evaluation set's.

    Drift: ``psi_*`` applies to the population stability index of each
    feature, of the predictions and of the labels, with numeric features cut
    into ``drift_quantile_bins`` quantile bins of the reference and empty bins
    given the proportion ``psi_epsilon``. 0.1 and 0.2 are the customary PSI
    limits for a moderate and a major shift.

    Abnormal inputs: ``abnormal_sample_rows`` evaluation rows (chosen with
    ``seed``) are corrupted one feature at a time; ``abnormal_change_*``
    applies to the mean absolute change of the predicted probability and
    ``abnormal_flip_*`` to the share of rows whose decision at 0.5 flips.

    Data cleanliness: ``missing_rise_*`` is the rise of a feature's missing
    rate from reference to evaluation, ``duplicate_*`` the share of
    duplicated evaluation rows and ``unseen_*`` the share of evaluation rows
    whose categorical value never occurs in the reference.

    Continuous tests: ``ct_perf_drop_*`` is the drop of a bin's AUC, Accuracy
    or F1 below the reference value (bins are smaller than a stress test's
    evaluation set, so the default limits are wider); ``ct_abnormal_rate_*``
    applies to the share of a bin's rows with at least one abnormal value.
    Feature and prediction drift of a bin use the ``psi_*`` limits.
    """

    perf_drop_warning: float = 0.02
    perf_drop_alert: float = 0.05
    log_loss_rise_warning: float = 0.05
    log_loss_rise_alert: float = 0.15

    subset_quantile_bins: int = 5
    subset_min_rows: int = 50
    subset_gap_warning: float = 0.05
    subset_gap_alert: float = 0.10

    drift_quantile_bins: int = 10
    psi_epsilon: float = 1e-4
    psi_warning: float = 0.1
    psi_alert: float = 0.2

    abnormal_sample_rows: int = 200
    abnormal_change_warning: float = 0.05
    abnormal_change_alert: float = 0.10
    abnormal_flip_warning: float = 0.05
    abnormal_flip_alert: float = 0.10

    missing_rise_warning: float = 0.05
    missing_rise_alert: float = 0.10
    duplicate_warning: float = 0.01
    duplicate_alert: float = 0.05
    unseen_warning: float = 0.01
    unseen_alert: float = 0.05

    ct_perf_drop_warning: float = 0.05
    ct_perf_drop_alert: float = 0.10
    ct_abnormal_rate_warning: float = 0.05
    ct_abnormal_rate_alert: float = 0.10

    seed: int = 0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value < 0:
                raise InvalidInputError(
                    f"Thresholds.{item.name}={value!r} is negative; use a value of at least 0."
                )
            if item.name.endswith("_warning"):
                alert_name = item.name.removesuffix("_warning") + "_alert"
                alert = getattr(self, alert_name)
                if alert < value:
                    raise InvalidInputError(
                        f"Thresholds.{alert_name}={alert!r} is below "
                        f"{item.name}={value!r}; an alert limit must be at least its warning limit."
                    )
        for name in (
            "subset_quantile_bins",
            "drift_quantile_bins",
            "subset_min_rows",
            "abnormal_sample_rows",
        ):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"Thresholds.{name} must be at least 1.")


def grade(value: float | None, warning: float, alert: float) -> Severity:
    """Return the severity of ``value`` where larger is worse; None (not measurable) passes."""
    if value is None:
        return Severity.PASS
    if value >= alert:
        return Severity.ALERT
    if value >= warning:
        return Severity.WARNING
    return Severity.PASS
