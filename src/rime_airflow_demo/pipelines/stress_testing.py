"""Callables of the ``RIME_Stress_Testing`` DAG: train, stress test, track, promote, protect.

Each callable takes its inputs as explicit arguments (the XCom values of its
upstream tasks) plus the Airflow context, and returns a small JSON dict. A
value that a later task needs travels down the chain of XComs, so no task
reads the output of a task that is not its direct upstream.

Every callable is idempotent for its DAG run. Files go to paths derived from
the run, and MLflow runs and model versions are found again by their tags.
Metrics are logged once, and RIME objects are named after the run and the
model type. Retrying ``run_stress_test_<i>`` runs a new stress test of the
same model and datasets.

``run_task`` is the entry point of the DAG file: it maps ``TransientError``
to an Airflow retry and every other error that a retry cannot fix to
``AirflowFailException``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rime_airflow_demo.data.schema import PREDICTION_COL, DataError
from rime_airflow_demo.modeling import ModelTypeError
from rime_airflow_demo.pipelines.common import load_settings, rime_client, run_identity
from rime_airflow_demo.rime.errors import RimeError, TransientError
from rime_airflow_demo.selection import NoEligibleModelError
from rime_airflow_demo.settings import Settings, SettingsError
from rime_airflow_demo.storage import run_dir, safe_name

if TYPE_CHECKING:
    from rime_airflow_demo.rime.protocol import DatasetRef, RimeClient

log = logging.getLogger(__name__)

DAG_ID = "RIME_Stress_Testing"
TRAIN_FILE = "train.parquet"
TEST_FILE = "test.parquet"
REFERENCE_FILE = "reference_with_preds.parquet"
EVALUATION_FILE = "evaluation_with_preds.parquet"
STRESS_TEST_FILE = "stress_test_result.json"
INPUT_EXAMPLE_ROWS = 5

# Errors that a retry cannot fix: the task fails at once instead of retrying.
NON_RETRYABLE = (RimeError, DataError, SettingsError, ModelTypeError, NoEligibleModelError)


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


def create_rime_project(**context: Any) -> dict[str, Any]:
    """Return the RIME project named ``settings.rime_project_name``, creating it once."""
    settings = load_settings()
    project = rime_client(settings).get_or_create_project(
        settings.rime_project_name,
        description="Fraud models trained and stress tested by the RIME_Stress_Testing DAG.",
    )
    log.info("RIME project %r: %s", project.name, project.project_id)
    return project.to_json()


def fetch_train_data(**context: Any) -> dict[str, Any]:
    """Write the train split of the reference table and return ``{"path", "rows"}``."""
    return _write_split(context, part=0, file_name=TRAIN_FILE)


def fetch_test_data(**context: Any) -> dict[str, Any]:
    """Write the test split of the reference table and return ``{"path", "rows"}``."""
    return _write_split(context, part=1, file_name=TEST_FILE)


def train_model(
    model_type: str, train: Mapping[str, Any], test: Mapping[str, Any], **context: Any
) -> dict[str, Any]:
    """Train ``model_type``, log it to MLflow and register it as a model version, once per run.

    When the DAG run already has a registered version for ``model_type`` the
    task reuses it without training again.
    """
    from rime_airflow_demo import modeling, tracking

    settings = load_settings()
    modeling.check_model_type(model_type)
    dag_id, run_id = run_identity(context)
    mlflow_run_id = tracking.find_or_create_run(settings, dag_id, run_id, model_type)
    version = tracking.find_model_version(settings, mlflow_run_id)
    if version is None:
        model_uri = _train_and_log(settings, model_type, train, test, mlflow_run_id)
        version = tracking.register_version(
            settings,
            model_uri,
            mlflow_run_id,
            tags={
                tracking.TAG_DAG_ID: dag_id,
                tracking.TAG_RUN_ID: run_id,
                tracking.TAG_MODEL_TYPE: model_type,
            },
        )
    else:
        log.info("Reusing model version %s of MLflow run %s", version.version, mlflow_run_id)
    metrics = tracking.client_for(settings).get_run(mlflow_run_id).data.metrics
    return {
        "model_type": model_type,
        "mlflow_run_id": mlflow_run_id,
        "model_version": str(version.version),
        "model_uri": tracking.version_uri(settings, version.version),
        "test_auc": metrics.get("test_auc"),
        "train_path": train["path"],
        "test_path": test["path"],
    }


def upload_model(trained: Mapping[str, Any], **context: Any) -> dict[str, Any]:
    """Build the RIME model directory of the trained model and upload it.

    Returns the trained model's fields plus ``model_path``, the uploaded location.
    """
    from rime_airflow_demo import tracking
    from rime_airflow_demo.rime.model_dir import build_model_dir

    settings = load_settings()
    dag_id, run_id = run_identity(context)
    model_type = trained["model_type"]
    tracking.client_for(settings)
    local_dir = build_model_dir(
        trained["model_uri"], run_dir(settings.storage_root, dag_id, run_id, model_type) / "model"
    )
    remote = rime_client(settings).upload_model_dir(
        str(local_dir), _upload_path(dag_id, run_id, model_type, "model")
    )
    log.info("Uploaded the RIME model directory of %s to %s", model_type, remote)
    return {**trained, "model_path": remote}


def add_preds_and_upload_ref_dataset_file(
    trained: Mapping[str, Any], **context: Any
) -> dict[str, Any]:
    """Add the model's fraud probabilities to the train split and upload it as reference data."""
    return _add_preds_and_upload(context, trained, trained["train_path"], REFERENCE_FILE)


