"""Daily slices of production data: which rows belong to which UTC day or interval.

Every function here is pure (no I/O). A row belongs to the UTC day of its
timestamp's instant, whatever zone or format the source wrote it in, so a day
``D`` contains exactly the rows with ``D 00:00:00 <= t < D+1 00:00:00`` in UTC:
midnight opens the new day and ``23:59:59.999999`` still closes the old one.
Intervals are half-open, ``[start, end)``, as Airflow's data intervals are.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from rime_airflow_demo.data.timestamps import to_utc

if TYPE_CHECKING:
    import pandas as pd

ONE_DAY = timedelta(days=1)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` of ``day`` in UTC: its midnight and the next one."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return start, start + ONE_DAY


def utc_instant(value: datetime | str, name: str = "instant") -> pd.Timestamp:
    """Return ``value`` as a tz-aware UTC ``pandas.Timestamp``.

    Raises ``ValueError`` for a naive value, because an interval bound without
    an offset is ambiguous; Airflow passes tz-aware data interval bounds.
    """
    import pandas as pd

    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(
            f"{name}={value!r} has no UTC offset; pass a tz-aware value such as "
            "2024-03-01T00:00:00+00:00."
        )
    return stamp.tz_convert("UTC")


def days_in_interval(start: datetime | str, end: datetime | str) -> list[date]:
    """Return every UTC day that overlaps ``[start, end)``, in order (empty when end <= start)."""
    first = utc_instant(start, "start")
    last = utc_instant(end, "end")
    if last <= first:
        return []
    days = []
    day = first.date()
    while day_bounds(day)[0] < last:
        days.append(day)
        day += ONE_DAY
    return days


def utc_timestamps(df: pd.DataFrame, timestamp_col: str, source: str) -> pd.Series:
    """Return ``df[timestamp_col]`` parsed as tz-aware UTC; raise ``TimestampError`` if invalid."""
    from rime_airflow_demo.data.timestamps import TimestampError

    if timestamp_col not in df.columns:
        raise TimestampError(
            f"{source} has no timestamp column {timestamp_col!r}; columns are "
            f"{list(df.columns)}. Set RIME_DEMO_TIMESTAMP_COL to the right column."
        )
    return to_utc(df[timestamp_col], timestamp_col, source)


def slice_interval(
    df: pd.DataFrame,
    timestamp_col: str,
    start: datetime | str,
    end: datetime | str,
    source: str = "production data",
) -> pd.DataFrame:
    """Return the rows of ``df`` whose timestamp lies in ``[start, end)`` (UTC instants).

    The result keeps the original row order and index, with the timestamp
    column converted to tz-aware UTC.
    """
    lower = utc_instant(start, "start")
    upper = utc_instant(end, "end")
    timestamps = utc_timestamps(df, timestamp_col, source)
    inside = (timestamps >= lower) & (timestamps < upper)
    selected = df.loc[inside].copy()
    selected[timestamp_col] = timestamps[inside]
    return selected


def slice_day(
    df: pd.DataFrame, timestamp_col: str, day: date, source: str = "production data"
) -> pd.DataFrame:
    """Return the rows of ``df`` whose timestamp falls on the UTC day ``day``."""
    start, end = day_bounds(day)
    return slice_interval(df, timestamp_col, start, end, source)


def split_by_day(
    df: pd.DataFrame, timestamp_col: str, source: str = "production data"
) -> dict[date, pd.DataFrame]:
    """Split ``df`` into one frame per UTC day that has rows, keyed by day in ascending order.

    Every row lands in exactly one frame; the timestamp column of each frame
    is tz-aware UTC.
    """
    timestamps = utc_timestamps(df, timestamp_col, source)
    frame = df.copy()
    frame[timestamp_col] = timestamps
    day_keys = timestamps.dt.floor("D").dt.date
    return {day: group for day, group in frame.groupby(day_keys, sort=True)}
