"""Settings: defaults, parsing from the environment, and errors that name the variable."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from rime_airflow_demo.settings import (
    SETTINGS_DOC,
    Settings,
    SettingsError,
    settings_table_markdown,
)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_cover_generated_window() -> None:
    """The firewall window defaults to the generated production window."""
    settings = Settings.from_env({})
    days = settings.generator.production_days
    assert settings.firewall_start == settings.generator.production_start
    assert settings.firewall_end == settings.firewall_start + timedelta(days=days - 1)
    assert settings.rime_backend == "auto"
    assert settings.data_source == "generated"


def test_home_moves_every_local_path(tmp_path: Path) -> None:
    """RIME_DEMO_HOME moves storage, MLflow store and local engine state together."""
    settings = Settings.from_env({"RIME_DEMO_HOME": str(tmp_path)})
    assert settings.storage_root == str(tmp_path / "storage")
    assert settings.rime_local_root == str(tmp_path / "rime_local")
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_lists_and_dates_parsed() -> None:
    """Comma lists and ISO dates come back typed."""
    settings = Settings.from_env(
        {
            "RIME_DEMO_FEATURE_COLS": "a, b,,c",
            "RIME_DEMO_IGNORED_COLS": "",
            "RIME_DEMO_FIREWALL_START": "2018-08-01",
            "RIME_DEMO_FIREWALL_END": "2018-08-29",
        }
    )
    assert settings.feature_cols == ("a", "b", "c")
    assert settings.ignored_cols == ()
    assert settings.firewall_start == date(2018, 8, 1)
    assert settings.firewall_end == date(2018, 8, 29)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RIME_DEMO_RIME_BACKEND", "cloud"),
        ("RIME_DEMO_DATA_SOURCE", "s3"),
        ("RIME_DEMO_FIREWALL_START", "01/08/2018"),
        ("RIME_DEMO_TEST_FRACTION", "1.5"),
        ("RIME_DEMO_GEN_PRODUCTION_DAYS", "zero"),
    ],
)
def test_invalid_value_names_variable(variable: str, value: str) -> None:
    """An invalid value raises SettingsError naming the variable and the value."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert variable in str(caught.value)
    assert value in str(caught.value)


def test_files_source_needs_path() -> None:
    """Choosing file data without a path names the missing variable."""
    with pytest.raises(SettingsError, match="RIME_DEMO_DATA_PATH"):
        Settings.from_env({"RIME_DEMO_DATA_SOURCE": "files"})


def test_window_end_before_start_rejected() -> None:
    """A firewall window that ends before it starts is rejected."""
    with pytest.raises(SettingsError, match="RIME_DEMO_FIREWALL_END"):
        Settings.from_env(
            {"RIME_DEMO_FIREWALL_START": "2024-03-10", "RIME_DEMO_FIREWALL_END": "2024-03-01"}
        )


def test_public_dict_hides_api_key() -> None:
    """The public view of the settings never contains the API key."""
    settings = Settings.from_env({"RIME_API_KEY": "secret-key-123", "RIME_UPLOAD_URL": "x"})
    public = settings.to_public_dict()
    assert "secret-key-123" not in str(public)
    assert "secret-key-123" not in repr(settings)
    assert public["rime_api_key_set"] == "True"


def test_readme_table_matches_settings() -> None:
    """The README's configuration table is the one rendered from SETTINGS_DOC."""
    assert settings_table_markdown() in README.read_text()


def test_every_documented_variable_is_read() -> None:
    """Every documented variable name appears in the settings module's parsing code."""
    source = (Path(__file__).resolve().parents[2] / "src/rime_airflow_demo/settings.py").read_text()
    for name, _, _ in SETTINGS_DOC:
        suffix = name.removeprefix("RIME_DEMO_")
        assert source.count(f'"{name}"') + source.count(f'}}{suffix}"') >= 2, name
