"""The demo runner's pieces that need no Airflow: home folder, dates, progress, output, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from rime_airflow_demo import demo
from rime_airflow_demo.airflow_runner import logical_date_for_day
from rime_airflow_demo.demo import (
    HOME_MARKER,
    DemoError,
    RunOutcome,
    TaskProgress,
    check_outcome,
    firewall_window,
    output_to_log,
    prepare_home,
)
from rime_airflow_demo.settings import Settings

DAY = date(2024, 3, 5)
MIDNIGHT = datetime(2024, 3, 5, tzinfo=timezone.utc)


class TestLogicalDateForDay:
    """The runner picks the logical date whose data interval is the requested day."""

    def test_cron_trigger_with_interval(self) -> None:
        """A cron-trigger timetable with a one-day interval needs the midnight after the day."""
        from airflow.sdk import CronTriggerTimetable

        timetable = CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))
        dag = SimpleNamespace(timetable=timetable)
        assert logical_date_for_day(dag, DAY) == MIDNIGHT + timedelta(days=1)

    def test_cron_data_interval(self) -> None:
        """A data-interval timetable's manual run also ends at its logical date."""
        from airflow.timetables.interval import CronDataIntervalTimetable

        dag = SimpleNamespace(timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"))
        assert logical_date_for_day(dag, DAY) == MIDNIGHT + timedelta(days=1)

    def test_empty_interval(self) -> None:
        """A cron trigger without an interval covers no span, so the day's midnight is used."""
        from airflow.sdk import CronTriggerTimetable

        dag = SimpleNamespace(timetable=CronTriggerTimetable("0 0 * * *", timezone="UTC"))
        assert logical_date_for_day(dag, DAY) == MIDNIGHT


def test_firewall_window_inclusive() -> None:
    """The window runs from the start day to the end day, both included."""
    settings = Settings(firewall_start=date(2024, 3, 1), firewall_end=date(2024, 3, 3))
    assert firewall_window(settings) == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]


class TestPrepareHome:
    """``prepare_home`` creates the home and deletes it only when it is the demo's own."""

    def test_creates_marker(self, tmp_path: Path) -> None:
        """A new home gets the marker file."""
        home = tmp_path / "home"
        prepare_home(home, fresh=False)
        assert (home / HOME_MARKER).exists()

    def test_reuse_keeps_state(self, tmp_path: Path) -> None:
        """Without ``fresh`` existing files stay."""
        home = tmp_path / "home"
        prepare_home(home, fresh=False)
        (home / "mlflow.db").write_text("state")
        prepare_home(home, fresh=False)
        assert (home / "mlflow.db").read_text() == "state"

    def test_fresh_deletes_demo_home(self, tmp_path: Path) -> None:
        """With ``fresh`` a home with the marker is emptied."""
        home = tmp_path / "home"
        prepare_home(home, fresh=False)
        (home / "notes.txt").write_text("old")
        prepare_home(home, fresh=True)
        assert not (home / "notes.txt").exists()
        assert (home / HOME_MARKER).exists()

    def test_fresh_deletes_known_entries_only_home(self, tmp_path: Path) -> None:
        """A home without marker that holds only walkthrough entries is deleted."""
        home = tmp_path / "home"
        (home / "airflow").mkdir(parents=True)
        prepare_home(home, fresh=True)
        assert not (home / "airflow").exists()

    def test_fresh_rejects_foreign_folder(self, tmp_path: Path) -> None:
        """A folder with other files and no marker is not deleted."""
        home = tmp_path / "projects"
        home.mkdir()
        (home / "thesis.tex").write_text("precious")
        with pytest.raises(DemoError, match="did not create"):
            prepare_home(home, fresh=True)
        assert (home / "thesis.tex").read_text() == "precious"


class TestTaskProgress:
    """``TaskProgress`` prints one line per finished task of the verbose DAGs."""

    def task(
        self, dag_id: str = "RIME_Stress_Testing", task_id: str = "train_model_0"
    ) -> SimpleNamespace:
        return SimpleNamespace(
            dag_id=dag_id, run_id="manual__x", task_id=task_id, try_number=1, state="failed"
        )

    def test_success_line(self) -> None:
        """A finished task prints ``ok`` and its id."""
        lines: list[str] = []
        progress = TaskProgress(lines.append, verbose_dags={"RIME_Stress_Testing"})
        progress.on_task_instance_running(None, self.task())
        progress.on_task_instance_success(None, self.task())
        assert len(lines) == 1
        assert lines[0].split()[:2] == ["ok", "train_model_0"]

    def test_quiet_dag_success_prints_nothing(self) -> None:
        """Tasks of a DAG not in ``verbose_dags`` print nothing on success."""
        lines: list[str] = []
        progress = TaskProgress(lines.append, verbose_dags={"RIME_Stress_Testing"})
        progress.on_task_instance_success(None, self.task(dag_id="RIME_Firewall"))
        assert lines == []

    def test_failure_prints_and_keeps_error(self) -> None:
        """A failure prints even for quiet DAGs and keeps the one-line error."""
        lines: list[str] = []
        progress = TaskProgress(lines.append)
        task = self.task(dag_id="RIME_Firewall", task_id="run_firewall")
        progress.on_task_instance_failed(None, task, ValueError("bad\ncolumn"))
        assert "FAILED" in lines[0]
        assert progress.errors["RIME_Firewall", "manual__x", "run_firewall"] == "bad column"

    def test_retry_is_labelled_retry(self) -> None:
        """A failure that Airflow will retry prints ``retry`` instead of ``FAILED``."""
        lines: list[str] = []
        progress = TaskProgress(lines.append)
        task = self.task(task_id="run_stress_test_0")
        task.state = "up_for_retry"
        progress.on_task_instance_failed(None, task, "job timed out")
        assert lines[0].split()[:2] == ["retry", "run_stress_test_0"]


