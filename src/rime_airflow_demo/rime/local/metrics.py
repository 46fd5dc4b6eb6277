"""Binary-classification metrics with scikit-learn, under RIME's metric names."""

from __future__ import annotations

import numpy as np

AUC = "AUC"
ACCURACY = "Accuracy"
PRECISION = "Precision"
RECALL = "Recall"
F1 = "F1"
LOG_LOSS = "Log Loss"
AVERAGE_PRECISION = "Average Precision"

METRIC_NAMES = (AUC, ACCURACY, PRECISION, RECALL, F1, LOG_LOSS, AVERAGE_PRECISION)
# Log Loss is the one metric where a larger value is worse.
LOWER_IS_BETTER = frozenset({LOG_LOSS})
DECISION_THRESHOLD = 0.5


def binary_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
    """Return every metric of ``METRIC_NAMES`` for 0/1 ``labels`` and positive-class probabilities.

    Decisions are ``probability >= 0.5``. AUC and Average Precision are None
    when only one class is present, and every metric is None for no rows.
    Precision, Recall and F1 are 0.0 when their denominator is zero.
    """
    from sklearn import metrics

    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    if y.size == 0:
        return dict.fromkeys(METRIC_NAMES)
    decisions = (p >= DECISION_THRESHOLD).astype(int)
    both_classes = np.unique(y).size == 2
    return {
        AUC: float(metrics.roc_auc_score(y, p)) if both_classes else None,
        ACCURACY: float(metrics.accuracy_score(y, decisions)),
        PRECISION: float(metrics.precision_score(y, decisions, zero_division=0)),
        RECALL: float(metrics.recall_score(y, decisions, zero_division=0)),
        F1: float(metrics.f1_score(y, decisions, zero_division=0)),
        LOG_LOSS: float(metrics.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        AVERAGE_PRECISION: float(metrics.average_precision_score(y, p)) if both_classes else None,
    }


def accuracy(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Return the share of correct decisions at 0.5, or None for no rows."""
    if labels.size == 0:
        return None
    decisions = probabilities >= DECISION_THRESHOLD
    return float(np.mean(decisions == (labels == 1)))


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Return the ROC AUC from the Mann-Whitney rank sum, or None unless both classes occur.

    Tied scores get average ranks, which counts a tied positive-negative pair
    as half a correct ordering, as ``sklearn.metrics.roc_auc_score`` does.
    This avoids scikit-learn's per-call input validation in loops over many
    slices.
    """
    from scipy.stats import rankdata

    positives = labels == 1
    n_positive = int(positives.sum())
    n_negative = labels.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = rankdata(probabilities)
    rank_sum = float(ranks[positives].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def degradation(name: str, reference: float | None, evaluation: float | None) -> float | None:
    """Return how much worse ``evaluation`` is than ``reference`` (negative when better)."""
    if reference is None or evaluation is None:
        return None
    if name in LOWER_IS_BETTER:
        return evaluation - reference
    return reference - evaluation
