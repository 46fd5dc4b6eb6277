"""Errors raised by every ``RimeClient`` backend.

::

    RimeError
    ├── NotFoundError          a project, model, dataset, job or firewall id is unknown
    ├── AlreadyExistsError     a name is taken and the call cannot reuse it
    ├── InvalidInputError      bad argument or data (also a ValueError)
    ├── UnauthorizedError      missing, invalid or expired API key
    ├── TransientError         429, 503, connection refused: safe to retry
    ├── JobFailedError         a stress test or continuous test job failed
    └── JobTimeoutError        a job did not finish within the configured timeout

Callables retry on ``TransientError`` (Airflow task retries) and fail fast on
the rest. Messages name the id or value involved and never contain a secret.
"""

from __future__ import annotations


class RimeError(Exception):
    """Base class of every error a RIME backend raises."""


class NotFoundError(RimeError):
    """The requested project, model, dataset, job or firewall does not exist."""


class AlreadyExistsError(RimeError):
    """An object with that name already exists and cannot be reused."""


class InvalidInputError(RimeError, ValueError):
    """An argument or a dataset is invalid; the message names the value and the fix."""


class UnauthorizedError(RimeError):
    """The API key is missing, invalid or expired."""


class TransientError(RimeError):
    """A temporary failure (rate limit, unavailable service, refused connection)."""


class JobFailedError(RimeError):
    """A RIME job ended in a failed or cancelled state."""

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobTimeoutError(RimeError):
    """A RIME job did not finish within the timeout."""

    def __init__(self, message: str, job_id: str, timeout_s: float) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.timeout_s = timeout_s
