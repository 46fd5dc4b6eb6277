"""The rime-sdk adapter: ``SdkRimeClient`` implements ``RimeClient`` on a RIME cluster.

Importing this package does not import ``rime_sdk``; building a client does.
"""

from rime_airflow_demo.rime.sdk.client import SdkRimeClient

__all__ = ["SdkRimeClient"]
