"""Backend choice: explicit, never a silent fall back, errors naming the missing variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from rime_airflow_demo.rime.connect import (
    RimeCredentials,
    credentials_from_settings,
    get_client,
)
from rime_airflow_demo.rime.errors import UnauthorizedError
from rime_airflow_demo.settings import Settings


def test_no_credentials_means_none() -> None:
    """Without key and URL there are no credentials."""
    assert credentials_from_settings(Settings.from_env({})) is None


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"RIME_API_KEY": "k"}, "RIME_UPLOAD_URL"),
        ({"RIME_UPLOAD_URL": "http://127.0.0.1:1"}, "RIME_API_KEY"),
    ],
)
def test_half_credentials_name_missing_variable(env: dict[str, str], missing: str) -> None:
    """Only one of key and URL raises an error naming the other."""
    with pytest.raises(UnauthorizedError, match=missing):
        credentials_from_settings(Settings.from_env(env))


def test_sdk_backend_without_credentials_rejected() -> None:
    """Asking for the sdk backend without credentials never falls back to local."""
    settings = Settings.from_env({"RIME_DEMO_RIME_BACKEND": "sdk"})
    with pytest.raises(UnauthorizedError, match="RIME_API_KEY"):
        get_client(settings)


def test_auto_without_credentials_is_local(tmp_path: Path) -> None:
    """The auto backend picks the local engine when no credentials exist."""
    from rime_airflow_demo.rime.local import LocalRimeClient

    settings = Settings.from_env({"RIME_DEMO_HOME": str(tmp_path)})
    assert isinstance(get_client(settings), LocalRimeClient)


def test_credentials_repr_hides_key() -> None:
    """The credentials' repr never shows the API key."""
    credentials = RimeCredentials(url="https://cluster.example", api_key="very-secret")
    assert "very-secret" not in repr(credentials)
