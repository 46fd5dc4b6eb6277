"""Typed settings of the walkthrough, read from environment variables.

This module is the single source of truth for every setting and its default;
the README's configuration table mirrors ``SETTINGS_DOC``. It imports only the
standard library, so DAG files may read the schedule window from it at parse
time without loading anything heavy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from pathlib import Path

ENV_PREFIX = "RIME_DEMO_"

DEFAULT_HOME = Path.cwd() / ".demo"

BACKENDS = ("auto", "local", "sdk")
DATA_SOURCES = ("generated", "files")


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable and the fix."""


def _parse_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _parse_date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise SettingsError(
            f"{name}={value!r} is not a date; use the ISO format YYYY-MM-DD."
        ) from exc


def _parse_int(name: str, value: str, minimum: int = 0) -> int:
    try:
        number = int(value)
    except ValueError as exc:
        raise SettingsError(f"{name}={value!r} is not an integer.") from exc
    if number < minimum:
        raise SettingsError(f"{name}={value!r} must be at least {minimum}.")
    return number


def _parse_float(name: str, value: str, minimum: float = 0.0) -> float:
    try:
        number = float(value)
    except ValueError as exc:
        raise SettingsError(f"{name}={value!r} is not a number.") from exc
    if number < minimum:
        raise SettingsError(f"{name}={value!r} must be at least {minimum}.")
    return number


@dataclass(frozen=True)
class GeneratorSettings:
    """Shape of the built-in synthetic fraud data."""

    seed: int = 42
    reference_rows: int = 10_000
    production_start: date = date(2024, 3, 1)
    production_days: int = 30
    rows_per_day: int = 1_000
    # First production day whose rows drift (0-based offset from production_start).
    drift_start_day: int = 20


