"""The one place where rime-sdk, urllib3 and requests errors become ``rime.errors`` errors.

rime-sdk 2.13 reports most failures as ``ValueError``: its REST error handler
turns the swagger ``ApiException`` into ``ValueError("<reason>: <message>")``
and raises it while handling the original, so the ``ApiException`` (with its
HTTP status) remains reachable through ``__context__``. Retries exhausted by
urllib3 (429 and 503 on GET, PUT and DELETE, refused connections) arrive as
``urllib3.exceptions.MaxRetryError``; file uploads go through ``requests``.

``translate`` maps each of these to the project hierarchy:

==========================================  ===================
SDK or HTTP error                           project error
==========================================  ===================
401, "API token is either invalid"          UnauthorizedError
404, "does not exist", "Did not find"       NotFoundError
400, 409, 422 and other ValueErrors         InvalidInputError
429, 502, 503, 504, MaxRetryError,          TransientError
connection and read errors
missing local file                          InvalidInputError
KeyError, TypeError, AttributeError,        RimeError
other HTTP status or OSError
==========================================  ===================

Every message names the action and the ids involved, and the API key is
scrubbed from it.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from contextlib import contextmanager
from http import HTTPStatus

from rime_airflow_demo.rime.errors import (
    InvalidInputError,
    NotFoundError,
    RimeError,
    TransientError,
    UnauthorizedError,
)

TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
INVALID_INPUT_STATUSES = frozenset({400, 409, 412, 422})

_REASON_STATUS = {
    "Unauthorized": 401,
    "Forbidden": 403,
    "Not Found": 404,
    "Bad Request": 400,
    "Conflict": 409,
    "Too Many Requests": 429,
    "Bad Gateway": 502,
    "Service Unavailable": 503,
    "Gateway Timeout": 504,
}
_UNAUTHORIZED_TEXT = "API token is either invalid or expired"
_NOT_FOUND_PATTERN = re.compile(r"does not exist|Did not find|not found", re.IGNORECASE)
_REDACTED = "***"


def scrub(text: str, secret: str) -> str:
    """Return ``text`` with every occurrence of ``secret`` replaced by ``***``."""
    return text.replace(secret, _REDACTED) if secret else text


def _http_status(exc: BaseException) -> int | None:
    """Return the HTTP status carried by ``exc`` or by the exception it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = getattr(current, "status", None)
        if isinstance(status, int) and 100 <= status <= 599:
            return status
        response = getattr(current, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        current = current.__cause__ or current.__context__
    return None


def _status_from_reason(message: str) -> int | None:
    """Return the status whose HTTP reason phrase starts an SDK ``ValueError`` message."""
    for reason, status in _REASON_STATUS.items():
        if message.startswith(reason):
            return status
    return None


def _class_for_status(status: int) -> type[RimeError]:
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        return UnauthorizedError
    if status == HTTPStatus.NOT_FOUND:
        return NotFoundError
    if status in TRANSIENT_STATUSES:
        return TransientError
    if status in INVALID_INPUT_STATUSES:
        return InvalidInputError
    return RimeError


def _is_transport_error(exc: BaseException) -> bool:
    """Return True for connection, timeout and protocol errors of urllib3 or requests."""
    import requests
    import urllib3.exceptions as urllib3_errors

    transient_types: tuple[type[BaseException], ...] = (
        urllib3_errors.MaxRetryError,
        urllib3_errors.ProtocolError,
        urllib3_errors.NewConnectionError,
        urllib3_errors.TimeoutError,
        requests.ConnectionError,
        requests.Timeout,
        ConnectionError,
        TimeoutError,
    )
    return isinstance(exc, transient_types) and not isinstance(
        exc, (urllib3_errors.SSLError, requests.exceptions.SSLError)
    )


def _describe(exc: BaseException) -> str:
    """Return ``str(exc)``, or the class name when the exception cannot be printed."""
    try:
        return str(exc).strip() or type(exc).__name__
    except Exception:  # a half-built library exception must not hide the original error
        return type(exc).__name__


def _class_for(exc: BaseException) -> type[RimeError]:
    """Pick the project error class for a library exception."""
    message = _describe(exc)
    if _UNAUTHORIZED_TEXT in message:
        return UnauthorizedError
    status = _http_status(exc)
    if status is None and isinstance(exc, ValueError):
        status = _status_from_reason(message)
    if status is not None:
        return _class_for_status(status)
    if _is_transport_error(exc):
        return TransientError
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        return InvalidInputError
    if isinstance(exc, ValueError):
        if _NOT_FOUND_PATTERN.search(message):
            return NotFoundError
        return InvalidInputError
    return RimeError


_HINTS: dict[type[RimeError], str] = {
    UnauthorizedError: (" Check the API key (RIME_API_KEY or the Airflow connection's password)."),
    TransientError: " The call can be retried.",
}


def translate(exc: BaseException, action: str, ids: str, secret: str) -> RimeError:
    """Return the project error for ``exc`` raised while doing ``action`` on ``ids``."""
    error_class = _class_for(exc)
    detail = scrub(_describe(exc), secret)
    message = f"RIME {action} failed for {ids}: {detail}.{_HINTS.get(error_class, '')}"
    return error_class(scrub(message, secret))


@contextmanager
def sdk_errors(action: str, ids: str, secret: str) -> Generator[None, None, None]:
    """Re-raise any SDK or HTTP error inside the block as a ``RimeError``, ``from`` the original.

    ``RimeError`` raised inside the block passes through unchanged.
    """
    try:
        yield
    except RimeError:
        raise
    except Exception as exc:  # every SDK, urllib3 and requests error; translate sorts them
        raise translate(exc, action, ids, secret) from exc