def add_preds_and_upload_eval_dataset_file(
    trained: Mapping[str, Any], **context: Any
) -> dict[str, Any]:
    """Add the model's fraud probabilities to the test split and upload it as evaluation data."""
    return _add_preds_and_upload(context, trained, trained["test_path"], EVALUATION_FILE)


def run_stress_test(
    project: Mapping[str, Any],
    model: Mapping[str, Any],
    ref_dataset: Mapping[str, Any],
    eval_dataset: Mapping[str, Any],
    **context: Any,
) -> dict[str, Any]:
    """Register the model and datasets in the project, run a stress test and wait for it.

    The full result, per-test rows included, goes to a JSON file under the
    storage root. The returned XCom contains the result without the per-test
    rows, the file path (``result_path``) and the ids later tasks need.
    """
    settings = load_settings()
    dag_id, run_id = run_identity(context)
    client = rime_client(settings)
    model_type = model["model_type"]
    project_id = project["project_id"]
    prefix = f"{model_type} {run_id}"

    model_ref = client.register_model(
        project_id,
        prefix,
        model["model_path"],
        metadata={
            "mlflow_run_id": model["mlflow_run_id"],
            "model_version": model["model_version"],
        },
    )
    ref_ref = _register_dataset(
        settings, client, project_id, f"{prefix} reference", ref_dataset, model_ref.model_id
    )
    eval_ref = _register_dataset(
        settings, client, project_id, f"{prefix} evaluation", eval_dataset, model_ref.model_id
    )
    job = client.start_stress_test(
        project_id, model_ref.model_id, ref_ref.dataset_id, eval_ref.dataset_id, run_name=prefix
    )
    log.info(
        "Started stress test job %s of %s; waiting up to %.0f s",
        job.job_id,
        model_type,
        settings.rime_job_timeout_s,
    )
    client.wait_for_job(job, settings.rime_job_timeout_s, settings.rime_poll_interval_s)
    result = client.get_stress_test_result(job)

    result_json = result.to_json()
    path = run_dir(settings.storage_root, dag_id, run_id, model_type) / STRESS_TEST_FILE
    path.write_text(json.dumps(result_json, indent=2))
    summary = {key: value for key, value in result_json.items() if key != "tests"}
    log.info("Stress test of %s finished: %s (%s)", model_type, result.summary_counts, result.link)
    return {
        "model_type": model_type,
        "mlflow_run_id": model["mlflow_run_id"],
        "model_version": model["model_version"],
        "test_auc": model.get("test_auc"),
        "ref_dataset_id": ref_ref.dataset_id,
        "eval_dataset_id": eval_ref.dataset_id,
        "result": summary,
        "result_path": str(path),
    }


