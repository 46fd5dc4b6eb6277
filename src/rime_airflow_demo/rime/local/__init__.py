"""The embedded local RIME engine: real stress tests and continuous tests on this machine."""

from rime_airflow_demo.rime.local.client import LocalRimeClient
from rime_airflow_demo.rime.local.thresholds import Thresholds

__all__ = ["LocalRimeClient", "Thresholds"]
