"""Daily slicing: every row lands in the UTC day of its instant, whatever zone or format."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rime_airflow_demo.data.daily import (
    day_bounds,
    days_in_interval,
    slice_day,
    slice_interval,
    split_by_day,
    utc_instant,
)
from rime_airflow_demo.data.timestamps import TimestampError

WINDOW_START = date(2024, 3, 1)
WINDOW_DAYS = 3
WINDOW = [WINDOW_START + timedelta(days=offset) for offset in range(WINDOW_DAYS)]

# Instants from two days before the window to two days after it, so rows
# outside the window exist and midnights of every window day can be drawn.
INSTANTS = st.datetimes(
    min_value=datetime(2024, 2, 28),
    max_value=datetime(2024, 3, 5, 23, 59, 59, 999_999),
).map(lambda naive: naive.replace(tzinfo=timezone.utc))

MIDNIGHTS = st.sampled_from(
    [datetime(2024, 2, 28, tzinfo=timezone.utc) + timedelta(days=n) for n in range(7)]
)

BOUNDARY_INSTANTS = MIDNIGHTS.flatmap(
    lambda midnight: st.sampled_from(
        [midnight, midnight - timedelta(microseconds=1), midnight + timedelta(microseconds=1)]
    )
)

ZONES = st.one_of(
    st.timezones(),
    st.integers(min_value=-14 * 60, max_value=14 * 60).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)


def render(instant: datetime, zone: timezone | ZoneInfo, style: str) -> str:
    """Write the UTC ``instant`` as text in ``zone`` using one of several common formats."""
    local = instant.astimezone(zone)
    if style == "iso":
        return local.isoformat()
    if style == "space":
        return local.isoformat(sep=" ")
    if style == "compact_offset":
        return local.strftime("%Y-%m-%dT%H:%M:%S.%f%z")
    if style == "zulu":
        return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if style == "naive_utc":
        return instant.strftime("%Y-%m-%d %H:%M:%S.%f")
    if style == "date_only" and instant.time() == datetime.min.time():
        return instant.strftime("%Y-%m-%d")
    return local.isoformat()


STYLES = st.sampled_from(["iso", "space", "compact_offset", "zulu", "naive_utc", "date_only"])

ROWS = st.lists(
    st.tuples(st.one_of(INSTANTS, BOUNDARY_INSTANTS), ZONES, STYLES), min_size=1, max_size=40
)


def table(rows: list[tuple[datetime, timezone | ZoneInfo, str]]) -> pd.DataFrame:
    """Build a production-like table with a row id, the text timestamp and its true UTC day."""
    return pd.DataFrame(
        {
            "row_id": range(len(rows)),
            "timestamp": [render(instant, zone, style) for instant, zone, style in rows],
            "true_day": [instant.date() for instant, _, _ in rows],
        }
    )


class TestSliceDayProperties:
    """Properties of day slices over random timestamps in random zones and formats."""

    @settings(max_examples=100, deadline=None)
    @given(rows=ROWS)
    def test_union_equals_window(self, rows: list[tuple[datetime, timezone, str]]) -> None:
        """The day slices of the window together hold exactly the rows of the window."""
        df = table(rows)
        sliced = pd.concat([slice_day(df, "timestamp", day) for day in WINDOW])
        expected = set(df.loc[df["true_day"].isin(WINDOW), "row_id"])
        assert set(sliced["row_id"]) == expected
        assert len(sliced) == len(expected)

    @settings(max_examples=100, deadline=None)
    @given(rows=ROWS)
    def test_slices_disjoint(self, rows: list[tuple[datetime, timezone, str]]) -> None:
        """No row appears in two day slices."""
        df = table(rows)
        ids = [set(slice_day(df, "timestamp", day)["row_id"]) for day in WINDOW]
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                assert first.isdisjoint(second)

    @settings(max_examples=100, deadline=None)
    @given(rows=ROWS)
    def test_row_in_day_of_instant(self, rows: list[tuple[datetime, timezone, str]]) -> None:
        """Each row of a day slice has that day as the UTC day of its instant."""
        df = table(rows)
        for day in WINDOW:
            sliced = slice_day(df, "timestamp", day)
            assert (sliced["true_day"] == day).all()

    @settings(max_examples=100, deadline=None)
    @given(rows=ROWS)
    def test_split_matches_slices(self, rows: list[tuple[datetime, timezone, str]]) -> None:
        """``split_by_day`` gives every day the same rows as ``slice_day`` and loses none."""
        df = table(rows)
        parts = split_by_day(df, "timestamp")
        assert sum(len(part) for part in parts.values()) == len(df)
        for day, part in parts.items():
            assert set(part["row_id"]) == set(slice_day(df, "timestamp", day)["row_id"])
            assert (part["true_day"] == day).all()

    @settings(max_examples=50, deadline=None)
    @given(instants=st.lists(INSTANTS, min_size=1, max_size=30), zone=st.timezones())
    def test_aware_column_sliced(self, instants: list[datetime], zone: ZoneInfo) -> None:
        """A tz-aware datetime column in any zone is sliced by its UTC instant."""
        stamps = pd.Series(pd.DatetimeIndex(instants).tz_convert(zone))
        df = pd.DataFrame({"timestamp": stamps, "true_day": [i.date() for i in instants]})
        for day in WINDOW:
            assert (slice_day(df, "timestamp", day)["true_day"] == day).all()
        total = sum(len(slice_day(df, "timestamp", day)) for day in WINDOW)
        assert total == int(df["true_day"].isin(WINDOW).sum())


class TestDayBoundaries:
    """Rows at the edges of a day."""

    def test_midnight_opens_new_day(self) -> None:
        """A row at 00:00:00 UTC belongs to the day that starts then."""
        df = pd.DataFrame({"timestamp": ["2024-03-02T00:00:00Z"]})
        assert len(slice_day(df, "timestamp", date(2024, 3, 2))) == 1
        assert len(slice_day(df, "timestamp", date(2024, 3, 1))) == 0

    def test_last_microsecond_closes_old_day(self) -> None:
        """A row at 23:59:59.999999 UTC belongs to the day that ends after it."""
        df = pd.DataFrame({"timestamp": ["2024-03-01T23:59:59.999999+00:00"]})
        assert len(slice_day(df, "timestamp", date(2024, 3, 1))) == 1
        assert len(slice_day(df, "timestamp", date(2024, 3, 2))) == 0

    def test_offset_moves_row_to_utc_day(self) -> None:
        """23:30 at UTC-01:00 is 00:30 UTC on the next day."""
        df = pd.DataFrame({"timestamp": ["2024-03-01T23:30:00-01:00"]})
        assert len(slice_day(df, "timestamp", date(2024, 3, 2))) == 1
        assert len(slice_day(df, "timestamp", date(2024, 3, 1))) == 0

    def test_date_only_reads_as_utc_midnight(self) -> None:
        """A bare date, as in the public fraud example, belongs to that UTC day."""
        df = pd.DataFrame({"timestamp": ["2018-08-01", "2018-08-02"]})
        assert len(slice_day(df, "timestamp", date(2018, 8, 1))) == 1

    def test_slice_converts_column_to_utc(self) -> None:
        """The sliced frame's timestamp column is tz-aware UTC."""
        df = pd.DataFrame({"timestamp": ["2024-03-01T10:00:00+05:00"]})
        sliced = slice_day(df, "timestamp", date(2024, 3, 1))
        assert str(sliced["timestamp"].dt.tz) == "UTC"
        assert sliced["timestamp"].iloc[0] == pd.Timestamp("2024-03-01T05:00:00Z")


