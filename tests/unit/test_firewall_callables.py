"""Callables of RIME_Firewall against the fake cluster and a real MLflow store in a temp folder."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from rime_airflow_demo import tracking
from rime_airflow_demo.data.schema import PREDICTION_COL
from rime_airflow_demo.data.sources import feature_columns, load_reference
from rime_airflow_demo.modeling import train_model
from rime_airflow_demo.pipelines import firewall
from rime_airflow_demo.pipelines.firewall_report import (
    ARTIFACT_DIR,
    RUN_NAME,
    TAG_MODEL_VERSION,
    VERSION_TAG_LAST_BIN,
    VERSION_TAG_LAST_SEVERITY,
    bin_step,
    firewall_run,
)
from rime_airflow_demo.rime.errors import TransientError
from rime_airflow_demo.rime.protocol import (
    BinResult,
    ContinuousTestResult,
    Severity,
    TestCategory,
)
from rime_airflow_demo.settings import Settings
from tests.fakes.fake_cluster import FakeRimeCluster

# Two third-party warnings: Airflow 3.3's ORM models use SQLAlchemy's
# deprecated ``noload`` strategy, which SQLAlchemy reports when MLflow's store
# configures every mapper of the process; MLflow 3.17 warns that the logged
# model's signature types columns with missing values as AnyType.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*inferred as AnyType:UserWarning"),
]

FIRST_DAY = date(2024, 3, 1)
ROWS_PER_DAY = 40
SMALL_DATA = {
    "RIME_DEMO_GEN_PRODUCTION_DAYS": "3",
    "RIME_DEMO_GEN_ROWS_PER_DAY": str(ROWS_PER_DAY),
    "RIME_DEMO_GEN_REFERENCE_ROWS": "300",
    "RIME_DEMO_GEN_DRIFT_START_DAY": "2",
}


def day_context(day: date, run_id: str = "scheduled__2024-03-02T00:00:00+00:00") -> dict[str, Any]:
    """Return the parts of an Airflow task context that the callables read."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return {
        "dag": SimpleNamespace(dag_id="RIME_Firewall"),
        "run_id": run_id,
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
    }


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An MLflow store whose registered model has a ``production`` alias on a fitted model."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    settings = Settings.from_env(
        {**SMALL_DATA, "RIME_DEMO_HOME": str(folder), "MLFLOW_TRACKING_URI": uri}
    )
    reference = load_reference(settings)
    features = feature_columns(settings, reference)
    model = train_model("logistic-regression-classifier", reference, features, "label", 1)
    run_id = tracking.find_or_create_run(settings, "RIME_Stress_Testing", "test", "lr")
    # Listing the requirements skips MLflow's slow inference of them.
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            pyfunc_predict_fn="predict_proba",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
    version = tracking.register_version(settings, str(info.model_uri), run_id, {})
    tracking.promote(settings, version.version, "only model")
    return uri


