"""End-to-end tests of the rime-sdk adapter, against the fake RIME server and a real cluster.

Every test runs twice: on the fake RIME REST server on loopback (always, so
the tests cannot rot) and on a real RIME cluster when ``RIME_API_KEY`` and
``RIME_UPLOAD_URL`` are set. On a real cluster each test works in a project
with a unique name and deletes nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rime_airflow_demo.rime.connect import RimeCredentials
from rime_airflow_demo.rime.protocol import JobState, Severity
from rime_airflow_demo.rime.sdk import SdkRimeClient
from tests.fakes import sdk_support
from tests.fakes.rime_server import FakeRimeServer
from tests.fakes.sdk_support import LABEL_COL, PRED_COL, TIMESTAMP_COL

pytestmark = pytest.mark.cluster

CLUSTER_VARIABLES = ("RIME_API_KEY", "RIME_UPLOAD_URL")
FAKE_KEY = "integration-fake-key"


@pytest.fixture(params=["fake-server", "real-cluster"])
def rime(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SdkRimeClient]:
    """An ``SdkRimeClient`` on the fake server, or on the cluster named by the environment."""
    if request.param == "fake-server":
        sdk_support.disable_sdk_throttle(monkeypatch)
        with FakeRimeServer(api_key=FAKE_KEY) as server:
            yield SdkRimeClient(
                RimeCredentials(url=server.url, api_key=FAKE_KEY),
                job_timeout_s=30.0,
                poll_interval_s=0.01,
            )
        return
    missing = [name for name in CLUSTER_VARIABLES if not os.environ.get(name)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not set: no RIME cluster to test against")
    yield SdkRimeClient(
        RimeCredentials(url=os.environ["RIME_UPLOAD_URL"], api_key=os.environ["RIME_API_KEY"]),
        job_timeout_s=3600.0,
        poll_interval_s=10.0,
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def register_everything(rime: SdkRimeClient, tmp_path: Path) -> dict[str, str]:
    """Create a uniquely named project with a model, reference and evaluation data."""
    project = rime.get_or_create_project(unique_name("rime-airflow-demo-it"), "integration test")
    folder = unique_name("it")
    model_dir = rime.upload_model_dir(
        str(sdk_support.write_model_dir(tmp_path / "model")), f"{folder}/model"
    )
    model = rime.register_model(project.project_id, "model", model_dir)
    ids = {"project": project.project_id, "model": model.model_id, "folder": folder}
    for name, seed in (("ref", 1), ("eval", 2)):
        local = sdk_support.write_reference_csv(tmp_path / f"{name}.csv", seed=seed)
        remote = rime.upload_file(str(local), f"{folder}/{name}")
        ids[name] = rime.register_dataset(
            project.project_id,
            name,
            remote,
            label_col=LABEL_COL,
            pred_col=PRED_COL,
            model_id=model.model_id,
        ).dataset_id
    return ids


def test_project_created_once(rime: SdkRimeClient) -> None:
    """A uniquely named project is created once and found again by name."""
    name = unique_name("rime-airflow-demo-it")
    created = rime.get_or_create_project(name, "integration test")
    assert rime.get_or_create_project(name) == created
    assert rime.find_project(name).project_id == created.project_id


def test_stress_test_completes(rime: SdkRimeClient, tmp_path: Path) -> None:
    """A stress test on registered data finishes with counts and an AUC pair."""
    ids = register_everything(rime, tmp_path)
    job = rime.start_stress_test(ids["project"], ids["model"], ids["ref"], ids["eval"], "it-run")
    assert rime.wait_for_job(job, timeout_s=3600.0, poll_interval_s=5.0).state is (
        JobState.SUCCEEDED
    )
    result = rime.get_stress_test_result(job)
    assert result.summary_counts.total > 0
    assert "AUC" in result.model_perf


def test_continuous_test_bins_days(rime: SdkRimeClient, tmp_path: Path) -> None:
    """A continuous test over three days of data writes three daily bins."""
    ids = register_everything(rime, tmp_path)
    firewall = rime.create_firewall(ids["project"], ids["model"], ids["ref"])
    assert rime.create_firewall(ids["project"], ids["model"], ids["ref"]) == firewall
    remote = rime.upload_file(
        str(sdk_support.write_production_csv(tmp_path / "prod.csv")), f"{ids['folder']}/prod"
    )
    prod = rime.register_dataset(
        ids["project"],
        "prod",
        remote,
        label_col=LABEL_COL,
        pred_col=PRED_COL,
        timestamp_col=TIMESTAMP_COL,
        model_id=ids["model"],
    )
    result = rime.get_continuous_test_result(
        rime.start_continuous_test(firewall.firewall_id, prod.dataset_id)
    )
    assert len(result.bins) == 3
    assert {b.severity for b in result.bins} <= set(Severity)