class TestIntervals:
    """Interval bounds and the days they cover."""

    def test_day_bounds_are_utc_midnights(self) -> None:
        """A day spans its UTC midnight to the next one."""
        start, end = day_bounds(date(2024, 3, 1))
        assert start == datetime(2024, 3, 1, tzinfo=timezone.utc)
        assert end == datetime(2024, 3, 2, tzinfo=timezone.utc)

    def test_days_in_one_day_interval(self) -> None:
        """A one-day data interval covers exactly that day."""
        assert days_in_interval(*day_bounds(date(2024, 3, 1))) == [date(2024, 3, 1)]

    def test_days_in_partial_interval(self) -> None:
        """An interval from noon to noon touches two days."""
        days = days_in_interval("2024-03-01T12:00:00Z", "2024-03-02T12:00:00Z")
        assert days == [date(2024, 3, 1), date(2024, 3, 2)]

    def test_days_in_empty_interval(self) -> None:
        """An interval whose end is not after its start covers no day."""
        assert days_in_interval("2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z") == []

    def test_slice_interval_half_open(self) -> None:
        """An interval includes its start and excludes its end."""
        df = pd.DataFrame({"timestamp": ["2024-03-01T06:00:00Z", "2024-03-01T12:00:00Z"]})
        sliced = slice_interval(df, "timestamp", "2024-03-01T06:00:00Z", "2024-03-01T12:00:00Z")
        assert list(sliced["timestamp"]) == [pd.Timestamp("2024-03-01T06:00:00Z")]

    def test_naive_bound_rejected(self) -> None:
        """A bound without an offset is ambiguous and raises."""
        with pytest.raises(ValueError, match="no UTC offset"):
            utc_instant("2024-03-01T00:00:00", "start")

    def test_aware_bound_converted(self) -> None:
        """A bound in another zone is converted to the same UTC instant."""
        assert utc_instant("2024-03-01T01:00:00+01:00") == pd.Timestamp("2024-03-01T00:00:00Z")


class TestBadInput:
    """Errors name the column and the fix."""

    def test_missing_column_rejected(self) -> None:
        """A table without the timestamp column raises and names the column."""
        df = pd.DataFrame({"time": ["2024-03-01"]})
        with pytest.raises(TimestampError, match="'timestamp'"):
            slice_day(df, "timestamp", date(2024, 3, 1))

    def test_unparseable_value_rejected(self) -> None:
        """A value that is not a timestamp raises and shows the value."""
        df = pd.DataFrame({"timestamp": ["2024-03-01", "yesterday"]})
        with pytest.raises(TimestampError, match="'yesterday'"):
            split_by_day(df, "timestamp")
