"""Callables of the ``RIME_Firewall`` DAG: one day of production data through the firewall.

Each DAG run covers its data interval ``[data_interval_start,
data_interval_end)`` in UTC, one day by default. Every callable is idempotent
for that interval. Files are written at paths derived from the DAG run, the
upload path and dataset name derive from the day, and the continuous test
replaces the day's bin. XCom values are small dicts of paths, ids and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from rime_airflow_demo.data.schema import DataError
from rime_airflow_demo.pipelines.common import load_settings, rime_client, run_identity
from rime_airflow_demo.rime.errors import RimeError, TransientError
from rime_airflow_demo.settings import Settings, SettingsError

if TYPE_CHECKING:
    import pandas as pd

    from rime_airflow_demo.rime.protocol import ContinuousTestResult, RimeClient

log = logging.getLogger(__name__)

STRESS_DAG_ID = "RIME_Stress_Testing"
PRODUCTION_FILE = "production.parquet"
PREDICTIONS_FILE = "production_with_preds.parquet"


class FirewallTaskError(RuntimeError):
    """A firewall task cannot succeed by retrying; the message names the value and the fix."""


# Errors that a retry cannot fix: the task fails at once instead of retrying.
# ``TransientError`` is a ``RimeError`` too but is re-raised before this check.
NON_RETRYABLE = (FirewallTaskError, RimeError, DataError, SettingsError)


def run_task(name: str, **kwargs: Any) -> Any:
    """Run the callable ``name`` with ``kwargs`` (its arguments plus the Airflow context).

    ``TransientError`` propagates so Airflow retries the task; the other
    errors in ``NON_RETRYABLE`` become ``AirflowFailException``.
    """
    task = TASKS[name]
    try:
        return task(**kwargs)
    except TransientError:
        log.warning("Task %s hit a transient RIME error; Airflow will retry it.", name)
        raise
    except NON_RETRYABLE as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


def fetch_production_data(**context: Any) -> dict[str, Any]:
    """Write the production rows of the run's data interval and return its path and row count.

    Returns ``{"path", "rows", "start", "end"}`` with ISO 8601 UTC bounds.
    """
    from rime_airflow_demo.data.day_partitions import read_interval
    from rime_airflow_demo.storage import run_dir

    settings = load_settings()
    start, end = data_interval(context)
    dag_id, run_id = run_identity(context)
    frame = read_interval(settings, start, end)
    path = run_dir(settings.storage_root, dag_id, run_id) / PRODUCTION_FILE
    frame.to_parquet(path, index=False)
    log.info("Fetched %d production rows for [%s, %s) into %s", len(frame), start, end, path)
    return {"path": str(path), "rows": len(frame), "start": start, "end": end}


def continue_if_data_available(fetched: Mapping[str, Any], **context: Any) -> dict[str, Any] | None:
    """Return ``fetched`` when the interval has rows, or None to skip the downstream tasks."""
    if int(fetched["rows"]) > 0:
        return dict(fetched)
    log.info(
        "No production rows in [%s, %s); skipping predictions and the firewall.",
        fetched["start"],
        fetched["end"],
    )
    return None


def get_rime_project_id(**context: Any) -> str:
    """Return the id of the RIME project that the stress-testing DAG created."""
    from rime_airflow_demo.rime.errors import NotFoundError

    settings = load_settings()
    client = rime_client(settings)
    try:
        project = client.find_project(settings.rime_project_name)
    except NotFoundError as exc:
        raise FirewallTaskError(
            f"RIME project {settings.rime_project_name!r} not found; run {STRESS_DAG_ID} "
            "first, which creates the project, the production model and the firewall."
        ) from exc
    log.info("Found RIME project %r: %s", project.name, project.project_id)
    return project.project_id


def add_prod_preds(fetched: Mapping[str, Any], **context: Any) -> dict[str, Any]:
    """Add the production model's fraud probabilities to the day's rows and upload the file.

    Returns the fetched values plus ``{"preds_path", "uploaded_path",
    "model_version", "day"}``; ``run_firewall`` registers the dataset
    because it receives the project id.
    """
    import pandas as pd

    from rime_airflow_demo.data.schema import PREDICTION_COL
    from rime_airflow_demo.storage import run_dir

    settings = load_settings()
    dag_id, run_id = run_identity(context)
    version, model = _production_model(settings)
    frame = pd.read_parquet(fetched["path"])
    frame[PREDICTION_COL] = predict_fraud(settings, model, frame, version)

    path = run_dir(settings.storage_root, dag_id, run_id) / PREDICTIONS_FILE
    frame.to_parquet(path, index=False)
    day = interval_day(fetched["start"])
    uploaded = rime_client(settings).upload_file(str(path), f"firewall/production/{day}.parquet")
    log.info(
        "Scored %d rows of %s with model version %s; uploaded to %s",
        len(frame),
        day,
        version,
        uploaded,
    )
    return {
        **fetched,
        "preds_path": str(path),
        "uploaded_path": uploaded,
        "model_version": version,
        "day": day,
    }


def run_firewall(preds: Mapping[str, Any], project_id: str, **context: Any) -> dict[str, Any]:
    """Run the continuous test on the day's dataset, log its bins and events, record them in MLflow.

    Returns ``{"day", "firewall_id", "job_id", "bins", "events", "severity"}``.
    """
    from rime_airflow_demo.data.schema import PREDICTION_COL
    from rime_airflow_demo.pipelines.firewall_report import log_result, record_in_mlflow

    settings = load_settings()
    client = rime_client(settings)
    day = str(preds["day"])
    firewall = _project_firewall(client, project_id)
    dataset = client.register_dataset(
        project_id,
        f"production {day}",
        str(preds["uploaded_path"]),
        label_col=settings.label_col,
        pred_col=PREDICTION_COL,
        timestamp_col=settings.timestamp_col,
        model_id=firewall.model_id,
        ignored_cols=tuple(settings.ignored_cols),
    )
    log.info("Registered dataset %s (%d rows) for %s", dataset.dataset_id, dataset.n_rows, day)

    result = _run_continuous_test(settings, client, firewall.firewall_id, dataset.dataset_id)
    check_bins(result, int(preds["rows"]), str(preds["start"]), str(preds["end"]))
    severity = log_result(result)
    record_in_mlflow(settings, str(preds["model_version"]), day, result)
    return {
        "day": day,
        "firewall_id": firewall.firewall_id,
        "job_id": result.job_id,
        "bins": len(result.bins),
        "events": len(result.events),
        "severity": severity,
    }


TASKS: dict[str, Callable[..., Any]] = {
    "fetch_production_data": fetch_production_data,
    "continue_if_data_available": continue_if_data_available,
    "get_rime_project_id": get_rime_project_id,
    "add_prod_preds": add_prod_preds,
    "run_firewall": run_firewall,
}


def data_interval(context: Mapping[str, Any]) -> tuple[str, str]:
    """Return the run's data interval as ISO 8601 UTC strings; raise if it is empty or missing."""
    from rime_airflow_demo.data.daily import utc_instant

    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if start is None or end is None:
        raise FirewallTaskError(
            "The DAG run has no data interval; trigger RIME_Firewall for a day, e.g. "
            "python -m rime_airflow_demo.airflow_runner RIME_Firewall --date 2024-03-01."
        )
    lower = utc_instant(start, "data_interval_start")
    upper = utc_instant(end, "data_interval_end")
    if upper <= lower:
        raise FirewallTaskError(
            f"The data interval [{lower}, {upper}) is empty; the DAG needs a timetable whose "
            "data interval is the day, not an empty cron trigger interval."
        )
    return lower.isoformat(), upper.isoformat()


