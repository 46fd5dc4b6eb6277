"""Day partitions of the production source: exact days, rebuilt on change, read per day."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from rime_airflow_demo.data import day_partitions, sources
from rime_airflow_demo.data.daily import day_bounds
from rime_airflow_demo.data.day_partitions import partition_folder, read_interval
from rime_airflow_demo.data.schema import DataError
from rime_airflow_demo.settings import Settings

ROWS = [
    ("2024-03-01T00:00:00Z", 1.0, 0),
    ("2024-03-01T23:59:59.999999+00:00", 2.0, 1),
    ("2024-03-01T23:30:00-01:00", 3.0, 0),  # 00:30 UTC on 2024-03-02
    ("2024-03-02 12:00:00", 4.0, 1),
    ("2024-03-04T01:00:00+02:00", 5.0, 0),  # 23:00 UTC on 2024-03-03
]


def write_production(folder: Path, rows: list[tuple[str, float, int]]) -> Path:
    """Write a small production CSV with mixed timestamp formats and zones."""
    path = folder / "incremental.csv"
    frame = pd.DataFrame(rows, columns=["timestamp", "amount", "label"])
    frame.to_csv(path, index=False)
    return path


def file_settings(tmp_path: Path) -> Settings:
    """Settings that read production files from ``tmp_path/data``."""
    return Settings.from_env(
        {
            "RIME_DEMO_HOME": str(tmp_path),
            "RIME_DEMO_DATA_SOURCE": "files",
            "RIME_DEMO_DATA_PATH": str(tmp_path / "data"),
        }
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """File-based settings with the five rows above on disk."""
    (tmp_path / "data").mkdir()
    write_production(tmp_path / "data", ROWS)
    return file_settings(tmp_path)


def read_day(settings: Settings, day: date) -> pd.DataFrame:
    """Read one UTC day through the partitions."""
    return read_interval(settings, *day_bounds(day))


class TestReadInterval:
    """Reading a day returns exactly its rows."""

    def test_day_rows_exact(self, settings: Settings) -> None:
        """Each day contains the rows of its UTC instants."""
        assert sorted(read_day(settings, date(2024, 3, 1))["amount"]) == [1.0, 2.0]
        assert sorted(read_day(settings, date(2024, 3, 2))["amount"]) == [3.0, 4.0]
        assert sorted(read_day(settings, date(2024, 3, 3))["amount"]) == [5.0]

    def test_window_rows_add_up(self, settings: Settings) -> None:
        """The days of the window together hold every row once."""
        days = [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
        total = sum(len(read_day(settings, day)) for day in days)
        assert total == len(ROWS)

    def test_empty_day_keeps_columns(self, settings: Settings) -> None:
        """A day without rows returns an empty frame with the source's columns."""
        empty = read_day(settings, date(2024, 3, 9))
        assert empty.empty
        assert list(empty.columns) == ["timestamp", "amount", "label"]

    def test_timestamps_utc(self, settings: Settings) -> None:
        """Timestamps come back tz-aware in UTC."""
        frame = read_day(settings, date(2024, 3, 2))
        assert str(frame["timestamp"].dt.tz) == "UTC"

    def test_partial_interval_sliced(self, settings: Settings) -> None:
        """An interval shorter than a day keeps only its own rows."""
        frame = read_interval(settings, "2024-03-01T12:00:00Z", "2024-03-02T01:00:00Z")
        assert sorted(frame["amount"]) == [2.0, 3.0]

    def test_day_files_written(self, settings: Settings) -> None:
        """The source is split into one Parquet file per day with rows."""
        read_day(settings, date(2024, 3, 1))
        names = sorted(p.name for p in partition_folder(settings.storage_root).glob("day=*"))
        expected = [f"day=2024-03-0{n}.parquet" for n in (1, 2, 3)]
        assert names == expected


class TestRebuild:
    """Partitions follow the source and are not rebuilt needlessly."""

    def test_source_read_once(self, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """After the first build, reading other days does not load the whole source again."""
        calls = []
        original = sources.load_production

        def counting(current: Settings) -> pd.DataFrame:
            calls.append(current)
            return original(current)

        monkeypatch.setattr(sources, "load_production", counting)
        for day in (date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)):
            read_day(settings, day)
        assert len(calls) == 1

    def test_changed_file_rebuilds(self, settings: Settings, tmp_path: Path) -> None:
        """Replacing the production file replaces the partitions."""
        read_day(settings, date(2024, 3, 1))
        path = write_production(tmp_path / "data", [("2024-03-05T08:00:00Z", 9.0, 1)])
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        assert read_day(settings, date(2024, 3, 1)).empty
        assert list(read_day(settings, date(2024, 3, 5))["amount"]) == [9.0]

    def test_fingerprint_follows_settings(self, tmp_path: Path) -> None:
        """Generated data with another seed gets another fingerprint."""
        first = Settings.from_env({"RIME_DEMO_HOME": str(tmp_path)})
        second = Settings.from_env({"RIME_DEMO_HOME": str(tmp_path), "RIME_DEMO_SEED": "7"})
        assert day_partitions.source_fingerprint(first) != day_partitions.source_fingerprint(second)

    def test_generated_window_adds_up(self, tmp_path: Path) -> None:
        """Every generated row lands in exactly one day of the window."""
        settings = Settings.from_env(
            {
                "RIME_DEMO_HOME": str(tmp_path),
                "RIME_DEMO_GEN_PRODUCTION_DAYS": "3",
                "RIME_DEMO_GEN_ROWS_PER_DAY": "20",
                "RIME_DEMO_GEN_REFERENCE_ROWS": "100",
            }
        )
        start = settings.generator.production_start
        counts = [
            len(read_day(settings, date.fromordinal(start.toordinal() + n))) for n in range(3)
        ]
        assert counts == [20, 20, 20]


class TestBadSource:
    """Errors name the file and the fix."""

    def test_missing_file_rejected(self, tmp_path: Path) -> None:
        """A missing production file raises ``DataError`` naming it."""
        settings = file_settings(tmp_path)
        with pytest.raises(DataError, match=r"incremental\.csv"):
            read_day(settings, date(2024, 3, 1))
