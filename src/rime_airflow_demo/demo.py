"""Run the whole walkthrough through real Airflow and print what it found.

    python -m rime_airflow_demo.demo [--fresh] [--firewall-only]

Steps, in one process: check the data, migrate the Airflow metadata database
under ``RIME_DEMO_HOME`` (default ``./.demo``), run ``RIME_Stress_Testing``
once, run ``RIME_Firewall`` for every day from ``RIME_DEMO_FIREWALL_START`` to
``RIME_DEMO_FIREWALL_END``, then print a summary read back from MLflow.

The terminal shows one line per stress-testing task and per firewall day.
Everything Airflow, MLflow and the models write to stdout and stderr goes to
``<home>/logs/demo-<time>.log``.

A second run reuses ``RIME_DEMO_HOME``. The DAG runs have fixed logical dates
and run ids: the stress-testing DAG's start date, then each firewall day. So
Airflow replaces the same DAG runs, and the idempotent tasks reuse their
MLflow runs, model versions, RIME project and firewall and replace the day bins.
``--fresh`` deletes the home folder first; use it after changing data or
model settings, because a reused model version keeps its old training data.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import pluggy

from rime_airflow_demo.airflow_runner import logical_date_for_day
from rime_airflow_demo.settings import Settings, SettingsError

log = logging.getLogger(__name__)

STRESS_DAG_ID = "RIME_Stress_Testing"
FIREWALL_DAG_ID = "RIME_Firewall"
HOME_MARKER = ".rime-airflow-demo"
# Entries the walkthrough creates in its home folder. --fresh deletes a folder
# without the marker file only when it contains nothing else.
KNOWN_HOME_ENTRIES = {
    HOME_MARKER,
    "airflow",
    "logs",
    "storage",
    "rime_local",
    "mlflow.db",
    "mlartifacts",
    "mlruns",
    "summary.txt",
}
FAILED_STATES = {"failed", "upstream_failed"}

# Airflow's listener hooks are pluggy hooks of the project "airflow", and this
# is the same marker as Airflow's own ``hookimpl``. It is built here because
# Airflow must not be imported before ``prepare_airflow`` sets its configuration.
hookimpl = pluggy.HookimplMarker("airflow")


class DemoError(RuntimeError):
    """The demo cannot go on; the message names what failed and where to look."""


@dataclass
class TaskProgress:
    """Airflow task listener that prints one line per finished task of the stress-testing DAG.

    Firewall days are summarised per day by the caller, so only their
    failures and retries print here. Errors of failed tasks are kept for the
    final message.
    """

    write: Callable[[str], None]
    verbose_dags: set[str] = field(default_factory=set)
    started: dict[tuple[str, str, str], float] = field(default_factory=dict)
    errors: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def _key(self, task_instance: Any) -> tuple[str, str, str]:
        return (task_instance.dag_id, task_instance.run_id, task_instance.task_id)

    def _elapsed(self, task_instance: Any) -> str:
        started = self.started.get(self._key(task_instance))
        return "" if started is None else f"{time.monotonic() - started:6.1f} s"

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self.started[self._key(task_instance)] = time.monotonic()

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        if task_instance.dag_id in self.verbose_dags:
            self.write(f"  ok       {task_instance.task_id:<45}{self._elapsed(task_instance)}")

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        if task_instance.dag_id in self.verbose_dags:
            self.write(f"  skipped  {task_instance.task_id:<45}{self._elapsed(task_instance)}")

    @hookimpl
    def on_task_instance_failed(
        self, previous_state: Any, task_instance: Any, error: str | BaseException | None
    ) -> None:
        message = _one_line(error)
        self.errors[self._key(task_instance)] = message
        state = str(getattr(task_instance.state, "value", task_instance.state))
        label = "retry" if state == "up_for_retry" else "FAILED"
        self.write(
            f"  {label:<9}{task_instance.task_id:<45}{self._elapsed(task_instance)}"
            f"  try {getattr(task_instance, 'try_number', '?')}: {message}"
        )


def register_listener(progress: TaskProgress) -> None:
    """Register ``progress`` with the Task SDK's listener manager (tasks run in this process)."""
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager().add_listener(progress)


