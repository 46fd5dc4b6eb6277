"""Callables of RIME_Stress_Testing against the in-memory fake cluster and a temporary MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from rime_airflow_demo import tracking
from rime_airflow_demo.data.schema import PREDICTION_COL, DataError
from rime_airflow_demo.pipelines import stress_testing
from rime_airflow_demo.rime.errors import JobFailedError, TransientError
from rime_airflow_demo.rime.protocol import (
    MetricPair,
    Severity,
    SummaryCounts,
    TestCategory,
    TestResult,
)
from rime_airflow_demo.settings import Settings
from tests.fakes.fake_cluster import FakeRimeCluster, StressScript

RUN_ID = "manual__2024-01-01T00:00:00+00:00"
TESTED = ("sgd-classifier", "logistic-regression-classifier")
UNTESTED = "catboost-classifier"


class FakeTaskInstance:
    """Holds the XComs that choose_best_model pulls, keyed by task id."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcoms.get(task_ids)


def script(alerts: int, auc: float) -> StressScript:
    return StressScript(
        summary_counts=SummaryCounts(total=2, passed=2 - min(alerts, 2), failed=min(alerts, 2)),
        category_severity_counts={"MODEL_PERFORMANCE": {"ALERT": alerts, "PASS": 1}},
        model_perf={"AUC": MetricPair(reference=0.95, evaluation=auc)},
        tests=(
            TestResult(
                test_name="AUC",
                category=TestCategory.MODEL_PERFORMANCE,
                features=(),
                severity=Severity.ALERT if alerts else Severity.PASS,
                metrics={"AUC": auc},
            ),
        ),
    )


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Any:
    """Run the DAG's callables once, in graph order, for two model types."""
    home = tmp_path_factory.mktemp("stress")
    fake = FakeRimeCluster()
    ti = FakeTaskInstance()
    context = {"dag": SimpleNamespace(dag_id=stress_testing.DAG_ID), "run_id": RUN_ID, "ti": ti}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RIME_DEMO_HOME", str(home))
        patch.setenv("AIRFLOW_HOME", str(home / "airflow"))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        patch.setenv("RIME_DEMO_GEN_REFERENCE_ROWS", "800")
        patch.setenv("RIME_DEMO_RIME_BACKEND", "local")
        patch.setattr(stress_testing, "rime_client", lambda settings: fake)

        out: dict[str, Any] = {"fake": fake, "context": context, "home": home}
        out["project"] = stress_testing.create_rime_project(**context)
        out["train"] = stress_testing.fetch_train_data(**context)
        out["test"] = stress_testing.fetch_test_data(**context)
        # The logistic regression gets fewer ALERTs, so it should win despite a lower AUC.
        for model_type, alerts, auc in (("sgd-classifier", 3, 0.9), (TESTED[1], 1, 0.7)):
            fake.script_stress_test(f"{model_type} {RUN_ID}", script(alerts, auc))
            trained = stress_testing.train_model(model_type, out["train"], out["test"], **context)
            uploaded = stress_testing.upload_model(trained, **context)
            ref = stress_testing.add_preds_and_upload_ref_dataset_file(trained, **context)
            evaluation = stress_testing.add_preds_and_upload_eval_dataset_file(trained, **context)
            stress = stress_testing.run_stress_test(
                out["project"], uploaded, ref, evaluation, **context
            )
            logged = stress_testing.log_results_to_mlflow(stress, **context)
            ti.xcoms[f"log_results_to_mlflow_{model_type}"] = logged
            out[model_type] = {
                "trained": trained,
                "uploaded": uploaded,
                "ref": ref,
                "eval": evaluation,
                "stress": stress,
                "logged": logged,
            }
        candidate_tasks = {f"log_results_to_mlflow_{name}": name for name in (*TESTED, UNTESTED)}
        out["choice"] = stress_testing.choose_best_model(candidate_tasks, **context)
        out["production"] = stress_testing.transition_best_model_to_production(
            out["choice"], **context
        )
        out["firewall"] = stress_testing.create_firewall(out["production"], **context)
        out["settings"] = Settings.from_env()
        yield SimpleNamespace(**{key.replace("-", "_"): value for key, value in out.items()})