@pytest.fixture
def env(tmp_path: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Small generated data, a temp home and the MLflow store above."""
    monkeypatch.setenv("RIME_DEMO_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_uri)
    for name, value in SMALL_DATA.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


@pytest.fixture
def cluster(env: Settings, monkeypatch: pytest.MonkeyPatch) -> FakeRimeCluster:
    """A fake cluster with the project and firewall that RIME_Stress_Testing creates."""
    fake = FakeRimeCluster()
    project = fake.add_project(env.rime_project_name)
    model = fake.register_model(project.project_id, "best", "fake://models/best")
    fake.create_firewall(project.project_id, model.model_id, "reference-dataset")
    monkeypatch.setattr(firewall, "rime_client", lambda settings: fake)
    return fake


def scored_day(day: date) -> dict[str, Any]:
    """Fetch one day and add the production model's predictions, as the DAG does."""
    context = day_context(day)
    fetched = firewall.run_task("fetch_production_data", **context)
    return firewall.run_task("add_prod_preds", fetched=fetched, **context)


def run_day(day: date, project_id: str, run_id: str = "scheduled__day") -> dict[str, Any]:
    """Run the four data tasks of one day in order, as the DAG does."""
    context = day_context(day, run_id)
    fetched = firewall.run_task("fetch_production_data", **context)
    gated = firewall.run_task("continue_if_data_available", fetched=fetched)
    assert gated is not None
    preds = firewall.run_task("add_prod_preds", fetched=gated, **context)
    return firewall.run_task("run_firewall", preds=preds, project_id=project_id)


class TestFetchProductionData:
    """fetch_production_data writes exactly the run's day."""

    def test_rows_of_day_only(self, env: Settings) -> None:
        """Every written row has a timestamp inside the day."""
        fetched = firewall.run_task("fetch_production_data", **day_context(FIRST_DAY))
        frame = pd.read_parquet(fetched["path"])
        assert fetched["rows"] == ROWS_PER_DAY
        assert len(frame) == ROWS_PER_DAY
        assert (frame["timestamp"].dt.date == FIRST_DAY).all()

    def test_returns_interval(self, env: Settings) -> None:
        """The result names the interval bounds in UTC ISO 8601."""
        fetched = firewall.run_task("fetch_production_data", **day_context(FIRST_DAY))
        assert fetched["start"] == "2024-03-01T00:00:00+00:00"
        assert fetched["end"] == "2024-03-02T00:00:00+00:00"

    def test_retry_overwrites(self, env: Settings) -> None:
        """A retry of the same DAG run writes the same file again."""
        first = firewall.run_task("fetch_production_data", **day_context(FIRST_DAY))
        second = firewall.run_task("fetch_production_data", **day_context(FIRST_DAY))
        assert first == second
        assert len(list(Path(first["path"]).parent.iterdir())) == 1

    def test_day_without_data(self, env: Settings) -> None:
        """A day outside the data window yields zero rows."""
        fetched = firewall.run_task("fetch_production_data", **day_context(date(2024, 4, 1)))
        assert fetched["rows"] == 0

    def test_empty_interval_rejected(self, env: Settings) -> None:
        """A run whose data interval is empty fails and names the timetable problem."""
        context = day_context(FIRST_DAY)
        context["data_interval_end"] = context["data_interval_start"]
        with pytest.raises(AirflowFailException, match=r"interval .* is empty"):
            firewall.run_task("fetch_production_data", **context)

    def test_missing_interval_rejected(self, env: Settings) -> None:
        """A run without a data interval fails with the command that triggers one."""
        context = day_context(FIRST_DAY)
        context["data_interval_start"] = None
        with pytest.raises(AirflowFailException, match="--date"):
            firewall.run_task("fetch_production_data", **context)


class TestContinueIfDataAvailable:
    """The gate lets a day with rows through and stops an empty one."""

    def test_rows_pass(self) -> None:
        """A day with rows passes its fetch result on."""
        fetched = {"path": "p", "rows": 3, "start": "s", "end": "e"}
        assert firewall.run_task("continue_if_data_available", fetched=fetched) == fetched

    def test_empty_day_stops(self) -> None:
        """A day without rows returns None, which skips the downstream tasks."""
        fetched = {"path": "p", "rows": 0, "start": "s", "end": "e"}
        assert firewall.run_task("continue_if_data_available", fetched=fetched) is None


class TestGetRimeProjectId:
    """The project comes from RIME_Stress_Testing."""

    def test_found(self, cluster: FakeRimeCluster) -> None:
        """The id of the project with the configured name is returned."""
        project_id = firewall.run_task("get_rime_project_id")
        assert cluster.projects[project_id].name == Settings.from_env().rime_project_name

    def test_missing_project(self, env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the project, the task fails and names RIME_Stress_Testing as the fix."""
        monkeypatch.setattr(firewall, "rime_client", lambda settings: FakeRimeCluster())
        with pytest.raises(AirflowFailException, match="run RIME_Stress_Testing first"):
            firewall.run_task("get_rime_project_id")


class TestAddProdPreds:
    """add_prod_preds scores the day with the production model and uploads it."""

    def test_probabilities_added(self, cluster: FakeRimeCluster) -> None:
        """The written file has one fraud probability in [0, 1] per row."""
        preds = scored_day(FIRST_DAY)
        frame = pd.read_parquet(preds["preds_path"])
        assert len(frame) == ROWS_PER_DAY
        assert frame[PREDICTION_COL].between(0.0, 1.0).all()

    def test_uploaded_per_day(self, cluster: FakeRimeCluster) -> None:
        """The file is uploaded at a path derived from the day, so a re-run overwrites it."""
        preds = scored_day(FIRST_DAY)
        upload = cluster.calls_of("upload_file")[-1]
        assert upload.args["upload_path"] == "firewall/production/2024-03-01.parquet"
        assert preds["uploaded_path"] in cluster.uploads

    def test_model_version_returned(self, cluster: FakeRimeCluster) -> None:
        """The result names the model version behind the production alias."""
        preds = scored_day(FIRST_DAY)
        expected = tracking.production_version(Settings.from_env()).version
        assert preds["model_version"] == str(expected)

    def test_no_production_alias(
        self, cluster: FakeRimeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a production alias, the task fails and names RIME_Stress_Testing as the fix."""
        context = day_context(FIRST_DAY)
        fetched = firewall.run_task("fetch_production_data", **context)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
        with pytest.raises(AirflowFailException, match="no 'production' alias"):
            firewall.run_task("add_prod_preds", fetched=fetched, **context)


class TestRunFirewall:
    """run_firewall registers the day, runs the continuous test and records the bin."""

    def test_one_bin_for_day(self, cluster: FakeRimeCluster) -> None:
        """One day gives one bin with all its rows."""
        project_id = firewall.run_task("get_rime_project_id")
        result = run_day(FIRST_DAY, project_id)
        assert result["bins"] == 1
        assert [b.n_rows for b in cluster.bins.values()] == [ROWS_PER_DAY]

    def test_dataset_columns(self, cluster: FakeRimeCluster) -> None:
        """The dataset is registered with label, prediction, timestamp and ignored columns."""
        run_day(FIRST_DAY, firewall.run_task("get_rime_project_id"))
        call = cluster.calls_of("register_dataset")[-1].args
        assert call["label_col"] == "label"
        assert call["pred_col"] == PREDICTION_COL
        assert call["timestamp_col"] == "timestamp"
        assert call["ignored_cols"] == ("preds",)
        assert call["name"] == "production 2024-03-01"

    def test_rerun_replaces_bin(self, cluster: FakeRimeCluster) -> None:
        """Running a day twice leaves one bin for that day."""
        project_id = firewall.run_task("get_rime_project_id")
        run_day(FIRST_DAY, project_id, "manual__first")
        run_day(FIRST_DAY, project_id, "manual__second")
        starts = [start for _, start in cluster.bins]
        assert starts == ["2024-03-01T00:00:00+00:00"]
        assert len(cluster.datasets) == 1

    def test_events_logged(
        self, cluster: FakeRimeCluster, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each bin and each detection event gets its own log line."""
        cluster.script_events(
            "2024-03-01",
            {
                "metric": "psi",
                "feature": "transaction_amount",
                "value": 0.4,
                "threshold": 0.2,
                "severity": Severity.ALERT,
                "category": TestCategory.DRIFT,
            },
        )
        with caplog.at_level(logging.INFO, logger="rime_airflow_demo.pipelines"):
            result = run_day(FIRST_DAY, firewall.run_task("get_rime_project_id"))
        assert result["events"] == 1
        assert result["severity"] == "ALERT"
        assert any(m.startswith("Bin [2024-03-01") for m in caplog.messages)
        assert any(m.startswith("Detection event") and "psi" in m for m in caplog.messages)

    def test_missing_firewall(self, cluster: FakeRimeCluster) -> None:
        """A project without a firewall fails and names the task that creates it."""
        project = cluster.add_project("other")
        preds = scored_day(FIRST_DAY)
        with pytest.raises(AirflowFailException, match="create_firewall"):
            firewall.run_task("run_firewall", preds=preds, project_id=project.project_id)

    def test_failed_job_fails_fast(self, cluster: FakeRimeCluster) -> None:
        """A failed continuous test job fails the task without retries."""
        project_id = firewall.run_task("get_rime_project_id")
        preds = scored_day(FIRST_DAY)
        cluster.fail_next_jobs(1, "worker lost")
        with pytest.raises(AirflowFailException, match="worker lost"):
            firewall.run_task("run_firewall", preds=preds, project_id=project_id)

    def test_transient_error_retryable(self, cluster: FakeRimeCluster) -> None:
        """A transient error propagates unchanged so Airflow retries the task."""
        project_id = firewall.run_task("get_rime_project_id")
        preds = scored_day(FIRST_DAY)
        cluster.transient_errors("start_continuous_test", 1)
        with pytest.raises(TransientError):
            firewall.run_task("run_firewall", preds=preds, project_id=project_id)


class TestFirewallInMlflow:
    """Results land next to the production model in MLflow, once per day."""

    def test_run_tagged_with_version(self, cluster: FakeRimeCluster) -> None:
        """The firewall run is named ``firewall`` and tagged with the model version."""
        settings = Settings.from_env()
        run_day(FIRST_DAY, firewall.run_task("get_rime_project_id"))
        version = str(tracking.production_version(settings).version)
        run = tracking.client_for(settings).get_run(firewall_run(settings, version))
        assert run.info.run_name == RUN_NAME
        assert run.data.tags[TAG_MODEL_VERSION] == version

    def test_rerun_keeps_one_point(self, cluster: FakeRimeCluster) -> None:
        """Re-running a day logs no second metric point and keeps one artifact for it."""
        settings = Settings.from_env()
        project_id = firewall.run_task("get_rime_project_id")
        run_day(FIRST_DAY, project_id, "manual__first")
        run_day(FIRST_DAY, project_id, "manual__second")
        client = tracking.client_for(settings)
        version = str(tracking.production_version(settings).version)
        run_id = firewall_run(settings, version)
        history = client.get_metric_history(run_id, "firewall/rows")
        day_step = (FIRST_DAY - date(1970, 1, 1)).days
        assert [(p.step, p.value) for p in history if p.step == day_step] == [
            (day_step, float(ROWS_PER_DAY))
        ]
        names = [a.path for a in client.list_artifacts(run_id, ARTIFACT_DIR)]
        assert names.count(f"{ARTIFACT_DIR}/2024-03-01.json") == 1

    def test_artifact_holds_bins(self, cluster: FakeRimeCluster) -> None:
        """The day's JSON artifact lists the bin with its row count."""
        settings = Settings.from_env()
        run_day(FIRST_DAY, firewall.run_task("get_rime_project_id"))
        version = str(tracking.production_version(settings).version)
        run_id = firewall_run(settings, version)
        local = tracking.client_for(settings).download_artifacts(
            run_id, f"{ARTIFACT_DIR}/2024-03-01.json"
        )
        content = json.loads(Path(local).read_text())
        assert [b["n_rows"] for b in content["bins"]] == [ROWS_PER_DAY]

    def test_version_tags_latest_bin(self, cluster: FakeRimeCluster) -> None:
        """The model version carries the latest bin, even after an older day is re-run."""
        settings = Settings.from_env()
        project_id = firewall.run_task("get_rime_project_id")
        run_day(FIRST_DAY + timedelta(days=1), project_id)
        run_day(FIRST_DAY, project_id)
        version = tracking.production_version(settings)
        assert version.tags[VERSION_TAG_LAST_BIN] == "2024-03-02T00:00:00+00:00"
        assert version.tags[VERSION_TAG_LAST_SEVERITY] == "PASS"


class TestBinChecks:
    """Pure checks of continuous-test output."""

    def result(self, start: str, end: str, rows: int) -> ContinuousTestResult:
        """Build a one-bin result."""
        item = BinResult("fw", start, end, rows, Severity.PASS, {})
        return ContinuousTestResult("job", "fw", (item,), ())

    def test_bin_step_days_since_epoch(self) -> None:
        """A daily bin's step is its day number since 1970-01-01."""
        item = BinResult(
            "fw", "2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00", 1, Severity.PASS, {}
        )
        assert bin_step(item) == (date(2024, 3, 1) - date(1970, 1, 1)).days

    def test_bin_outside_interval_rejected(self) -> None:
        """A bin that starts outside the run's day is an error."""
        result = self.result("2024-03-02T00:00:00+00:00", "2024-03-03T00:00:00+00:00", 5)
        with pytest.raises(firewall.FirewallTaskError, match="outside"):
            firewall.check_bins(result, 5, "2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00")

    def test_row_count_mismatch_rejected(self) -> None:
        """Bins that hold fewer rows than the day are an error."""
        result = self.result("2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00", 4)
        with pytest.raises(firewall.FirewallTaskError, match="binned 4 rows"):
            firewall.check_bins(result, 5, "2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00")
