"""Shared hypothesis strategies for property tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

finite_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
numbers_with_nan = st.one_of(finite_floats, st.just(float("nan")))


@st.composite
def numeric_series(draw: st.DrawFn, min_size: int = 1, max_size: int = 200) -> pd.Series:
    """A float column with possible NaN values and repeated values."""
    values = draw(st.lists(numbers_with_nan, min_size=min_size, max_size=max_size))
    return pd.Series(np.asarray(values, dtype=float))


@st.composite
def category_series(draw: st.DrawFn, min_size: int = 1, max_size: int = 200) -> pd.Series:
    """A text column over a few values, with possible missing values."""
    values = draw(
        st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=min_size, max_size=max_size)
    )
    return pd.Series(values, dtype=object)


def feature_series(min_size: int = 1, max_size: int = 200) -> st.SearchStrategy[pd.Series]:
    """A numeric or a categorical column."""
    return st.one_of(numeric_series(min_size, max_size), category_series(min_size, max_size))


# Seconds since the Unix epoch between 1990 and 2100.
epoch_seconds = st.integers(min_value=631_152_000, max_value=4_102_444_800)

# Bin sizes that tile a UTC day, and whole numbers of days.
bin_sizes = st.sampled_from([60, 900, 3_600, 21_600, 43_200, 86_400, 172_800, 604_800])

binary_labels_and_scores = st.integers(min_value=2, max_value=100).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.floats(0, 1), min_size=n, max_size=n),
    )
)
