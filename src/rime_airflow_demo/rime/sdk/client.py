"""``SdkRimeClient``: the ``RimeClient`` protocol on a RIME cluster through rime-sdk 2.13.

Only this package imports ``rime_sdk``, and only inside functions, so DAG files
and the local engine never load it. Every SDK call runs inside
``sdk_errors``, which turns SDK, urllib3 and requests errors into the
``rime.errors`` hierarchy. The API key never appears in a log or message.

Datasets carry their own prediction column. One uploaded file is registered
twice: as the dataset, with the prediction column listed in
``features_not_in_model`` so RIME does not treat it as a feature, and as the
model's prediction file with ``pred_params.pred_col``. Rows of both therefore
stay aligned without a second upload. NOTE: only the fake server has checked
that a prediction file may carry extra columns, not a real RIME cluster.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from rime_airflow_demo.rime.connect import RimeCredentials
from rime_airflow_demo.rime.errors import (
    AlreadyExistsError,
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
)
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
from rime_airflow_demo.rime.sdk import results
from rime_airflow_demo.rime.sdk.errors import scrub, sdk_errors

log = logging.getLogger(__name__)

MODEL_TASK = "MODEL_TASK_BINARY_CLASSIFICATION"
INSTALL_HINT = (
    'rime-sdk is not installed. Run `uv sync`, or `pip install "rime-sdk>=2.13,<3"` with '
    "pandas and numpy pins overridden as in pyproject.toml's [tool.uv] override-dependencies."
)
_JOB_STATES = {
    "JOB_STATUS_SUCCEEDED": JobState.SUCCEEDED,
    "JOB_STATUS_FAILED": JobState.FAILED,
    "JOB_STATUS_CANCELLED": JobState.CANCELLED,
    "JOB_STATUS_RUNNING": JobState.RUNNING,
}


def import_rime_sdk() -> Any:
    """Import and return the ``rime_sdk`` module, or raise ImportError with the install command."""
    try:
        import rime_sdk
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return rime_sdk


def count_rows(local_path: Path) -> int:
    """Return the number of data rows in a CSV or Parquet file."""
    if local_path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(local_path).metadata.num_rows)
    import pandas as pd

    return len(pd.read_csv(local_path, usecols=[0]))


def _model_entry_path(model_path: str) -> str:
    """Return the remote entry file of a model: ``model_path`` itself or its ``rime_model.py``."""
    if model_path.endswith(".py"):
        return model_path
    return posixpath.join(model_path, ENTRY_FILE)


class SdkRimeClient:
    """The ``RimeClient`` protocol over ``rime_sdk.Client`` (see the module docstring).

    Building it connects: the SDK reads ``/v1/rime-info`` and the license
    status, so bad URLs, keys and expired licenses fail here.
    """

    def __init__(
        self,
        credentials: RimeCredentials,
        job_timeout_s: float = 3600,
        poll_interval_s: float = 5.0,
    ) -> None:
        if not credentials.url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"RIME URL {credentials.url!r} has no scheme; start it with https:// "
                "(or http:// for a server on loopback)."
            )
        if job_timeout_s <= 0 or poll_interval_s <= 0:
            raise InvalidInputError(
                f"job_timeout_s={job_timeout_s!r} and poll_interval_s={poll_interval_s!r} "
                "must both be positive numbers of seconds."
            )

        self._sdk = import_rime_sdk()
        self._secret = credentials.api_key
        self._url = credentials.url
        self._job_timeout_s = float(job_timeout_s)
        self._poll_interval_s = float(poll_interval_s)
        self._row_counts: dict[str, int] = {}

        with self._errors("connection check", f"cluster {credentials.url!r}"):
            self._client = self._sdk.Client(
                domain=credentials.url,
                api_key=credentials.api_key,
                channel_timeout=float(credentials.channel_timeout_s),
                disable_tls=bool(credentials.disable_tls),
                ssl_ca_cert=credentials.ssl_ca_cert,
            )
        # The SDK's Configuration objects share one api_key dict, so the key of the
        # most recently built Client would otherwise apply to every client in the
        # process. NOTE: this reaches into the SDK's private _api_client, which
        # rime-sdk 2.13 exposes no public accessor for.
        self._api_client = self._client._api_client
        self._api_client.configuration.api_key = {"rime-api-key": credentials.api_key}
        log.info("Connected to the RIME cluster at %s", credentials.url)

    def __repr__(self) -> str:
        return f"SdkRimeClient(url={self._url!r})"

    def _errors(self, action: str, ids: str) -> Any:
        return sdk_errors(action, ids, self._secret)

    def _swagger(self) -> Any:
        return self._sdk.swagger.swagger_client

    # -- projects ----------------------------------------------------------------------------

    def _project(self, project_id: str) -> Any:
        with self._errors("project look-up", f"project {project_id!r}"):
            return self._client.get_project(str(project_id))

    def _project_ref(self, project: Any) -> ProjectRef:
        with self._errors("project look-up", f"project {project.project_id!r}"):
            return ProjectRef(
                project_id=str(project.project_id),
                name=str(project.name),
                link=str(project.get_link()),
            )

    def find_project(self, name: str) -> ProjectRef:
        with self._errors("project search", f"project name {name!r}"):
            matches = [p for p in self._client.list_projects() if p.name == name]
        if not matches:
            raise NotFoundError(
                f"No RIME project is named {name!r}; create it with get_or_create_project."
            )
        if len(matches) > 1:
            log.warning(
                "%d RIME projects are named %r; using %s",
                len(matches),
                name,
                matches[0].project_id,
            )
        return self._project_ref(matches[0])

    def get_or_create_project(self, name: str, description: str = "") -> ProjectRef:
        try:
            return self.find_project(name)
        except NotFoundError:
            pass
        with self._errors("project creation", f"project name {name!r}"):
            project = self._client.create_project(
                name=str(name), description=str(description or name), model_task=MODEL_TASK
            )
        log.info("Created RIME project %s named %r", project.project_id, name)
        return self._project_ref(project)

    # -- uploads -----------------------------------------------------------------------------

    def upload_file(self, local_path: str, upload_path: str) -> str:
        path = Path(local_path)
        if not path.is_file():
            raise InvalidInputError(
                f"File {local_path!r} does not exist; write it before uploading."
            )
        n_rows = count_rows(path) if path.suffix in (".csv", ".parquet") else None
        with self._errors("file upload", f"file {local_path!r}"):
            remote = str(self._client.upload_file(path, upload_path=str(upload_path)))
        if n_rows is not None:
            self._row_counts[remote] = n_rows
        log.info("Uploaded %s (%s rows) to %s", local_path, n_rows, remote)
        return remote

    def upload_model_dir(self, local_dir: str, upload_path: str) -> str:
        directory = Path(local_dir)
        if not (directory / ENTRY_FILE).is_file():
            raise InvalidInputError(
                f"Model directory {local_dir!r} has no {ENTRY_FILE}; build it with "
                "rime_airflow_demo.rime.model_dir.build_model_dir."
            )
        with self._errors("model directory upload", f"directory {local_dir!r}"):
            remote = str(self._client.upload_directory(directory, upload_path=str(upload_path)))
        log.info("Uploaded model directory %s to %s", local_dir, remote)
        return remote

    # -- registry ----------------------------------------------------------------------------

    def register_model(
        self,
        project_id: str,
        name: str,
        model_path: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ModelRef:
        project = self._project(project_id)
        ids = f"model {name!r} in project {project_id!r}"
        entry = _model_entry_path(str(model_path))
        with self._errors("model registration", ids):
            for model in project.list_models():
                if model.get("name") == name:
                    model_id = str(model["model_id"]["uuid"])
                    log.info("Reusing RIME model %s named %r", model_id, name)
                    return ModelRef(model_id=model_id, project_id=str(project_id), name=name)
            model_id, _job = project.register_and_validate_model(
                name=str(name),
                model_config={"model_path": {"path": entry}},
                metadata={str(k): str(v) for k, v in metadata.items()} if metadata else None,
            )
        log.info("Registered RIME model %s named %r at %s", model_id, name, entry)
        return ModelRef(model_id=str(model_id), project_id=str(project_id), name=name)

    def _existing_dataset(self, project: Any, name: str) -> dict[str, Any] | None:
        for dataset in project.list_datasets():
            if dataset.get("name") == name:
                return dict(dataset)
        return None

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
        if pred_col and not model_id:
            raise InvalidInputError(
                f"Dataset {name!r} has pred_col={pred_col!r} but no model_id; pass the id of "
                "the model that made the predictions."
            )
        project = self._project(project_id)
        ids = f"dataset {name!r} in project {project_id!r}"
        data_params: dict[str, Any] = {"label_col": str(label_col)}
        if timestamp_col:
            data_params["timestamp_col"] = str(timestamp_col)
        not_features = list(
            dict.fromkeys([*map(str, ignored_cols), *([pred_col] if pred_col else [])])
        )
        if not_features:
            data_params["features_not_in_model"] = not_features
        data_config = {
            "connection_info": {"data_file": {"path": str(path)}},
            "data_params": data_params,
        }

        with self._errors("dataset registration", ids):
            dataset_id = self._register_or_reuse_dataset(project, name, data_config)
            if pred_col and model_id:
                self._register_predictions(project, str(model_id), dataset_id, str(path), pred_col)
        return DatasetRef(
            dataset_id=dataset_id,
            project_id=str(project_id),
            name=name,
            # NOTE: the row count is known only for files this client uploaded; a
            # path uploaded by another process is reported with 0 rows.
            n_rows=self._row_counts.get(str(path), 0),
            model_id=str(model_id) if model_id else None,
        )

    def _register_or_reuse_dataset(
        self, project: Any, name: str, data_config: dict[str, Any]
    ) -> str:
        """Return the id of dataset ``name``, replacing it when its file or columns changed."""
        existing = self._existing_dataset(project, name)
        if existing is not None:
            info = existing.get("data_info") or {}
            old_path = ((info.get("connection_info") or {}).get("data_file") or {}).get("path")
            old_params = info.get("data_params") or {}
            new_params = data_config["data_params"]
            unchanged = old_path == data_config["connection_info"]["data_file"]["path"] and all(
                old_params.get(key) == value for key, value in new_params.items()
            )
            if unchanged:
                log.info("Reusing RIME dataset %s named %r", existing["dataset_id"], name)
                return str(existing["dataset_id"])
            log.info("Replacing RIME dataset %s named %r", existing["dataset_id"], name)
            project.delete_dataset(existing["dataset_id"])
        dataset_id, _job = project.register_and_validate_dataset(
            name=str(name), data_config=data_config
        )
        log.info("Registered RIME dataset %s named %r", dataset_id, name)
        return str(dataset_id)

    def _register_predictions(
        self, project: Any, model_id: str, dataset_id: str, path: str, pred_col: str
    ) -> None:
        for prediction in project.list_predictions(model_id=model_id):
            if prediction.get("dataset_id") != dataset_id:
                continue
            params = (prediction.get("pred_info") or {}).get("pred_params") or {}
            if params.get("pred_col") == pred_col:
                log.info("Reusing predictions of model %s on dataset %s", model_id, dataset_id)
                return
            project.delete_predictions(model_id, dataset_id)
        project.register_and_validate_predictions(
            dataset_id=dataset_id,
            model_id=model_id,
            pred_config={
                "connection_info": {"data_file": {"path": path}},
                "pred_params": {"pred_col": pred_col},
            },
        )
        log.info("Registered predictions of model %s on dataset %s", model_id, dataset_id)

    # -- jobs --------------------------------------------------------------------------------

    def start_stress_test(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        eval_dataset_id: str,
        run_name: str,
    ) -> JobRef:
        config = {
            "run_name": str(run_name),
            "data_info": {
                "ref_dataset_id": str(ref_dataset_id),
                "eval_dataset_id": str(eval_dataset_id),
            },
            "model_id": str(model_id),
        }
        ids = (
            f"project {project_id!r}, model {model_id!r}, datasets "
            f"{ref_dataset_id!r} and {eval_dataset_id!r}"
        )
        with self._errors("stress test start", ids):
            job = self._client.start_stress_test(config, project_id=str(project_id))
        log.info(
            "Started RIME stress test job %s (run %r) in project %s",
            job.job_id,
            run_name,
            project_id,
        )
        return JobRef(job_id=str(job.job_id), kind=JobKind.STRESS_TEST, project_id=str(project_id))

    def _job(self, job_id: str) -> Any:
        with self._errors("job look-up", f"job {job_id!r}"):
            return self._client.get_job(str(job_id))

    def wait_for_job(
        self, job: JobRef, timeout_s: float, poll_interval_s: float = 5.0
    ) -> JobStatus:
        sdk_job = self._job(job.job_id)
        deadline = time.monotonic() + timeout_s
        while True:
            with self._errors("job status", f"job {job.job_id!r}"):
                status = sdk_job.get_status(verbose=False, wait_until_finish=False)
            raw_state = str(status.get("status"))
            state = _JOB_STATES.get(raw_state, JobState.PENDING)
            if state is JobState.SUCCEEDED:
                log.info("RIME job %s succeeded", job.job_id)
                return JobStatus(job_id=job.job_id, state=state)
            if state in (JobState.FAILED, JobState.CANCELLED):
                message = scrub(str(status.get("error_msg") or "no error message"), self._secret)
                raise JobFailedError(
                    f"RIME job {job.job_id!r} ended {state.value}: {message}", job.job_id
                )
            if time.monotonic() + poll_interval_s > deadline:
                raise JobTimeoutError(
                    f"RIME job {job.job_id!r} did not finish within {timeout_s:g} s "
                    f"(last status {raw_state}); raise the job timeout or check the job "
                    "in the RIME web app.",
                    job.job_id,
                    timeout_s,
                )
            log.debug(
                "RIME job %s is %s; polling again in %g s", job.job_id, raw_state, poll_interval_s
            )
            time.sleep(poll_interval_s)

    def _wait(self, job: JobRef) -> None:
        self.wait_for_job(job, self._job_timeout_s, self._poll_interval_s)

    def get_stress_test_result(self, job: JobRef) -> StressTestResult:
        self._wait(job)
        sdk_job = self._job(job.job_id)
        with self._errors("stress test results", f"job {job.job_id!r}"):
            test_run = sdk_job.get_test_run()
            test_run_id = str(test_run.test_run_id)
            raw = self._swagger().ResultsReaderApi(self._api_client).get_test_run(test_run_id)
            result_df = test_run.get_result_df()
            category_df = test_run.get_category_results_df()
            cases_df = test_run.get_test_cases_df(show_test_case_metrics=True)
            link = str(test_run.get_link())
        model = raw.test_run.model_id
        return StressTestResult(
            test_run_id=test_run_id,
            job_id=job.job_id,
            project_id=job.project_id,
            model_id=str(model.uuid) if model is not None else "",
            link=link,
            summary_counts=results.summary_counts(result_df),
            category_severity_counts=results.category_severity_counts(category_df),
            model_perf=results.model_perf(result_df),
            tests=results.test_results(cases_df),
        )

    # -- continuous testing ------------------------------------------------------------------

    def _firewall_id_of(self, project_id: str) -> str | None:
        """Return the id of the project's continuous test (the first one, as ``get_ct``)."""
        project = self._project(project_id)
        with self._errors("firewall look-up", f"project {project_id!r}"):
            if not project.has_ct():
                return None
            api = self._swagger().ProjectServiceApi(self._api_client)
            firewall_ids = api.get_project(str(project_id)).project.project.firewall_ids
        return str(firewall_ids[0].uuid)

    def _firewall_ref(self, firewall_id: str, project_id: str) -> FirewallRef:
        ct = self._sdk.ContinuousTest(self._api_client, firewall_id)
        with self._errors("firewall look-up", f"firewall {firewall_id!r}"):
            return FirewallRef(
                firewall_id=firewall_id,
                project_id=str(project_id),
                model_id=str(ct.get_model_id()),
                ref_dataset_id=str(ct.get_ref_data_id()),
                bin_size_s=int(ct.get_bin_size().total_seconds()),
                link=str(self._project(project_id).get_link()),
            )

    def create_firewall(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        bin_size_s: int = DEFAULT_BIN_SIZE_S,
    ) -> FirewallRef:
        bin_size = int(bin_size_s)
        if bin_size <= 0:
            raise InvalidInputError(f"bin_size_s={bin_size_s!r} must be a positive whole number.")
        ids = f"project {project_id!r}, model {model_id!r}, reference dataset {ref_dataset_id!r}"
        firewall_id = self._firewall_id_of(project_id)
        if firewall_id is None:
            with self._errors("firewall creation", ids):
                project = self._client.get_project(str(project_id))
                project.create_ct(str(model_id), str(ref_dataset_id), timedelta(seconds=bin_size))
            firewall_id = self._firewall_id_of(project_id)
            assert firewall_id is not None
            log.info("Created RIME firewall %s in project %s", firewall_id, project_id)
            return self._firewall_ref(firewall_id, project_id)

        current = self._firewall_ref(firewall_id, project_id)
        if current.bin_size_s != bin_size:
            raise AlreadyExistsError(
                f"Firewall {firewall_id!r} of project {project_id!r} has bins of "
                f"{current.bin_size_s} s, not {bin_size} s; RIME cannot change a bin size, "
                "so delete the firewall in the RIME web app or keep its bin size."
            )
        if (current.model_id, current.ref_dataset_id) == (str(model_id), str(ref_dataset_id)):
            log.info("Reusing RIME firewall %s of project %s", firewall_id, project_id)
            return current
        with self._errors("firewall update", f"firewall {firewall_id!r}, {ids}"):
            ct = self._sdk.ContinuousTest(self._api_client, firewall_id)
            ct.update_ct(model_id=str(model_id), ref_data_id=str(ref_dataset_id))
        log.info(
            "Pointed RIME firewall %s at model %s and reference dataset %s",
            firewall_id,
            model_id,
            ref_dataset_id,
        )
        return self._firewall_ref(firewall_id, project_id)

    def get_firewall(self, project_id: str) -> FirewallRef:
        firewall_id = self._firewall_id_of(project_id)
        if firewall_id is None:
            raise NotFoundError(
                f"RIME project {project_id!r} has no firewall; create it with create_firewall "
                "(the RIME_Stress_Testing DAG's create_firewall task)."
            )
        return self._firewall_ref(firewall_id, project_id)

    def start_continuous_test(self, firewall_id: str, dataset_id: str) -> JobRef:
        ids = f"firewall {firewall_id!r}, dataset {dataset_id!r}"
        with self._errors("continuous test start", ids):
            ct = self._sdk.ContinuousTest(self._api_client, str(firewall_id))
            project_id = str(ct.project_id)
            job = ct.start_continuous_test(
                eval_data_id=str(dataset_id), override_existing_bins=True
            )
        log.info(
            "Started RIME continuous test job %s on firewall %s for dataset %s",
            job.job_id,
            firewall_id,
            dataset_id,
        )
        return JobRef(job_id=str(job.job_id), kind=JobKind.CONTINUOUS_TEST, project_id=project_id)

    def get_continuous_test_result(self, job: JobRef) -> ContinuousTestResult:
        self._wait(job)
        sdk_job = self._job(job.job_id)
        with self._errors("continuous test results", f"job {job.job_id!r}"):
            test_run_ids = [str(i) for i in sdk_job.get_test_run_ids() or []]
            raw_job = self._swagger().JobReaderApi(self._api_client).get_job(job.job_id).job
            firewall_id = str(raw_job.job_data.continuous_inc.firewall_id)
            reader = self._swagger().ResultsReaderApi(self._api_client)
            bins = tuple(
                results.bin_result(firewall_id, reader.get_test_run(run_id).test_run)
                for run_id in test_run_ids
            )
            ct = self._sdk.ContinuousTest(self._api_client, firewall_id)
            events_df = ct.get_events_df()
        events = results.detection_events(events_df, firewall_id, job.project_id, bins)
        log.info(
            "RIME continuous test job %s wrote %d bins with %d events",
            job.job_id,
            len(bins),
            len(events),
        )
        return ContinuousTestResult(
            job_id=job.job_id, firewall_id=firewall_id, bins=bins, events=events
        )