@dataclass(frozen=True)
class RunOutcome:
    """The final state of one DAG run and the task instances that failed."""

    dag_id: str
    run_id: str
    state: str
    failed_tasks: tuple[str, ...]
    seconds: float
    data_interval_start: datetime | None = None


def run_dag_once(dag: Any, logical_date: datetime) -> RunOutcome:
    """Run one DAG run with ``dag.test()`` and return its state and failed tasks."""
    started = time.monotonic()
    # run_after fixes the run id to manual__<logical date>, so a second demo
    # replaces the same DAG run (dag.test deletes a run with the same logical
    # date) and the tasks find their MLflow runs again by that id.
    dag_run = dag.test(logical_date=logical_date, run_after=logical_date)
    states = {
        ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in dag_run.get_task_instances()
    }
    failed = tuple(sorted(task for task, state in states.items() if state in FAILED_STATES))
    return RunOutcome(
        dag_id=dag.dag_id,
        run_id=dag_run.run_id,
        state=str(getattr(dag_run.state, "value", dag_run.state)),
        failed_tasks=failed,
        seconds=time.monotonic() - started,
        data_interval_start=dag_run.data_interval_start,
    )


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def stress_logical_date(dag: Any, settings: Settings) -> datetime:
    """Return the stress-testing run's logical date: the DAG's start date, as its @once run."""
    start = getattr(dag, "start_date", None)
    if start is not None:
        return start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    return utc_midnight(settings.firewall_start)


def firewall_window(settings: Settings) -> list[date]:
    days = []
    current = settings.firewall_start
    while current <= settings.firewall_end:
        days.append(current)
        current += timedelta(days=1)
    return days


def check_outcome(outcome: RunOutcome, progress: TaskProgress, log_path: Path) -> None:
    """Raise ``DemoError`` naming the DAG, run, failed tasks and log when the run failed."""
    if outcome.state == "success":
        return
    details = []
    for task_id in outcome.failed_tasks or ("(no task failed; see the log)",):
        error = progress.errors.get((outcome.dag_id, outcome.run_id, task_id), "")
        details.append(f"{task_id}: {error}" if error else task_id)
    raise DemoError(
        f"DAG {outcome.dag_id} run {outcome.run_id} ended {outcome.state}. Failed tasks: "
        + "; ".join(details)
        + f". The full task logs are in {log_path}."
    )


def prepare_home(home: Path, fresh: bool) -> None:
    """Create the home folder with its marker; with ``fresh``, delete it first.

    A folder is deleted only when the demo created it (marker file) or it
    contains nothing but the walkthrough's own entries, so a mistyped
    ``RIME_DEMO_HOME`` never removes unrelated files.
    """
    if fresh and home.exists():
        entries = {entry.name for entry in home.iterdir()}
        if HOME_MARKER not in entries and not entries <= KNOWN_HOME_ENTRIES:
            raise DemoError(
                f"--fresh would delete {home}, which the demo did not create (no {HOME_MARKER} "
                f"file). Delete it yourself or set RIME_DEMO_HOME to another folder."
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / HOME_MARKER).touch()


