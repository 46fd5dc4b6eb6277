"""Persistent state of the local engine: one SQLite database under the engine's root.

Each Airflow task is a separate process, so every call opens its own
connection. The database runs in WAL mode with a busy timeout, and every
write happens in one ``BEGIN IMMEDIATE`` transaction, so concurrent stress
tests in separate processes serialize their writes instead of corrupting
them. Results are stored as the protocol's JSON.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Generator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rime_airflow_demo.rime.errors import NotFoundError
from rime_airflow_demo.rime.local.datasets import DatasetSpec
from rime_airflow_demo.rime.protocol import (
    BinResult,
    DatasetRef,
    DetectionEvent,
    FirewallRef,
    JobKind,
    JobState,
    ModelRef,
    ProjectRef,
)

DATABASE_FILE = "engine.sqlite3"
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    project_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    model_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    path TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE (project_id, name));
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL, n_rows INTEGER NOT NULL, model_id TEXT, spec TEXT NOT NULL,
    UNIQUE (project_id, name));
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, project_id TEXT NOT NULL,
    name TEXT NOT NULL, state TEXT NOT NULL, message TEXT NOT NULL,
    result TEXT, created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')));
CREATE TABLE IF NOT EXISTS firewalls (
    firewall_id TEXT PRIMARY KEY, project_id TEXT NOT NULL UNIQUE, model_id TEXT NOT NULL,
    ref_dataset_id TEXT NOT NULL, bin_size_s INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bins (
    firewall_id TEXT NOT NULL, start TEXT NOT NULL, job_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (firewall_id, start));
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY, firewall_id TEXT NOT NULL, bin_start TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_bin ON events (firewall_id, bin_start);
CREATE INDEX IF NOT EXISTS bins_by_job ON bins (job_id);
"""


