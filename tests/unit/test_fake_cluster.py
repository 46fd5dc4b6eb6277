"""The in-memory fake cluster behaves like a RIME backend and injects the faults a test programs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rime_airflow_demo.rime.errors import JobFailedError, JobTimeoutError, TransientError
from rime_airflow_demo.rime.protocol import (
    MetricPair,
    RimeClient,
    Severity,
    SummaryCounts,
    TestCategory,
)
from tests.fakes.fake_cluster import FakeRimeCluster, StressScript


@pytest.fixture
def dataset_file(tmp_path: Path) -> Path:
    path = tmp_path / "day.csv"
    frame = pd.DataFrame(
        {
            "amount": [1.0, 2.0, 3.0, 4.0],
            "label": [0, 1, 0, 1],
            "preds": [0.1, 0.9, 0.2, 0.8],
            "timestamp": [
                "2024-03-01T00:00:00Z",
                "2024-03-01T23:59:59Z",
                "2024-03-02T00:00:00Z",
                "2024-03-02T12:00:00+02:00",
            ],
        }
    )
    frame.to_csv(path, index=False)
    return path


def _registered(cluster: FakeRimeCluster, path: Path) -> tuple[str, str, str]:
    project = cluster.get_or_create_project("fraud")
    location = cluster.upload_file(str(path), "ref")
    model = cluster.register_model(project.project_id, "lr", "fake://models/lr")
    dataset = cluster.register_dataset(
        project.project_id,
        "ref",
        location,
        label_col="label",
        pred_col="preds",
        timestamp_col="timestamp",
        model_id=model.model_id,
    )
    return project.project_id, model.model_id, dataset.dataset_id


def test_fake_satisfies_protocol() -> None:
    """The fake is a structural RimeClient."""
    assert isinstance(FakeRimeCluster(), RimeClient)


def test_project_get_or_create_idempotent() -> None:
    """Asking twice for one name returns one project."""
    cluster = FakeRimeCluster()
    first = cluster.get_or_create_project("fraud")
    second = cluster.get_or_create_project("fraud")
    assert first == second
    assert len(cluster.projects) == 1


def test_existing_project_reused() -> None:
    """A project created before the run is found, not duplicated."""
    cluster = FakeRimeCluster()
    existing = cluster.add_project("fraud")
    assert cluster.get_or_create_project("fraud") == existing


def test_scripted_stress_result(dataset_file: Path) -> None:
    """A stress test returns the script of its model's name."""
    cluster = FakeRimeCluster()
    script = StressScript(
        summary_counts=SummaryCounts(total=3, passed=2, failed=1),
        model_perf={"AUC": MetricPair(0.9, 0.8)},
    )
    cluster.script_stress_test("lr", script)
    project_id, model_id, dataset_id = _registered(cluster, dataset_file)
    job = cluster.start_stress_test(project_id, model_id, dataset_id, dataset_id, "run")
    cluster.wait_for_job(job, timeout_s=1, poll_interval_s=0.01)
    result = cluster.get_stress_test_result(job)
    assert result.summary_counts == script.summary_counts
    assert result.model_perf == script.model_perf
    assert result.severity is Severity.ALERT


def test_failed_job_raises_with_id(dataset_file: Path) -> None:
    """A job scripted to fail raises JobFailedError carrying its id."""
    cluster = FakeRimeCluster()
    cluster.fail_next_jobs(1, "out of memory")
    project_id, model_id, dataset_id = _registered(cluster, dataset_file)
    job = cluster.start_stress_test(project_id, model_id, dataset_id, dataset_id, "run")
    with pytest.raises(JobFailedError, match="out of memory") as caught:
        cluster.wait_for_job(job, timeout_s=1, poll_interval_s=0.01)
    assert caught.value.job_id == job.job_id


def test_hanging_job_times_out(dataset_file: Path) -> None:
    """A job that never finishes raises JobTimeoutError after the timeout."""
    cluster = FakeRimeCluster()
    cluster.hang_jobs()
    project_id, model_id, dataset_id = _registered(cluster, dataset_file)
    job = cluster.start_stress_test(project_id, model_id, dataset_id, dataset_id, "run")
    with pytest.raises(JobTimeoutError) as caught:
        cluster.wait_for_job(job, timeout_s=0.05, poll_interval_s=0.01)
    assert caught.value.job_id == job.job_id


def test_transient_errors_then_success() -> None:
    """N transient errors are raised, then the call succeeds."""
    cluster = FakeRimeCluster()
    cluster.transient_errors("get_or_create_project", 2)
    for _ in range(2):
        with pytest.raises(TransientError):
            cluster.get_or_create_project("fraud")
    assert cluster.get_or_create_project("fraud").name == "fraud"
    assert len(cluster.calls_of("get_or_create_project")) == 3


def test_continuous_test_bins_by_utc_day(dataset_file: Path) -> None:
    """Rows fall into UTC-day bins and a rerun replaces them."""
    cluster = FakeRimeCluster()
    cluster.script_events(
        "2024-03-02",
        {
            "metric": "AUC",
            "feature": None,
            "value": 0.5,
            "threshold": 0.7,
            "severity": Severity.ALERT,
            "category": TestCategory.MODEL_PERFORMANCE,
        },
    )
    project_id, model_id, dataset_id = _registered(cluster, dataset_file)
    firewall = cluster.create_firewall(project_id, model_id, dataset_id)
    for _ in range(2):
        job = cluster.start_continuous_test(firewall.firewall_id, dataset_id)
        result = cluster.get_continuous_test_result(job)
    rows = {b.start[:10]: b.n_rows for b in result.bins}
    assert rows == {"2024-03-01": 2, "2024-03-02": 2}
    assert len(cluster.bins) == 2
    assert [e.bin_start[:10] for e in result.events] == ["2024-03-02"]


def test_firewall_idempotent(dataset_file: Path) -> None:
    """Creating the firewall twice keeps one firewall per project."""
    cluster = FakeRimeCluster()
    project_id, model_id, dataset_id = _registered(cluster, dataset_file)
    first = cluster.create_firewall(project_id, model_id, dataset_id)
    second = cluster.create_firewall(project_id, model_id, dataset_id)
    assert first.firewall_id == second.firewall_id
    assert len(cluster.firewalls) == 1
