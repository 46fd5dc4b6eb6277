"""Fraud-model lifecycle on Airflow, MLflow and RIME."""

import os

# MLflow 3 sends usage telemetry to an outside host unless it is disabled. The
# walkthrough runs offline, so every entry point (DAG parse, tasks, demo,
# stack, tests) opts out unless the user already chose otherwise.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # ruff: ignore[non-empty-init-module]
