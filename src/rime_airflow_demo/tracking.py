"""MLflow runs, model versions and the ``production`` alias of the walkthrough.

One experiment (``settings.mlflow_experiment``) contains one MLflow run per
model type per DAG run, found again by its tags, so a retried task reuses
the run instead of creating a second. Each trained model is logged once in
its run and registered once as a version of ``settings.registered_model_name``.
The version carries the MLflow run id, the DAG run and the model type as tags.
Metrics and params are logged only when the run lacks them, so a retry adds
no entry to a metric's history. Promotion points the registered-model alias
``production`` at a version; the deprecated stages are not used.

Models are logged with ``pyfunc_predict_fn="predict_proba"``: the pyfunc
model of a version returns an ``(n_rows, 2)`` array whose second column is
the fraud probability (``modeling.fraud_probabilities`` takes that column).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rime_airflow_demo.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.pyfunc import PyFuncModel

    from rime_airflow_demo.rime.protocol import StressTestResult

log = logging.getLogger(__name__)

PRODUCTION_ALIAS = "production"
MODEL_NAME = "model"
TAG_DAG_ID = "airflow_dag_id"
TAG_RUN_ID = "airflow_run_id"
TAG_MODEL_TYPE = "model_type"
TAG_MLFLOW_RUN_ID = "mlflow_run_id"
STRESS_TEST_LINK = "RIME Stress Test Link"
STRESS_TEST_ARTIFACT_DIR = "rime"


def client_for(settings: Settings) -> MlflowClient:
    """Point MLflow at ``settings.mlflow_tracking_uri`` and return a client for it."""
    import mlflow

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    return mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)


def experiment_id(settings: Settings) -> str:
    """Return the id of ``settings.mlflow_experiment``, creating the experiment if needed.

    With a database tracking URI, MLflow would put a new experiment's
    artifacts in ``./mlruns`` of whatever folder the task runs in, so they go
    to ``<RIME_DEMO_HOME>/mlruns`` instead. A tracking server chooses the
    artifact location itself.
    """
    from mlflow.exceptions import MlflowException

    client = client_for(settings)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is not None:
        return str(experiment.experiment_id)
    artifact_location = None
    if not settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        artifact_location = (settings.home / "mlruns").as_uri()
    try:
        return str(
            client.create_experiment(
                settings.mlflow_experiment, artifact_location=artifact_location
            )
        )
    except MlflowException:
        # Another task created it between the lookup and the create.
        experiment = client.get_experiment_by_name(settings.mlflow_experiment)
        if experiment is None:
            raise
        return str(experiment.experiment_id)


def find_or_create_run(settings: Settings, dag_id: str, run_id: str, model_type: str) -> str:
    """Return the MLflow run id of ``model_type`` in DAG run ``run_id``, creating the run once."""
    client = client_for(settings)
    experiment = experiment_id(settings)
    query = (
        f"tags.{TAG_DAG_ID} = {_quote(dag_id)} and tags.{TAG_RUN_ID} = {_quote(run_id)} "
        f"and tags.{TAG_MODEL_TYPE} = {_quote(model_type)}"
    )
    existing = client.search_runs(
        [experiment], filter_string=query, order_by=["attributes.start_time ASC"]
    )
    if existing:
        log.info("Reusing MLflow run %s for %s in %s", existing[0].info.run_id, model_type, run_id)
        return str(existing[0].info.run_id)
    run = client.create_run(
        experiment,
        run_name=model_type,
        tags={TAG_DAG_ID: dag_id, TAG_RUN_ID: run_id, TAG_MODEL_TYPE: model_type},
    )
    log.info("Created MLflow run %s for %s in %s", run.info.run_id, model_type, run_id)
    return str(run.info.run_id)


def finish_run(settings: Settings, mlflow_run_id: str) -> None:
    """Mark the run FINISHED (a no-op when it already is)."""
    client = client_for(settings)
    if client.get_run(mlflow_run_id).info.status != "FINISHED":
        client.set_terminated(mlflow_run_id, status="FINISHED")


def log_params_once(settings: Settings, mlflow_run_id: str, params: Mapping[str, Any]) -> None:
    """Log the params the run lacks; keep (and warn about) a param logged with another value.

    MLflow params are immutable, so a retry that computes a different value
    keeps the first one.
    """
    client = client_for(settings)
    logged = client.get_run(mlflow_run_id).data.params
    for key, value in params.items():
        text = str(value)
        if key not in logged:
            client.log_param(mlflow_run_id, key, text)
        elif logged[key] != text:
            log.warning(
                "MLflow run %s already has param %r=%r; keeping it instead of %r",
                mlflow_run_id,
                key,
                logged[key],
                text,
            )


def log_metrics_once(settings: Settings, mlflow_run_id: str, metrics: Mapping[str, float]) -> None:
    """Log each metric at step 0 unless the run already has it with the same value."""
    client = client_for(settings)
    logged = client.get_run(mlflow_run_id).data.metrics
    for key, value in metrics.items():
        if key in logged and _same_number(logged[key], value):
            continue
        client.log_metric(mlflow_run_id, key, float(value), step=0)


def find_model_version(settings: Settings, mlflow_run_id: str) -> ModelVersion | None:
    """Return the registered version whose source is ``mlflow_run_id``, or None."""
    client = client_for(settings)
    versions = client.search_model_versions(
        f"name = {_quote(settings.registered_model_name)} and run_id = {_quote(mlflow_run_id)}"
    )
    if not versions:
        return None
    return min(versions, key=lambda version: int(version.version))


def log_model(
    settings: Settings, mlflow_run_id: str, model: Any, input_example: pd.DataFrame
) -> str:
    """Log the fitted pipeline ``model`` in the run once and return its model URI.

    A model already logged in the run under ``MODEL_NAME`` is reused. The
    model is saved with cloudpickle, because MLflow's default skops format
    rejects CatBoost and this package's preprocessing function. The code of
    ``modeling`` is pickled by value, so the model loads where
    ``rime_airflow_demo`` is not installed (a RIME cluster, for example).
    Loading a pickled model runs code from it: load only models from your
    own tracking store.
    """
    import cloudpickle
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    from rime_airflow_demo import modeling

    existing = _find_logged_model(settings, mlflow_run_id)
    if existing is not None:
        return existing
    # MLflow 3.17 compares the column index with a range(), which pandas 3
    # deprecates for string-typed indexes; an object index avoids the warning.
    input_example = input_example.set_axis(input_example.columns.astype(object), axis=1)
    signature = infer_signature(input_example, model.predict_proba(input_example))
    # start_run rejects a run of another experiment than the process's active one,
    # which earlier code in the same process may have set.
    mlflow.set_experiment(experiment_id=experiment_id(settings))
    cloudpickle.register_pickle_by_value(modeling)
    try:
        with mlflow.start_run(run_id=mlflow_run_id):
            info = mlflow.sklearn.log_model(
                model,
                name=MODEL_NAME,
                signature=signature,
                input_example=input_example,
                pyfunc_predict_fn="predict_proba",
                serialization_format="cloudpickle",
            )
    finally:
        cloudpickle.unregister_pickle_by_value(modeling)
    return str(info.model_uri)


def register_version(
    settings: Settings, model_uri: str, mlflow_run_id: str, tags: Mapping[str, str]
) -> ModelVersion:
    """Register ``model_uri`` as a version of the registered model, once per MLflow run."""
    import mlflow

    existing = find_model_version(settings, mlflow_run_id)
    if existing is not None:
        return existing
    client_for(settings)
    version = mlflow.register_model(
        model_uri,
        settings.registered_model_name,
        tags={**tags, TAG_MLFLOW_RUN_ID: mlflow_run_id},
    )
    log.info(
        "Registered %s version %s from MLflow run %s",
        settings.registered_model_name,
        version.version,
        mlflow_run_id,
    )
    return version


def version_uri(settings: Settings, version: str | int) -> str:
    """Return ``models:/<registered model>/<version>``."""
    return f"models:/{settings.registered_model_name}/{version}"


def tag_version(settings: Settings, version: str | int, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on a model version; setting the same tag again changes nothing."""
    client = client_for(settings)
    for key, value in tags.items():
        client.set_model_version_tag(settings.registered_model_name, str(version), key, value)


