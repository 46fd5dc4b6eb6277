"""The ``RimeClient`` protocol and the values that cross it.

The Airflow callables talk to RIME only through ``RimeClient``. Three
implementations exist: the rime-sdk adapter (``rime.sdk``), the embedded local
engine (``rime.local``) and the in-memory fake cluster of the tests.

Every value is a small frozen dataclass whose ``to_json()`` result is plain
JSON (strings, numbers, lists, dicts) and whose ``from_json()`` rebuilds it, so
values travel through XCom unchanged. Result vocabulary follows RIME:
severities PASS, WARNING and ALERT; categories such as MODEL_PERFORMANCE or
DRIFT; summary counts total, pass, warning, fail and skip.

Errors are the hierarchy in ``rime.errors``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

DEFAULT_BIN_SIZE_S = 86_400

T = TypeVar("T", bound="JsonValue")


class Severity(str, enum.Enum):
    """Outcome of one test, category, bin or detection event."""

    PASS = "PASS"
    WARNING = "WARNING"
    ALERT = "ALERT"

    @classmethod
    def worst(cls, severities: list[Severity]) -> Severity:
        """Return the most severe of ``severities`` (PASS for an empty list)."""
        order = [cls.PASS, cls.WARNING, cls.ALERT]
        return max(severities, key=order.index, default=cls.PASS)


class TestCategory(str, enum.Enum):
    """RIME test categories produced for tabular binary classification."""

    __test__ = False  # not a pytest test class

    MODEL_PERFORMANCE = "MODEL_PERFORMANCE"
    SUBSET_PERFORMANCE = "SUBSET_PERFORMANCE"
    DRIFT = "DRIFT"
    ABNORMAL_INPUTS = "ABNORMAL_INPUTS"
    DATA_CLEANLINESS = "DATA_CLEANLINESS"


class JobState(str, enum.Enum):
    """Lifecycle of a RIME job; SUCCEEDED, FAILED and CANCELLED are terminal."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobKind(str, enum.Enum):
    """Kind of computation a job runs."""

    STRESS_TEST = "STRESS_TEST"
    CONTINUOUS_TEST = "CONTINUOUS_TEST"


def _to_json(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


class JsonValue:
    """Mixin: ``to_json`` gives plain JSON, ``from_json`` rebuilds the dataclass."""

    def to_json(self) -> dict[str, Any]:
        result = _to_json(self)
        assert isinstance(result, dict)
        return result

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, Any]) -> T:
        return cls(
            **{
                f.name: _from_json_field(cls, f.name, data[f.name])
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
                if f.name in data
            }
        )


def _from_json_field(cls: type, name: str, raw: Any) -> Any:
    converter = _CONVERTERS.get((cls.__name__, name))
    return converter(raw) if converter else raw


@dataclass(frozen=True)
class ProjectRef(JsonValue):
    """A RIME project."""

    project_id: str
    name: str
    link: str = ""


@dataclass(frozen=True)
class ModelRef(JsonValue):
    """A model registered in a project's registry."""

    model_id: str
    project_id: str
    name: str


@dataclass(frozen=True)
class DatasetRef(JsonValue):
    """A dataset registered in a project's registry, with predictions when ``model_id`` is set."""

    dataset_id: str
    project_id: str
    name: str
    n_rows: int
    model_id: str | None = None


@dataclass(frozen=True)
class JobRef(JsonValue):
    """A started stress test or continuous test job."""

    job_id: str
    kind: JobKind
    project_id: str


@dataclass(frozen=True)
class JobStatus(JsonValue):
    """The state of a job when it was last read."""

    job_id: str
    state: JobState
    message: str = ""


@dataclass(frozen=True)
class MetricPair(JsonValue):
    """A model-performance metric on the reference and on the evaluation data."""

    reference: float | None
    evaluation: float | None


@dataclass(frozen=True)
class SummaryCounts(JsonValue):
    """Test counts of a run, as RIME's ``summaryCounts``: total, pass, warning, fail, skip."""

    total: int = 0
    passed: int = 0
    warning: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class TestResult(JsonValue):
    """One row of a stress test: a test on zero, one or more features."""

    __test__ = False  # not a pytest test class

    test_name: str
    category: TestCategory
    features: tuple[str, ...]
    severity: Severity
    metrics: dict[str, float | None] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class StressTestResult(JsonValue):
    """Results of one stress test run: summary, per-category counts, metrics and tests."""

    test_run_id: str
    job_id: str
    project_id: str
    model_id: str
    link: str
    summary_counts: SummaryCounts
    # category -> {"PASS": n, "WARNING": n, "ALERT": n}
    category_severity_counts: dict[str, dict[str, int]]
    # metric name (e.g. "AUC") -> reference and evaluation values
    model_perf: dict[str, MetricPair]
    tests: tuple[TestResult, ...] = ()

    @property
    def severity(self) -> Severity:
        """Worst severity over all tests."""
        if self.summary_counts.failed:
            return Severity.ALERT
        if self.summary_counts.warning:
            return Severity.WARNING
        return Severity.PASS


@dataclass(frozen=True)
class FirewallRef(JsonValue):
    """The continuous test (AI Firewall) of a project."""

    firewall_id: str
    project_id: str
    model_id: str
    ref_dataset_id: str
    bin_size_s: int = DEFAULT_BIN_SIZE_S
    link: str = ""