@contextlib.contextmanager
def output_to_log(log_path: Path) -> Generator[IO[str], None, None]:
    """Send this process's stdout and stderr (and its children's) to ``log_path``.

    Yields a stream on the original stdout for progress lines. The file
    descriptors themselves are redirected, so output written by C code or
    by subprocesses also lands in the log. They are restored on exit.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1)
    with log_path.open("a") as log_file:
        os.dup2(log_file.fileno(), 1)
        os.dup2(log_file.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()


def describe_backend(settings: Settings) -> str:
    """Return which RIME backend the tasks will use, as ``rime.connect`` decides it."""
    from rime_airflow_demo.pipelines.common import airflow_connection_credentials
    from rime_airflow_demo.rime.connect import credentials_from_settings

    if settings.rime_backend == "local":
        return f"local engine in {settings.rime_local_root}"
    credentials = airflow_connection_credentials(settings.rime_conn_id)
    if credentials is None:
        credentials = credentials_from_settings(settings)
    if credentials is None:
        if settings.rime_backend == "sdk":
            raise DemoError(
                "RIME_DEMO_RIME_BACKEND='sdk' needs RIME credentials: set RIME_API_KEY and "
                f"RIME_UPLOAD_URL, or the Airflow connection {settings.rime_conn_id!r}; "
                "or unset RIME_DEMO_RIME_BACKEND to use the local engine."
            )
        return f"local engine in {settings.rime_local_root} (no RIME credentials set)"
    return f"RIME cluster at {credentials.url}"


def describe_data(settings: Settings) -> str:
    """Load the reference table and the firewall window's production rows; return their sizes.

    This builds the day partitions the firewall reads and reports bad data
    before any DAG runs.
    """
    from rime_airflow_demo.data.day_partitions import read_interval
    from rime_airflow_demo.data.sources import feature_columns, load_reference

    reference = load_reference(settings)
    features = feature_columns(settings, reference)
    start = utc_midnight(settings.firewall_start)
    end = utc_midnight(settings.firewall_end) + timedelta(days=1)
    production = read_interval(settings, start.isoformat(), end.isoformat())
    days = (settings.firewall_end - settings.firewall_start).days + 1
    return (
        f"{len(reference)} reference rows with {len(features)} features, "
        f"{len(production)} production rows over {days} days ({settings.data_source} data)"
    )


def ensure_experiment(settings: Settings) -> None:
    """Create the MLflow experiment before the DAGs run, with its artifacts under the home folder.

    ``tracking.experiment_id`` chooses the artifact location; a tracking
    server decides it itself, so nothing is created for one here.
    """
    if settings.mlflow_tracking_uri.startswith(("http://", "https://")):
        return
    from rime_airflow_demo import tracking

    experiment = tracking.experiment_id(settings)
    log.info("MLflow experiment %r has id %s", settings.mlflow_experiment, experiment)


def next_steps(settings: Settings, log_path: Path) -> list[str]:
    """Return where a user looks next: the UIs, the MLflow store and the logs."""
    steps = [
        "nox -s airflow: Airflow UI on http://127.0.0.1:8080 (these DAG runs) and MLflow UI "
        "on http://127.0.0.1:7081 (this store)",
    ]
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:"):
        steps.append(f"or only MLflow: mlflow ui --backend-store-uri {uri} --port 7081")
    else:
        steps.append(f"MLflow tracking: {uri}")
    steps.append(f"local RIME engine state and HTML reports: {settings.rime_local_root}")
    steps.append(f"full log of this run: {log_path}")
    return steps


class Demo:
    """The demo's steps, printing progress lines to ``terminal``."""

    def __init__(self, settings: Settings, terminal: IO[str], log_path: Path) -> None:
        self.settings = settings
        self.terminal = terminal
        self.log_path = log_path
        self.progress = TaskProgress(self.write, verbose_dags={STRESS_DAG_ID})

    def write(self, line: str) -> None:
        self.terminal.write(line + "\n")
        self.terminal.flush()

    def run(self, firewall_only: bool = False) -> str:
        """Run every step and return the summary text.

        With ``firewall_only`` the stress-testing DAG is not run, so the
        firewall uses the production model of an earlier run.
        """
        from rime_airflow_demo.airflow_runner import load_dag, prepare_airflow

        self.write(f"Data: {describe_data(self.settings)}")
        env = prepare_airflow(self.settings)
        self.write(f"Airflow home: {env['AIRFLOW_HOME']} (metadata database migrated)")
        # Checked before any DAG runs, so missing credentials stop the demo at once.
        self.write(f"RIME backend: {describe_backend(self.settings)}")
        ensure_experiment(self.settings)
        self.write(f"MLflow tracking: {self.settings.mlflow_tracking_uri}")
        register_listener(self.progress)

        stress_run_id = None
        if not firewall_only:
            stress_run_id = self.run_stress_testing(load_dag(STRESS_DAG_ID))
        self.run_firewall(load_dag(FIREWALL_DAG_ID))

        from rime_airflow_demo.summary import collect_summary, format_summary

        summary = collect_summary(self.settings, stress_run_id)
        return format_summary(summary, next_steps(self.settings, self.log_path))

    def run_stress_testing(self, dag: Any) -> str:
        """Run the stress-testing DAG once and return its run id."""
        logical = stress_logical_date(dag, self.settings)
        self.write(f"\n{STRESS_DAG_ID} (logical date {logical.isoformat()})")
        outcome = run_dag_once(dag, logical)
        check_outcome(outcome, self.progress, self.log_path)
        self.write(f"  {STRESS_DAG_ID} run {outcome.run_id}: success in {outcome.seconds:.0f} s")
        return outcome.run_id

    def run_firewall(self, dag: Any) -> None:
        from rime_airflow_demo.summary import load_firewall_day

        days = firewall_window(self.settings)
        self.write(
            f"\n{FIREWALL_DAG_ID}: {len(days)} daily runs, "
            f"{days[0].isoformat()} to {days[-1].isoformat()}"
        )
        for day in days:
            outcome = run_dag_once(dag, logical_date_for_day(dag, day))
            check_outcome(outcome, self.progress, self.log_path)
            if outcome.data_interval_start is not None and (
                outcome.data_interval_start.date() != day
            ):
                raise DemoError(
                    f"{FIREWALL_DAG_ID} run {outcome.run_id} covered the day starting "
                    f"{outcome.data_interval_start.isoformat()}, not {day}; check the DAG's "
                    "timetable."
                )
            found = load_firewall_day(self.settings, day)
            if found is None or found.bin is None:
                detail = "no rows, firewall skipped"
            else:
                auc = found.bin.metrics.get("AUC")
                auc_text = "n/a" if auc is None else f"{auc:.3f}"
                detail = (
                    f"{found.bin.n_rows:>5} rows  AUC {auc_text}  "
                    f"{found.bin.severity.value:<7}  {len(found.events)} event"
                    f"{'' if len(found.events) == 1 else 's'}"
                )
            self.write(f"  {day.isoformat()}  {detail}  ({outcome.seconds:.0f} s)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="delete RIME_DEMO_HOME (default ./.demo) before running, for a clean start",
    )
    parser.add_argument(
        "--firewall-only",
        action="store_true",
        help=f"run only the {FIREWALL_DAG_ID} days, with the production model of an earlier run",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return 0, 1 (a step failed), 2 (invalid setting) or 130 (interrupted)."""
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        prepare_home(settings.home, args.fresh)
    except (SettingsError, DemoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log_path = settings.home / "logs" / f"demo-{stamp}.log"
    print(f"Walkthrough state: {settings.home}", flush=True)
    print(f"Full log: {log_path}", flush=True)
    started = time.monotonic()
    with output_to_log(log_path) as terminal:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        demo = Demo(settings, terminal, log_path)
        try:
            text = demo.run(firewall_only=args.firewall_only)
        except DemoError as exc:
            log.error("%s", exc)
            demo.write(f"\nerror: {exc}")
            return 1
        except KeyboardInterrupt:
            log.warning("Interrupted by the user")
            demo.write(
                f"\nInterrupted. The state in {settings.home} is kept; run again to redo it."
            )
            return 130
        except Exception as exc:
            log.exception("The demo failed")
            demo.write(f"\nerror: {type(exc).__name__}: {_one_line(exc)}\nSee {log_path}.")
            return 1
        summary_path = settings.home / "summary.txt"
        summary_path.write_text(text + "\n")
        demo.write(f"\n{'=' * 30} Summary {'=' * 30}\n{text}")
        demo.write(
            f"\nDone in {time.monotonic() - started:.0f} s; summary saved to {summary_path}."
        )
    return 0


def _one_line(error: object, limit: int = 300) -> str:
    text = " ".join(str(error or "").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
