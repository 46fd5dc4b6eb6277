"""RIME_Stress_Testing end to end: real Airflow, MLflow on SQLite and the local RIME engine."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from rime_airflow_demo import selection, tracking
from rime_airflow_demo.rime.local import LocalRimeClient
from rime_airflow_demo.settings import Settings

pytestmark = pytest.mark.integration

DAG_ID = "RIME_Stress_Testing"
MODEL_COUNT = 3


def finished_runs(settings: Settings) -> list[Any]:
    client = tracking.client_for(settings)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    return client.search_runs([experiment.experiment_id])


def policy_choice(settings: Settings) -> str:
    """Apply the selection policy to what MLflow recorded and return the winner's version."""
    candidates, versions = [], {}
    for run in finished_runs(settings):
        metrics = run.data.metrics
        model_type = run.data.tags[tracking.TAG_MODEL_TYPE]
        alerts = sum(
            int(metrics.get(f"rime/{category}/ALERT", 0))
            for category in selection.RANKED_CATEGORIES
        )
        auc = metrics.get("rime/evaluation/AUC", metrics.get("test_auc"))
        candidates.append(selection.Candidate(model_type, True, alerts, auc))
        versions[model_type] = str(tracking.find_model_version(settings, run.info.run_id).version)
    return versions[selection.choose_best(candidates).winner.model_type]


def check_finished_run(demo_env) -> None:
    """Assert what a finished RIME_Stress_Testing run leaves in MLflow and the local engine."""
    settings = demo_env.settings()
    runs = finished_runs(settings)
    assert len(runs) == MODEL_COUNT
    assert {run.info.status for run in runs} == {"FINISHED"}
    for run in runs:
        assert "test_auc" in run.data.metrics
        assert "rime/summary/total" in run.data.metrics
        assert run.data.tags[tracking.STRESS_TEST_LINK]

    client = tracking.client_for(settings)
    versions = client.search_model_versions(f"name = '{settings.registered_model_name}'")
    assert len(versions) == MODEL_COUNT
    holders = [
        str(v.version)
        for v in versions
        if tracking.PRODUCTION_ALIAS
        in client.get_model_version(settings.registered_model_name, v.version).aliases
    ]
    assert holders == [policy_choice(settings)]

    engine = LocalRimeClient(settings.rime_local_root)
    project = engine.find_project(settings.rime_project_name)
    firewall = engine.get_firewall(project.project_id)
    production = tracking.production_version(settings)
    assert production.tags["rime_firewall_id"] == firewall.firewall_id


def test_generated_data_run_and_task_retries(demo_env, monkeypatch) -> None:
    """A generated-data run promotes and protects one model, and retried tasks add nothing."""
    demo_env.run_dag(DAG_ID)
    check_finished_run(demo_env)

    demo_env.apply(monkeypatch)
    from rime_airflow_demo.pipelines import stress_testing

    settings = demo_env.settings()
    run_id, xcoms = demo_env.xcoms(DAG_ID)
    context = {"dag": SimpleNamespace(dag_id=DAG_ID), "run_id": run_id}
    engine = LocalRimeClient(settings.rime_local_root)
    project_before = engine.find_project(settings.rime_project_name)
    firewall_before = engine.get_firewall(project_before.project_id)
    alias_before = str(tracking.production_version(settings).version)

    project = stress_testing.create_rime_project(**context)
    trained = stress_testing.train_model(
        "catboost-classifier", xcoms["fetch_train_data"], xcoms["fetch_test_data"], **context
    )
    stress_testing.log_results_to_mlflow(xcoms["run_stress_test_0"], **context)
    production = stress_testing.transition_best_model_to_production(
        xcoms["choose_best_model"], **context
    )
    firewall = stress_testing.create_firewall(production, **context)

    assert project["project_id"] == project_before.project_id
    assert trained["model_version"] == xcoms["train_model_0"]["model_version"]
    assert firewall["firewall_id"] == firewall_before.firewall_id
    assert str(tracking.production_version(settings).version) == alias_before
    client = tracking.client_for(settings)
    versions = client.search_model_versions(f"name = '{settings.registered_model_name}'")
    assert len(versions) == MODEL_COUNT
    mlflow_run_id = trained["mlflow_run_id"]
    for metric in ("test_auc", "rime/summary/total"):
        assert len(client.get_metric_history(mlflow_run_id, metric)) == 1
    assert len(finished_runs(settings)) == MODEL_COUNT


def test_public_example_data_run(demo_env, public_data) -> None:
    """Robust Intelligence's public fraud example data runs through the DAG by settings alone."""
    demo_env.env.update(
        {
            "RIME_DEMO_DATA_SOURCE": "files",
            "RIME_DEMO_DATA_PATH": str(public_data),
            "RIME_DEMO_FIREWALL_START": "2018-08-01",
            "RIME_DEMO_FIREWALL_END": "2018-08-29",
        }
    )
    demo_env.run_dag(DAG_ID)
    check_finished_run(demo_env)
