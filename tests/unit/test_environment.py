"""The locked environment: rime-sdk imports next to current pandas and numpy."""

from importlib.metadata import version

from packaging.version import Version


def test_rime_sdk_imports_with_project_pandas_and_numpy() -> None:
    """rime_sdk loads although its metadata pins pandas<1.5 and numpy<2."""
    import numpy
    import pandas
    import rime_sdk

    assert hasattr(rime_sdk, "Client")
    assert Version(version("rime_sdk")) >= Version("2.13")
    assert Version(pandas.__version__) >= Version("2.2")
    assert Version(numpy.__version__) >= Version("2")


def test_rime_sdk_client_class_is_constructible_type() -> None:
    """The SDK's Client keeps the constructor signature the adapter calls."""
    import inspect

    import rime_sdk

    params = inspect.signature(rime_sdk.Client).parameters
    for name in ("domain", "api_key", "channel_timeout", "disable_tls", "ssl_ca_cert"):
        assert name in params
