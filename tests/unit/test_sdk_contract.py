"""Contract of ``SdkRimeClient``: the real rime-sdk over HTTP against a fake RIME server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rime_airflow_demo.rime.connect import RimeCredentials
from rime_airflow_demo.rime.errors import (
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    TransientError,
    UnauthorizedError,
)
from rime_airflow_demo.rime.protocol import JobKind, JobState, Severity
from rime_airflow_demo.rime.sdk import SdkRimeClient
from tests.fakes import sdk_support
from tests.fakes.rime_server import FakeRimeServer
from tests.fakes.sdk_support import LABEL_COL, PRED_COL, TIMESTAMP_COL

API_KEY = "contract-test-key"


def roc_auc_score(labels: pd.Series, scores: pd.Series) -> float:
    """Return the AUC as the share of (positive, negative) pairs ranked correctly, ties half."""
    positives = scores[labels == 1].to_numpy()[:, None]
    negatives = scores[labels == 0].to_numpy()[None, :]
    return float(np.mean((positives > negatives) + 0.5 * (positives == negatives)))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRimeServer]:
    sdk_support.disable_sdk_throttle(monkeypatch)
    with FakeRimeServer(api_key=API_KEY) as fake:
        yield fake


def make_client(server: FakeRimeServer, key: str = API_KEY) -> SdkRimeClient:
    return SdkRimeClient(
        RimeCredentials(url=server.url, api_key=key), job_timeout_s=5.0, poll_interval_s=0.01
    )


@pytest.fixture
def client(server: FakeRimeServer) -> SdkRimeClient:
    return make_client(server)


@pytest.fixture
def registered(client: SdkRimeClient, tmp_path: Path) -> dict[str, str]:
    """A project with a model, a reference and an evaluation dataset with predictions."""
    project = client.get_or_create_project("fraud", "contract tests")
    model_dir = client.upload_model_dir(
        str(sdk_support.write_model_dir(tmp_path / "model")), "models/m1"
    )
    model = client.register_model(project.project_id, "m1", model_dir)
    ids = {"project": project.project_id, "model": model.model_id}
    for name, seed in (("ref", 1), ("eval", 2)):
        local = sdk_support.write_reference_csv(tmp_path / f"{name}.csv", seed=seed)
        remote = client.upload_file(str(local), f"data/{name}")
        dataset = client.register_dataset(
            project.project_id,
            name,
            remote,
            label_col=LABEL_COL,
            pred_col=PRED_COL,
            model_id=model.model_id,
        )
        ids[name] = dataset.dataset_id
    return ids


class TestConstruction:
    def test_construction_reads_rime_info(self, server: FakeRimeServer) -> None:
        """Building the client reads the cluster version twice, as rime-sdk does."""
        make_client(server)
        assert server.calls_to("rime_info") == 2

    def test_construction_checks_license(self, server: FakeRimeServer) -> None:
        """Building the client checks the license expiry once."""
        make_client(server)
        assert server.calls_to("limit_status") == 1

    def test_construction_bad_key_unauthorized(self, server: FakeRimeServer) -> None:
        """A wrong API key fails at construction with UnauthorizedError naming the cluster."""
        with pytest.raises(UnauthorizedError, match=r"127\.0\.0\.1"):
            make_client(server, key="wrong-key")

    def test_second_client_keeps_first_key(self, server: FakeRimeServer) -> None:
        """A client built with a wrong key does not change the key another client sends."""
        first = make_client(server)
        with pytest.raises(UnauthorizedError):
            make_client(server, key="wrong-key")
        assert first.get_or_create_project("fraud").name == "fraud"

    def test_construction_refused_is_transient(self, server: FakeRimeServer) -> None:
        """A cluster that refuses connections raises TransientError."""
        url = server.url
        server.stop()
        with pytest.raises(TransientError, match="connection check"):
            SdkRimeClient(RimeCredentials(url=url, api_key=API_KEY), poll_interval_s=0.01)


class TestProjects:
    def test_get_or_create_twice_one_project(
        self, client: SdkRimeClient, server: FakeRimeServer
    ) -> None:
        """Asking twice for the same project name creates one project."""
        first = client.get_or_create_project("fraud")
        second = client.get_or_create_project("fraud")
        assert first == second
        assert len(server.projects) == 1

    def test_project_link_names_project(self, client: SdkRimeClient) -> None:
        """The project's link is the web app URL of that project."""
        project = client.get_or_create_project("fraud")
        assert project.link.endswith(f"/projects/{project.project_id}")

    def test_find_project_unknown_name(self, client: SdkRimeClient) -> None:
        """An unknown project name raises NotFoundError naming it."""
        with pytest.raises(NotFoundError, match="'nowhere'"):
            client.find_project("nowhere")

    def test_unknown_project_id_not_found(self, client: SdkRimeClient) -> None:
        """Registering into an unknown project raises NotFoundError naming the id."""
        with pytest.raises(NotFoundError, match="proj-missing"):
            client.register_model("proj-missing", "m1", "s3://fake-rime/models/m1")