def test_splits_cover_reference(pipeline) -> None:
    """The train and test splits together hold every reference row."""
    assert pipeline.train["rows"] + pipeline.test["rows"] == 800


def test_split_files_written(pipeline) -> None:
    """Each split is a Parquet file under the storage root."""
    assert len(pd.read_parquet(pipeline.train["path"])) == pipeline.train["rows"]


def test_train_model_registers_version(pipeline) -> None:
    """Training returns the registered version and the test AUC."""
    trained = pipeline.sgd_classifier["trained"]
    assert trained["model_uri"].startswith("models:/fraud-detection-model/")
    assert 0.0 <= trained["test_auc"] <= 1.0


def test_train_model_retry_reuses_version(pipeline) -> None:
    """Retrying train_model returns the same version without registering another."""
    first = pipeline.sgd_classifier["trained"]
    again = stress_testing.train_model(
        "sgd-classifier", pipeline.train, pipeline.test, **pipeline.context
    )
    assert again == first


def test_upload_model_builds_rime_model_dir(pipeline) -> None:
    """The uploaded model directory contains the RIME entry file."""
    location = pipeline.sgd_classifier["uploaded"]["model_path"]
    local_dir = Path(pipeline.fake.uploads[location])
    assert (local_dir / "rime_model.py").is_file()


def test_reference_file_has_probabilities(pipeline) -> None:
    """The reference file adds a probability in [0, 1] to every train row."""
    ref = pipeline.sgd_classifier["ref"]
    frame = pd.read_parquet(pipeline.fake.uploads[ref["path"]])
    assert len(frame) == pipeline.train["rows"]
    assert frame[PREDICTION_COL].between(0, 1).all()


def test_evaluation_file_covers_test_split(pipeline) -> None:
    """The evaluation file contains the test split's rows."""
    assert pipeline.sgd_classifier["eval"]["rows"] == pipeline.test["rows"]


def test_datasets_registered_with_prediction_column(pipeline) -> None:
    """Both datasets are registered with the prediction column and the model id."""
    calls = pipeline.fake.calls_of("register_dataset")
    assert {call.args["pred_col"] for call in calls} == {PREDICTION_COL}
    assert all(call.args["model_id"] for call in calls)


def test_stress_test_xcom_has_no_test_rows(pipeline) -> None:
    """The per-test rows stay in the result file, out of XCom."""
    stress = pipeline.sgd_classifier["stress"]
    assert "tests" not in stress["result"]
    assert len(json.loads(Path(stress["result_path"]).read_text())["tests"]) == 1


def test_log_results_sets_link_tag_and_param(pipeline) -> None:
    """The MLflow run carries the stress test link as tag and param."""
    logged = pipeline.sgd_classifier["logged"]
    run = tracking.client_for(pipeline.settings).get_run(logged["mlflow_run_id"])
    assert run.data.tags[tracking.STRESS_TEST_LINK] == logged["link"]
    assert run.data.params[tracking.STRESS_TEST_LINK] == logged["link"]


def test_log_results_logs_category_metrics(pipeline) -> None:
    """The MLflow run has the ALERT count of each category and the test metrics."""
    logged = pipeline.sgd_classifier["logged"]
    metrics = tracking.client_for(pipeline.settings).get_run(logged["mlflow_run_id"]).data.metrics
    assert metrics["rime/MODEL_PERFORMANCE/ALERT"] == 3
    assert "test_auc" in metrics


def test_log_results_retry_keeps_metric_history(pipeline) -> None:
    """Logging the same results again adds no metric history entry."""
    stress_testing.log_results_to_mlflow(pipeline.sgd_classifier["stress"], **pipeline.context)
    run_id = pipeline.sgd_classifier["logged"]["mlflow_run_id"]
    client = tracking.client_for(pipeline.settings)
    assert len(client.get_metric_history(run_id, "rime/summary/total")) == 1


def test_log_results_finishes_run(pipeline) -> None:
    """The model's MLflow run ends FINISHED."""
    run_id = pipeline.sgd_classifier["logged"]["mlflow_run_id"]
    assert tracking.client_for(pipeline.settings).get_run(run_id).info.status == "FINISHED"