def new_id() -> str:
    """Return a new random id (uuid4, 32 hex digits)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ModelRecord:
    """A registered model and the directory it was registered from."""

    ref: ModelRef
    path: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class DatasetRecord:
    """A registered dataset, its column roles and the file it was read from."""

    ref: DatasetRef
    spec: DatasetSpec
    source: str


@dataclass(frozen=True)
class JobRecord:
    """A job row: its state, error message and JSON result once it succeeded."""

    job_id: str
    kind: JobKind
    project_id: str
    name: str
    state: JobState
    message: str
    result: dict[str, Any] | None
    created_at: str


class Store:
    """Projects, models, datasets, jobs, firewalls, bins and events in SQLite."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / DATABASE_FILE
        with closing(self._connect()) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        connection.row_factory = sqlite3.Row
        return connection

    @contextmanager
    def _read(self) -> Generator[sqlite3.Connection, None, None]:
        with closing(self._connect()) as connection:
            yield connection

    @contextmanager
    def _write(self) -> Generator[sqlite3.Connection, None, None]:
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # Projects

    def get_or_create_project(self, name: str, description: str) -> ProjectRef:
        """Return the project called ``name``, creating it when absent."""
        with self._write() as db:
            db.execute(
                "INSERT INTO projects VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (new_id(), name, description),
            )
            row = db.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
        return ProjectRef(project_id=row["project_id"], name=row["name"])

    def find_project(self, name: str) -> ProjectRef | None:
        """Return the project called ``name``, or None."""
        with self._read() as db:
            row = db.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
        return None if row is None else ProjectRef(project_id=row["project_id"], name=row["name"])

    def get_project(self, project_id: str) -> ProjectRef:
        """Return the project ``project_id`` or raise ``NotFoundError``."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM projects WHERE project_id = ?", (project_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(
                f"Project {project_id!r} does not exist; create it with get_or_create_project."
            )
        return ProjectRef(project_id=row["project_id"], name=row["name"])

    # Models

    def upsert_model(
        self, project_id: str, name: str, path: str, metadata: Mapping[str, str]
    ) -> ModelRef:
        """Register ``path`` as model ``name`` of the project, keeping the id of an existing one."""
        with self._write() as db:
            db.execute(
                "INSERT INTO models VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, name) "
                "DO UPDATE SET path = excluded.path, metadata = excluded.metadata",
                (new_id(), project_id, name, path, json.dumps(dict(metadata))),
            )
            row = db.execute(
                "SELECT model_id FROM models WHERE project_id = ? AND name = ?", (project_id, name)
            ).fetchone()
        return ModelRef(model_id=row["model_id"], project_id=project_id, name=name)

    def get_model(self, model_id: str) -> ModelRecord:
        """Return the model ``model_id`` or raise ``NotFoundError``."""
        with self._read() as db:
            row = db.execute("SELECT * FROM models WHERE model_id = ?", (model_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"Model {model_id!r} does not exist; register it with register_model."
            )
        return ModelRecord(
            ref=ModelRef(model_id=row["model_id"], project_id=row["project_id"], name=row["name"]),
            path=row["path"],
            metadata=json.loads(row["metadata"]),
        )

    # Datasets

    def dataset_id_for(self, project_id: str, name: str) -> str:
        """Return the id of dataset ``name`` in the project, or a new id when it is absent."""
        with self._read() as db:
            row = db.execute(
                "SELECT dataset_id FROM datasets WHERE project_id = ? AND name = ?",
                (project_id, name),
            ).fetchone()
        return new_id() if row is None else str(row["dataset_id"])

    def upsert_dataset(self, record: DatasetRecord) -> DatasetRef:
        """Store ``record``; a dataset of the same project and name keeps its id and is replaced."""
        ref, spec = record.ref, record.spec
        with self._write() as db:
            db.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id, name) DO UPDATE SET source = excluded.source, "
                "n_rows = excluded.n_rows, model_id = excluded.model_id, spec = excluded.spec",
                (
                    ref.dataset_id,
                    ref.project_id,
                    ref.name,
                    record.source,
                    ref.n_rows,
                    ref.model_id,
                    json.dumps(_spec_to_json(spec)),
                ),
            )
            row = db.execute(
                "SELECT dataset_id FROM datasets WHERE project_id = ? AND name = ?",
                (ref.project_id, ref.name),
            ).fetchone()
        return DatasetRef(
            dataset_id=row["dataset_id"],
            project_id=ref.project_id,
            name=ref.name,
            n_rows=ref.n_rows,
            model_id=ref.model_id,
        )

    def get_dataset(self, dataset_id: str) -> DatasetRecord:
        """Return the dataset ``dataset_id`` or raise ``NotFoundError``."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM datasets WHERE dataset_id = ?", (dataset_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(
                f"Dataset {dataset_id!r} does not exist; register it with register_dataset."
            )
        spec = json.loads(row["spec"])
        return DatasetRecord(
            ref=DatasetRef(
                dataset_id=row["dataset_id"],
                project_id=row["project_id"],
                name=row["name"],
                n_rows=row["n_rows"],
                model_id=row["model_id"],
            ),
            spec=DatasetSpec(
                label_col=spec["label_col"],
                pred_col=spec["pred_col"],
                timestamp_col=spec["timestamp_col"],
                ignored_cols=tuple(spec["ignored_cols"]),
            ),
            source=row["source"],
        )

    # Jobs

    def insert_job(self, job_id: str, kind: JobKind, project_id: str, name: str) -> None:
        """Record a new RUNNING job."""
        with self._write() as db:
            db.execute(
                "INSERT INTO jobs (job_id, kind, project_id, name, state, message) "
                "VALUES (?, ?, ?, ?, ?, '')",
                (job_id, kind.value, project_id, name, JobState.RUNNING.value),
            )

    def finish_job(
        self,
        job_id: str,
        state: JobState,
        message: str = "",
        result: Mapping[str, Any] | None = None,
    ) -> None:
        """Set the terminal state of a job, with its error message or JSON result."""
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = ?, message = ?, result = ? WHERE job_id = ?",
                (state.value, message, None if result is None else json.dumps(result), job_id),
            )

    def get_job(self, job_id: str) -> JobRecord:
        """Return the job ``job_id`` or raise ``NotFoundError``."""
        with self._read() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"Job {job_id!r} does not exist; use the JobRef that its start call returned."
            )
        return _job_record(row)

    def project_jobs(self, project_id: str, kind: JobKind) -> list[JobRecord]:
        """Return the project's jobs of one kind, oldest first."""
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE project_id = ? AND kind = ? ORDER BY created_at, rowid",
                (project_id, kind.value),
            ).fetchall()
        return [_job_record(row) for row in rows]

    # Firewalls

    def upsert_firewall(
        self, project_id: str, model_id: str, ref_dataset_id: str, bin_size_s: int
    ) -> FirewallRef:
        """Return the project's firewall, pointed at this model, reference and bin size."""
        with self._write() as db:
            db.execute(
                "INSERT INTO firewalls VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE "
                "SET model_id = excluded.model_id, ref_dataset_id = excluded.ref_dataset_id, "
                "bin_size_s = excluded.bin_size_s",
                (new_id(), project_id, model_id, ref_dataset_id, bin_size_s),
            )
            row = db.execute(
                "SELECT * FROM firewalls WHERE project_id = ?", (project_id,)
            ).fetchone()
        return _firewall_ref(row)

    def firewall_of_project(self, project_id: str) -> FirewallRef | None:
        """Return the project's firewall, or None."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM firewalls WHERE project_id = ?", (project_id,)
            ).fetchone()
        return None if row is None else _firewall_ref(row)

    def get_firewall(self, firewall_id: str) -> FirewallRef:
        """Return the firewall ``firewall_id`` or raise ``NotFoundError``."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM firewalls WHERE firewall_id = ?", (firewall_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(
                f"Firewall {firewall_id!r} does not exist; create it with create_firewall."
            )
        return _firewall_ref(row)

    # Continuous-test bins and detection events

    def replace_bin(self, job_id: str, result: BinResult, events: list[DetectionEvent]) -> None:
        """Write a bin and its events, replacing the bin with the same firewall and start."""
        with self._write() as db:
            db.execute(
                "DELETE FROM events WHERE firewall_id = ? AND bin_start = ?",
                (result.firewall_id, result.start),
            )
            db.execute(
                "INSERT OR REPLACE INTO bins VALUES (?, ?, ?, ?)",
                (result.firewall_id, result.start, job_id, json.dumps(result.to_json())),
            )
            db.executemany(
                "INSERT INTO events VALUES (?, ?, ?, ?)",
                [
                    (
                        event.event_id,
                        event.firewall_id,
                        event.bin_start,
                        json.dumps(event.to_json()),
                    )
                    for event in events
                ],
            )

    def job_bins(self, job_id: str) -> list[BinResult]:
        """Return the bins last written by ``job_id``, by start time."""
        with self._read() as db:
            rows = db.execute(
                "SELECT data FROM bins WHERE job_id = ? ORDER BY start", (job_id,)
            ).fetchall()
        return [BinResult.from_json(json.loads(row["data"])) for row in rows]

    def firewall_bins(self, firewall_id: str) -> list[BinResult]:
        """Return every bin of the firewall, by start time."""
        with self._read() as db:
            rows = db.execute(
                "SELECT data FROM bins WHERE firewall_id = ? ORDER BY start", (firewall_id,)
            ).fetchall()
        return [BinResult.from_json(json.loads(row["data"])) for row in rows]

    def bin_events(self, firewall_id: str, bin_start: str) -> list[DetectionEvent]:
        """Return the detection events of one bin."""
        with self._read() as db:
            rows = db.execute(
                "SELECT data FROM events WHERE firewall_id = ? AND bin_start = ? ORDER BY rowid",
                (firewall_id, bin_start),
            ).fetchall()
        return [DetectionEvent.from_json(json.loads(row["data"])) for row in rows]


def _spec_to_json(spec: DatasetSpec) -> dict[str, Any]:
    return {
        "label_col": spec.label_col,
        "pred_col": spec.pred_col,
        "timestamp_col": spec.timestamp_col,
        "ignored_cols": list(spec.ignored_cols),
    }


def _job_record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        job_id=row["job_id"],
        kind=JobKind(row["kind"]),
        project_id=row["project_id"],
        name=row["name"],
        state=JobState(row["state"]),
        message=row["message"],
        result=None if row["result"] is None else json.loads(row["result"]),
        created_at=row["created_at"],
    )


def _firewall_ref(row: sqlite3.Row) -> FirewallRef:
    return FirewallRef(
        firewall_id=row["firewall_id"],
        project_id=row["project_id"],
        model_id=row["model_id"],
        ref_dataset_id=row["ref_dataset_id"],
        bin_size_s=row["bin_size_s"],
    )