def promote(settings: Settings, version: str | int, reason: str) -> None:
    """Point the ``production`` alias at ``version`` and tag the version with ``reason``."""
    client = client_for(settings)
    client.set_registered_model_alias(
        settings.registered_model_name, PRODUCTION_ALIAS, str(version)
    )
    tag_version(settings, version, {"selection_reason": reason})
    log.info(
        "Alias %r of %s now points at version %s: %s",
        PRODUCTION_ALIAS,
        settings.registered_model_name,
        version,
        reason,
    )


def production_version(settings: Settings) -> ModelVersion:
    """Return the version the ``production`` alias points at; raise ``MlflowException`` if none."""
    client = client_for(settings)
    return client.get_model_version_by_alias(settings.registered_model_name, PRODUCTION_ALIAS)


def production_model_uri(settings: Settings) -> str:
    """Return ``models:/<registered model>@production``."""
    return f"models:/{settings.registered_model_name}@{PRODUCTION_ALIAS}"


def load_production_model(settings: Settings) -> PyFuncModel:
    """Load the production model as an MLflow pyfunc model.

    Its ``predict(df)`` returns an ``(n_rows, 2)`` array of class
    probabilities; column 1 is the fraud probability.
    """
    import mlflow.pyfunc

    client_for(settings)
    return mlflow.pyfunc.load_model(production_model_uri(settings))