def test_choice_prefers_fewer_alerts(pipeline) -> None:
    """The model with fewer ALERTs wins over the one with the higher AUC."""
    assert pipeline.choice["model_type"] == "logistic-regression-classifier"


def test_choice_skips_model_without_results(pipeline) -> None:
    """A model whose log_results task left no XCom is not ranked."""
    assert UNTESTED not in pipeline.choice["ranking"]


def test_production_alias_on_chosen_version(pipeline) -> None:
    """The production alias points at the chosen model's version."""
    version = tracking.production_version(pipeline.settings)
    assert str(version.version) == pipeline.choice["model_version"]


def test_firewall_tags_production_version(pipeline) -> None:
    """The production version carries the firewall id."""
    version = tracking.production_version(pipeline.settings)
    assert version.tags["rime_firewall_id"] == pipeline.firewall["firewall_id"]


def test_firewall_uses_chosen_model(pipeline) -> None:
    """The firewall watches the chosen model with its reference dataset."""
    assert pipeline.firewall["model_id"] == pipeline.choice["model_id"]
    assert pipeline.firewall["ref_dataset_id"] == pipeline.choice["ref_dataset_id"]


def test_create_firewall_retry_keeps_one(pipeline) -> None:
    """Retrying create_firewall returns the same firewall."""
    again = stress_testing.create_firewall(pipeline.production, **pipeline.context)
    assert again["firewall_id"] == pipeline.firewall["firewall_id"]
    assert len(pipeline.fake.firewalls) == 1


def test_create_project_retry_keeps_one(pipeline) -> None:
    """Retrying create_rime_project returns the same project."""
    again = stress_testing.create_rime_project(**pipeline.context)
    assert again["project_id"] == pipeline.project["project_id"]
    assert len(pipeline.fake.projects) == 1


def test_failed_job_fails_task(pipeline, monkeypatch) -> None:
    """A failed stress test job fails the task at once instead of retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setattr(stress_testing, "rime_client", lambda settings: pipeline.fake)
    pipeline.fake.fail_next_jobs(1, "engine crashed")
    model = pipeline.sgd_classifier
    with pytest.raises(AirflowFailException, match="engine crashed"):
        stress_testing.run_task(
            "run_stress_test",
            project=pipeline.project,
            model=model["uploaded"],
            ref_dataset=model["ref"],
            eval_dataset=model["eval"],
            **pipeline.context,
        )


def test_run_task_lets_transient_error_retry(monkeypatch) -> None:
    """A transient RIME error propagates unchanged so Airflow retries the task."""

    def flaky(**context: Any) -> None:
        raise TransientError("503 from the cluster")

    monkeypatch.setitem(stress_testing.TASKS, "create_rime_project", flaky)
    with pytest.raises(TransientError):
        stress_testing.run_task("create_rime_project")


@pytest.mark.parametrize(
    "error",
    [DataError("bad file"), JobFailedError("job failed", "job-1")],
    ids=["data", "job"],
)
def test_run_task_fails_fast(monkeypatch, error: Exception) -> None:
    """Data errors and failed jobs become AirflowFailException."""
    from airflow.sdk.exceptions import AirflowFailException

    def broken(**context: Any) -> None:
        raise error

    monkeypatch.setitem(stress_testing.TASKS, "create_rime_project", broken)
    with pytest.raises(AirflowFailException, match=str(error)):
        stress_testing.run_task("create_rime_project")


def test_unknown_model_type_fails_fast(pipeline) -> None:
    """An unknown model type fails the task with the list of valid types."""
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException, match="sgd-classifier"):
        stress_testing.run_task(
            "train_model",
            model_type="random-forest",
            train=pipeline.train,
            test=pipeline.test,
            **pipeline.context,
        )


def test_no_successful_model_fails_choice(pipeline) -> None:
    """choose_best_model fails when no log_results task left a result."""
    from airflow.sdk.exceptions import AirflowFailException

    context = {**pipeline.context, "ti": FakeTaskInstance()}
    with pytest.raises(AirflowFailException, match="No model can be promoted"):
        stress_testing.run_task(
            "choose_best_model", candidate_tasks={"log_results_to_mlflow_0": UNTESTED}, **context
        )
