"""Pure binning and population stability index (PSI) functions.

Numeric values are cut at quantile edges of the reference, and missing
values (NaN) get a bin of their own. Categorical values get one bin per
value, with missing values again in their own bin. PSI compares the bin proportions of
two samples::

    PSI = sum over bins of (q - p) * ln(q / p)

where ``p`` is the reference proportion and ``q`` the evaluation proportion,
each raised to at least ``epsilon`` so that an empty bin gives a finite
value. Every term is non-negative, so PSI >= 0, and identical samples give 0.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

MISSING_LABEL = "<missing>"
SECONDS_PER_DAY = 86_400


def is_numeric(values: pd.Series) -> bool:
    """Return True when ``values`` is a numeric, non-boolean column (binned by quantiles)."""
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def quantile_edges(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """Return the sorted, distinct interior quantile edges cutting ``reference`` into ``n_bins``.

    Missing and infinite values are left out of the quantiles. A reference
    with no finite value has no edges, so every number lands in one bin.
    """
    values = np.asarray(reference, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0 or n_bins < 2:
        return np.empty(0)
    probabilities = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    return np.unique(np.quantile(finite, probabilities))


def numeric_bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return the bin of each value: 0..len(edges) by ``edges``, len(edges) + 1 for NaN.

    Bin ``i`` contains the values in ``[edges[i-1], edges[i])``; the first bin is
    open to -inf and the last to +inf.
    """
    numbers = np.asarray(values, dtype=float)
    index = np.searchsorted(edges, numbers, side="right")
    return np.where(np.isnan(numbers), len(edges) + 1, index)


def numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return the row count of each of the ``len(edges) + 2`` bins (the last one is NaN)."""
    index = numeric_bin_index(values, edges)
    return np.bincount(index, minlength=len(edges) + 2)


def category_labels(values: pd.Series) -> np.ndarray:
    """Return each value as a string label, with missing values as ``MISSING_LABEL``."""
    labels = values.astype(object).where(values.notna(), MISSING_LABEL)
    return np.asarray([str(label) for label in labels], dtype=object)


def category_counts(labels: np.ndarray, categories: list[str]) -> np.ndarray:
    """Return how many of ``labels`` fall on each of ``categories`` (others are not counted)."""
    position = {category: i for i, category in enumerate(categories)}
    counts = np.zeros(len(categories), dtype=np.int64)
    for label in labels:
        i = position.get(label)
        if i is not None:
            counts[i] += 1
    return counts


def psi(reference_counts: np.ndarray, evaluation_counts: np.ndarray, epsilon: float) -> float:
    """Return the PSI between two count vectors over the same bins (0.0 when either is empty)."""
    reference = np.asarray(reference_counts, dtype=float)
    evaluation = np.asarray(evaluation_counts, dtype=float)
    if reference.shape != evaluation.shape:
        raise ValueError(
            f"PSI needs counts over the same bins, got {reference.size} and {evaluation.size}."
        )
    if reference.sum() == 0 or evaluation.sum() == 0:
        return 0.0
    p = np.maximum(reference / reference.sum(), epsilon)
    q = np.maximum(evaluation / evaluation.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def feature_psi(reference: pd.Series, evaluation: pd.Series, n_bins: int, epsilon: float) -> float:
    """Return the PSI of one column: quantile bins when numeric, value bins otherwise."""
    if is_numeric(reference) and is_numeric(evaluation):
        edges = quantile_edges(reference.to_numpy(dtype=float, na_value=np.nan), n_bins)
        return psi(
            numeric_counts(reference.to_numpy(dtype=float, na_value=np.nan), edges),
            numeric_counts(evaluation.to_numpy(dtype=float, na_value=np.nan), edges),
            epsilon,
        )
    reference_labels = category_labels(reference)
    evaluation_labels = category_labels(evaluation)
    categories = sorted(set(reference_labels) | set(evaluation_labels))
    return psi(
        category_counts(reference_labels, categories),
        category_counts(evaluation_labels, categories),
        epsilon,
    )


def slice_masks(values: pd.Series, n_bins: int) -> dict[str, np.ndarray]:
    """Split a column into named slices: quantile ranges (numeric) or values (categorical).

    Missing values form the slice ``MISSING_LABEL``. The masks partition the
    rows: every row is in exactly one slice.
    """
    if is_numeric(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
        edges = quantile_edges(numbers, n_bins)
        index = numeric_bin_index(numbers, edges)
        names = _range_names(edges)
        return {names[i]: index == i for i in range(len(edges) + 2) if bool(np.any(index == i))}
    labels = category_labels(values)
    return {category: labels == category for category in sorted(set(labels))}


def _range_names(edges: np.ndarray) -> list[str]:
    bounds = [-np.inf, *edges.tolist(), np.inf]
    names = [f"[{low:.4g}, {high:.4g})" for low, high in pairwise(bounds)]
    return [*names, MISSING_LABEL]


def validate_bin_size(bin_size_s: int) -> None:
    """Raise ValueError unless bins of ``bin_size_s`` seconds tile every UTC day from midnight.

    That holds when the size divides a day (1 h, 6 h, 1 day) or is a whole
    number of days.
    """
    if bin_size_s <= 0 or (SECONDS_PER_DAY % bin_size_s != 0 and bin_size_s % SECONDS_PER_DAY != 0):
        raise ValueError(
            f"bin_size_s={bin_size_s!r} does not align bins to UTC midnight; use a number "
            f"of seconds that divides {SECONDS_PER_DAY} (one day) or a multiple of it."
        )


def bin_start_seconds(epoch_seconds: np.ndarray, bin_size_s: int) -> np.ndarray:
    """Return the start (seconds since the Unix epoch, UTC) of each timestamp's bin.

    Bins are counted from 1970-01-01T00:00Z, which is a UTC midnight, so with
    a size allowed by ``validate_bin_size`` every UTC midnight starts a bin.
    """
    validate_bin_size(bin_size_s)
    seconds = np.asarray(epoch_seconds, dtype=np.int64)
    return (seconds // bin_size_s) * bin_size_s