@dataclass(frozen=True)
class Settings:
    """Every setting of the walkthrough; build it with ``Settings.from_env()``."""

    home: Path = DEFAULT_HOME
    storage_root: str = str(DEFAULT_HOME / "storage")
    mlflow_tracking_uri: str = f"sqlite:///{DEFAULT_HOME / 'mlflow.db'}"
    mlflow_experiment: str = "airflow_demo"
    registered_model_name: str = "fraud-detection-model"

    rime_backend: str = "auto"
    rime_project_name: str = "Fraud Detection (Airflow demo)"
    rime_conn_id: str = "rime_default"
    rime_api_key: str = field(default="", repr=False)
    rime_upload_url: str = ""
    rime_job_timeout_s: float = 3600.0
    rime_poll_interval_s: float = 5.0
    rime_local_root: str = str(DEFAULT_HOME / "rime_local")
    firewall_bin_size: timedelta = timedelta(days=1)

    data_source: str = "generated"
    data_path: str = ""
    reference_file: str = "ref.csv"
    production_file: str = "incremental.csv"
    label_col: str = "label"
    timestamp_col: str = "timestamp"
    feature_cols: tuple[str, ...] = ()
    ignored_cols: tuple[str, ...] = ("preds",)
    test_fraction: float = 0.2
    seed: int = 42
    generator: GeneratorSettings = GeneratorSettings()

    firewall_start: date = GeneratorSettings().production_start
    firewall_end: date = GeneratorSettings().production_start + timedelta(
        days=GeneratorSettings().production_days - 1
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``), validating each value."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(name, default).strip()

        home = Path(get(f"{ENV_PREFIX}HOME") or DEFAULT_HOME).expanduser().absolute()
        gen_defaults = GeneratorSettings()
        generator = GeneratorSettings(
            seed=_parse_int(f"{ENV_PREFIX}SEED", get(f"{ENV_PREFIX}SEED", "42")),
            reference_rows=_parse_int(
                f"{ENV_PREFIX}GEN_REFERENCE_ROWS",
                get(f"{ENV_PREFIX}GEN_REFERENCE_ROWS", str(gen_defaults.reference_rows)),
                minimum=100,
            ),
            production_start=_parse_date(
                f"{ENV_PREFIX}GEN_PRODUCTION_START",
                get(f"{ENV_PREFIX}GEN_PRODUCTION_START", gen_defaults.production_start.isoformat()),
            ),
            production_days=_parse_int(
                f"{ENV_PREFIX}GEN_PRODUCTION_DAYS",
                get(f"{ENV_PREFIX}GEN_PRODUCTION_DAYS", str(gen_defaults.production_days)),
                minimum=1,
            ),
            rows_per_day=_parse_int(
                f"{ENV_PREFIX}GEN_ROWS_PER_DAY",
                get(f"{ENV_PREFIX}GEN_ROWS_PER_DAY", str(gen_defaults.rows_per_day)),
                minimum=1,
            ),
            drift_start_day=_parse_int(
                f"{ENV_PREFIX}GEN_DRIFT_START_DAY",
                get(f"{ENV_PREFIX}GEN_DRIFT_START_DAY", str(gen_defaults.drift_start_day)),
            ),
        )
        window_end = generator.production_start + timedelta(days=generator.production_days - 1)

        backend = get(f"{ENV_PREFIX}RIME_BACKEND", "auto").lower()
        if backend not in BACKENDS:
            raise SettingsError(
                f"{ENV_PREFIX}RIME_BACKEND={backend!r} is not a backend; use one of {BACKENDS}."
            )
        data_source = get(f"{ENV_PREFIX}DATA_SOURCE", "generated").lower()
        if data_source not in DATA_SOURCES:
            raise SettingsError(
                f"{ENV_PREFIX}DATA_SOURCE={data_source!r} is not a data source; "
                f"use one of {DATA_SOURCES}."
            )
        data_path = get(f"{ENV_PREFIX}DATA_PATH")
        if data_source == "files" and not data_path:
            raise SettingsError(
                f"{ENV_PREFIX}DATA_SOURCE='files' needs {ENV_PREFIX}DATA_PATH, the folder or URL "
                "that holds the reference and production files."
            )
        test_fraction = _parse_float(
            f"{ENV_PREFIX}TEST_FRACTION", get(f"{ENV_PREFIX}TEST_FRACTION", "0.2")
        )
        if not 0.0 < test_fraction < 1.0:
            raise SettingsError(
                f"{ENV_PREFIX}TEST_FRACTION={test_fraction!r} must be between 0 and 1."
            )
        bin_hours = _parse_float(
            f"{ENV_PREFIX}FIREWALL_BIN_HOURS",
            get(f"{ENV_PREFIX}FIREWALL_BIN_HOURS", "24"),
            minimum=1.0,
        )

        settings = cls(
            home=home,
            storage_root=get(f"{ENV_PREFIX}STORAGE_ROOT") or str(home / "storage"),
            mlflow_tracking_uri=get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
            mlflow_experiment=get(f"{ENV_PREFIX}MLFLOW_EXPERIMENT", "airflow_demo"),
            registered_model_name=get(f"{ENV_PREFIX}REGISTERED_MODEL", cls.registered_model_name),
            rime_backend=backend,
            rime_project_name=get(f"{ENV_PREFIX}RIME_PROJECT", cls.rime_project_name),
            rime_conn_id=get(f"{ENV_PREFIX}RIME_CONN_ID", "rime_default"),
            rime_api_key=get("RIME_API_KEY"),
            rime_upload_url=get("RIME_UPLOAD_URL"),
            rime_job_timeout_s=_parse_float(
                f"{ENV_PREFIX}RIME_JOB_TIMEOUT",
                get(f"{ENV_PREFIX}RIME_JOB_TIMEOUT", "3600"),
                minimum=1.0,
            ),
            rime_poll_interval_s=_parse_float(
                f"{ENV_PREFIX}RIME_POLL_INTERVAL",
                get(f"{ENV_PREFIX}RIME_POLL_INTERVAL", "5"),
            ),
            rime_local_root=get(f"{ENV_PREFIX}RIME_LOCAL_ROOT") or str(home / "rime_local"),
            firewall_bin_size=timedelta(hours=bin_hours),
            data_source=data_source,
            data_path=data_path,
            reference_file=get(f"{ENV_PREFIX}REFERENCE_FILE", "ref.csv"),
            production_file=get(f"{ENV_PREFIX}PRODUCTION_FILE", "incremental.csv"),
            label_col=get(f"{ENV_PREFIX}LABEL_COL", "label"),
            timestamp_col=get(f"{ENV_PREFIX}TIMESTAMP_COL", "timestamp"),
            feature_cols=_parse_list(get(f"{ENV_PREFIX}FEATURE_COLS")),
            ignored_cols=_parse_list(get(f"{ENV_PREFIX}IGNORED_COLS", "preds")),
            test_fraction=test_fraction,
            seed=generator.seed,
            generator=generator,
            firewall_start=_parse_date(
                f"{ENV_PREFIX}FIREWALL_START",
                get(f"{ENV_PREFIX}FIREWALL_START", generator.production_start.isoformat()),
            ),
            firewall_end=_parse_date(
                f"{ENV_PREFIX}FIREWALL_END",
                get(f"{ENV_PREFIX}FIREWALL_END", window_end.isoformat()),
            ),
        )
        if settings.firewall_end < settings.firewall_start:
            raise SettingsError(
                f"{ENV_PREFIX}FIREWALL_END={settings.firewall_end} is before "
                f"{ENV_PREFIX}FIREWALL_START={settings.firewall_start}; swap or fix them."
            )
        return settings

    def to_public_dict(self) -> dict[str, str]:
        """Return the settings as strings, without the API key, for logs and MLflow params."""
        public = {}
        for item in fields(self):
            if item.name == "rime_api_key":
                continue
            public[item.name] = str(getattr(self, item.name))
        public["rime_api_key_set"] = str(bool(self.rime_api_key))
        return public