def log_results_to_mlflow(stress_test: Mapping[str, Any], **context: Any) -> dict[str, Any]:
    """Add the stress test to the model's MLflow run and return the model as a candidate.

    Logs the summary metrics per category, the full result file as an
    artifact, and the link as tag and param ``RIME Stress Test Link``.
    """
    from rime_airflow_demo import selection, tracking
    from rime_airflow_demo.rime.protocol import StressTestResult

    settings = load_settings()
    result = StressTestResult.from_json(json.loads(Path(stress_test["result_path"]).read_text()))
    mlflow_run_id = stress_test["mlflow_run_id"]
    tracking.log_stress_test(settings, mlflow_run_id, result, stress_test["result_path"])
    tracking.finish_run(settings, mlflow_run_id)

    auc = result.model_perf.get("AUC")
    eval_auc = auc.evaluation if auc is not None and auc.evaluation is not None else None
    if eval_auc is None:
        eval_auc = stress_test.get("test_auc")
    return {
        "model_type": stress_test["model_type"],
        "mlflow_run_id": mlflow_run_id,
        "model_version": stress_test["model_version"],
        "project_id": result.project_id,
        "model_id": result.model_id,
        "ref_dataset_id": stress_test["ref_dataset_id"],
        "alerts": selection.count_alerts(result.category_severity_counts),
        "eval_auc": eval_auc,
        "link": result.link,
    }


def choose_best_model(candidate_tasks: Mapping[str, str], **context: Any) -> dict[str, Any]:
    """Choose the model to promote with ``selection.choose_best``.

    ``candidate_tasks`` maps each ``log_results_to_mlflow_<i>`` task id to its
    model type. A task that failed left no XCom, so its model counts as a
    failed stress test and is never chosen.
    """
    from rime_airflow_demo.selection import Candidate, choose_best

    ti = context["ti"]
    logged: dict[str, Mapping[str, Any]] = {}
    candidates = []
    for task_id, model_type in sorted(candidate_tasks.items()):
        value = ti.xcom_pull(task_ids=task_id)
        if value:
            logged[model_type] = value
        candidates.append(
            Candidate(
                model_type=model_type,
                stress_test_succeeded=bool(value),
                alerts=int(value["alerts"]) if value else 0,
                eval_auc=_optional_float(value.get("eval_auc")) if value else None,
            )
        )
    choice = choose_best(candidates)
    log.info("Chose %s: %s", choice.winner.model_type, choice.reason)
    return {
        **logged[choice.winner.model_type],
        "reason": choice.reason,
        "ranking": list(choice.ranking),
    }


def transition_best_model_to_production(
    choice: Mapping[str, Any], **context: Any
) -> dict[str, Any]:
    """Point the registered model's ``production`` alias at the chosen version."""
    from rime_airflow_demo import tracking

    settings = load_settings()
    tracking.promote(settings, choice["model_version"], choice["reason"])
    return {**choice, "model_uri": tracking.production_model_uri(settings)}


def create_firewall(production: Mapping[str, Any], **context: Any) -> dict[str, Any]:
    """Create the project's continuous test for the production model and its reference data.

    The firewall's id and link become tags of the production model version.
    """
    from rime_airflow_demo import tracking

    settings = load_settings()
    firewall = rime_client(settings).create_firewall(
        production["project_id"],
        production["model_id"],
        production["ref_dataset_id"],
        bin_size_s=int(settings.firewall_bin_size.total_seconds()),
    )
    tracking.tag_version(
        settings,
        production["model_version"],
        {
            "rime_project_id": firewall.project_id,
            "rime_firewall_id": firewall.firewall_id,
            "rime_firewall_link": firewall.link,
        },
    )
    log.info(
        "Firewall %s watches model %s (%s)",
        firewall.firewall_id,
        production["model_type"],
        firewall.link,
    )
    return firewall.to_json()


def _write_split(context: Mapping[str, Any], *, part: int, file_name: str) -> dict[str, Any]:
    from rime_airflow_demo.data.sources import load_reference
    from rime_airflow_demo.data.splits import split_reference

    settings = load_settings()
    dag_id, run_id = run_identity(dict(context))
    reference = load_reference(settings)
    splits = split_reference(reference, settings.label_col, settings.test_fraction, settings.seed)
    frame = splits[part]
    path = run_dir(settings.storage_root, dag_id, run_id, "data") / file_name
    frame.to_parquet(path, index=False)
    log.info("Wrote %d rows to %s", len(frame), path)
    return {"path": str(path), "rows": len(frame)}


