"""``LocalRimeClient``: the embedded RIME engine behind the ``RimeClient`` protocol.

State lives under ``root``: ``engine.sqlite3`` (projects, models, datasets,
jobs, firewalls, bins and events), ``datasets/`` (the rows of each
registered dataset, as Parquet), ``uploads/`` (uploaded files and model
directories) and ``reports/`` (HTML pages). Jobs run synchronously inside
the start call, which stores them as SUCCEEDED or FAILED before returning.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rime_airflow_demo.rime.errors import (
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
)
from rime_airflow_demo.rime.local.binning import validate_bin_size
from rime_airflow_demo.rime.local.datasets import (
    Dataset,
    DatasetSpec,
    read_table,
    validate_table,
)
from rime_airflow_demo.rime.local.files import (
    atomic_write_bytes,
    copy_file,
    copy_tree,
    local_path,
    upload_target,
)
from rime_airflow_demo.rime.local.pages import Pages
from rime_airflow_demo.rime.local.report import ReportPaths
from rime_airflow_demo.rime.local.runs import (
    ModelCaller,
    execute_continuous_test,
    execute_stress_test,
    load_dataset,
    require_features,
    snapshot_path,
)
from rime_airflow_demo.rime.local.store import (
    DatasetRecord,
    JobRecord,
    ModelRecord,
    Store,
    new_id,
)
from rime_airflow_demo.rime.local.thresholds import Thresholds
from rime_airflow_demo.rime.model_dir import ENTRY_FILE
from rime_airflow_demo.rime.protocol import (
    DEFAULT_BIN_SIZE_S,
    ContinuousTestResult,
    DatasetRef,
    FirewallRef,
    JobKind,
    JobRef,
    JobState,
    JobStatus,
    ModelRef,
    ProjectRef,
    StressTestResult,
)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class LocalRimeClient:
    """A RIME engine on this machine that computes stress tests and continuous tests.

    ``thresholds`` sets the severity limits of every test and monitor; the
    defaults are documented on ``Thresholds``. Several processes may use the
    same ``root`` at once.
    """

    def __init__(self, root: str | Path, thresholds: Thresholds | None = None) -> None:
        self.root = Path(root).expanduser().absolute()
        self.thresholds = thresholds or Thresholds()
        self._store = Store(self.root)
        self._paths = ReportPaths(self.root)
        self._pages = Pages(self._store, self._paths)

    # Projects

    def get_or_create_project(self, name: str, description: str = "") -> ProjectRef:
        """Return the project called ``name``, creating it (and its page) when absent."""
        _require_name("project name", name)
        project = self._store.get_or_create_project(name, description)
        self._pages.refresh_project(project)
        return self._pages.with_link(project)

    def find_project(self, name: str) -> ProjectRef:
        """Return the project called ``name`` or raise ``NotFoundError``."""
        project = self._store.find_project(name)
        if project is None:
            raise NotFoundError(
                f"Project {name!r} does not exist; create it with get_or_create_project."
            )
        return self._pages.with_link(project)

    # Uploads

    def upload_file(self, local_path: str, upload_path: str) -> str:
        """Copy a file to ``<root>/uploads/<upload_path>/<file name>`` and return that path."""
        source = Path(local_path).expanduser()
        if not source.is_file():
            raise InvalidInputError(
                f"File {local_path!r} does not exist; pass the path of a CSV or Parquet file."
            )
        target = upload_target(self.root / "uploads", upload_path, source.name)
        copy_file(source, target)
        log.info("Uploaded %s to %s", source, target)
        return str(target)

    def upload_model_dir(self, local_dir: str, upload_path: str) -> str:
        """Copy a model directory to ``<root>/uploads/<upload_path>/<dir name>`` and return it."""
        source = Path(local_dir).expanduser()
        if not source.is_dir():
            raise InvalidInputError(
                f"Model directory {local_dir!r} does not exist; build it with "
                "rime_airflow_demo.rime.model_dir.build_model_dir."
            )
        target = upload_target(self.root / "uploads", upload_path, source.name)
        copy_tree(source, target)
        log.info("Uploaded model directory %s to %s", source, target)
        return str(target)

    # Registry

    def register_model(
        self,
        project_id: str,
        name: str,
        model_path: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ModelRef:
        """Register the model directory at ``model_path`` as model ``name`` of the project.

        An empty ``model_path`` registers a model known only by its predictions,
        so its abnormal-input tests are skipped. A model of the same name keeps
        its id.
        """
        self._store.get_project(project_id)
        _require_name("model name", name)
        path = ""
        if model_path:
            directory = local_path(model_path).absolute()
            if not (directory / ENTRY_FILE).is_file():
                raise InvalidInputError(
                    f"Model path {model_path!r} is not a model directory with {ENTRY_FILE}; "
                    "build one with rime_airflow_demo.rime.model_dir.build_model_dir and "
                    "upload it with upload_model_dir."
                )
            path = str(directory)
        model = self._store.upsert_model(project_id, name, path, metadata or {})
        log.info("Registered model %r as %s in project %s", name, model.model_id, project_id)
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
        """Validate a CSV or Parquet file and register a copy of its rows as dataset ``name``.

        Re-registering a name keeps the dataset id and replaces its rows.
        """
        self._store.get_project(project_id)
        _require_name("dataset name", name)
        if model_id is not None:
            self._model_in_project(model_id, project_id)
        spec = DatasetSpec(
            label_col=label_col,
            pred_col=pred_col,
            timestamp_col=timestamp_col,
            ignored_cols=tuple(ignored_cols),
        )
        source = local_path(path).absolute()
        frame = read_table(source)
        validate_table(frame, str(source), spec)
        data = _to_parquet(frame, str(source))

        dataset_id = self._store.dataset_id_for(project_id, name)
        atomic_write_bytes(snapshot_path(self.root, dataset_id), data)
        ref = self._store.upsert_dataset(
            DatasetRecord(
                ref=DatasetRef(
                    dataset_id=dataset_id,
                    project_id=project_id,
                    name=name,
                    n_rows=len(frame),
                    model_id=model_id,
                ),
                spec=spec,
                source=str(source),
            )
        )
        if ref.dataset_id != dataset_id:
            # Another process registered the same name first; its id wins, these rows too.
            os.replace(
                snapshot_path(self.root, dataset_id), snapshot_path(self.root, ref.dataset_id)
            )
        log.info(
            "Registered dataset %r as %s (%d rows) from %s",
            name,
            ref.dataset_id,
            ref.n_rows,
            source,
        )
        return ref

    # Stress tests

    def start_stress_test(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        eval_dataset_id: str,
        run_name: str,
    ) -> JobRef:
        """Run a stress test of the model on the two datasets and return its finished job."""
        project = self._pages.with_link(self._store.get_project(project_id))
        model = ModelCaller(self._model_in_project(model_id, project_id))
        reference = self._dataset_in_project(ref_dataset_id, project_id)
        evaluation = self._dataset_in_project(eval_dataset_id, project_id)
        require_features(evaluation, reference.features, reference.name)
        _require_predictions(model, reference, evaluation)

        job = JobRef(job_id=new_id(), kind=JobKind.STRESS_TEST, project_id=project_id)
        self._store.insert_job(job.job_id, job.kind, project_id, run_name)
        log.info(
            "Stress test job %s started: model %s, reference %s, evaluation %s",
            job.job_id,
            model_id,
            ref_dataset_id,
            eval_dataset_id,
        )
        try:
            result = execute_stress_test(
                job.job_id,
                run_name,
                project,
                model,
                (reference, evaluation),
                self.thresholds,
                self._paths,
            )
        except Exception as exc:  # the job records any failure, as a cluster's job would
            log.exception("Stress test job %s failed", job.job_id)
            self._store.finish_job(job.job_id, JobState.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            self._store.finish_job(job.job_id, JobState.SUCCEEDED, result=result.to_json())
        self._pages.refresh_project(project)
        return job

    def wait_for_job(
        self, job: JobRef, timeout_s: float, poll_interval_s: float = 5.0
    ) -> JobStatus:
        """Poll the stored job until it ends; raise on failure or after ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while True:
            record = self._store.get_job(job.job_id)
            if record.state is JobState.SUCCEEDED:
                return JobStatus(job_id=record.job_id, state=record.state, message=record.message)
            if record.state.is_terminal:
                raise JobFailedError(
                    f"Job {record.job_id!r} ended {record.state.value}: {record.message}",
                    job_id=record.job_id,
                )
            if time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"Job {record.job_id!r} is still {record.state.value} after {timeout_s} s; "
                    "wait longer or check the engine's log.",
                    job_id=record.job_id,
                    timeout_s=timeout_s,
                )
            time.sleep(max(0.0, min(poll_interval_s, deadline - time.monotonic())))

    def get_stress_test_result(self, job: JobRef) -> StressTestResult:
        """Return the stored result of a succeeded stress test job."""
        record = self._finished_job(job, JobKind.STRESS_TEST)
        assert record.result is not None
        return StressTestResult.from_json(record.result)

    # Continuous tests

    def create_firewall(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        bin_size_s: int = DEFAULT_BIN_SIZE_S,
    ) -> FirewallRef:
        """Return the project's firewall, creating it or pointing it at this model and reference."""
        self._store.get_project(project_id)
        try:
            validate_bin_size(bin_size_s)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
        model = ModelCaller(self._model_in_project(model_id, project_id))
        reference = self._dataset_in_project(ref_dataset_id, project_id)
        _require_predictions(model, reference)
        firewall = self._store.upsert_firewall(project_id, model_id, ref_dataset_id, bin_size_s)
        self._pages.refresh_firewall(firewall)
        self._pages.refresh_project(self._store.get_project(project_id))
        log.info(
            "Firewall %s of project %s uses model %s and reference %s",
            firewall.firewall_id,
            project_id,
            model_id,
            ref_dataset_id,
        )
        return self._pages.with_firewall_link(firewall)

    def get_firewall(self, project_id: str) -> FirewallRef:
        """Return the project's firewall or raise ``NotFoundError``."""
        project = self._store.get_project(project_id)
        firewall = self._store.firewall_of_project(project_id)
        if firewall is None:
            raise NotFoundError(
                f"Project {project.name!r} ({project_id}) has no firewall; run the "
                "RIME_Stress_Testing DAG first, whose create_firewall task creates it."
            )
        return self._pages.with_firewall_link(firewall)

    def start_continuous_test(self, firewall_id: str, dataset_id: str) -> JobRef:
        """Bin the dataset's rows by time, evaluate every bin and return the finished job."""
        firewall = self._store.get_firewall(firewall_id)
        model = ModelCaller(self._store.get_model(firewall.model_id))
        reference = self._dataset_in_project(firewall.ref_dataset_id, firewall.project_id)
        production = self._dataset_in_project(dataset_id, firewall.project_id)
        if production.spec.timestamp_col is None:
            raise InvalidInputError(
                f"Dataset {production.name!r} ({dataset_id}) has no timestamp column; register "
                "it with timestamp_col= so its rows can be binned by time."
            )
        require_features(production, reference.features, reference.name)
        _require_predictions(model, reference, production)

        job = JobRef(job_id=new_id(), kind=JobKind.CONTINUOUS_TEST, project_id=firewall.project_id)
        self._store.insert_job(job.job_id, job.kind, firewall.project_id, production.name)
        log.info(
            "Continuous test job %s started: firewall %s, dataset %s",
            job.job_id,
            firewall_id,
            dataset_id,
        )
        try:
            execute_continuous_test(
                job.job_id,
                firewall,
                model,
                (reference, production),
                self._store,
                self.thresholds,
                self._paths,
            )
        except Exception as exc:  # the job records any failure, as a cluster's job would
            log.exception("Continuous test job %s failed", job.job_id)
            self._store.finish_job(job.job_id, JobState.FAILED, f"{type(exc).__name__}: {exc}")
        else:
            self._store.finish_job(job.job_id, JobState.SUCCEEDED)
        self._pages.refresh_firewall(firewall)
        return job

    def get_continuous_test_result(self, job: JobRef) -> ContinuousTestResult:
        """Return the bins that a succeeded continuous test job wrote, with their events.

        A bin that a later job replaced belongs to that later job.
        """
        self._finished_job(job, JobKind.CONTINUOUS_TEST)
        bins = self._store.job_bins(job.job_id)
        firewall_id = bins[0].firewall_id if bins else ""
        events = [
            event
            for result in bins
            for event in self._store.bin_events(result.firewall_id, result.start)
        ]
        return ContinuousTestResult(
            job_id=job.job_id, firewall_id=firewall_id, bins=tuple(bins), events=tuple(events)
        )

    # Helpers

    def _model_in_project(self, model_id: str, project_id: str) -> ModelRecord:
        model = self._store.get_model(model_id)
        if model.ref.project_id != project_id:
            raise InvalidInputError(
                f"Model {model_id!r} belongs to project {model.ref.project_id!r}, not "
                f"{project_id!r}; register it in this project."
            )
        return model

    def _dataset_in_project(self, dataset_id: str, project_id: str) -> Dataset:
        record = self._store.get_dataset(dataset_id)
        if record.ref.project_id != project_id:
            raise InvalidInputError(
                f"Dataset {dataset_id!r} belongs to project {record.ref.project_id!r}, not "
                f"{project_id!r}; register it in this project."
            )
        return load_dataset(self.root, record)

    def _finished_job(self, job: JobRef, kind: JobKind) -> JobRecord:
        record = self._store.get_job(job.job_id)
        if record.kind is not kind:
            raise InvalidInputError(
                f"Job {job.job_id!r} is a {record.kind.value} job, not a {kind.value} job."
            )
        if record.state is JobState.SUCCEEDED:
            return record
        if record.state.is_terminal:
            raise JobFailedError(
                f"Job {job.job_id!r} ended {record.state.value} and has no result: "
                f"{record.message}",
                job_id=job.job_id,
            )
        raise InvalidInputError(
            f"Job {job.job_id!r} is still {record.state.value}; call wait_for_job first."
        )


def _require_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"The {kind} {name!r} is empty; pass a non-empty name.")


def _require_predictions(model: ModelCaller, *datasets: Dataset) -> None:
    if model.available:
        return
    for dataset in datasets:
        if dataset.spec.pred_col is None:
            raise InvalidInputError(
                f"Dataset {dataset.name!r} has no prediction column and model "
                f"{model.model.ref.name!r} has no model directory to compute them; register "
                "the dataset with pred_col= or the model with a model directory."
            )


def _to_parquet(frame: pd.DataFrame, source: str) -> bytes:
    import pyarrow as pa

    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"{source}: the columns cannot be stored ({exc}); give every column one type "
            "(numbers, text or timestamps)."
        ) from exc
    return buffer.getvalue()
