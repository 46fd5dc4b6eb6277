"""The built-in generator: deterministic, realistic fraud rate, visible drift."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pandas as pd
import pytest

from rime_airflow_demo.data import generator
from rime_airflow_demo.data.schema import FEATURES, LABEL, TIMESTAMP
from rime_airflow_demo.settings import GeneratorSettings

SMALL = GeneratorSettings(
    seed=7,
    reference_rows=3000,
    production_start=date(2024, 3, 1),
    production_days=6,
    rows_per_day=800,
    drift_start_day=3,
)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return generator.generate_reference(SMALL)


@pytest.fixture(scope="module")
def production() -> pd.DataFrame:
    return generator.generate_production(SMALL)


def day_index(frame: pd.DataFrame) -> pd.Series:
    start = pd.Timestamp(SMALL.production_start, tz="UTC")
    return (frame[TIMESTAMP] - start).dt.days


def test_reference_same_seed_same_rows(reference: pd.DataFrame) -> None:
    """Generating the reference table twice with one seed gives identical frames."""
    pd.testing.assert_frame_equal(reference, generator.generate_reference(SMALL))


def test_reference_other_seed_differs(reference: pd.DataFrame) -> None:
    """Another seed gives other rows."""
    other = generator.generate_reference(replace(SMALL, seed=8))
    assert not other.equals(reference)


def test_production_same_seed_same_rows(production: pd.DataFrame) -> None:
    """Generating the production window twice with one seed gives identical frames."""
    pd.testing.assert_frame_equal(production, generator.generate_production(SMALL))


def test_production_day_independent_of_window_length(production: pd.DataFrame) -> None:
    """A day's rows stay the same when the window gets longer."""
    longer = generator.generate_production(replace(SMALL, production_days=8))
    first_day = production[day_index(production) == 0].reset_index(drop=True)
    longer_first_day = longer[day_index(longer) == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(first_day, longer_first_day)


def test_reference_columns_follow_public_schema(reference: pd.DataFrame) -> None:
    """The reference table has the public example's features and label, without timestamps."""
    assert list(reference.columns) == [*FEATURES, LABEL]


def test_production_columns_include_timestamp(production: pd.DataFrame) -> None:
    """Production rows add a timestamp column before the label."""
    assert list(production.columns) == [*FEATURES, TIMESTAMP, LABEL]


def test_reference_fraud_rate_is_a_few_percent(reference: pd.DataFrame) -> None:
    """Between 1% and 8% of reference transactions are fraud."""
    rate = reference[LABEL].mean()
    assert 0.01 <= rate <= 0.08


def test_labels_are_binary(reference: pd.DataFrame) -> None:
    """Labels are the integers 0 and 1."""
    assert set(reference[LABEL].unique()) == {0, 1}


@pytest.mark.parametrize("column", ["category", "card_type", "card_company"])
def test_reference_has_missing_categories(reference: pd.DataFrame, column: str) -> None:
    """Some categorical columns have missing values, as in the public example."""
    assert reference[column].isna().any()


def test_production_timestamps_are_utc(production: pd.DataFrame) -> None:
    """Timestamps are tz-aware UTC."""
    assert str(production[TIMESTAMP].dt.tz) == "UTC"


def test_production_rows_per_day(production: pd.DataFrame) -> None:
    """Each day of the window has rows_per_day rows."""
    counts = day_index(production).value_counts().sort_index()
    assert counts.to_dict() == dict.fromkeys(range(SMALL.production_days), SMALL.rows_per_day)


def test_production_timestamps_spread_within_day(production: pd.DataFrame) -> None:
    """Timestamps of a day cover most of its 24 hours rather than one instant."""
    first_day = production[day_index(production) == 0][TIMESTAMP]
    assert first_day.dt.hour.nunique() >= 20


def test_drift_raises_amounts_from_start_day(production: pd.DataFrame) -> None:
    """The median amount at least doubles from drift_start_day on."""
    drifted = day_index(production) >= SMALL.drift_start_day
    before = production.loc[~drifted, "transaction_amount"].median()
    after = production.loc[drifted, "transaction_amount"].median()
    assert after > 2 * before


def test_drift_adds_new_browser_only_from_start_day(production: pd.DataFrame) -> None:
    """The new browser version appears on drifted days and never before."""
    new_browser = production["browser_version"] == generator.NEW_BROWSER
    first_day = day_index(production[new_browser]).min()
    assert first_day == SMALL.drift_start_day


def test_drift_changes_country_mix(production: pd.DataFrame) -> None:
    """Brazil's share of transactions grows from drift_start_day on."""
    drifted = day_index(production) >= SMALL.drift_start_day
    before = (production.loc[~drifted, "country"] == "BRA").mean()
    after = (production.loc[drifted, "country"] == "BRA").mean()
    assert after > before + 0.1


def test_write_files_round_trip(tmp_path, reference: pd.DataFrame) -> None:
    """write_files writes both tables in the format their names ask for."""
    ref_path, prod_path = generator.write_files(SMALL, tmp_path, "ref.parquet", "prod.csv")
    assert len(pd.read_parquet(ref_path)) == SMALL.reference_rows
    assert len(pd.read_csv(prod_path)) == SMALL.production_days * SMALL.rows_per_day