def _train_and_log(
    settings: Settings,
    model_type: str,
    train: Mapping[str, Any],
    test: Mapping[str, Any],
    mlflow_run_id: str,
) -> str:
    """Train the model, log params, test metrics and the model; return the model URI."""
    import pandas as pd

    from rime_airflow_demo import modeling, tracking
    from rime_airflow_demo.data.sources import feature_columns

    train_frame = pd.read_parquet(train["path"])
    test_frame = pd.read_parquet(test["path"])
    features = feature_columns(settings, train_frame)
    pipeline = modeling.train_model(
        model_type, train_frame, features, settings.label_col, settings.seed
    )
    probabilities = modeling.fraud_probabilities(pipeline, test_frame[features])
    metrics = modeling.evaluate(test_frame[settings.label_col].to_numpy(), probabilities)

    params = {
        "model_type": model_type,
        "features": ",".join(features),
        "train_rows": len(train_frame),
        "test_rows": len(test_frame),
        "data_source": settings.data_source,
        "test_fraction": settings.test_fraction,
        "seed": settings.seed,
        **modeling.model_params(model_type, settings.seed),
    }
    tracking.log_params_once(settings, mlflow_run_id, params)
    tracking.log_metrics_once(
        settings, mlflow_run_id, {f"test_{name}": value for name, value in metrics.items()}
    )
    log.info("%s test metrics: %s", model_type, metrics)
    return tracking.log_model(
        settings, mlflow_run_id, pipeline, train_frame[features].head(INPUT_EXAMPLE_ROWS)
    )


def _add_preds_and_upload(
    context: Mapping[str, Any], trained: Mapping[str, Any], split_path: str, file_name: str
) -> dict[str, Any]:
    import mlflow.pyfunc
    import pandas as pd

    from rime_airflow_demo import modeling, tracking
    from rime_airflow_demo.data.sources import feature_columns

    settings = load_settings()
    dag_id, run_id = run_identity(dict(context))
    model_type = trained["model_type"]
    frame = pd.read_parquet(split_path)
    if PREDICTION_COL in frame.columns:
        raise DataError(
            f"{split_path} already has a column {PREDICTION_COL!r}, which the pipeline "
            "writes the model's probabilities to; rename that column in the source data."
        )
    tracking.client_for(settings)
    model = mlflow.pyfunc.load_model(trained["model_uri"])
    features = feature_columns(settings, frame)
    frame[PREDICTION_COL] = modeling.fraud_probabilities(model, frame[features])

    path = run_dir(settings.storage_root, dag_id, run_id, model_type) / file_name
    frame.to_parquet(path, index=False)
    remote = rime_client(settings).upload_file(
        str(path), _upload_path(dag_id, run_id, model_type, "datasets")
    )
    timestamp_col = settings.timestamp_col if settings.timestamp_col in frame.columns else None
    ignored = [
        str(column)
        for column in frame.columns
        if column not in {*features, settings.label_col, PREDICTION_COL, timestamp_col}
    ]
    log.info("Uploaded %d rows with %s predictions to %s", len(frame), model_type, remote)
    return {
        "path": remote,
        "rows": len(frame),
        "timestamp_col": timestamp_col,
        "ignored_cols": ignored,
    }


def _register_dataset(
    settings: Settings,
    client: RimeClient,
    project_id: str,
    name: str,
    dataset: Mapping[str, Any],
    model_id: str,
) -> DatasetRef:
    return client.register_dataset(
        project_id,
        name,
        dataset["path"],
        label_col=settings.label_col,
        pred_col=PREDICTION_COL,
        timestamp_col=dataset.get("timestamp_col"),
        model_id=model_id,
        ignored_cols=tuple(dataset.get("ignored_cols", ())),
    )


def _upload_path(dag_id: str, run_id: str, model_type: str, kind: str) -> str:
    return "/".join((safe_name(dag_id), safe_name(run_id), model_type, kind))


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


TASKS: dict[str, Callable[..., Any]] = {
    "create_rime_project": create_rime_project,
    "fetch_train_data": fetch_train_data,
    "fetch_test_data": fetch_test_data,
    "train_model": train_model,
    "upload_model": upload_model,
    "add_preds_and_upload_ref_dataset_file": add_preds_and_upload_ref_dataset_file,
    "add_preds_and_upload_eval_dataset_file": add_preds_and_upload_eval_dataset_file,
    "run_stress_test": run_stress_test,
    "log_results_to_mlflow": log_results_to_mlflow,
    "choose_best_model": choose_best_model,
    "transition_best_model_to_production": transition_best_model_to_production,
    "create_firewall": create_firewall,
}
