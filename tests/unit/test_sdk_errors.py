"""Mapping of every rime-sdk, urllib3 and requests error to the project's error hierarchy."""

from __future__ import annotations

import inspect
import json
import sys

import pytest
import requests.exceptions
import urllib3.exceptions
from rime_sdk.swagger.swagger_client.rest import ApiException

from rime_airflow_demo.rime.errors import (
    InvalidInputError,
    NotFoundError,
    RimeError,
    TransientError,
    UnauthorizedError,
)
from rime_airflow_demo.rime.sdk.errors import scrub, sdk_errors, translate

SECRET = "errors-test-secret"


def _library_error_classes() -> list[type[BaseException]]:
    """Every exception class that rime-sdk and its HTTP layers define or raise."""
    modules = [urllib3.exceptions, requests.exceptions]
    classes: set[type[BaseException]] = {
        ApiException,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        FileNotFoundError,
        ConnectionRefusedError,
        TimeoutError,
        ImportError,
        SyntaxError,  # ast.literal_eval of an error body that is not a Python literal
        json.JSONDecodeError,
        RuntimeError,
    }
    for module in modules:
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Exception) and not issubclass(value, Warning):
                classes.add(value)
    return sorted(classes, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def _instance(cls: type[BaseException], message: str) -> BaseException:
    """Build ``cls`` without its own constructor, whose arguments differ per class."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


def _api_exception(status: int, reason: str) -> ApiException:
    return ApiException(status=status, reason=reason)


def _sdk_value_error(status: int, reason: str, message: str) -> ValueError:
    """Reproduce rime-sdk's REST handler: a ValueError raised while handling an ApiException."""
    try:
        raise _api_exception(status, reason)
    except ApiException:
        try:
            raise ValueError(f"{reason}: {message}") from None
        except ValueError as converted:
            return converted
    raise AssertionError("unreachable")


def _raise_through(error: BaseException) -> RimeError:
    with pytest.raises(RimeError) as caught, sdk_errors("test action", "id 'x-1'", SECRET):
        raise error
    return caught.value


@pytest.mark.parametrize("cls", _library_error_classes(), ids=lambda cls: cls.__name__)
def test_every_library_error_mapped(cls: type[BaseException]) -> None:
    """Each SDK and HTTP-layer exception class becomes a RimeError chained to the original."""
    original = _instance(cls, "boom")
    mapped = _raise_through(original)
    assert mapped.__cause__ is original


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_api_exception(401, "Unauthorized"), UnauthorizedError),
        (_api_exception(404, "Not Found"), NotFoundError),
        (_api_exception(400, "Bad Request"), InvalidInputError),
        (_api_exception(409, "Conflict"), InvalidInputError),
        (_api_exception(429, "Too Many Requests"), TransientError),
        (_api_exception(503, "Service Unavailable"), TransientError),
        (_api_exception(500, "Internal Server Error"), RimeError),
        (_sdk_value_error(404, "Not Found", "dataset d-1 does not exist"), NotFoundError),
        (_sdk_value_error(400, "Bad Request", "bad config"), InvalidInputError),
        (_sdk_value_error(503, "Service Unavailable", "try later"), TransientError),
        (
            ValueError("Unauthorized: Your API token is either invalid or expired."),
            UnauthorizedError,
        ),
        (ValueError("Project with this id p-1 does not exist"), NotFoundError),
        (ValueError("Did not find job id `j-1`."), NotFoundError),
        (ValueError("Too Many Requests: slow down"), TransientError),
        (ValueError("model_task must be a RimeModelTask"), InvalidInputError),
        (urllib3.exceptions.MaxRetryError(None, "/v1/projects", None), TransientError),  # type: ignore[arg-type]
        (urllib3.exceptions.ProtocolError("connection aborted"), TransientError),
        (
            urllib3.exceptions.ReadTimeoutError(None, "/v1/jobs/j", "read timed out"),  # type: ignore[arg-type]
            TransientError,
        ),
        (requests.exceptions.ConnectionError("refused"), TransientError),
        (requests.exceptions.Timeout("slow"), TransientError),
        (ConnectionRefusedError("refused"), TransientError),
        (FileNotFoundError("path 'x' does not exist"), InvalidInputError),
        (urllib3.exceptions.SSLError("certificate verify failed"), RimeError),
        (KeyError("message"), RimeError),
        (TypeError("'NoneType' object is not iterable"), RimeError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else "",
)
def test_error_class_for_cause(error: BaseException, expected: type[RimeError]) -> None:
    """Each kind of failure maps to its project error class."""
    assert type(_raise_through(error)) is expected


def test_message_names_action_and_ids() -> None:
    """A mapped message names the action and the ids involved."""
    mapped = _raise_through(ValueError("Not Found: job j-9 does not exist"))
    assert str(mapped).startswith("RIME test action failed for id 'x-1': Not Found")


def test_message_scrubs_secret() -> None:
    """The API key is removed from a mapped message."""
    mapped = _raise_through(ValueError(f"rejected key {SECRET}"))
    assert SECRET not in str(mapped)


def test_rime_error_passes_through() -> None:
    """A RimeError raised inside the block is not wrapped again."""
    original = NotFoundError("gone")
    assert _raise_through(original) is original


def test_translate_hints_retry_for_transient() -> None:
    """A transient error message states that the call can be retried."""
    mapped = translate(ConnectionResetError("reset"), "upload", "file 'a.csv'", SECRET)
    assert "can be retried" in str(mapped)


def test_scrub_empty_secret_unchanged() -> None:
    """Scrubbing with an empty key leaves the text unchanged."""
    assert scrub("text", "") == "text"


def test_missing_sdk_names_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without rime-sdk installed, the import error names the install command."""
    from rime_airflow_demo.rime.sdk.client import import_rime_sdk

    monkeypatch.setitem(sys.modules, "rime_sdk", None)
    with pytest.raises(ImportError, match=r'pip install "rime-sdk>=2\.13,<3"'):
        import_rime_sdk()