def stress_test_metrics(result: StressTestResult) -> dict[str, float]:
    """Return a stress test's summary counts, severity counts per category and model metrics.

    Names: ``rime/summary/<count>``, ``rime/<CATEGORY>/<SEVERITY>`` and
    ``rime/<reference|evaluation>/<metric>``; metrics RIME did not compute
    are left out.
    """
    counts = result.summary_counts
    metrics: dict[str, float] = {
        "rime/summary/total": counts.total,
        "rime/summary/passed": counts.passed,
        "rime/summary/warning": counts.warning,
        "rime/summary/failed": counts.failed,
        "rime/summary/skipped": counts.skipped,
    }
    for category, severities in sorted(result.category_severity_counts.items()):
        for severity, count in sorted(severities.items()):
            metrics[f"rime/{category}/{severity}"] = count
    for name, pair in sorted(result.model_perf.items()):
        if pair.reference is not None:
            metrics[f"rime/reference/{name}"] = pair.reference
        if pair.evaluation is not None:
            metrics[f"rime/evaluation/{name}"] = pair.evaluation
    return metrics


def log_stress_test(
    settings: Settings, mlflow_run_id: str, result: StressTestResult, tests_file: str
) -> None:
    """Add a stress test to its MLflow run: metrics, the per-test file and the link.

    The link becomes both a tag and a param named ``RIME Stress Test Link``.
    """
    client = client_for(settings)
    log_metrics_once(settings, mlflow_run_id, stress_test_metrics(result))
    client.log_artifact(mlflow_run_id, tests_file, artifact_path=STRESS_TEST_ARTIFACT_DIR)
    client.set_tag(mlflow_run_id, STRESS_TEST_LINK, result.link)
    client.set_tag(mlflow_run_id, "rime_test_run_id", result.test_run_id)
    log_params_once(settings, mlflow_run_id, {STRESS_TEST_LINK: result.link})


def _find_logged_model(settings: Settings, mlflow_run_id: str) -> str | None:
    import mlflow

    client_for(settings)
    models = mlflow.search_logged_models(
        experiment_ids=[experiment_id(settings)],
        filter_string=f"source_run_id = {_quote(mlflow_run_id)} and name = {_quote(MODEL_NAME)}",
        output_format="list",
    )
    ready = [model for model in models if str(model.status) in ("READY", "LoggedModelStatus.READY")]
    if not ready:
        return None
    return str(ready[0].model_uri)


def _quote(value: str) -> str:
    """Quote ``value`` as a string literal of an MLflow search filter."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _same_number(logged: float, value: float) -> bool:
    if math.isnan(logged) and math.isnan(float(value)):
        return True
    return math.isclose(logged, float(value), rel_tol=1e-12, abs_tol=0.0)