# Environment variable, default and meaning of every setting; the README's
# configuration table is generated from this list (see tests/unit/test_settings.py).
SETTINGS_DOC: tuple[tuple[str, str, str], ...] = (
    (
        f"{ENV_PREFIX}HOME",
        "./.demo",
        "Folder for all local state: Airflow home, MLflow store, data, RIME local engine.",
    ),
    (
        f"{ENV_PREFIX}STORAGE_ROOT",
        "$RIME_DEMO_HOME/storage",
        "Where tasks write frames and files, at paths derived from the DAG run.",
    ),
    (
        "MLFLOW_TRACKING_URI",
        "sqlite:///$RIME_DEMO_HOME/mlflow.db",
        "MLflow tracking store or server, e.g. http://127.0.0.1:7081.",
    ),
    (
        f"{ENV_PREFIX}MLFLOW_EXPERIMENT",
        "airflow_demo",
        "MLflow experiment that holds one run per model per DAG run.",
    ),
    (
        f"{ENV_PREFIX}REGISTERED_MODEL",
        "fraud-detection-model",
        "Registered model whose versions are the trained models; "
        "alias `production` marks the winner.",
    ),
    (
        f"{ENV_PREFIX}RIME_BACKEND",
        "auto",
        "`local` (embedded engine), `sdk` (RIME cluster through rime-sdk), "
        "or `auto`: sdk when credentials exist, else local.",
    ),
    (
        f"{ENV_PREFIX}RIME_PROJECT",
        "Fraud Detection (Airflow demo)",
        "RIME project name; both DAGs find the project by it.",
    ),
    (
        f"{ENV_PREFIX}RIME_CONN_ID",
        "rime_default",
        "Airflow connection with the RIME URL (host) and API key (password).",
    ),
    ("RIME_API_KEY", "(unset)", "RIME API key, used when the Airflow connection is absent."),
    (
        "RIME_UPLOAD_URL",
        "(unset)",
        "RIME cluster URL, e.g. https://my-cluster.rime.dev, used with RIME_API_KEY.",
    ),
    (
        f"{ENV_PREFIX}RIME_JOB_TIMEOUT",
        "3600",
        "Seconds to wait for a stress test or continuous test job before failing the task.",
    ),
    (f"{ENV_PREFIX}RIME_POLL_INTERVAL", "5", "Seconds between job status polls."),
    (
        f"{ENV_PREFIX}RIME_LOCAL_ROOT",
        "$RIME_DEMO_HOME/rime_local",
        "State and report pages of the local engine.",
    ),
    (f"{ENV_PREFIX}FIREWALL_BIN_HOURS", "24", "Continuous-test bin size in hours."),
    (
        f"{ENV_PREFIX}DATA_SOURCE",
        "generated",
        "`generated` (built-in synthetic data) or `files` (CSV or Parquet files).",
    ),
    (
        f"{ENV_PREFIX}DATA_PATH",
        "(unset)",
        "Folder or URL with the reference and production files, for `files`.",
    ),
    (
        f"{ENV_PREFIX}REFERENCE_FILE",
        "ref.csv",
        "Reference file name inside DATA_PATH; split into train and test.",
    ),
    (
        f"{ENV_PREFIX}PRODUCTION_FILE",
        "incremental.csv",
        "Production file name inside DATA_PATH, with a timestamp column.",
    ),
    (f"{ENV_PREFIX}LABEL_COL", "label", "Binary label column (1 = fraud)."),
    (
        f"{ENV_PREFIX}TIMESTAMP_COL",
        "timestamp",
        "Timestamp column of production data; naive values are read as UTC.",
    ),
    (
        f"{ENV_PREFIX}FEATURE_COLS",
        "(all others)",
        "Comma-separated feature columns; "
        "empty means every column but label, timestamp and ignored ones.",
    ),
    (
        f"{ENV_PREFIX}IGNORED_COLS",
        "preds",
        "Comma-separated columns that are not features, such as an upstream model's score.",
    ),
    (
        f"{ENV_PREFIX}TEST_FRACTION",
        "0.2",
        "Share of the reference table held out as the test split.",
    ),
    (f"{ENV_PREFIX}SEED", "42", "Seed of the generator, the split and model training."),
    (f"{ENV_PREFIX}GEN_REFERENCE_ROWS", "10000", "Generated reference rows."),
    (
        f"{ENV_PREFIX}GEN_PRODUCTION_START",
        "2024-03-01",
        "First day of the generated production window (UTC).",
    ),
    (f"{ENV_PREFIX}GEN_PRODUCTION_DAYS", "30", "Days in the generated production window."),
    (f"{ENV_PREFIX}GEN_ROWS_PER_DAY", "1000", "Generated production rows per day."),
    (
        f"{ENV_PREFIX}GEN_DRIFT_START_DAY",
        "20",
        "Offset of the first generated production day with drift.",
    ),
    (
        f"{ENV_PREFIX}FIREWALL_START",
        "GEN_PRODUCTION_START",
        "Deployment date: first day of the RIME_Firewall schedule.",
    ),
    (f"{ENV_PREFIX}FIREWALL_END", "last generated day", "Last day of the RIME_Firewall schedule."),
)


def settings_table_markdown() -> str:
    """Render ``SETTINGS_DOC`` as the README's Markdown configuration table."""
    lines = ["| environment variable | default | meaning |", "| --- | --- | --- |"]
    for name, default, meaning in SETTINGS_DOC:
        lines.append(f"| `{name}` | `{default}` | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table_markdown())
