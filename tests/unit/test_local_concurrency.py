"""Stress tests in separate processes sharing one local engine root, as Airflow tasks do."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from rime_airflow_demo.rime.local import LocalRimeClient
from rime_airflow_demo.rime.protocol import JobKind, JobRef, JobState
from tests.unit.local_engine_data import logistic_predictions, make_frame

PROCESSES = 2


def _register_and_test(root: str, data_dir: str, index: int) -> str:
    """Run one task's worth of calls, as a separate Airflow task would, and return the job id."""
    client = LocalRimeClient(root)
    project = client.get_or_create_project("fraud")
    model = client.register_model(project.project_id, f"model-{index}", "")
    ref = client.register_dataset(
        project.project_id,
        f"ref-{index}",
        f"{data_dir}/ref.csv",
        label_col="label",
        pred_col="preds",
    )
    ev = client.register_dataset(
        project.project_id,
        f"eval-{index}",
        f"{data_dir}/eval.csv",
        label_col="label",
        pred_col="preds",
    )
    job = client.start_stress_test(
        project.project_id, model.model_id, ref.dataset_id, ev.dataset_id, f"run-{index}"
    )
    return job.job_id


@pytest.fixture(scope="module")
def job_ids(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("concurrent")
    for name, seed in (("ref", 1), ("eval", 2)):
        frame = make_frame(300, seed=seed)
        frame["preds"] = logistic_predictions(frame)
        frame.to_csv(folder / f"{name}.csv", index=False)
    root = folder / "rime"
    # spawn starts clean interpreters, as Airflow's task processes are.
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        ids = pool.starmap(
            _register_and_test, [(str(root), str(folder), i) for i in range(PROCESSES)]
        )
    return root, ids


def test_all_jobs_succeed(job_ids: tuple[Path, list[str]]) -> None:
    """Every concurrent stress test job is stored as SUCCEEDED."""
    root, ids = job_ids
    client = LocalRimeClient(root)
    for job_id in ids:
        job = JobRef(job_id=job_id, kind=JobKind.STRESS_TEST, project_id="")
        assert client.wait_for_job(job, timeout_s=1).state is JobState.SUCCEEDED


def test_one_project_created(job_ids: tuple[Path, list[str]]) -> None:
    """Concurrent get_or_create_project calls create one project."""
    root, ids = job_ids
    client = LocalRimeClient(root)
    project = client.find_project("fraud")
    results = [
        client.get_stress_test_result(JobRef(job_id=i, kind=JobKind.STRESS_TEST, project_id=""))
        for i in ids
    ]
    assert {r.project_id for r in results} == {project.project_id}


def test_project_page_lists_every_run(job_ids: tuple[Path, list[str]]) -> None:
    """The project page, rebuilt by each process, lists all runs."""
    root, _ = job_ids
    page = Path(LocalRimeClient(root).find_project("fraud").link.removeprefix("file://"))
    text = page.read_text()
    for index in range(PROCESSES):
        assert f"run-{index}" in text


def test_results_agree(job_ids: tuple[Path, list[str]]) -> None:
    """Runs on the same data in different processes compute the same metrics."""
    root, ids = job_ids
    client = LocalRimeClient(root)
    perfs = [
        client.get_stress_test_result(
            JobRef(job_id=i, kind=JobKind.STRESS_TEST, project_id="")
        ).model_perf
        for i in ids
    ]
    assert all(perf == perfs[0] for perf in perfs)
