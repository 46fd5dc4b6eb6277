"""Properties of the local engine's binning, PSI, time bins and fast metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from rime_airflow_demo.rime.local.binning import (
    SECONDS_PER_DAY,
    bin_start_seconds,
    feature_psi,
    numeric_counts,
    psi,
    quantile_edges,
    slice_masks,
    validate_bin_size,
)
from rime_airflow_demo.rime.local.metrics import accuracy, roc_auc
from tests.strategies import (
    bin_sizes,
    binary_labels_and_scores,
    epoch_seconds,
    feature_series,
    numeric_series,
)

BINS = 10
EPSILON = 1e-4


class TestPsi:
    @given(feature_series(), feature_series())
    def test_psi_non_negative(self, reference: pd.Series, evaluation: pd.Series) -> None:
        """PSI is never negative."""
        assert feature_psi(reference, evaluation, BINS, EPSILON) >= 0.0

    @given(feature_series())
    def test_psi_of_same_sample_is_zero(self, values: pd.Series) -> None:
        """A sample compared with itself has PSI 0."""
        assert feature_psi(values, values, BINS, EPSILON) == pytest.approx(0.0, abs=1e-12)

    @given(feature_series(), feature_series(), st.randoms(use_true_random=False))
    def test_psi_ignores_row_order(
        self, reference: pd.Series, evaluation: pd.Series, random: object
    ) -> None:
        """Shuffling the rows of either sample leaves PSI unchanged."""
        order = list(range(len(evaluation)))
        random.shuffle(order)  # type: ignore[attr-defined]
        shuffled = evaluation.iloc[order].reset_index(drop=True)
        before = feature_psi(reference, evaluation, BINS, EPSILON)
        assert feature_psi(reference, shuffled, BINS, EPSILON) == pytest.approx(before)

    def test_psi_of_disjoint_samples_is_large(self) -> None:
        """Samples with no value in common give a PSI far above the alert limit."""
        reference = pd.Series(np.linspace(0, 1, 500))
        evaluation = pd.Series(np.linspace(5, 6, 500))
        assert feature_psi(reference, evaluation, BINS, EPSILON) > 1.0

    def test_psi_rejects_mismatched_bins(self) -> None:
        """Count vectors over different bins are rejected."""
        with pytest.raises(ValueError, match="same bins"):
            psi(np.array([1, 2]), np.array([1, 2, 3]), EPSILON)


class TestBins:
    @given(numeric_series(), numeric_series())
    def test_numeric_bins_partition_rows(self, reference: pd.Series, values: pd.Series) -> None:
        """Every row lands in exactly one bin, NaN included."""
        edges = quantile_edges(reference.to_numpy(), BINS)
        assert int(numeric_counts(values.to_numpy(), edges).sum()) == len(values)

    @given(numeric_series())
    def test_edges_sorted_and_distinct(self, reference: pd.Series) -> None:
        """Quantile edges are strictly increasing."""
        edges = quantile_edges(reference.to_numpy(), BINS)
        assert bool(np.all(np.diff(edges) > 0))

    @given(feature_series())
    def test_slices_partition_rows(self, values: pd.Series) -> None:
        """Subset slices cover every row exactly once."""
        masks = slice_masks(values, 5)
        coverage = np.sum([mask.astype(int) for mask in masks.values()], axis=0)
        assert bool(np.all(coverage == 1))

    def test_missing_values_get_own_bin(self) -> None:
        """NaN values are counted in the last bin."""
        counts = numeric_counts(np.array([1.0, np.nan, np.nan]), np.array([0.5]))
        assert counts.tolist() == [0, 1, 2]


class TestTimeBins:
    @given(epoch_seconds, bin_sizes)
    def test_bin_contains_timestamp(self, second: int, size: int) -> None:
        """A timestamp lies in [start, start + size) of its bin."""
        [start] = bin_start_seconds(np.array([second]), size)
        assert start <= second < start + size

    @given(epoch_seconds, bin_sizes)
    def test_midnight_starts_a_bin(self, second: int, size: int) -> None:
        """For sizes up to a day, every UTC midnight is the start of its own bin."""
        midnight = second - second % SECONDS_PER_DAY
        [start] = bin_start_seconds(np.array([midnight]), size)
        if size <= SECONDS_PER_DAY:
            assert start == midnight
        else:
            assert start % SECONDS_PER_DAY == 0

    @pytest.mark.parametrize("size", [0, -60, 7 * 3_600, 90_000])
    def test_unaligned_sizes_rejected(self, size: int) -> None:
        """Sizes that do not tile a UTC day are rejected."""
        with pytest.raises(ValueError, match="UTC midnight"):
            validate_bin_size(size)


class TestFastMetrics:
    @settings(max_examples=50)
    @given(binary_labels_and_scores)
    def test_roc_auc_equals_sklearn(self, data: tuple[list[int], list[float]]) -> None:
        """The rank-sum AUC equals scikit-learn's, ties included."""
        labels, scores = np.array(data[0]), np.array(data[1])
        value = roc_auc(labels, scores)
        if len(set(data[0])) < 2:
            assert value is None
        else:
            assert value == pytest.approx(metrics.roc_auc_score(labels, scores))

    @given(binary_labels_and_scores)
    def test_accuracy_equals_sklearn(self, data: tuple[list[int], list[float]]) -> None:
        """Accuracy at 0.5 equals scikit-learn's."""
        labels, scores = np.array(data[0]), np.array(data[1])
        expected = metrics.accuracy_score(labels, (scores >= 0.5).astype(int))
        assert accuracy(labels, scores) == pytest.approx(expected)