class TestUploadsAndRegistry:
    def test_upload_file_stores_bytes(
        self, client: SdkRimeClient, server: FakeRimeServer, tmp_path: Path
    ) -> None:
        """An uploaded file reaches the blob store byte for byte."""
        local = sdk_support.write_reference_csv(tmp_path / "ref.csv")
        remote = client.upload_file(str(local), "data/ref")
        assert server.blobs[remote.removeprefix("s3://fake-rime/")] == local.read_bytes()

    def test_upload_missing_file_invalid(self, client: SdkRimeClient, tmp_path: Path) -> None:
        """Uploading a missing file raises InvalidInputError naming the path."""
        with pytest.raises(ValueError, match=r"missing\.csv"):
            client.upload_file(str(tmp_path / "missing.csv"), "data/x")

    def test_model_registered_with_entry_file(
        self, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """The model's registered path is the uploaded entry file rime_model.py."""
        path = server.models[registered["model"]]["modelInfo"]["modelPath"]["path"]
        assert path == "s3://fake-rime/models/m1/model/rime_model.py"

    def test_register_model_twice_one_model(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Registering the same model name again returns the existing model."""
        again = client.register_model(registered["project"], "m1", "s3://fake-rime/models/m1")
        assert again.model_id == registered["model"]
        assert len(server.models) == 1

    def test_dataset_params_exclude_predictions(
        self, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """The prediction column is registered as not a model feature."""
        params = server.datasets[registered["ref"]]["dataInfo"]["dataParams"]
        assert params["featuresNotInModel"] == [PRED_COL]

    def test_predictions_registered_for_model(
        self, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Predictions are registered for the model on the dataset with pred_col."""
        prediction = server.predictions[registered["model"], registered["ref"]]
        assert prediction["predCol"] == PRED_COL

    def test_register_dataset_twice_one_dataset(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Registering the same dataset again reuses it and its predictions."""
        path = server.datasets[registered["ref"]]["dataInfo"]["connectionInfo"]["dataFile"]["path"]
        again = client.register_dataset(
            registered["project"],
            "ref",
            path,
            label_col=LABEL_COL,
            pred_col=PRED_COL,
            model_id=registered["model"],
        )
        assert again.dataset_id == registered["ref"]
        assert len(server.datasets) == 2
        assert len(server.predictions) == 2

    def test_register_dataset_counts_rows(
        self, client: SdkRimeClient, registered: dict[str, str], tmp_path: Path
    ) -> None:
        """The dataset reference carries the row count of the uploaded file."""
        local = sdk_support.write_reference_csv(tmp_path / "other.csv", rows=77)
        remote = client.upload_file(str(local), "data/other")
        dataset = client.register_dataset(
            registered["project"], "other", remote, label_col=LABEL_COL
        )
        assert dataset.n_rows == 77

    def test_pred_col_without_model_invalid(
        self, client: SdkRimeClient, registered: dict[str, str]
    ) -> None:
        """A prediction column without a model id raises InvalidInputError."""
        with pytest.raises(ValueError, match="model_id"):
            client.register_dataset(
                registered["project"],
                "x",
                "s3://fake-rime/data/ref/ref.csv",
                label_col=LABEL_COL,
                pred_col=PRED_COL,
            )


class TestStressTest:
    def test_stress_test_result_matches_data(
        self, client: SdkRimeClient, registered: dict[str, str], tmp_path: Path
    ) -> None:
        """The stress test's AUC pair equals the AUC of the uploaded predictions."""
        job = client.start_stress_test(
            registered["project"],
            registered["model"],
            registered["ref"],
            registered["eval"],
            "run-1",
        )
        result = client.get_stress_test_result(job)
        ref = pd.read_csv(tmp_path / "ref.csv")
        ev = pd.read_csv(tmp_path / "eval.csv")
        assert result.model_perf["AUC"].reference == pytest.approx(
            roc_auc_score(ref[LABEL_COL], ref[PRED_COL])
        )
        assert result.model_perf["AUC"].evaluation == pytest.approx(
            roc_auc_score(ev[LABEL_COL], ev[PRED_COL])
        )

    def test_stress_test_counts_tests(
        self, client: SdkRimeClient, registered: dict[str, str]
    ) -> None:
        """Summary counts, category counts and test rows describe the same tests."""
        job = client.start_stress_test(
            registered["project"],
            registered["model"],
            registered["ref"],
            registered["eval"],
            "run-1",
        )
        result = client.get_stress_test_result(job)
        # One model-performance test, then drift and missing values for 2 features.
        assert result.summary_counts.total == 5
        assert len(result.tests) == 5
        assert sum(sum(c.values()) for c in result.category_severity_counts.values()) == 5
        assert set(result.category_severity_counts) == {
            "MODEL_PERFORMANCE",
            "DRIFT",
            "ABNORMAL_INPUTS",
        }

    def test_stress_test_ids_and_link(
        self, client: SdkRimeClient, registered: dict[str, str]
    ) -> None:
        """The result names its job, model and test run, and links to the run."""
        job = client.start_stress_test(
            registered["project"],
            registered["model"],
            registered["ref"],
            registered["eval"],
            "run-1",
        )
        result = client.get_stress_test_result(job)
        assert job.kind is JobKind.STRESS_TEST
        assert result.job_id == job.job_id
        assert result.model_id == registered["model"]
        assert result.link.endswith(f"/test-runs/{result.test_run_id}")

    def test_wait_polls_running_job(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Waiting polls a running job until it succeeds."""
        server.script_next_job(running_polls=3)
        job = client.start_stress_test(
            registered["project"],
            registered["model"],
            registered["ref"],
            registered["eval"],
            "run-1",
        )
        status = client.wait_for_job(job, timeout_s=5.0, poll_interval_s=0.01)
        assert status.state is JobState.SUCCEEDED
        assert server.jobs[job.job_id].polls == 4

    def test_failed_job_names_job(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """A failed job raises JobFailedError with the job id and its error message."""
        server.script_next_job(running_polls=1, fail_message="model import failed")
        job = client.start_stress_test(
            registered["project"],
            registered["model"],
            registered["ref"],
            registered["eval"],
            "run-1",
        )
        with pytest.raises(JobFailedError, match="model import failed") as caught:
            client.wait_for_job(job, timeout_s=5.0, poll_interval_s=0.01)
        assert caught.value.job_id == job.job_id
        assert job.job_id in str(caught.value)

    def test_stuck_job_times_out(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """A job that never finishes raises JobTimeoutError with the job id."""
        server.script_next_job(running_polls=None)
        job = client.start_stress_test(
            registered["project"],
            registered["model"],
            registered["ref"],
            registered["eval"],
            "run-1",
        )
        with pytest.raises(JobTimeoutError) as caught:
            client.wait_for_job(job, timeout_s=0.05, poll_interval_s=0.01)
        assert caught.value.job_id == job.job_id
        assert job.job_id in str(caught.value)

    def test_unknown_dataset_not_found(
        self, client: SdkRimeClient, registered: dict[str, str]
    ) -> None:
        """Starting a stress test on an unknown dataset raises NotFoundError naming it."""
        with pytest.raises(NotFoundError, match="data-missing"):
            client.start_stress_test(
                registered["project"],
                registered["model"],
                registered["ref"],
                "data-missing",
                "run-1",
            )


class TestTransientErrors:
    def test_get_recovers_after_503(self, client: SdkRimeClient, server: FakeRimeServer) -> None:
        """A GET that fails with 503 twice is retried by urllib3 and then succeeds."""
        project = client.get_or_create_project("fraud")
        server.fail_route("get_project", 503, times=2)
        assert client.get_or_create_project("fraud") == project

    def test_get_retried_three_times(self, client: SdkRimeClient, server: FakeRimeServer) -> None:
        """urllib3 retries a 429 GET until it succeeds."""
        client.get_or_create_project("fraud")
        before = server.calls_to("list_projects")
        server.fail_route("list_projects", 429, times=2)
        client.find_project("fraud")
        assert server.calls_to("list_projects") - before == 3

    def test_persistent_503_is_transient(
        self, client: SdkRimeClient, server: FakeRimeServer
    ) -> None:
        """A GET that keeps failing with 503 raises TransientError naming the project."""
        project = client.get_or_create_project("fraud")
        server.fail_route("get_project", 503, times=10)
        with pytest.raises(TransientError, match=project.project_id):
            client.get_firewall(project.project_id)

    def test_post_429_is_transient(self, client: SdkRimeClient, server: FakeRimeServer) -> None:
        """A POST rejected with 429 is not retried and raises TransientError naming the project."""
        server.fail_route("create_project", 429, times=1)
        with pytest.raises(TransientError, match="'fraud'"):
            client.get_or_create_project("fraud")


class TestFirewall:
    def test_create_firewall_twice_one_firewall(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Creating the firewall twice returns the same firewall."""
        first = client.create_firewall(
            registered["project"], registered["model"], registered["ref"]
        )
        second = client.create_firewall(
            registered["project"], registered["model"], registered["ref"]
        )
        assert first == second
        assert len(server.firewalls) == 1

    def test_firewall_reads_back_settings(
        self, client: SdkRimeClient, registered: dict[str, str]
    ) -> None:
        """The firewall reports its model, reference dataset and bin size."""
        client.create_firewall(registered["project"], registered["model"], registered["ref"])
        firewall = client.get_firewall(registered["project"])
        assert firewall.model_id == registered["model"]
        assert firewall.ref_dataset_id == registered["ref"]
        assert firewall.bin_size_s == 86_400

    def test_create_firewall_repoints_reference(
        self, client: SdkRimeClient, registered: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Creating the firewall with another reference dataset updates the existing one."""
        client.create_firewall(registered["project"], registered["model"], registered["ref"])
        moved = client.create_firewall(
            registered["project"], registered["model"], registered["eval"]
        )
        assert moved.ref_dataset_id == registered["eval"]
        assert len(server.firewalls) == 1

    def test_get_firewall_missing(self, client: SdkRimeClient, registered: dict[str, str]) -> None:
        """A project without a firewall raises NotFoundError naming the project."""
        with pytest.raises(NotFoundError, match=registered["project"]):
            client.get_firewall(registered["project"])


@pytest.fixture
def production(client: SdkRimeClient, registered: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The registered ids plus a firewall and three days of production data."""
    firewall = client.create_firewall(registered["project"], registered["model"], registered["ref"])
    local = sdk_support.write_production_csv(tmp_path / "prod.csv")
    remote = client.upload_file(str(local), "data/prod")
    dataset = client.register_dataset(
        registered["project"],
        "prod",
        remote,
        label_col=LABEL_COL,
        pred_col=PRED_COL,
        timestamp_col=TIMESTAMP_COL,
        model_id=registered["model"],
    )
    return {**registered, "firewall": firewall.firewall_id, "prod": dataset.dataset_id}


class TestContinuousTest:
    def test_one_bin_per_day(self, client: SdkRimeClient, production: dict[str, str]) -> None:
        """Three days of rows become three daily bins of 60 rows each."""
        job = client.start_continuous_test(production["firewall"], production["prod"])
        result = client.get_continuous_test_result(job)
        assert [b.start for b in result.bins] == [
            "2024-03-01T00:00:00+00:00",
            "2024-03-02T00:00:00+00:00",
            "2024-03-03T00:00:00+00:00",
        ]
        assert [b.n_rows for b in result.bins] == [60, 60, 60]

    def test_event_on_noisy_day(self, client: SdkRimeClient, production: dict[str, str]) -> None:
        """The day whose predictions are noise gets the one AUC degradation event."""
        job = client.start_continuous_test(production["firewall"], production["prod"])
        result = client.get_continuous_test_result(job)
        assert [(e.bin_start, e.metric) for e in result.events] == [
            ("2024-03-03T00:00:00+00:00", "AUC")
        ]
        assert result.events[0].severity is Severity.ALERT

    def test_event_value_is_bin_metric(
        self, client: SdkRimeClient, production: dict[str, str]
    ) -> None:
        """An event's value is the AUC of its bin."""
        job = client.start_continuous_test(production["firewall"], production["prod"])
        result = client.get_continuous_test_result(job)
        assert result.events[0].value == result.bins[2].metrics["AUC"]

    def test_rerun_replaces_bins(
        self, client: SdkRimeClient, production: dict[str, str], server: FakeRimeServer
    ) -> None:
        """Running the same data again replaces its bins instead of adding more."""
        for _ in range(2):
            job = client.start_continuous_test(production["firewall"], production["prod"])
            result = client.get_continuous_test_result(job)
        assert len(server.bins) == 3
        assert len(result.events) == 1

    def test_job_kind_and_firewall(self, client: SdkRimeClient, production: dict[str, str]) -> None:
        """A continuous test job reports its kind, project and firewall."""
        job = client.start_continuous_test(production["firewall"], production["prod"])
        result = client.get_continuous_test_result(job)
        assert job.kind is JobKind.CONTINUOUS_TEST
        assert job.project_id == production["project"]
        assert result.firewall_id == production["firewall"]

    def test_unknown_firewall_not_found(
        self, client: SdkRimeClient, production: dict[str, str]
    ) -> None:
        """A continuous test on an unknown firewall raises NotFoundError naming it."""
        with pytest.raises(NotFoundError, match="fw-missing"):
            client.start_continuous_test("fw-missing", production["prod"])
