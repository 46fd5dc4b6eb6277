"""MLflow tracking on a temporary SQLite store: one run per model, versions once, the alias."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from rime_airflow_demo import modeling, tracking
from rime_airflow_demo.data import generator
from rime_airflow_demo.data.schema import FEATURES, LABEL
from rime_airflow_demo.rime.protocol import MetricPair, StressTestResult, SummaryCounts
from rime_airflow_demo.settings import GeneratorSettings, Settings

MODEL_TYPE = "logistic-regression-classifier"


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    home = tmp_path_factory.mktemp("tracking")
    return replace(
        Settings(),
        home=home,
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        mlflow_experiment="tracking_test",
        registered_model_name="tracking-test-model",
    )


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return generator.generate_reference(GeneratorSettings(reference_rows=600))


@pytest.fixture(scope="module")
def model(train: pd.DataFrame):
    return modeling.train_model(MODEL_TYPE, train, FEATURES, LABEL, seed=1)


@pytest.fixture(scope="module")
def versions(settings: Settings, model, train: pd.DataFrame) -> list[str]:
    """Two DAG runs, each logging and registering the same model type."""
    numbers = []
    for run_id in ("run-a", "run-b"):
        mlflow_run_id = tracking.find_or_create_run(settings, "dag", run_id, MODEL_TYPE)
        uri = tracking.log_model(settings, mlflow_run_id, model, train[list(FEATURES)].head(5))
        version = tracking.register_version(settings, uri, mlflow_run_id, {"source": run_id})
        numbers.append(str(version.version))
    return numbers


def test_run_found_again_on_retry(settings: Settings) -> None:
    """A second lookup for the same DAG run and model type returns the same MLflow run."""
    first = tracking.find_or_create_run(settings, "dag", "retry-run", MODEL_TYPE)
    second = tracking.find_or_create_run(settings, "dag", "retry-run", MODEL_TYPE)
    assert first == second


def test_other_model_type_gets_own_run(settings: Settings) -> None:
    """Another model type in the same DAG run gets another MLflow run."""
    first = tracking.find_or_create_run(settings, "dag", "two-models", MODEL_TYPE)
    second = tracking.find_or_create_run(settings, "dag", "two-models", "sgd-classifier")
    assert first != second


def test_metric_logged_once(settings: Settings) -> None:
    """Logging the same metrics twice keeps one entry in the metric history."""
    run_id = tracking.find_or_create_run(settings, "dag", "metrics", MODEL_TYPE)
    tracking.log_metrics_once(settings, run_id, {"test_auc": 0.8})
    tracking.log_metrics_once(settings, run_id, {"test_auc": 0.8})
    history = tracking.client_for(settings).get_metric_history(run_id, "test_auc")
    assert len(history) == 1


def test_param_kept_when_value_changes(settings: Settings) -> None:
    """A param logged again with another value keeps its first value."""
    run_id = tracking.find_or_create_run(settings, "dag", "params", MODEL_TYPE)
    tracking.log_params_once(settings, run_id, {"seed": 1})
    tracking.log_params_once(settings, run_id, {"seed": 2})
    params = tracking.client_for(settings).get_run(run_id).data.params
    assert params["seed"] == "1"


def test_version_registered_once_per_run(
    settings: Settings, versions: list[str], model, train: pd.DataFrame
) -> None:
    """Logging and registering again in the same MLflow run returns the existing version."""
    mlflow_run_id = tracking.find_or_create_run(settings, "dag", "run-a", MODEL_TYPE)
    uri = tracking.log_model(settings, mlflow_run_id, model, train[list(FEATURES)].head(5))
    version = tracking.register_version(settings, uri, mlflow_run_id, {"source": "run-a"})
    assert str(version.version) == versions[0]


def test_version_tagged_with_mlflow_run(settings: Settings, versions: list[str]) -> None:
    """Each version carries the MLflow run id it came from."""
    mlflow_run_id = tracking.find_or_create_run(settings, "dag", "run-a", MODEL_TYPE)
    version = tracking.find_model_version(settings, mlflow_run_id)
    assert version is not None
    assert version.tags[tracking.TAG_MLFLOW_RUN_ID] == mlflow_run_id


def test_alias_moves_to_promoted_version(settings: Settings, versions: list[str]) -> None:
    """Promoting another version moves the production alias to it."""
    tracking.promote(settings, versions[0], "first")
    tracking.promote(settings, versions[1], "second")
    assert str(tracking.production_version(settings).version) == versions[1]


def test_alias_is_single(settings: Settings, versions: list[str]) -> None:
    """After two promotions exactly one version has the production alias."""
    tracking.promote(settings, versions[0], "first")
    client = tracking.client_for(settings)
    holders = [
        str(v.version)
        for v in client.search_model_versions(f"name = '{settings.registered_model_name}'")
        if tracking.PRODUCTION_ALIAS
        in client.get_model_version(settings.registered_model_name, v.version).aliases
    ]
    assert holders == [versions[0]]


def test_promotion_tags_reason(settings: Settings, versions: list[str]) -> None:
    """The promoted version carries the selection reason."""
    tracking.promote(settings, versions[1], "fewest alerts")
    version = tracking.production_version(settings)
    assert version.tags["selection_reason"] == "fewest alerts"


def test_production_model_uri_uses_alias(settings: Settings) -> None:
    """The production URI names the registered model and the alias."""
    assert tracking.production_model_uri(settings) == "models:/tracking-test-model@production"


def test_production_model_returns_two_columns(
    settings: Settings, versions: list[str], train: pd.DataFrame
) -> None:
    """The production pyfunc model returns one probability column per class."""
    tracking.promote(settings, versions[0], "first")
    output = tracking.load_production_model(settings).predict(train[list(FEATURES)].head(4))
    assert output.shape == (4, 2)


def test_stress_test_metrics_names() -> None:
    """Stress test metrics are named by summary, category and severity, and data set."""
    result = StressTestResult(
        test_run_id="t",
        job_id="j",
        project_id="p",
        model_id="m",
        link="file:///report.html",
        summary_counts=SummaryCounts(total=3, passed=1, warning=1, failed=1),
        category_severity_counts={"DRIFT": {"ALERT": 1}},
        model_perf={"AUC": MetricPair(reference=0.9, evaluation=None)},
    )
    metrics = tracking.stress_test_metrics(result)
    assert metrics["rime/summary/failed"] == 1
    assert metrics["rime/DRIFT/ALERT"] == 1
    assert metrics["rime/reference/AUC"] == pytest.approx(0.9)
    assert "rime/evaluation/AUC" not in metrics


def test_log_stress_test_sets_link_tag_and_param(settings: Settings, tmp_path: Path) -> None:
    """The stress test link is both a tag and a param of the run, and logging twice is safe."""
    run_id = tracking.find_or_create_run(settings, "dag", "stress", MODEL_TYPE)
    result = StressTestResult(
        "t", "j", "p", "m", "file:///report.html", SummaryCounts(total=1, passed=1), {}, {}
    )
    results_file = tmp_path / "result.json"
    results_file.write_text("{}")
    tracking.log_stress_test(settings, run_id, result, str(results_file))
    tracking.log_stress_test(settings, run_id, result, str(results_file))
    run = tracking.client_for(settings).get_run(run_id)
    assert run.data.tags[tracking.STRESS_TEST_LINK] == "file:///report.html"
    assert run.data.params[tracking.STRESS_TEST_LINK] == "file:///report.html"
