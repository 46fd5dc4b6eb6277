"""Data sources, validation errors and the train/test split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from rime_airflow_demo.data import sources
from rime_airflow_demo.data.sources import DataError
from rime_airflow_demo.data.splits import split_reference
from rime_airflow_demo.settings import GeneratorSettings, Settings

PUBLIC_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "rime_fraud"
needs_public_data = pytest.mark.skipif(
    not (PUBLIC_DATA / "ref.csv").is_file(),
    reason="Robust Intelligence's public fraud example data is not available",
)


def files_settings(folder: Path, **changes: object) -> Settings:
    base = replace(Settings(), data_source="files", data_path=str(folder))
    return replace(base, **changes)


def small_table(rows: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "category": ["Food", None] * (rows // 2),
            "transaction_amount": [float(i) for i in range(rows)],
            "preds": [0.5] * rows,
            "label": [0, 1] * (rows // 2),
        }
    )


def with_timestamps(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["timestamp"] = ["2024-03-01"] * (len(frame) - 1) + ["2024-03-02T10:00:00+02:00"]
    return frame


def write(frame: pd.DataFrame, folder: Path, name: str) -> None:
    sources.write_table(frame, str(folder / name))


class TestGeneratedSource:
    def test_reference_labels_are_int(self) -> None:
        """Generated reference labels are int64 0/1."""
        settings = replace(Settings(), generator=GeneratorSettings(reference_rows=200))
        frame = sources.load_reference(settings)
        assert frame["label"].dtype == "int64"

    def test_production_timestamps_are_utc(self) -> None:
        """Generated production timestamps are tz-aware UTC."""
        settings = replace(
            Settings(), generator=GeneratorSettings(production_days=2, rows_per_day=50)
        )
        frame = sources.load_production(settings)
        assert str(frame["timestamp"].dt.tz) == "UTC"


class TestFileSource:
    def test_csv_reference_loads(self, tmp_path: Path) -> None:
        """A CSV reference file loads with its rows."""
        write(small_table(), tmp_path, "ref.csv")
        frame = sources.load_reference(files_settings(tmp_path))
        assert len(frame) == 20

    def test_parquet_production_loads(self, tmp_path: Path) -> None:
        """A Parquet production file loads, chosen by its extension."""
        write(with_timestamps(small_table()), tmp_path, "prod.parquet")
        settings = files_settings(tmp_path, production_file="prod.parquet")
        frame = sources.load_production(settings)
        assert len(frame) == 20

    def test_production_timestamps_parsed_to_utc(self, tmp_path: Path) -> None:
        """Naive dates are read as UTC and offsets are converted to UTC."""
        write(with_timestamps(small_table()), tmp_path, "incremental.csv")
        frame = sources.load_production(files_settings(tmp_path))
        assert frame["timestamp"].iloc[-1] == pd.Timestamp("2024-03-02T08:00:00Z")

    def test_feature_columns_skip_label_and_ignored(self, tmp_path: Path) -> None:
        """Features are every column but the label, timestamp and ignored ones."""
        settings = files_settings(tmp_path)
        assert sources.feature_columns(settings, with_timestamps(small_table())) == [
            "category",
            "transaction_amount",
        ]

    def test_configured_feature_columns_win(self, tmp_path: Path) -> None:
        """Configured feature columns are used as given."""
        settings = files_settings(tmp_path, feature_cols=("transaction_amount",))
        assert sources.feature_columns(settings, small_table()) == ["transaction_amount"]


class TestFileValidation:
    def error_of(self, settings: Settings, production: bool = False) -> str:
        loader = sources.load_production if production else sources.load_reference
        with pytest.raises(DataError) as info:
            loader(settings)
        return str(info.value)

    def test_missing_file_names_path(self, tmp_path: Path) -> None:
        """A missing file is reported with its path."""
        message = self.error_of(files_settings(tmp_path))
        assert str(tmp_path / "ref.csv") in message

    def test_empty_file_names_path(self, tmp_path: Path) -> None:
        """An empty file is reported as empty, with its path."""
        (tmp_path / "ref.csv").write_text("")
        message = self.error_of(files_settings(tmp_path))
        assert "ref.csv" in message
        assert "empty" in message

    def test_header_only_file_has_no_rows(self, tmp_path: Path) -> None:
        """A file with a header and no rows is rejected."""
        (tmp_path / "ref.csv").write_text("category,transaction_amount,label\n")
        message = self.error_of(files_settings(tmp_path))
        assert "has no rows" in message

    def test_missing_label_column_named(self, tmp_path: Path) -> None:
        """A file without the label column names the file and the column."""
        write(small_table().drop(columns="label"), tmp_path, "ref.csv")
        message = self.error_of(files_settings(tmp_path))
        assert "ref.csv" in message
        assert "'label'" in message

    def test_non_binary_label_named(self, tmp_path: Path) -> None:
        """A label outside 0/1 is reported with the value found."""
        table = small_table()
        table.loc[3, "label"] = 2
        write(table, tmp_path, "ref.csv")
        message = self.error_of(files_settings(tmp_path))
        assert "not binary" in message
        assert "2" in message

    def test_text_label_rejected(self, tmp_path: Path) -> None:
        """A text label such as 'fraud' is not binary."""
        table = small_table().astype({"label": "object"})
        table.loc[0, "label"] = "fraud"
        write(table, tmp_path, "ref.csv")
        message = self.error_of(files_settings(tmp_path))
        assert "'fraud'" in message

    def test_missing_label_value_rejected(self, tmp_path: Path) -> None:
        """A row without a label is rejected."""
        table = small_table().astype({"label": "float64"})
        table.loc[0, "label"] = None
        write(table, tmp_path, "ref.csv")
        message = self.error_of(files_settings(tmp_path))
        assert "missing value" in message

    def test_missing_timestamp_column_named(self, tmp_path: Path) -> None:
        """Production data without the timestamp column names the file and the column."""
        write(small_table(), tmp_path, "incremental.csv")
        message = self.error_of(files_settings(tmp_path), production=True)
        assert "incremental.csv" in message
        assert "'timestamp'" in message

    def test_unparseable_timestamp_named(self, tmp_path: Path) -> None:
        """A timestamp that does not parse is reported with its value."""
        table = with_timestamps(small_table())
        table.loc[2, "timestamp"] = "yesterday-ish"
        write(table, tmp_path, "incremental.csv")
        message = self.error_of(files_settings(tmp_path), production=True)
        assert "'yesterday-ish'" in message

    def test_missing_feature_column_named(self, tmp_path: Path) -> None:
        """A configured feature that the file lacks is named."""
        write(small_table(), tmp_path, "ref.csv")
        settings = files_settings(tmp_path, feature_cols=("category", "card_type"))
        message = self.error_of(settings)
        assert "'card_type'" in message

    def test_no_feature_columns_rejected(self, tmp_path: Path) -> None:
        """A file with only label and ignored columns has no features."""
        write(small_table()[["preds", "label"]], tmp_path, "ref.csv")
        message = self.error_of(files_settings(tmp_path))
        assert "no feature column" in message


class TestSplit:
    def test_split_sizes_follow_fraction(self) -> None:
        """The test split contains test_fraction of the rows."""
        train, test = split_reference(small_table(100), "label", 0.2, seed=1)
        assert (len(train), len(test)) == (80, 20)

    def test_split_is_stratified(self) -> None:
        """Both splits keep the fraud rate."""
        train, test = split_reference(small_table(100), "label", 0.2, seed=1)
        assert train["label"].mean() == test["label"].mean()

    def test_split_is_deterministic(self) -> None:
        """The same seed gives the same split."""
        first = split_reference(small_table(100), "label", 0.2, seed=1)[1]
        second = split_reference(small_table(100), "label", 0.2, seed=1)[1]
        pd.testing.assert_frame_equal(first, second)

    def test_split_rejects_single_fraud_row(self) -> None:
        """A class with one row cannot be split and is reported."""
        table = small_table(20)
        table["label"] = 0
        table.loc[0, "label"] = 1
        with pytest.raises(DataError, match="1 row"):
            split_reference(table, "label", 0.2, seed=1)


@needs_public_data
class TestPublicExampleData:
    def settings(self) -> Settings:
        return files_settings(PUBLIC_DATA)

    def test_reference_loads_all_rows(self) -> None:
        """The public reference file loads its 10,000 rows."""
        assert len(sources.load_reference(self.settings())) == 10_000

    def test_production_timestamps_cover_august(self) -> None:
        """Production dates become UTC midnights from 2018-08-01 to 2018-08-29."""
        frame = sources.load_production(self.settings())
        days = frame["timestamp"].dt.strftime("%Y-%m-%d")
        assert (days.min(), days.max()) == ("2018-08-01", "2018-08-29")

    def test_preds_is_not_a_feature(self) -> None:
        """The upstream model's score is not a feature."""
        frame = sources.load_reference(self.settings())
        assert "preds" not in sources.feature_columns(self.settings(), frame)
