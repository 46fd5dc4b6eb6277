"""Dataset files of the local engine: reading, validation and column roles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rime_airflow_demo.rime.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class DatasetSpec:
    """Roles of a dataset's columns; every other column is a feature."""

    label_col: str
    pred_col: str | None = None
    timestamp_col: str | None = None
    ignored_cols: tuple[str, ...] = ()

    def feature_columns(self, columns: list[str]) -> list[str]:
        """Return ``columns`` minus the label, prediction, timestamp and ignored columns."""
        excluded = {self.label_col, self.pred_col, self.timestamp_col, *self.ignored_cols}
        return [column for column in columns if column not in excluded]


@dataclass(frozen=True)
class Dataset:
    """A validated dataset frame with its column roles."""

    name: str
    frame: pd.DataFrame
    spec: DatasetSpec

    @property
    def features(self) -> list[str]:
        """Feature column names, in file order."""
        return self.spec.feature_columns([str(column) for column in self.frame.columns])

    @property
    def labels(self) -> np.ndarray:
        """Labels as floats 0.0/1.0, NaN where a row has no label."""
        return self.frame[self.spec.label_col].to_numpy(dtype=float, na_value=np.nan)

    @property
    def predictions(self) -> np.ndarray | None:
        """Registered positive-class probabilities, or None without a prediction column."""
        if self.spec.pred_col is None:
            return None
        return self.frame[self.spec.pred_col].to_numpy(dtype=float)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, chosen by its extension, rejecting a missing or empty file."""
    import pandas as pd

    name = path.name.lower()
    if not path.is_file():
        raise InvalidInputError(
            f"Dataset file {str(path)!r} does not exist; upload it with upload_file first "
            "or pass the path of an existing CSV or Parquet file."
        )
    try:
        if name.endswith(CSV_SUFFIXES):
            frame = pd.read_csv(path)
        elif name.endswith(PARQUET_SUFFIXES):
            frame = pd.read_parquet(path)
        else:
            raise InvalidInputError(
                f"Dataset file {str(path)!r} is neither CSV nor Parquet; use a name ending "
                f"in one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}."
            )
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(
            f"Dataset file {str(path)!r} is empty; it needs a header and rows."
        ) from exc
    if frame.empty:
        raise InvalidInputError(
            f"Dataset file {str(path)!r} has no rows; register a file with data."
        )
    return frame


def validate_table(frame: pd.DataFrame, source: str, spec: DatasetSpec) -> None:
    """Check the label, prediction and timestamp columns of ``frame`` and that features remain.

    Raises ``InvalidInputError`` naming ``source``, the column and the first
    bad value.
    """
    columns = [str(column) for column in frame.columns]
    for role, column in (
        ("label", spec.label_col),
        ("prediction", spec.pred_col),
        ("timestamp", spec.timestamp_col),
    ):
        if column is not None and column not in columns:
            raise InvalidInputError(
                f"{source}: {role} column {column!r} is missing; the columns are {columns}. "
                f"Pass the name of the column that contains the {role}s."
            )
    _check_labels(frame[spec.label_col], source, spec.label_col)
    if spec.pred_col is not None:
        _check_predictions(frame[spec.pred_col], source, spec.pred_col)
    if spec.timestamp_col is not None:
        to_utc(frame[spec.timestamp_col], spec.timestamp_col, source)
    if not spec.feature_columns(columns):
        raise InvalidInputError(
            f"{source}: no feature column is left after removing the label, prediction, "
            f"timestamp and ignored columns {list(spec.ignored_cols)}; keep at least one feature."
        )


def _check_labels(values: pd.Series, source: str, column: str) -> None:
    import pandas as pd

    present = values.dropna()
    if present.empty:
        raise InvalidInputError(
            f"{source}: label column {column!r} has no labels; fill it with 0 and 1."
        )
    if not pd.api.types.is_numeric_dtype(present):
        raise InvalidInputError(
            f"{source}: label column {column!r} contains {_plain(present.iloc[0])!r}, "
            "not a number; "
            "labels must be 0 or 1."
        )
    bad = present[~present.isin([0, 1])]
    if not bad.empty:
        raise InvalidInputError(
            f"{source}: label column {column!r} contains {_plain(bad.iloc[0])!r} "
            f"({len(bad)} value(s) other than 0 and 1); labels must be 0 or 1."
        )


def _check_predictions(values: pd.Series, source: str, column: str) -> None:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values):
        raise InvalidInputError(
            f"{source}: prediction column {column!r} contains {_plain(values.iloc[0])!r}, "
            "not a number; "
            "predictions must be positive-class probabilities in [0, 1]."
        )
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(numbers) | (numbers < 0) | (numbers > 1)
    if bool(bad.any()):
        first = _plain(values[bad].iloc[0])
        raise InvalidInputError(
            f"{source}: prediction column {column!r} contains {first!r} "
            f"({int(bad.sum())} value(s) missing or outside [0, 1]); predictions must be "
            "positive-class probabilities in [0, 1]."
        )


def to_utc(values: pd.Series, column: str, source: str) -> pd.Series:
    """Parse ``values`` as timestamps in UTC: naive values are UTC, aware ones are converted.

    Numbers are rejected rather than guessed as epoch seconds, and so are
    missing values. Raises ``InvalidInputError`` naming the first bad value.
    """
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values):
        raise InvalidInputError(
            f"{source}: timestamp column {column!r} contains numbers such as "
            f"{_plain(values.iloc[0])!r}; "
            "write timestamps as ISO 8601 strings such as 2024-03-01 or 2024-03-01T12:00:00Z."
        )
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    missing = parsed.isna()
    if bool(missing.any()):
        first = _plain(values[missing].iloc[0])
        raise InvalidInputError(
            f"{source}: timestamp column {column!r} contains {first!r} "
            f"({int(missing.sum())} missing or unparseable value(s)); use ISO 8601 such as "
            "2024-03-01 or 2024-03-01T12:00:00+02:00."
        )
    if parsed.dt.tz is None:
        return parsed.dt.tz_localize("UTC")
    return parsed.dt.tz_convert("UTC")


def _plain(value: object) -> object:
    """Return a NumPy scalar as the Python value, so messages show ``2`` and not ``np.int64(2)``."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def epoch_seconds(timestamps: pd.Series) -> np.ndarray:
    """Return whole seconds since the Unix epoch of tz-aware UTC ``timestamps`` (floored)."""
    nanoseconds = timestamps.dt.as_unit("ns").astype("int64").to_numpy()
    return np.floor_divide(nanoseconds, 1_000_000_000)
