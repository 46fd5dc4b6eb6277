"""Shared needs of every callable: settings, the RIME client and the run's identity.

This is the one layer that may import Airflow (lazily); everything below it
is plain Python.
"""

from __future__ import annotations

import logging
from typing import Any

from rime_airflow_demo.rime.connect import RimeCredentials, get_client
from rime_airflow_demo.rime.protocol import RimeClient
from rime_airflow_demo.settings import Settings

log = logging.getLogger(__name__)


def load_settings() -> Settings:
    """Read the settings from the environment of the running task."""
    return Settings.from_env()


def _extra_bool(conn_id: str, extras: dict[str, Any], name: str) -> bool:
    """Read a boolean extra that may arrive as JSON true/false or as a string."""
    value = extras.get(name, False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ValueError(
        f"Airflow connection {conn_id!r} has extra {name}={value!r}; use true or false."
    )


def _extra_seconds(conn_id: str, extras: dict[str, Any], name: str, default: float) -> float:
    """Read a positive number of seconds from the connection's extras."""
    value = extras.get(name, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        raise ValueError(
            f"Airflow connection {conn_id!r} has extra {name}={value!r}; "
            "use a positive number of seconds."
        )
    return seconds


def _connection_url(conn_id: str, host: str, schema: str | None, port: int | None) -> str:
    """Build the cluster URL from the host, an optional http/https schema and the port."""
    if "://" in host:
        url = host.rstrip("/")
    elif schema in ("http", "https"):
        url = f"{schema}://{host.rstrip('/')}"
    else:
        url = f"https://{host.rstrip('/')}"
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"Airflow connection {conn_id!r} has host {host!r}; use an http:// or https:// URL."
        )
    if port:
        url = f"{url}:{port}"
    return url


def airflow_connection_credentials(conn_id: str) -> RimeCredentials | None:
    """Return RIME credentials from Airflow connection ``conn_id``, or None if it is undefined.

    The connection's host is the RIME URL (``https://`` is added when it has
    no scheme, unless the schema field is ``http``) and its password the API
    key. Extras may set ``disable_tls`` (bool), ``ssl_ca_cert`` (path) and
    ``channel_timeout`` (seconds, default 180).
    """
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    if not conn.host:
        raise ValueError(
            f"Airflow connection {conn_id!r} has no host; set it to the RIME cluster URL, "
            "e.g. https://my-cluster.rime.dev."
        )
    if not conn.password:
        raise ValueError(
            f"Airflow connection {conn_id!r} has no password; set it to the RIME API key."
        )
    extras: dict[str, Any] = conn.extra_dejson or {}
    ssl_ca_cert = extras.get("ssl_ca_cert")
    return RimeCredentials(
        url=_connection_url(conn_id, conn.host, conn.schema, conn.port),
        api_key=conn.password,
        disable_tls=_extra_bool(conn_id, extras, "disable_tls"),
        ssl_ca_cert=str(ssl_ca_cert) if ssl_ca_cert else None,
        channel_timeout_s=_extra_seconds(conn_id, extras, "channel_timeout", 180.0),
    )


def rime_client(settings: Settings) -> RimeClient:
    """Build the RIME backend for a task: the Airflow connection first, then the environment."""
    credentials = None
    if settings.rime_backend != "local":
        credentials = airflow_connection_credentials(settings.rime_conn_id)
    return get_client(settings, credentials)


def run_identity(context: dict[str, Any]) -> tuple[str, str]:
    """Return ``(dag_id, run_id)`` of the task's DAG run from the Airflow context."""
    return context["dag"].dag_id, context["run_id"]
