"""An in-memory RIME cluster for tests: programmable results, injected faults, recorded calls.

``FakeRimeCluster`` implements ``RimeClient`` without I/O beyond reading the
dataset files it is given. Tests script what a stress test returns per model
name, inject faults (a failing job, a job that never finishes, transient
errors, a project that already exists) and assert on ``calls`` and on the
state it keeps.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rime_airflow_demo.rime.errors import (
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    TransientError,
)
from rime_airflow_demo.rime.protocol import (
    DEFAULT_BIN_SIZE_S,
    BinResult,
    ContinuousTestResult,
    DatasetRef,
    DetectionEvent,
    FirewallRef,
    JobKind,
    JobRef,
    JobState,
    JobStatus,
    MetricPair,
    ModelRef,
    ProjectRef,
    Severity,
    StressTestResult,
    SummaryCounts,
    TestResult,
)


@dataclass
class Call:
    """One recorded protocol call."""

    method: str
    args: dict[str, Any]


@dataclass
class StressScript:
    """What a scripted stress test of one model returns."""

    summary_counts: SummaryCounts = field(default_factory=SummaryCounts)
    category_severity_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    model_perf: dict[str, MetricPair] = field(default_factory=dict)
    tests: tuple[TestResult, ...] = ()


@dataclass
class _Job:
    ref: JobRef
    state: JobState
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class FakeRimeCluster:
    """In-memory ``RimeClient`` with scripted results and fault injection."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.projects: dict[str, ProjectRef] = {}
        self.uploads: dict[str, str] = {}
        self.models: dict[str, ModelRef] = {}
        self.model_paths: dict[str, str] = {}
        self.datasets: dict[str, DatasetRef] = {}
        self.dataset_files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, _Job] = {}
        self.firewalls: dict[str, FirewallRef] = {}
        # (firewall_id, bin start) -> bin; a rerun replaces the entry
        self.bins: dict[tuple[str, str], BinResult] = {}
        self.events: dict[tuple[str, str], tuple[DetectionEvent, ...]] = {}
        self._stress_scripts: dict[str, StressScript] = {}
        self._event_scripts: dict[str, list[dict[str, Any]]] = {}
        self._jobs_to_fail: list[str] = []
        self._hang_jobs = False
        self._transient: dict[str, int] = {}

    # -- programming the fake -------------------------------------------------

    def script_stress_test(self, model_name: str, script: StressScript) -> None:
        """Make stress tests of the model registered as ``model_name`` return ``script``."""
        self._stress_scripts[model_name] = script

    def script_events(self, day: str, *events: Mapping[str, Any]) -> None:
        """Make the continuous test emit ``events`` (DetectionEvent fields) on bin ``day``."""
        self._event_scripts[day] = [dict(event) for event in events]

    def fail_next_jobs(self, count: int = 1, message: str = "scripted failure") -> None:
        """Make the next ``count`` started jobs end FAILED with ``message``."""
        self._jobs_to_fail.extend([message] * count)

    def hang_jobs(self, hang: bool = True) -> None:
        """Keep every job started from now on RUNNING forever."""
        self._hang_jobs = hang

    def transient_errors(self, method: str, count: int) -> None:
        """Make the next ``count`` calls of ``method`` raise ``TransientError``."""
        self._transient[method] = count

    def add_project(self, name: str) -> ProjectRef:
        """Create a project as if someone had created it before the test."""
        project = ProjectRef(_new_id("project"), name, f"fake://projects/{name}")
        self.projects[project.project_id] = project
        return project

    def calls_of(self, method: str) -> list[Call]:
        """Return the recorded calls of ``method``."""
        return [call for call in self.calls if call.method == method]

    # -- internals ------------------------------------------------------------

    def _record(self, method: str, **args: Any) -> None:
        self.calls.append(Call(method, args))
        remaining = self._transient.get(method, 0)
        if remaining:
            self._transient[method] = remaining - 1
            raise TransientError(f"{method}: scripted transient error ({remaining} left)")

    def _start_job(self, kind: JobKind, project_id: str, payload: dict[str, Any]) -> JobRef:
        ref = JobRef(_new_id("job"), kind, project_id)
        if self._hang_jobs:
            state, message = JobState.RUNNING, ""
        elif self._jobs_to_fail:
            state, message = JobState.FAILED, self._jobs_to_fail.pop(0)
        else:
            state, message = JobState.SUCCEEDED, ""
        self.jobs[ref.job_id] = _Job(ref, state, message, payload)
        return ref

    def _job(self, job_id: str) -> _Job:
        if job_id not in self.jobs:
            raise NotFoundError(f"Job {job_id!r} not found.")
        return self.jobs[job_id]

    def _project(self, project_id: str) -> ProjectRef:
        if project_id not in self.projects:
            raise NotFoundError(f"Project {project_id!r} not found.")
        return self.projects[project_id]

    # -- RimeClient -----------------------------------------------------------

    def get_or_create_project(self, name: str, description: str = "") -> ProjectRef:
        self._record("get_or_create_project", name=name, description=description)
        for project in self.projects.values():
            if project.name == name:
                return project
        return self.add_project(name)

    def find_project(self, name: str) -> ProjectRef:
        self._record("find_project", name=name)
        for project in self.projects.values():
            if project.name == name:
                return project
        raise NotFoundError(f"Project {name!r} not found.")

    def upload_file(self, local_path: str, upload_path: str) -> str:
        self._record("upload_file", local_path=local_path, upload_path=upload_path)
        if not Path(local_path).is_file():
            raise InvalidInputError(f"File {local_path!r} does not exist.")
        location = f"fake://uploads/{upload_path}/{Path(local_path).name}"
        self.uploads[location] = local_path
        return location

    def upload_model_dir(self, local_dir: str, upload_path: str) -> str:
        self._record("upload_model_dir", local_dir=local_dir, upload_path=upload_path)
        if not Path(local_dir).is_dir():
            raise InvalidInputError(f"Model directory {local_dir!r} does not exist.")
        location = f"fake://models/{upload_path}"
        self.uploads[location] = local_dir
        return location

    def register_model(
        self,
        project_id: str,
        name: str,
        model_path: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ModelRef:
        self._record(
            "register_model",
            project_id=project_id,
            name=name,
            model_path=model_path,
            metadata=dict(metadata or {}),
        )
        self._project(project_id)
        for model in self.models.values():
            if model.project_id == project_id and model.name == name:
                self.model_paths[model.model_id] = model_path
                return model
        model = ModelRef(_new_id("model"), project_id, name)
        self.models[model.model_id] = model
        self.model_paths[model.model_id] = model_path
        return model

    def register_dataset(
        self,
        project_id: str,
        name: str,
        path: str,
        *,
        label_col: str,
        pred_col: str | None = None,
        timestamp_col: str | None = None,
        model_id: str | None = None,
        ignored_cols: tuple[str, ...] = (),
    ) -> DatasetRef:
        self._record(
            "register_dataset",
            project_id=project_id,
            name=name,
            path=path,
            label_col=label_col,
            pred_col=pred_col,
            timestamp_col=timestamp_col,
            model_id=model_id,
            ignored_cols=tuple(ignored_cols),
        )
        self._project(project_id)
        local = self.uploads.get(path, path)
        frame = _read_frame(local)
        if label_col not in frame.columns:
            raise InvalidInputError(f"Dataset {local!r} has no label column {label_col!r}.")
        existing = next(
            (d for d in self.datasets.values() if d.project_id == project_id and d.name == name),
            None,
        )
        dataset_id = existing.dataset_id if existing else _new_id("dataset")
        dataset = DatasetRef(dataset_id, project_id, name, len(frame), model_id)
        self.datasets[dataset_id] = dataset
        self.dataset_files[dataset_id] = {
            "path": local,
            "label_col": label_col,
            "pred_col": pred_col,
            "timestamp_col": timestamp_col,
        }
        return dataset

    def start_stress_test(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        eval_dataset_id: str,
        run_name: str,
    ) -> JobRef:
        self._record(
            "start_stress_test",
            project_id=project_id,
            model_id=model_id,
            ref_dataset_id=ref_dataset_id,
            eval_dataset_id=eval_dataset_id,
            run_name=run_name,
        )
        self._project(project_id)
        for dataset_id in (ref_dataset_id, eval_dataset_id):
            if dataset_id not in self.datasets:
                raise NotFoundError(f"Dataset {dataset_id!r} not found.")
        if model_id not in self.models:
            raise NotFoundError(f"Model {model_id!r} not found.")
        return self._start_job(JobKind.STRESS_TEST, project_id, {"model_id": model_id})

    def wait_for_job(
        self, job: JobRef, timeout_s: float, poll_interval_s: float = 5.0
    ) -> JobStatus:
        self._record("wait_for_job", job_id=job.job_id, timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        record = self._job(job.job_id)
        while not record.state.is_terminal:
            if time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"Job {job.job_id!r} did not finish within {timeout_s} s.",
                    job.job_id,
                    timeout_s,
                )
            time.sleep(min(poll_interval_s, max(deadline - time.monotonic(), 0.0)))
        if record.state is not JobState.SUCCEEDED:
            raise JobFailedError(
                f"Job {job.job_id!r} ended {record.state.value}: {record.message}", job.job_id
            )
        return JobStatus(job.job_id, record.state, record.message)

    def get_stress_test_result(self, job: JobRef) -> StressTestResult:
        self._record("get_stress_test_result", job_id=job.job_id)
        record = self._job(job.job_id)
        if record.state is not JobState.SUCCEEDED:
            raise JobFailedError(f"Job {job.job_id!r} has no result.", job.job_id)
        model = self.models[record.payload["model_id"]]
        script = self._stress_scripts.get(model.name, StressScript())
        return StressTestResult(
            test_run_id=f"run-{job.job_id}",
            job_id=job.job_id,
            project_id=job.project_id,
            model_id=model.model_id,
            link=f"fake://test-runs/{job.job_id}",
            summary_counts=script.summary_counts,
            category_severity_counts=script.category_severity_counts,
            model_perf=script.model_perf,
            tests=script.tests,
        )

    def create_firewall(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        bin_size_s: int = DEFAULT_BIN_SIZE_S,
    ) -> FirewallRef:
        self._record(
            "create_firewall",
            project_id=project_id,
            model_id=model_id,
            ref_dataset_id=ref_dataset_id,
            bin_size_s=bin_size_s,
        )
        self._project(project_id)
        existing = self.firewalls.get(project_id)
        firewall_id = existing.firewall_id if existing else _new_id("firewall")
        firewall = FirewallRef(
            firewall_id,
            project_id,
            model_id,
            ref_dataset_id,
            bin_size_s,
            f"fake://firewalls/{firewall_id}",
        )
        self.firewalls[project_id] = firewall
        return firewall

    def get_firewall(self, project_id: str) -> FirewallRef:
        self._record("get_firewall", project_id=project_id)
        self._project(project_id)
        if project_id not in self.firewalls:
            raise NotFoundError(f"Project {project_id!r} has no firewall.")
        return self.firewalls[project_id]

    def start_continuous_test(self, firewall_id: str, dataset_id: str) -> JobRef:
        self._record("start_continuous_test", firewall_id=firewall_id, dataset_id=dataset_id)
        firewall = next((f for f in self.firewalls.values() if f.firewall_id == firewall_id), None)
        if firewall is None:
            raise NotFoundError(f"Firewall {firewall_id!r} not found.")
        if dataset_id not in self.datasets:
            raise NotFoundError(f"Dataset {dataset_id!r} not found.")
        job = self._start_job(
            JobKind.CONTINUOUS_TEST,
            firewall.project_id,
            {"firewall": firewall, "dataset_id": dataset_id},
        )
        if self.jobs[job.job_id].state is JobState.SUCCEEDED:
            self.jobs[job.job_id].payload["bins"] = self._write_bins(firewall, dataset_id)
        return job

    def _write_bins(self, firewall: FirewallRef, dataset_id: str) -> list[tuple[str, str]]:
        import pandas as pd

        spec = self.dataset_files[dataset_id]
        if not spec["timestamp_col"]:
            raise InvalidInputError(f"Dataset {dataset_id!r} has no timestamp column.")
        frame = _read_frame(spec["path"])
        stamps = pd.to_datetime(frame[spec["timestamp_col"]], utc=True)
        size = pd.Timedelta(seconds=firewall.bin_size_s)
        starts = stamps.dt.floor("D") + ((stamps - stamps.dt.floor("D")) // size) * size
        keys = []
        for start, rows in starts.groupby(starts):
            start_iso = start.isoformat()
            end_iso = (start + size).isoformat()
            events = tuple(
                DetectionEvent(
                    event_id=_new_id("event"),
                    firewall_id=firewall.firewall_id,
                    bin_start=start_iso,
                    bin_end=end_iso,
                    **event,
                )
                for event in self._event_scripts.get(start.date().isoformat(), [])
            )
            severity = Severity.worst([event.severity for event in events])
            key = (firewall.firewall_id, start_iso)
            self.bins[key] = BinResult(
                firewall.firewall_id,
                start_iso,
                end_iso,
                len(rows),
                severity,
                {},
                test_run_id=_new_id("run"),
                link=f"fake://bins/{start_iso}",
            )
            self.events[key] = events
            keys.append(key)
        return keys

    def get_continuous_test_result(self, job: JobRef) -> ContinuousTestResult:
        self._record("get_continuous_test_result", job_id=job.job_id)
        record = self._job(job.job_id)
        if record.state is not JobState.SUCCEEDED:
            raise JobFailedError(f"Job {job.job_id!r} has no result.", job.job_id)
        keys = record.payload["bins"]
        return ContinuousTestResult(
            job_id=job.job_id,
            firewall_id=record.payload["firewall"].firewall_id,
            bins=tuple(self.bins[key] for key in keys),
            events=tuple(event for key in keys for event in self.events[key]),
        )


def _read_frame(path: str) -> Any:
    import pandas as pd

    if not Path(path).is_file():
        raise InvalidInputError(f"Dataset file {path!r} does not exist.")
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path)
