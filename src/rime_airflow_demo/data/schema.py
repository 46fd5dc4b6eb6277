"""Columns of the fraud data and the checks every source applies to its tables.

The column names follow Robust Intelligence's public fraud example: six
categorical features, one numeric feature (``transaction_amount``), a binary
``label`` (1 = fraud) and, in production data, a ``timestamp``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

CATEGORICAL_FEATURES = (
    "category",
    "card_type",
    "card_company",
    "city",
    "browser_version",
    "country",
)
NUMERIC_FEATURES = ("transaction_amount",)
FEATURES = (*CATEGORICAL_FEATURES[:3], "transaction_amount", *CATEGORICAL_FEATURES[3:])
LABEL = "label"
TIMESTAMP = "timestamp"

# Column that the pipelines add to a table: the trained model's fraud probability.
PREDICTION_COL = "fraud_probability"


class DataError(ValueError):
    """A data file or table is invalid; the message names the file, the column and the fix."""


def require_rows(df: pd.DataFrame, source: str) -> None:
    """Raise ``DataError`` when ``df`` has no rows."""
    if df.empty:
        raise DataError(f"{source} has no rows; point the data settings at a non-empty file.")


def require_columns(df: pd.DataFrame, columns: Iterable[str], source: str, role: str) -> None:
    """Raise ``DataError`` naming the first of ``columns`` that ``df`` lacks."""
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise DataError(
            f"{source} has no {role} column {missing[0]!r} (missing: {missing}); "
            f"its columns are {list(df.columns)}."
        )


def binary_labels(df: pd.DataFrame, column: str, source: str) -> pd.Series:
    """Return ``df[column]`` as int64 0/1 labels, or raise ``DataError`` naming a bad value.

    Accepted values are 0 and 1 as numbers, booleans or strings such as ``"1"``
    or ``"1.0"``. Missing labels are rejected because every row is used for
    training or evaluation.
    """
    import pandas as pd

    require_columns(df, [column], source, "label")
    raw = df[column]
    missing = raw.isna()
    if bool(missing.any()):
        raise DataError(
            f"{source}: label column {column!r} has {int(missing.sum())} missing value(s); "
            "every row needs a label 0 or 1."
        )
    numeric = pd.to_numeric(raw.astype("object").map(_bool_to_int), errors="coerce")
    bad = numeric.isna() | ~numeric.isin([0, 1])
    if bool(bad.any()):
        first = raw[bad].iloc[0]
        raise DataError(
            f"{source}: label column {column!r} is not binary; found {first!r}. "
            "Labels must be 0 (legitimate) or 1 (fraud)."
        )
    return numeric.astype("int64")


def _bool_to_int(value: object) -> object:
    if isinstance(value, bool):
        return int(value)
    return value


def select_features(
    df: pd.DataFrame,
    *,
    configured: Sequence[str],
    excluded: Iterable[str],
    source: str,
) -> list[str]:
    """Return the feature columns of ``df``.

    ``configured`` features must all exist. When it is empty, every column not
    in ``excluded`` (label, timestamp, ignored columns) is a feature.
    """
    if configured:
        require_columns(df, configured, source, "feature")
        return list(configured)
    skipped = set(excluded)
    features = [str(column) for column in df.columns if column not in skipped]
    if not features:
        raise DataError(
            f"{source} has no feature column: every column is a label, timestamp or ignored "
            "column. Set RIME_DEMO_FEATURE_COLS or RIME_DEMO_IGNORED_COLS."
        )
    return features