def interval_day(start: str) -> str:
    """Return the UTC day (YYYY-MM-DD) on which an interval starting at ``start`` begins."""
    from rime_airflow_demo.data.daily import utc_instant

    return utc_instant(start, "start").date().isoformat()


def predict_fraud(settings: Settings, model: Any, frame: pd.DataFrame, version: str) -> Any:
    """Return the model's fraud probabilities; raise unless there is one in [0, 1] per row."""
    import numpy as np

    from rime_airflow_demo.data.sources import feature_columns
    from rime_airflow_demo.modeling import fraud_probabilities

    features = feature_columns(settings, frame)
    probabilities = fraud_probabilities(model, frame[features])
    if probabilities.shape != (len(frame),):
        raise FirewallTaskError(
            f"Model version {version} returned {probabilities.shape[0]} predictions for "
            f"{len(frame)} rows; check its pyfunc output."
        )
    if not bool(np.all(np.isfinite(probabilities))) or not bool(
        np.all((probabilities >= 0.0) & (probabilities <= 1.0))
    ):
        raise FirewallTaskError(
            f"Model version {version} returned values outside [0, 1]; the firewall needs "
            "fraud probabilities, so log the model with predict_proba output."
        )
    return probabilities


def check_bins(result: ContinuousTestResult, rows: int, start: str, end: str) -> None:
    """Raise when the continuous test's bins do not account for exactly the interval's rows."""
    from rime_airflow_demo.data.daily import utc_instant

    lower, upper = utc_instant(start, "start"), utc_instant(end, "end")
    outside = [
        b.start for b in result.bins if not lower <= utc_instant(b.start, "bin start") < upper
    ]
    if outside:
        raise FirewallTaskError(
            f"The continuous test wrote bins {outside} outside the run's interval "
            f"[{start}, {end}); check the timestamps of the uploaded dataset."
        )
    counted = sum(b.n_rows for b in result.bins)
    if counted != rows:
        raise FirewallTaskError(
            f"The continuous test binned {counted} rows but the interval [{start}, {end}) "
            f"has {rows}; check the timestamp column of the uploaded dataset."
        )


def _production_model(settings: Settings) -> tuple[str, Any]:
    """Return the version behind the ``production`` alias and its pyfunc model."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    from rime_airflow_demo.tracking import PRODUCTION_ALIAS, production_version, version_uri

    try:
        version = str(production_version(settings).version)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise FirewallTaskError(
            f"Registered model {settings.registered_model_name!r} has no {PRODUCTION_ALIAS!r} "
            f"alias in {settings.mlflow_tracking_uri}; run {STRESS_DAG_ID} first, which "
            f"promotes the best model. ({exc.message})"
        ) from exc
    model = mlflow.pyfunc.load_model(version_uri(settings, version))
    return version, model


def _project_firewall(client: RimeClient, project_id: str) -> Any:
    from rime_airflow_demo.rime.errors import NotFoundError

    try:
        return client.get_firewall(project_id)
    except NotFoundError as exc:
        raise FirewallTaskError(
            f"RIME project {project_id!r} has no firewall; run {STRESS_DAG_ID} to the end, "
            "its create_firewall task creates it."
        ) from exc


def _run_continuous_test(
    settings: Settings, client: RimeClient, firewall_id: str, dataset_id: str
) -> ContinuousTestResult:
    job = client.start_continuous_test(firewall_id, dataset_id)
    log.info("Started continuous test job %s on dataset %s", job.job_id, dataset_id)
    client.wait_for_job(
        job, timeout_s=settings.rime_job_timeout_s, poll_interval_s=settings.rime_poll_interval_s
    )
    return client.get_continuous_test_result(job)
