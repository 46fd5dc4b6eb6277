"""The RIME_Stress_Testing callables on the rime-sdk backend, against the fake RIME server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from rime_airflow_demo.pipelines import stress_testing
from tests.fakes import sdk_support
from tests.fakes.rime_server import FakeRimeServer

# Two third-party warnings: Airflow 3.3's ORM models use SQLAlchemy's deprecated
# ``noload`` strategy, reported when MLflow's store configures every mapper of the
# process, and MLflow 3.17 types signature columns with missing values as AnyType.
pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:The ``noload`` loader strategy is deprecated:sqlalchemy.exc.SADeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*inferred as AnyType:UserWarning"),
]

API_KEY = "stress-flow-test-key"
MODEL_TYPE = "logistic-regression-classifier"


@pytest.fixture(scope="module")
def flow(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FakeRimeServer, dict[str, Any], dict[str, Any]]]:
    """The fake server after the flow ran twice, with the XCom values of both runs.

    The flow trains and logs a real model, so the module runs it once per
    scenario instead of once per test.
    """
    home = tmp_path_factory.mktemp("stress_flow")
    with pytest.MonkeyPatch.context() as monkeypatch, FakeRimeServer(api_key=API_KEY) as server:
        sdk_support.disable_sdk_throttle(monkeypatch)
        monkeypatch.delenv("AIRFLOW_CONN_RIME_DEFAULT", raising=False)
        monkeypatch.setenv("RIME_DEMO_HOME", str(home))
        monkeypatch.setenv("RIME_DEMO_RIME_BACKEND", "sdk")
        monkeypatch.setenv("RIME_API_KEY", API_KEY)
        monkeypatch.setenv("RIME_UPLOAD_URL", server.url)
        monkeypatch.setenv("RIME_DEMO_RIME_POLL_INTERVAL", "0.01")
        monkeypatch.setenv("RIME_DEMO_GEN_REFERENCE_ROWS", "400")
        context = {"dag": SimpleNamespace(dag_id=stress_testing.DAG_ID), "run_id": "manual__t1"}
        root = logging.getLogger()
        previous_level = root.level
        root.addHandler(LOG_CAPTURE)
        root.setLevel(logging.DEBUG)
        try:
            first = run_one_model(context)
            second = run_one_model(context)
        finally:
            root.removeHandler(LOG_CAPTURE)
            root.setLevel(previous_level)
        yield server, first, second


class RecordingHandler(logging.Handler):
    """Keeps the formatted text of every log record, arguments and tracebacks included."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


LOG_CAPTURE = RecordingHandler()


def run_one_model(context: dict[str, Any]) -> dict[str, Any]:
    """Run the callables of one model in DAG order and return every XCom value."""
    project = stress_testing.create_rime_project(**context)
    train = stress_testing.fetch_train_data(**context)
    test = stress_testing.fetch_test_data(**context)
    trained = stress_testing.train_model(MODEL_TYPE, train, test, **context)
    model = stress_testing.upload_model(trained, **context)
    ref = stress_testing.add_preds_and_upload_ref_dataset_file(trained, **context)
    ev = stress_testing.add_preds_and_upload_eval_dataset_file(trained, **context)
    stress = stress_testing.run_stress_test(project, model, ref, ev, **context)
    logged = stress_testing.log_results_to_mlflow(stress, **context)
    return {"project": project, "train": train, "test": test, "stress": stress, "logged": logged}


Flow = tuple[FakeRimeServer, dict[str, Any], dict[str, Any]]


def test_stress_flow_on_fake_server(flow: Flow) -> None:
    """One model goes from training to a logged stress test through rime-sdk."""
    server, first, _ = flow
    assert first["stress"]["result"]["summary_counts"]["total"] > 0
    assert first["logged"]["model_id"] in server.models
    assert first["logged"]["link"].endswith(first["stress"]["result"]["test_run_id"])


def test_stress_flow_eval_rows(flow: Flow) -> None:
    """The server's stress test covers exactly the rows of the test split."""
    server, first, _ = flow
    test_run = server.test_runs[first["stress"]["result"]["test_run_id"]]
    assert test_run["detail"]["metrics"]["numInputs"] == str(first["test"]["rows"])


def test_stress_flow_rerun_idempotent(flow: Flow) -> None:
    """Running the callables again reuses the project, model and datasets."""
    server, first, second = flow
    assert len(server.projects) == 1
    assert len(server.models) == 1
    assert len(server.datasets) == 2
    assert second["stress"]["ref_dataset_id"] == first["stress"]["ref_dataset_id"]
    assert server.calls_to("start_stress_test") == 2


def test_stress_flow_values_hide_key(flow: Flow) -> None:
    """No XCom value of the flow contains the API key."""
    _, first, second = flow
    assert API_KEY not in json.dumps([first, second])


def test_stress_flow_logs_hide_key(flow: Flow) -> None:
    """No log record written during the flow contains the API key."""
    assert LOG_CAPTURE.lines
    assert not [line for line in LOG_CAPTURE.lines if API_KEY in line]


def test_stress_flow_mlflow_hides_key(flow: Flow) -> None:
    """No MLflow param, run tag or model version tag of the flow contains the API key."""
    from rime_airflow_demo import tracking
    from rime_airflow_demo.settings import Settings

    settings = Settings.from_env()
    client = tracking.client_for(settings)
    runs = client.search_runs([tracking.experiment_id(settings)])
    assert runs
    for run in runs:
        assert API_KEY not in json.dumps(run.data.params)
        assert API_KEY not in json.dumps(run.data.tags)
    versions = client.search_model_versions(f"name='{settings.registered_model_name}'")
    assert versions
    for version in versions:
        assert API_KEY not in json.dumps(version.tags)
