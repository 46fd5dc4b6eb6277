"""A fake RIME REST server on loopback for contract tests of the rime-sdk adapter.

``FakeRimeServer`` listens on ``127.0.0.1`` and a free port. It serves the
REST routes that rime-sdk 2.13 calls for this project's flow: construction
checks, projects, uploads, registry, stress tests, jobs, results, continuous
tests and detection events. Responses use the camelCase JSON shapes that the
SDK's swagger models read. It keeps state across calls, checks the ``rime-api-key`` header and is
programmable:

* ``fail_route(name, status, times)`` fails the next ``times`` calls of one
  route with an HTTP error (for example 503 twice, then success);
* ``script_next_job(...)`` makes the next started job fail, stay RUNNING for a
  number of polls, or never finish.

Results are computed from the uploaded files (see ``rime_analysis``), never
canned. Use it as a context manager::

    with FakeRimeServer(api_key="k") as server:
        client = rime_sdk.Client(server.url, "k")
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pandas as pd

from tests.fakes import rime_analysis

SDK_VERSION = "2.13.2"
CUSTOMER_NAME = "fake-customer"
UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Json = dict[str, Any]


class HttpError(Exception):
    """An error that the fake returns as ``{"code": status, "message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class JobScript:
    """How the next started job behaves: polls spent RUNNING, then its final state."""

    running_polls: int | None = 0  # None: never finishes
    fail_message: str | None = None


@dataclass
class FakeJob:
    job_id: str
    job_type: str
    project_id: str
    script: JobScript
    run: Callable[[], Json]  # computes the job data when the job succeeds
    polls: int = 0
    status: str = "JOB_STATUS_PENDING"
    job_data: Json = field(default_factory=dict)
    error_msg: str = ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeRimeServer:
    """A stateful, programmable RIME REST server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, api_key: str = "fake-key") -> None:
        self.api_key = api_key
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self.calls: list[tuple[str, str]] = []
        self.projects: dict[str, Json] = {}
        self.blobs: dict[str, bytes] = {}
        self.done_markers: set[str] = set()
        self.datasets: dict[str, Json] = {}
        self.models: dict[str, Json] = {}
        self.predictions: dict[tuple[str, str], Json] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.test_runs: dict[str, Json] = {}
        self.firewalls: dict[str, Json] = {}
        self.bins: dict[tuple[str, str], str] = {}  # (firewall id, bin start) -> test run id
        self.events: dict[tuple[str, str, str], Json] = {}  # (firewall, bin start, metric)
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._job_scripts: list[JobScript] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeRimeServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeRimeServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- programming -----------------------------------------------------------------------

    def fail_route(self, name: str, status: int, times: int = 1, message: str = "") -> None:
        """Fail the next ``times`` calls of route ``name`` with HTTP ``status``."""
        if name not in _ROUTE_NAMES:
            raise ValueError(f"Unknown route {name!r}; known routes: {sorted(_ROUTE_NAMES)}.")
        text = message or f"injected {status} on {name}"
        with self.lock:
            self._failures.setdefault(name, []).extend([(status, text)] * times)

    def script_next_job(
        self, running_polls: int | None = 0, fail_message: str | None = None
    ) -> None:
        """Script the next started job: RUNNING for ``running_polls`` polls (None: forever)."""
        with self.lock:
            self._job_scripts.append(JobScript(running_polls, fail_message))

    def calls_to(self, name: str) -> int:
        """Return how many requests route ``name`` received."""
        with self.lock:
            return sum(1 for route, _ in self.calls if route == name)

    # -- helpers used by the routes --------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):04d}"

    def take_failure(self, name: str) -> tuple[int, str] | None:
        with self.lock:
            queue = self._failures.get(name)
            return queue.pop(0) if queue else None

    def table(self, remote_path: str) -> pd.DataFrame:
        key = _blob_key(remote_path)
        if key not in self.blobs:
            raise HttpError(400, f"file {remote_path} was never uploaded")
        return rime_analysis.read_table(key, self.blobs[key])

    def project(self, project_id: str) -> Json:
        if project_id not in self.projects:
            raise HttpError(404, f"project {project_id} does not exist")
        return self.projects[project_id]

    def dataset(self, dataset_id: str) -> Json:
        if dataset_id not in self.datasets:
            raise HttpError(404, f"dataset {dataset_id} does not exist")
        return self.datasets[dataset_id]

    def model(self, model_id: str) -> Json:
        if model_id not in self.models:
            raise HttpError(404, f"model {model_id} does not exist")
        return self.models[model_id]

    def firewall(self, firewall_id: str) -> Json:
        if firewall_id not in self.firewalls:
            raise HttpError(404, f"firewall {firewall_id} does not exist")
        return self.firewalls[firewall_id]

    def scores(self, model_id: str, dataset_id: str) -> pd.Series | None:
        prediction = self.predictions.get((model_id, dataset_id))
        if prediction is None:
            return None
        frame = self.table(prediction["path"])
        return frame[prediction["predCol"]]

    def start_job(self, job_type: str, project_id: str, run: Callable[[], Json]) -> FakeJob:
        script = self._job_scripts.pop(0) if self._job_scripts else JobScript()
        job = FakeJob(self.new_id("job"), job_type, project_id, script, run)
        self.jobs[job.job_id] = job
        return job

    def advance(self, job: FakeJob) -> None:
        """Move ``job`` one poll forward, computing its results when it finishes."""
        if job.status in ("JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED"):
            return
        job.polls += 1
        running = job.script.running_polls
        if running is None or job.polls <= running:
            job.status = "JOB_STATUS_RUNNING"
            return
        if job.script.fail_message is not None:
            job.status = "JOB_STATUS_FAILED"
            job.error_msg = job.script.fail_message
            return
        try:
            job.job_data = job.run()
        except HttpError as exc:
            job.status = "JOB_STATUS_FAILED"
            job.error_msg = exc.message
            return
        job.status = "JOB_STATUS_SUCCEEDED"


def _blob_key(remote_path: str) -> str:
    return remote_path.removeprefix("s3://fake-rime/")


# -- routes ----------------------------------------------------------------------------------

Route = Callable[[FakeRimeServer, dict[str, str], dict[str, list[str]], Json], Json]
_ROUTES: list[tuple[str, str, re.Pattern[str], Route]] = []
_ROUTE_NAMES: set[str] = set()


def route(method: str, pattern: str) -> Callable[[Route], Route]:
    """Register a handler for ``method`` and a path ``pattern`` with ``{name}`` parameters."""
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def register(func: Route) -> Route:
        _ROUTES.append((method, func.__name__, regex, func))
        _ROUTE_NAMES.add(func.__name__)
        return func

    return register


@route("GET", "/v1/rime-info")
def rime_info(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    return {
        "clusterInfoVersion": SDK_VERSION,
        "customerName": CUSTOMER_NAME,
        "expirationTime": "2099-01-01T00:00:00Z",
    }


@route("GET", "/v1/feature-flags/{customer}/limits/{limit}")
def limit_status(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    return {"limitStatus": {"limitStatus": "STATUS_OK"}}


@route("POST", "/v1-beta/config-validator/{config_type}")
def validate_config(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    config = json.loads(body.get("configJson", "{}"))
    if params["config_type"] == "CONFIG_TYPE_TEST_RUN":
        missing = [key for key in ("run_name", "model_id", "data_info") if key not in config]
        if missing:
            raise HttpError(400, f"test run config is missing {', '.join(missing)}")
        eval_id = config["data_info"].get("eval_dataset_id", "")
        fake.dataset(eval_id)
    return {}


@route("POST", "/v1/projects")
def create_project(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    if not body.get("name"):
        raise HttpError(400, "project name must not be empty")
    project_id = fake.new_id("proj")
    fake.projects[project_id] = {
        "id": {"uuid": project_id},
        "name": body["name"],
        "description": body.get("description", ""),
        "modelTask": body.get("modelTask", "MODEL_TASK_BINARY_CLASSIFICATION"),
        "firewallIds": [],
        "creationTime": _now(),
    }
    return {"project": {"id": {"uuid": project_id}}}


@route("GET", "/v1/projects")
def list_projects(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    projects = [{"project": project} for project in fake.projects.values()]
    return {"projects": projects, "nextPageToken": "", "hasMore": False}


@route("GET", "/v1/projects/{project_id}")
def get_project(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    return {"project": {"project": fake.project(params["project_id"])}}


@route("GET", "/v1/projects/{project_id}/url")
def project_url(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    fake.project(params["project_id"])
    return {"url": {"url": f"127.0.0.1:{fake.port}/projects/{params['project_id']}"}}


@route("POST", "/v1-beta/datasets/upload-url")
def file_upload_url(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    folder = body.get("uploadPath") or fake.new_id("upload")
    key = f"{folder}/{body['fileName']}"
    return {
        "uploadUrl": f"{fake.url}/blob/{key}",
        "doneFileUploadUrl": f"{fake.url}/done/{key}",
        "destinationUrl": f"s3://fake-rime/{key}",
        "uploadLimit": "0",
    }


@route("POST", "/v1-beta/models/upload-url")
def model_dir_upload_url(
    fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json
) -> Json:
    folder = body.get("uploadPath") or fake.new_id("upload")
    prefix = f"{folder}/{body['directoryName']}"
    return {
        "uploadPathMap": {
            rel: f"{fake.url}/blob/{prefix}/{rel}" for rel in body["relativeFilePaths"]
        },
        "doneFileUploadUrl": f"{fake.url}/done/{prefix}",
        "destinationUrl": f"s3://fake-rime/{prefix}",
        "uploadLimit": "0",
    }


def _data_params(body: Json) -> Json:
    info = body.get("dataInfo") or {}
    path = ((info.get("connectionInfo") or {}).get("dataFile") or {}).get("path")
    if not path:
        raise HttpError(400, "dataInfo.connectionInfo.dataFile.path is required")
    return {"path": path, "params": info.get("dataParams") or {}}


@route("POST", "/v1/registry/{project_id}/dataset")
def register_dataset(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    project_id = params["project_id"]
    fake.project(project_id)
    if any(
        d["name"] == body.get("name") and d["projectId"] == project_id
        for d in fake.datasets.values()
    ):
        raise HttpError(409, f"dataset name {body.get('name')} is already registered")
    source = _data_params(body)
    frame = fake.table(source["path"])
    label_col = source["params"].get("labelCol")
    if label_col and label_col not in frame.columns:
        raise HttpError(400, f"label column {label_col} is not in {source['path']}")
    dataset_id = fake.new_id("data")
    fake.datasets[dataset_id] = {
        "datasetId": dataset_id,
        "name": body["name"],
        "projectId": project_id,
        "projectIds": [{"uuid": project_id}],
        "creationTime": _now(),
        "dataInfo": body["dataInfo"],
        "userMetadata": body.get("metadata") or {},
        "validityStatus": "VALIDITY_STATUS_VALID",
        "nRows": len(frame),
    }
    return {"datasetId": dataset_id}


def _public_dataset(dataset: Json) -> Json:
    return {k: v for k, v in dataset.items() if k not in ("projectId", "nRows")}


@route("GET", "/v1/registry/{project_id}/dataset")
def list_datasets(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    fake.project(params["project_id"])
    datasets = [
        _public_dataset(d) for d in fake.datasets.values() if d["projectId"] == params["project_id"]
    ]
    return {"datasets": datasets, "nextPageToken": "", "hasMore": False}


@route("GET", "/v1/registry/dataset")
def get_dataset(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    dataset_id = query.get("datasetId", [""])[0]
    return {"dataset": _public_dataset(fake.dataset(dataset_id))}


@route("DELETE", "/v1/registry/dataset/{dataset_id}")
def delete_dataset(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    fake.dataset(params["dataset_id"])
    del fake.datasets[params["dataset_id"]]
    for key in [k for k in fake.predictions if k[1] == params["dataset_id"]]:
        del fake.predictions[key]
    return {}


@route("POST", "/v1/registry/{project_id}/model")
def register_model(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    project_id = params["project_id"]
    fake.project(project_id)
    if any(
        m["name"] == body.get("name") and m["projectId"] == project_id for m in fake.models.values()
    ):
        raise HttpError(409, f"model name {body.get('name')} is already registered")
    path = ((body.get("modelInfo") or {}).get("modelPath") or {}).get("path")
    if path is not None and _blob_key(path) not in fake.blobs:
        raise HttpError(400, f"model file {path} was never uploaded")
    model_id = fake.new_id("model")
    fake.models[model_id] = {
        "modelId": {"uuid": model_id},
        "name": body["name"],
        "projectId": project_id,
        "projectIds": [{"uuid": project_id}],
        "creationTime": _now(),
        "modelInfo": body.get("modelInfo") or {},
        "userMetadata": body.get("metadata") or {},
        "validityStatus": "VALIDITY_STATUS_VALID",
    }
    return {"modelId": {"uuid": model_id}}


def _public_model(model: Json) -> Json:
    return {k: v for k, v in model.items() if k != "projectId"}


@route("GET", "/v1/registry/{project_id}/model")
def list_models(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    fake.project(params["project_id"])
    models = [
        {"model": _public_model(m)}
        for m in fake.models.values()
        if m["projectId"] == params["project_id"]
    ]
    return {"models": models, "nextPageToken": "", "hasMore": False}


@route("GET", "/v1/registry/model")
def get_model(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    model_id = query.get("modelId.uuid", [""])[0]
    return {"model": {"model": _public_model(fake.model(model_id))}}


@route("POST", "/v1/registry/{project_id}/model/{model_id}/dataset/{dataset_id}/prediction")
def register_predictions(
    fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json
) -> Json:
    fake.project(params["project_id"])
    fake.model(params["model_id"])
    fake.dataset(params["dataset_id"])
    key = (params["model_id"], params["dataset_id"])
    if key in fake.predictions:
        raise HttpError(409, f"predictions of model {key[0]} on dataset {key[1]} already exist")
    info = body.get("predInfo") or {}
    path = ((info.get("connectionInfo") or {}).get("dataFile") or {}).get("path", "")
    pred_col = (info.get("predParams") or {}).get("predCol", "")
    if pred_col not in fake.table(path).columns:
        raise HttpError(400, f"prediction column {pred_col} is not in {path}")
    fake.predictions[key] = {
        "datasetId": params["dataset_id"],
        "modelId": {"uuid": params["model_id"]},
        "path": path,
        "predCol": pred_col,
        "predInfo": info,
        "validityStatus": "VALIDITY_STATUS_VALID",
    }
    return {}


@route("GET", "/v1/registry/{project_id}/prediction")
def list_predictions(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    model_id = query.get("firstPageReq.modelId", [None])[0]
    dataset_id = query.get("firstPageReq.datasetId", [None])[0]
    found = [
        {k: v for k, v in p.items() if k not in ("path", "predCol")}
        for (m, d), p in fake.predictions.items()
        if model_id in (None, m) and dataset_id in (None, d)
    ]
    return {"predictions": found, "nextPageToken": "", "hasMore": False}


def _excluded_columns(dataset: Json) -> set[str]:
    params = dataset["dataInfo"].get("dataParams") or {}
    excluded = set(params.get("featuresNotInModel") or [])
    if params.get("timestampCol"):
        excluded.add(params["timestampCol"])
    return excluded


def _dataset_frame(fake: FakeRimeServer, dataset: Json) -> pd.DataFrame:
    return fake.table(dataset["dataInfo"]["connectionInfo"]["dataFile"]["path"])


def _store_test_run(fake: FakeRimeServer, analysis: rime_analysis.RunAnalysis, detail: Json) -> str:
    test_run_id = fake.new_id("run")
    detail.update(
        {
            "testRunId": test_run_id,
            "modelTask": "MODEL_TASK_BINARY_CLASSIFICATION",
            "uploadTime": _now(),
            "status": "TEST_TASK_STATUS_COMPLETED",
            "webAppUrl": {"url": f"127.0.0.1:{fake.port}/test-runs/{test_run_id}"},
            "metrics": {
                "numInputs": str(analysis.num_inputs),
                "durationMillis": "0",
                "summaryCounts": analysis.summary_counts(),
                "severityCounts": analysis.severity_counts(),
                "modelPerf": analysis.model_perf,
            },
        }
    )
    fake.test_runs[test_run_id] = {
        "detail": detail,
        "categories": rime_analysis.category_results(analysis),
        "cases": rime_analysis.test_cases(test_run_id, analysis),
    }
    return test_run_id


@route("POST", "/v1/stress-tests/{project_id}")
def start_stress_test(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    project_id = params["project_id"]
    fake.project(project_id)
    config = body["testRunConfig"]
    model_id = config["model_id"]["uuid"]
    fake.model(model_id)
    ref = fake.dataset(config["data_info"]["ref_dataset_id"])
    ev = fake.dataset(config["data_info"]["eval_dataset_id"])

    def run() -> Json:
        label_col = ref["dataInfo"]["dataParams"]["labelCol"]
        analysis = rime_analysis.analyse(
            _dataset_frame(fake, ref),
            _dataset_frame(fake, ev),
            label_col=label_col,
            ref_scores=fake.scores(model_id, ref["datasetId"]),
            eval_scores=fake.scores(model_id, ev["datasetId"]),
            excluded=_excluded_columns(ref),
        )
        detail = {
            "name": config["run_name"],
            "projectId": {"uuid": project_id},
            "testingType": "TEST_TYPE_STRESS_TESTING_UNSPECIFIED",
            "refDataId": ref["datasetId"],
            "evalDataId": ev["datasetId"],
            "modelId": {"uuid": model_id},
        }
        return {"stress": {"testRunId": _store_test_run(fake, analysis, detail)}}

    job = fake.start_job("JOB_TYPE_MODEL_STRESS_TEST", project_id, run)
    return {"job": {"jobId": job.job_id}}


@route("GET", "/v1/jobs/{job_id}")
def get_job(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    job = fake.jobs.get(params["job_id"])
    if job is None:
        raise HttpError(404, f"job {params['job_id']} does not exist")
    if query.get("view") == ["JOB_VIEW_FULL"]:
        fake.advance(job)
    empty_data = (
        {"stress": {}} if job.job_type == "JOB_TYPE_MODEL_STRESS_TEST" else {"continuousInc": {}}
    )
    metadata: Json = {
        "jobId": job.job_id,
        "jobType": job.job_type,
        "status": job.status,
        "creationTime": "2024-05-01T00:00:00Z",
        "runningTimeSecs": float(job.polls),
        "jobData": job.job_data or empty_data,
    }
    if job.error_msg:
        metadata["errorMsg"] = job.error_msg
    return {"job": metadata}


@route("GET", "/v1-beta/logs/{job_id}")
def job_logs(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    raise HttpError(404, f"no logs are kept for job {params['job_id']}")


def _test_run(fake: FakeRimeServer, test_run_id: str) -> Json:
    if test_run_id not in fake.test_runs:
        raise HttpError(404, f"test run {test_run_id} does not exist")
    return fake.test_runs[test_run_id]


@route("GET", "/v1/test-runs/{test_run_id}")
def get_test_run(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    return {"testRun": _test_run(fake, params["test_run_id"])["detail"]}


@route("GET", "/v1/category-results/{test_run_id}")
def category_results(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    return {"categoryTestResults": _test_run(fake, params["test_run_id"])["categories"]}


@route("GET", "/v1/test-cases")
def list_test_cases(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    test_run_id = query.get("listTestCasesQuery.testRunId", [""])[0]
    cases = _test_run(fake, test_run_id)["cases"]
    return {"testCases": cases, "nextPageToken": "", "hasMore": False}


def _public_firewall(firewall: Json) -> Json:
    return {k: v for k, v in firewall.items() if k != "refMetrics"}


@route("POST", "/v1/firewall")
def create_firewall(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    project = fake.project(body["projectId"]["uuid"])
    if project["firewallIds"]:
        raise HttpError(409, f"project {project['id']['uuid']} already has a firewall")
    fake.model(body["modelId"]["uuid"])
    fake.dataset(body["refDataId"])
    if not re.fullmatch(r"\d+s", body.get("binSize", "")):
        raise HttpError(400, f"bin size {body.get('binSize')} is not a whole number of seconds")
    firewall_id = fake.new_id("fw")
    fake.firewalls[firewall_id] = {
        "firewallId": {"uuid": firewall_id},
        "projectId": body["projectId"],
        "modelId": body["modelId"],
        "refDataId": body["refDataId"],
        "binSize": body["binSize"],
    }
    project["firewallIds"].append({"uuid": firewall_id})
    return {"firewallId": {"uuid": firewall_id}}


@route("GET", "/v1/firewall/{firewall_id}")
def get_firewall(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    return {"firewall": _public_firewall(fake.firewall(params["firewall_id"]))}


@route("PUT", "/v1/firewall/{firewall_id}")
def update_firewall(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    firewall = fake.firewall(params["firewall_id"])
    changes = body.get("firewall") or {}
    for field_name in str(body.get("mask", "")).split(","):
        if field_name == "modelId":
            fake.model(changes["modelId"]["uuid"])
            firewall["modelId"] = changes["modelId"]
        elif field_name == "refDataId":
            fake.dataset(changes["refDataId"])
            firewall["refDataId"] = changes["refDataId"]
    return {"firewall": _public_firewall(firewall)}


def _bin_start(moment: pd.Timestamp, bin_size_s: int) -> datetime:
    seconds = int((moment - pd.Timestamp(EPOCH)).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % bin_size_s)


def _run_continuous_test(fake: FakeRimeServer, firewall: Json, dataset: Json) -> Json:
    """Bin the dataset's rows by timestamp and write one test run per bin."""
    firewall_id = firewall["firewallId"]["uuid"]
    model_id = firewall["modelId"]["uuid"]
    ref = fake.dataset(firewall["refDataId"])
    params = dataset["dataInfo"].get("dataParams") or {}
    timestamp_col = params.get("timestampCol")
    if not timestamp_col:
        raise HttpError(400, f"dataset {dataset['datasetId']} has no timestampCol")
    bin_size_s = int(firewall["binSize"][:-1])

    frame = _dataset_frame(fake, dataset)
    scores = fake.scores(model_id, dataset["datasetId"])
    if scores is not None:
        frame = frame.assign(_score=scores.to_numpy())
    stamps = pd.to_datetime(frame[timestamp_col], utc=True)
    starts = stamps.map(lambda t: _bin_start(t, bin_size_s))
    ref_frame = _dataset_frame(fake, ref)
    ref_scores = fake.scores(model_id, ref["datasetId"])

    run_ids = []
    for start, rows in frame.groupby(starts, sort=True):
        end = start + timedelta(seconds=bin_size_s)
        analysis = rime_analysis.analyse(
            ref_frame,
            rows,
            label_col=ref["dataInfo"]["dataParams"]["labelCol"],
            ref_scores=ref_scores,
            eval_scores=rows["_score"] if scores is not None else None,
            excluded=_excluded_columns(ref) | {"_score"},
        )
        detail = {
            "name": f"{firewall_id} {_iso(start)}",
            "projectId": firewall["projectId"],
            "testingType": "TEST_TYPE_CONTINUOUS_TESTING",
            "refDataId": ref["datasetId"],
            "evalDataId": dataset["datasetId"],
            "modelId": {"uuid": model_id},
            "binTimeInterval": {"startTime": _iso(start), "endTime": _iso(end)},
        }
        test_run_id = _store_test_run(fake, analysis, detail)
        fake.bins[firewall_id, _iso(start)] = test_run_id
        run_ids.append(test_run_id)
        _detect_events(fake, firewall, start, end, analysis)
    return {"continuousInc": {"firewallId": firewall_id, "ctTestRunIds": run_ids}}


def _detect_events(
    fake: FakeRimeServer,
    firewall: Json,
    start: datetime,
    end: datetime,
    analysis: rime_analysis.RunAnalysis,
) -> None:
    """Record a metric-degradation event when a bin's AUC drops past the alert threshold."""
    firewall_id = firewall["firewallId"]["uuid"]
    key = (firewall_id, _iso(start), "AUC")
    fake.events.pop(key, None)
    perf = analysis.model_perf.get("AUC")
    if perf is None or perf["refMetric"] - perf["evalMetric"] <= rime_analysis.AUC_DROP_ALERT:
        return
    fake.events[key] = {
        "id": {"uuid": fake.new_id("event")},
        "projectId": firewall["projectId"],
        "firewallId": firewall["firewallId"],
        "eventType": "EVENT_TYPE_METRIC_DEGRADATION",
        "severity": "SEVERITY_ALERT",
        "eventObjectId": f"{firewall_id}-monitor-auc",
        "eventObjectName": "AUC",
        "eventTimeRange": {"startTime": _iso(start), "endTime": _iso(end)},
        "riskCategoryType": "RISK_CATEGORY_TYPE_OPERATIONAL_HEALTH",
        "testCategory": "TEST_CATEGORY_TYPE_MODEL_PERFORMANCE",
        "description": (
            f"AUC fell from {perf['refMetric']:.4f} on the reference data "
            f"to {perf['evalMetric']:.4f}"
        ),
    }


@route("POST", "/v1/continuous-tests/{firewall_id}")
def start_continuous_test(
    fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json
) -> Json:
    firewall = fake.firewall(params["firewall_id"])
    config = body.get("testRunIncrementalConfig") or {}
    dataset = fake.dataset(config.get("evalDatasetId", ""))
    start_times = _bin_starts_of(fake, firewall, dataset)
    taken = [t for t in start_times if (params["firewall_id"], t) in fake.bins]
    if taken and body.get("overrideExistingBins") is not True:
        raise HttpError(400, f"bins {', '.join(taken)} exist; set overrideExistingBins")
    job = fake.start_job(
        "JOB_TYPE_FIREWALL_BATCH_TEST",
        firewall["projectId"]["uuid"],
        lambda: _run_continuous_test(fake, firewall, dataset),
    )
    return {"job": {"jobId": job.job_id}}


def _bin_starts_of(fake: FakeRimeServer, firewall: Json, dataset: Json) -> list[str]:
    timestamp_col = (dataset["dataInfo"].get("dataParams") or {}).get("timestampCol")
    if not timestamp_col:
        raise HttpError(400, f"dataset {dataset['datasetId']} has no timestampCol")
    stamps = pd.to_datetime(_dataset_frame(fake, dataset)[timestamp_col], utc=True)
    bin_size_s = int(firewall["binSize"][:-1])
    return sorted({_iso(_bin_start(t, bin_size_s)) for t in stamps})


@route("GET", "/v1-beta/detection-events/{project_id}")
def list_events(fake: FakeRimeServer, params: dict[str, str], query: Any, body: Json) -> Json:
    fake.project(params["project_id"])
    wanted_types = set(query.get("firstPageReq.eventTypes", []))
    events = [
        event
        for event in fake.events.values()
        if event["projectId"]["uuid"] == params["project_id"]
        and (not wanted_types or event["eventType"] in wanted_types)
    ]
    return {"events": events, "nextPageToken": "", "hasMore": False}


# -- HTTP plumbing ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    fake: FakeRimeServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep request lines out of test output."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Json) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        raw = self._read_body()
        if method == "PUT" and parts.path.startswith(("/blob/", "/done/")):
            self._store_upload(parts.path, raw)
            return
        for route_method, name, regex, func in _ROUTES:
            match = regex.match(parts.path)
            if route_method != method or match is None:
                continue
            with self.fake.lock:
                self.fake.calls.append((name, parts.path))
            if self.headers.get("rime-api-key") != self.fake.api_key:
                self._send(HTTPStatus.UNAUTHORIZED, {"code": 16, "message": "invalid API key"})
                return
            failure = self.fake.take_failure(name)
            if failure is not None:
                self._send(failure[0], {"code": failure[0], "message": failure[1]})
                return
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            query = parse_qs(parts.query, keep_blank_values=True)
            body = json.loads(raw) if raw else {}
            try:
                with self.fake.lock:
                    payload = func(self.fake, params, query, body)
            except HttpError as exc:
                self._send(exc.status, {"code": exc.status, "message": exc.message})
                return
            self._send(HTTPStatus.OK, payload)
            return
        self._send(HTTPStatus.NOT_FOUND, {"code": 5, "message": f"no route {method} {parts.path}"})

    def _store_upload(self, path: str, raw: bytes) -> None:
        key = unquote(path.split("/", 2)[2])
        with self.fake.lock:
            if path.startswith("/blob/"):
                self.fake.blobs[key] = raw
            else:
                self.fake.done_markers.add(key)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Length", "0")
        self.end_headers()
