"""Reference and production data behind one interface, chosen by ``settings.data_source``.

* ``generated``: the built-in synthetic data of ``data.generator``.
* ``files``: ``settings.reference_file`` and ``settings.production_file`` in
  the folder or fsspec URL ``settings.data_path``, read as Parquet when the
  name ends in ``.parquet`` or ``.pq`` and as CSV otherwise.

Both sources return validated frames: labels are int64 0/1, and production
timestamps are tz-aware UTC (naive values are read as UTC). A reference
table may lack the timestamp column; a production table must have it.
Invalid data raise ``DataError`` naming the file and the column or value.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rime_airflow_demo.data.schema import (
    DataError,
    binary_labels,
    require_columns,
    require_rows,
    select_features,
)
from rime_airflow_demo.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DataError",
    "feature_columns",
    "load_production",
    "load_reference",
    "read_table",
    "write_table",
]

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")


def load_reference(settings: Settings) -> pd.DataFrame:
    """Return the validated reference table, which the pipelines split into train and test."""
    if settings.data_source == "generated":
        from rime_airflow_demo.data.generator import generate_reference

        frame = generate_reference(settings.generator)
        source = "generated reference data"
    else:
        source = _file_url(settings, settings.reference_file)
        frame = read_table(source)
    frame = _validate(settings, frame, source, needs_timestamp=False)
    log.info("Loaded %d reference rows from %s", len(frame), source)
    return frame


def load_production(settings: Settings) -> pd.DataFrame:
    """Return the validated production window with a tz-aware UTC timestamp column."""
    if settings.data_source == "generated":
        from rime_airflow_demo.data.generator import generate_production

        frame = generate_production(settings.generator)
        source = "generated production data"
    else:
        source = _file_url(settings, settings.production_file)
        frame = read_table(source)
    frame = _validate(settings, frame, source, needs_timestamp=True)
    log.info("Loaded %d production rows from %s", len(frame), source)
    return frame


def feature_columns(settings: Settings, df: pd.DataFrame) -> list[str]:
    """Return the model's input columns of ``df``.

    These are ``settings.feature_cols`` when set, or else every column except
    the label, the timestamp, the ignored columns (such as ``preds``, an
    upstream model's score) and the prediction column the pipelines add.
    """
    from rime_airflow_demo.data.schema import PREDICTION_COL

    excluded = {settings.label_col, settings.timestamp_col, PREDICTION_COL, *settings.ignored_cols}
    return select_features(
        df, configured=settings.feature_cols, excluded=excluded, source="the data"
    )


def read_table(url: str) -> pd.DataFrame:
    """Read a CSV or Parquet file from a local path or fsspec URL.

    Raises ``DataError`` naming the file when it is missing, empty or unreadable.
    """
    import fsspec
    import pandas as pd

    try:
        with fsspec.open(url, "rb") as handle:
            if url.lower().endswith(PARQUET_SUFFIXES):
                return pd.read_parquet(handle)
            return pd.read_csv(handle)
    except FileNotFoundError as exc:
        raise DataError(
            f"Data file {url!r} not found; check RIME_DEMO_DATA_PATH and the file name settings."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"Data file {url!r} is empty; it needs a header row and data rows."
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"Data file {url!r} could not be read as a table: {exc}") from exc


def write_table(df: pd.DataFrame, url: str) -> None:
    """Write ``df`` to a local path or fsspec URL as Parquet or CSV, by the name's extension."""
    import fsspec

    with fsspec.open(url, "wb") as handle:
        if url.lower().endswith(PARQUET_SUFFIXES):
            df.to_parquet(handle, index=False)
        else:
            df.to_csv(handle, index=False)


def _file_url(settings: Settings, name: str) -> str:
    return f"{settings.data_path.rstrip('/')}/{name}"


def _validate(
    settings: Settings, frame: pd.DataFrame, source: str, *, needs_timestamp: bool
) -> pd.DataFrame:
    from rime_airflow_demo.data.timestamps import TimestampError, to_utc

    require_rows(frame, source)
    frame = frame.copy()
    frame[settings.label_col] = binary_labels(frame, settings.label_col, source)
    if needs_timestamp:
        require_columns(frame, [settings.timestamp_col], source, "timestamp")
    if settings.timestamp_col in frame.columns:
        try:
            frame[settings.timestamp_col] = to_utc(
                frame[settings.timestamp_col], settings.timestamp_col, source
            )
        except TimestampError as exc:
            raise DataError(str(exc)) from exc
    features = feature_columns(settings, frame)
    require_columns(frame, features, source, "feature")
    return frame