@dataclass(frozen=True)
class BinResult(JsonValue):
    """Continuous-test results of one time bin ``[start, end)``; times are ISO 8601 UTC."""

    firewall_id: str
    start: str
    end: str
    n_rows: int
    severity: Severity
    # e.g. {"AUC": 0.91, "prediction_drift_psi": 0.02, "abnormal_input_rate": 0.01}
    metrics: dict[str, float | None]
    test_run_id: str = ""
    link: str = ""


@dataclass(frozen=True)
class DetectionEvent(JsonValue):
    """A monitor firing on a bin, as RIME's detection events report it."""

    event_id: str
    firewall_id: str
    bin_start: str
    bin_end: str
    metric: str
    feature: str | None
    value: float
    threshold: float
    severity: Severity
    category: TestCategory
    description: str = ""


@dataclass(frozen=True)
class ContinuousTestResult(JsonValue):
    """Bins written by one continuous test job, and the events detected on them."""

    job_id: str
    firewall_id: str
    bins: tuple[BinResult, ...]
    events: tuple[DetectionEvent, ...]


_CONVERTERS: dict[tuple[str, str], Any] = {
    ("JobRef", "kind"): JobKind,
    ("JobStatus", "state"): JobState,
    ("TestResult", "category"): TestCategory,
    ("TestResult", "severity"): Severity,
    ("TestResult", "features"): tuple,
    ("StressTestResult", "summary_counts"): lambda d: SummaryCounts.from_json(d),
    ("StressTestResult", "model_perf"): lambda d: {
        k: MetricPair.from_json(v) for k, v in d.items()
    },
    ("StressTestResult", "tests"): lambda rows: tuple(TestResult.from_json(r) for r in rows),
    ("BinResult", "severity"): Severity,
    ("DetectionEvent", "severity"): Severity,
    ("DetectionEvent", "category"): TestCategory,
    ("ContinuousTestResult", "bins"): lambda rows: tuple(BinResult.from_json(r) for r in rows),
    ("ContinuousTestResult", "events"): lambda rows: tuple(
        DetectionEvent.from_json(r) for r in rows
    ),
}


@runtime_checkable
class RimeClient(Protocol):
    """What the Airflow callables need from RIME.

    Contract shared by every backend:

    * Idempotent by name. ``get_or_create_project``, ``register_model`` and
      ``register_dataset`` return the existing object when one with the same
      name exists in the project (a re-registered dataset replaces its data),
      so a retried task never creates a second copy. ``create_firewall``
      returns the project's firewall, pointing it at the given model and
      reference dataset when they differ.
    * Datasets are files (CSV or Parquet) with binary labels 0/1 in
      ``label_col``, positive-class probabilities in ``pred_col`` and, for
      production data, a timestamp column. Predictions are registered against
      ``model_id``.
    * Files reach RIME in two steps, as on a cluster: ``upload_file`` and
      ``upload_model_dir`` copy local files to RIME's storage and return the
      remote location; ``register_dataset`` and ``register_model`` register
      that location in a project. Uploading the same file to the same
      ``upload_path`` again overwrites it.
    * A model is a directory whose entry file exposes ``predict_df(df)``
      returning positive-class probabilities (see ``rime.model_dir``).
    * ``wait_for_job`` raises ``JobFailedError`` for a failed or cancelled job
      and ``JobTimeoutError`` when ``timeout_s`` passes; it returns the
      terminal ``JobStatus`` of a succeeded job.
    * ``start_continuous_test`` bins the dataset's rows by timestamp into bins
      of the firewall's bin size aligned to UTC midnight; a bin that already
      exists is replaced.
    * Unknown ids raise ``NotFoundError``; bad arguments ``InvalidInputError``;
      a bad key ``UnauthorizedError``; retryable faults ``TransientError``.
    """

    def get_or_create_project(self, name: str, description: str = "") -> ProjectRef: ...

    def find_project(self, name: str) -> ProjectRef: ...

    def upload_file(self, local_path: str, upload_path: str) -> str: ...

    def upload_model_dir(self, local_dir: str, upload_path: str) -> str: ...

    def register_model(
        self,
        project_id: str,
        name: str,
        model_path: str,
        metadata: Mapping[str, str] | None = None,
    ) -> ModelRef: ...

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
    ) -> DatasetRef: ...

    def start_stress_test(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        eval_dataset_id: str,
        run_name: str,
    ) -> JobRef: ...

    def wait_for_job(
        self, job: JobRef, timeout_s: float, poll_interval_s: float = 5.0
    ) -> JobStatus: ...

    def get_stress_test_result(self, job: JobRef) -> StressTestResult: ...

    def create_firewall(
        self,
        project_id: str,
        model_id: str,
        ref_dataset_id: str,
        bin_size_s: int = DEFAULT_BIN_SIZE_S,
    ) -> FirewallRef: ...

    def get_firewall(self, project_id: str) -> FirewallRef: ...

    def start_continuous_test(self, firewall_id: str, dataset_id: str) -> JobRef: ...

    def get_continuous_test_result(self, job: JobRef) -> ContinuousTestResult: ...