class TestCheckOutcome:
    """``check_outcome`` turns a failed DAG run into one message with everything to act on."""

    FAILED = RunOutcome("RIME_Firewall", "manual__2024-03-02", "failed", ("run_firewall",), 3.0)

    def test_success_passes(self) -> None:
        """A successful run raises nothing."""
        check_outcome(
            RunOutcome("RIME_Firewall", "r", "success", (), 1.0), TaskProgress(print), Path("x")
        )

    def test_failure_names_dag_run_task_log(self, tmp_path: Path) -> None:
        """The message names the DAG, the run, the task with its error, and the log file."""
        progress = TaskProgress(lambda line: None)
        progress.errors["RIME_Firewall", "manual__2024-03-02", "run_firewall"] = "no firewall"
        with pytest.raises(DemoError) as caught:
            check_outcome(self.FAILED, progress, tmp_path / "demo.log")
        message = str(caught.value)
        assert "DAG RIME_Firewall run manual__2024-03-02 ended failed" in message
        assert "run_firewall: no firewall" in message
        assert str(tmp_path / "demo.log") in message


def test_output_to_log_separates_streams(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Output on file descriptors 1 and 2, a child's too, goes to the log; progress does not."""
    log_path = tmp_path / "logs" / "demo.log"
    with output_to_log(log_path) as terminal:
        os.write(1, b"from fd 1\n")
        subprocess.run(
            [sys.executable, "-c", "import sys; sys.stderr.write('from child\\n')"], check=True
        )
        terminal.write("progress line\n")
    captured = capfd.readouterr()
    log_text = log_path.read_text()
    assert "from fd 1" in log_text
    assert "from child" in log_text
    assert "progress line" in captured.out
    assert "from fd 1" not in captured.out


def test_main_rejects_bad_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid setting stops the demo with exit code 2 and the variable's name."""
    monkeypatch.setenv("RIME_DEMO_HOME", str(tmp_path))
    monkeypatch.setenv("RIME_DEMO_FIREWALL_START", "2024-03-10")
    monkeypatch.setenv("RIME_DEMO_FIREWALL_END", "2024-03-01")
    assert demo.main([]) == 2
    assert "RIME_DEMO_FIREWALL_END" in capsys.readouterr().err


def test_main_fresh_rejects_foreign_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--fresh`` on a folder the demo did not create exits 2 and deletes nothing."""
    (tmp_path / "keep.txt").write_text("mine")
    monkeypatch.setenv("RIME_DEMO_HOME", str(tmp_path))
    assert demo.main(["--fresh"]) == 2
    assert (tmp_path / "keep.txt").exists()
    assert "did not create" in capsys.readouterr().err


class TestEnsureExperiment:
    """``ensure_experiment`` keeps MLflow artifacts inside the home folder."""

    def settings(self, home: Path) -> Settings:
        return Settings(
            home=home,
            mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
            mlflow_experiment="ensure_test",
        )

    def test_creates_experiment_under_home(self, tmp_path: Path) -> None:
        """A missing experiment is created with artifacts in ``<home>/mlruns``."""
        from mlflow import MlflowClient

        settings = self.settings(tmp_path)
        demo.ensure_experiment(settings)
        experiment = MlflowClient(settings.mlflow_tracking_uri).get_experiment_by_name(
            "ensure_test"
        )
        assert experiment is not None
        assert experiment.artifact_location == (tmp_path / "mlruns").as_uri()

    def test_keeps_existing_experiment(self, tmp_path: Path) -> None:
        """An existing experiment keeps its id and artifact location."""
        from mlflow import MlflowClient

        settings = self.settings(tmp_path)
        client = MlflowClient(settings.mlflow_tracking_uri)
        other = (tmp_path / "elsewhere").as_uri()
        experiment_id = client.create_experiment("ensure_test", artifact_location=other)
        demo.ensure_experiment(settings)
        experiment = client.get_experiment_by_name("ensure_test")
        assert experiment is not None
        assert experiment.experiment_id == experiment_id
        assert experiment.artifact_location == other

    def test_tracking_server_left_alone(self, tmp_path: Path) -> None:
        """With a tracking server URI nothing is contacted or created."""
        settings = Settings(home=tmp_path, mlflow_tracking_uri="http://127.0.0.1:9")
        demo.ensure_experiment(settings)
        assert list(tmp_path.iterdir()) == []


def test_sdk_backend_without_credentials_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking for the sdk backend without credentials fails before any DAG runs."""
    monkeypatch.delenv("AIRFLOW_CONN_RIME_DEFAULT", raising=False)
    settings = Settings.from_env({"RIME_DEMO_HOME": str(tmp_path), "RIME_DEMO_RIME_BACKEND": "sdk"})
    with pytest.raises(DemoError) as caught:
        demo.describe_backend(settings)
    assert "RIME_API_KEY" in str(caught.value)
    assert "rime_default" in str(caught.value)
