"""RIME credentials from the Airflow connection ``rime_default`` (``AIRFLOW_CONN_*`` env var)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rime_airflow_demo.pipelines.common import airflow_connection_credentials

CONN_ID = "rime_default"
ENV_VAR = "AIRFLOW_CONN_RIME_DEFAULT"
KEY = "connection-test-api-key"


def set_connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    connection = {"conn_type": "http", "host": "http://127.0.0.1", "password": KEY, **fields}
    monkeypatch.setenv(ENV_VAR, json.dumps(connection))


def test_connection_url_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Host and port form the URL and the password is the API key."""
    set_connection(monkeypatch, port=8443)
    credentials = airflow_connection_credentials(CONN_ID)
    assert credentials is not None
    assert credentials.url == "http://127.0.0.1:8443"
    assert credentials.api_key == KEY


def test_connection_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Extras set TLS, the CA bundle and the channel timeout."""
    extras = {"disable_tls": True, "ssl_ca_cert": "/etc/ca.pem", "channel_timeout": 30}
    set_connection(monkeypatch, extra=extras)
    credentials = airflow_connection_credentials(CONN_ID)
    assert credentials is not None
    assert credentials.disable_tls is True
    assert credentials.ssl_ca_cert == "/etc/ca.pem"
    assert credentials.channel_timeout_s == pytest.approx(30.0)


def test_connection_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without extras, TLS stays on and the channel timeout is 180 s."""
    set_connection(monkeypatch)
    credentials = airflow_connection_credentials(CONN_ID)
    assert credentials is not None
    assert credentials.disable_tls is False
    assert credentials.channel_timeout_s == pytest.approx(180.0)


@pytest.mark.parametrize(("text", "expected"), [("false", False), ("true", True), ("0", False)])
def test_connection_string_bool_extra(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    """A disable_tls extra written as text is read as the boolean it names."""
    set_connection(monkeypatch, extra={"disable_tls": text})
    credentials = airflow_connection_credentials(CONN_ID)
    assert credentials is not None
    assert credentials.disable_tls is expected


def test_connection_host_without_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host without a scheme gets https://."""
    set_connection(monkeypatch, host="localhost")
    credentials = airflow_connection_credentials(CONN_ID)
    assert credentials is not None
    assert credentials.url == "https://localhost"


def test_connection_http_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """A schema of http selects http:// for a bare host."""
    set_connection(monkeypatch, host="localhost", schema="http")
    credentials = airflow_connection_credentials(CONN_ID)
    assert credentials is not None
    assert credentials.url == "http://localhost"


def test_connection_repr_hides_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The credentials' repr does not show the API key."""
    set_connection(monkeypatch)
    assert KEY not in repr(airflow_connection_credentials(CONN_ID))


def test_connection_not_defined(monkeypatch: pytest.MonkeyPatch) -> None:
    """An undefined connection gives None."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert airflow_connection_credentials(CONN_ID) is None


def test_connection_missing_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection without a password names the field to set."""
    set_connection(monkeypatch, password="")
    with pytest.raises(ValueError, match="no password"):
        airflow_connection_credentials(CONN_ID)


def test_connection_missing_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection without a host names the field to set."""
    set_connection(monkeypatch, host="")
    with pytest.raises(ValueError, match="no host"):
        airflow_connection_credentials(CONN_ID)


def test_connection_bad_bool_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A disable_tls extra that is not a boolean is rejected with its value."""
    set_connection(monkeypatch, extra={"disable_tls": "maybe"})
    with pytest.raises(ValueError, match="'maybe'"):
        airflow_connection_credentials(CONN_ID)


def test_connection_bad_timeout_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A channel_timeout that is not a positive number is rejected with its value."""
    set_connection(monkeypatch, extra={"channel_timeout": "soon"})
    with pytest.raises(ValueError, match="'soon'"):
        airflow_connection_credentials(CONN_ID)
