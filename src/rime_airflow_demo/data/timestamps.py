"""Timestamps as UTC instants, whatever zone or format the source used."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


class TimestampError(ValueError):
    """A timestamp column is missing or contains values that are not timestamps."""


def to_utc(values: pd.Series, column: str, source: str) -> pd.Series:
    """Parse ``values`` into tz-aware UTC timestamps.

    Naive values (dates, or date-times without an offset) are read as UTC;
    values with an offset, or an already tz-aware column, are converted to
    UTC. Numbers are rejected rather than guessed as epoch seconds or
    milliseconds. Raises ``TimestampError`` naming ``source``, ``column``
    and the first value that does not parse.
    """
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    elif pd.api.types.is_numeric_dtype(values):
        raise TimestampError(
            f"{source}: column {column!r} contains numbers, not timestamps; "
            "write them as ISO 8601 strings such as 2024-03-01T12:00:00Z."
        )
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        bad = parsed.isna() & values.notna()
        if bool(bad.any()):
            first = values[bad].iloc[0]
            raise TimestampError(
                f"{source}: column {column!r} has {int(bad.sum())} unparseable value(s), "
                f"first {first!r}; use ISO 8601 such as 2024-03-01 or 2024-03-01T12:00:00+02:00."
            )
    naive = parsed.dt.tz is None
    parsed = parsed.dt.tz_localize("UTC") if naive else parsed.dt.tz_convert("UTC")
    if bool(parsed.isna().any()):
        raise TimestampError(
            f"{source}: column {column!r} has {int(parsed.isna().sum())} missing timestamp(s); "
            "every production row needs one."
        )
    return parsed
