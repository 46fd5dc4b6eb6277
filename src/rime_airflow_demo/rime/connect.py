"""Choose the RIME backend from settings.

``auto`` picks the rime-sdk adapter when credentials exist and the local
engine otherwise. Asking for ``sdk`` without credentials is an error that
names the missing variable, never a silent fall back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rime_airflow_demo.rime.protocol import RimeClient
from rime_airflow_demo.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RimeCredentials:
    """URL, API key and TLS options of a RIME cluster. ``repr`` hides the API key."""

    url: str
    api_key: str = field(repr=False)
    disable_tls: bool = False
    ssl_ca_cert: str | None = None
    channel_timeout_s: float = 180.0


def credentials_from_settings(settings: Settings) -> RimeCredentials | None:
    """Return credentials from ``RIME_API_KEY`` and ``RIME_UPLOAD_URL``; None if neither is set."""
    if not settings.rime_api_key and not settings.rime_upload_url:
        return None
    missing = [
        name
        for name, value in (
            ("RIME_API_KEY", settings.rime_api_key),
            ("RIME_UPLOAD_URL", settings.rime_upload_url),
        )
        if not value
    ]
    if missing:
        from rime_airflow_demo.rime.errors import UnauthorizedError

        raise UnauthorizedError(
            f"RIME credentials are incomplete: {', '.join(missing)} is not set. "
            "Set both RIME_API_KEY and RIME_UPLOAD_URL, or configure the Airflow "
            f"connection {settings.rime_conn_id!r}."
        )
    return RimeCredentials(url=settings.rime_upload_url, api_key=settings.rime_api_key)


def get_client(settings: Settings, credentials: RimeCredentials | None = None) -> RimeClient:
    """Build the backend that ``settings.rime_backend`` selects.

    ``credentials`` come from the caller (the Airflow connection); when None,
    the environment variables are used.
    """
    if credentials is None:
        credentials = credentials_from_settings(settings)
    backend = settings.rime_backend
    if backend == "auto":
        backend = "sdk" if credentials is not None else "local"
    if backend == "sdk":
        if credentials is None:
            from rime_airflow_demo.rime.errors import UnauthorizedError

            raise UnauthorizedError(
                "RIME_DEMO_RIME_BACKEND='sdk' needs credentials: set RIME_API_KEY and "
                f"RIME_UPLOAD_URL, or the Airflow connection {settings.rime_conn_id!r}."
            )
        from rime_airflow_demo.rime.sdk import SdkRimeClient

        log.info("Using the RIME cluster at %s through rime-sdk", credentials.url)
        return SdkRimeClient(
            credentials,
            job_timeout_s=settings.rime_job_timeout_s,
            poll_interval_s=settings.rime_poll_interval_s,
        )
    from rime_airflow_demo.rime.local import LocalRimeClient

    log.info("Using the local RIME engine at %s", settings.rime_local_root)
    return LocalRimeClient(settings.rime_local_root)
