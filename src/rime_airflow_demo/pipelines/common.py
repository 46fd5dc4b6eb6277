"""What every callable needs: settings, the RIME client and the run's identity.

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


def airflow_connection_credentials(conn_id: str) -> RimeCredentials | None:
    """Return RIME credentials from the Airflow connection ``conn_id``, or None if it is not defined.

    The connection's host is the RIME URL and its password the API key;
    extras may set ``disable_tls`` (bool), ``ssl_ca_cert`` (path) and
    ``channel_timeout`` (seconds).
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
    url = conn.host if "://" in conn.host else f"https://{conn.host}"
    if conn.port:
        url = f"{url}:{conn.port}"
    return RimeCredentials(
        url=url,
        api_key=conn.password,
        disable_tls=bool(extras.get("disable_tls", False)),
        ssl_ca_cert=extras.get("ssl_ca_cert"),
        channel_timeout_s=float(extras.get("channel_timeout", 180.0)),
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
