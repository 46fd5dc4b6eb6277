"""RIME_Firewall end to end: real Airflow, MLflow and the local engine over a whole window.

RIME_Stress_Testing runs first (it creates the project, the production alias
and the firewall), then one ``airflow_runner`` process runs every day of the
firewall window. The generated variant is shrunk to 10 days of 300 rows, with
drift from day 6, to keep the run short. The window ends one day after the
data, so its last run has no rows.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from rime_airflow_demo.rime.local import LocalRimeClient
from rime_airflow_demo.rime.local.store import Store
from rime_airflow_demo.rime.protocol import BinResult, DetectionEvent
from rime_airflow_demo.settings import Settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FRAUD_DATA = REPO / ".." / "shared" / "data" / "rime_fraud"

START = date(2024, 3, 1)
DAYS = 10
ROWS_PER_DAY = 300
DRIFT_DAY = START + timedelta(days=6)
EMPTY_DAY = START + timedelta(days=DAYS)


def days_from(first: date, count: int) -> list[date]:
    """Return ``count`` consecutive days from ``first``."""
    return [first + timedelta(days=n) for n in range(count)]


def run_airflow(env: dict[str, str], dag_id: str, days: list[date]) -> None:
    """Run ``dag_id`` through ``airflow_runner`` in a subprocess; fail the test if it fails."""
    command = [sys.executable, "-m", "rime_airflow_demo.airflow_runner", dag_id]
    for day in days:
        command += ["--date", day.isoformat()]
    completed = subprocess.run(
        command, env=env, cwd=REPO, capture_output=True, text=True, timeout=3600, check=False
    )
    assert completed.returncode == 0, completed.stderr[-5000:]


def demo_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """Return a process environment with all state under ``home`` and the local engine."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RIME_", "AIRFLOW", "MLFLOW_"))
    }
    env.update(
        {
            "RIME_DEMO_HOME": str(home),
            "RIME_DEMO_RIME_BACKEND": "local",
            "RIME_DEMO_RIME_POLL_INTERVAL": "0.2",
            "PYTHONPATH": str(REPO / "src"),
            **extra,
        }
    )
    return env


def firewall_state(env: dict[str, str]) -> tuple[list[BinResult], list[DetectionEvent]]:
    """Return every bin of the project's firewall and every detection event on them."""
    settings = Settings.from_env(env)
    client = LocalRimeClient(settings.rime_local_root)
    project = client.find_project(settings.rime_project_name)
    firewall = client.get_firewall(project.project_id)
    store = Store(Path(settings.rime_local_root))
    bins = store.firewall_bins(firewall.firewall_id)
    events = [e for b in bins for e in store.bin_events(firewall.firewall_id, b.start)]
    return bins, events


def task_states(env: dict[str, str], day: date) -> dict[str, Any]:
    """Return the task states of the latest RIME_Firewall run whose interval starts on ``day``."""
    database = Path(env["RIME_DEMO_HOME"]) / "airflow" / "airflow.db"
    with sqlite3.connect(database) as connection:
        run_id = connection.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'RIME_Firewall' "
            "AND date(data_interval_start) = ? ORDER BY id DESC LIMIT 1",
            (day.isoformat(),),
        ).fetchone()[0]
        rows = connection.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'RIME_Firewall' "
            "AND run_id = ?",
            (run_id,),
        ).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def generated_window(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Run the stress DAG, then every day of a shrunk generated window plus one empty day."""
    env = demo_env(
        tmp_path_factory.mktemp("firewall"),
        {
            "RIME_DEMO_GEN_PRODUCTION_START": START.isoformat(),
            "RIME_DEMO_GEN_PRODUCTION_DAYS": str(DAYS),
            "RIME_DEMO_GEN_ROWS_PER_DAY": str(ROWS_PER_DAY),
            "RIME_DEMO_GEN_DRIFT_START_DAY": "6",
            "RIME_DEMO_GEN_REFERENCE_ROWS": "3000",
            "RIME_DEMO_FIREWALL_END": EMPTY_DAY.isoformat(),
        },
    )
    run_airflow(env, "RIME_Stress_Testing", [])
    run_airflow(env, "RIME_Firewall", days_from(START, DAYS + 1))
    return env


class TestGeneratedWindow:
    """Every day of the generated window through Airflow and the local engine."""

    def test_one_bin_per_day(self, generated_window: dict[str, str]) -> None:
        """Each day with data has exactly one bin, starting at its UTC midnight."""
        bins, _ = firewall_state(generated_window)
        starts = [b.start[:10] for b in bins]
        assert starts == [day.isoformat() for day in days_from(START, DAYS)]

    def test_rows_add_up(self, generated_window: dict[str, str]) -> None:
        """Every generated row is in one bin: the bins hold the window's rows."""
        bins, _ = firewall_state(generated_window)
        assert [b.n_rows for b in bins] == [ROWS_PER_DAY] * DAYS

    def test_drift_day_detected(self, generated_window: dict[str, str]) -> None:
        """The generator's first drift day produces at least one detection event."""
        _, events = firewall_state(generated_window)
        assert any(e.bin_start.startswith(DRIFT_DAY.isoformat()) for e in events)

    def test_empty_day_skips(self, generated_window: dict[str, str]) -> None:
        """A day without data skips the downstream tasks, run_firewall included."""
        states = task_states(generated_window, EMPTY_DAY)
        assert states["fetch_production_data"] == "success"
        assert states["continue_if_data_available"] == "success"
        assert states["get_rime_project_id"] == "success"
        assert states["add_prod_preds"] == "skipped"
        assert states["run_firewall"] == "skipped"

    def test_rerun_replaces_bin(self, generated_window: dict[str, str]) -> None:
        """Running a day again replaces its bin: the firewall never has two for one day."""
        before, _ = firewall_state(generated_window)
        run_airflow(generated_window, "RIME_Firewall", [DRIFT_DAY])
        after, _ = firewall_state(generated_window)
        assert len(after) == len(before)
        assert [b.start[:10] for b in after].count(DRIFT_DAY.isoformat()) == 1


@pytest.mark.skipif(
    not (FRAUD_DATA / "incremental.csv").is_file(),
    reason="Robust Intelligence's public fraud example data is not present",
)
def test_public_fraud_days(tmp_path: Path) -> None:
    """The public fraud example's 29 production days give 29 bins of 1,000 rows."""
    first = date(2018, 8, 1)
    env = demo_env(
        tmp_path,
        {
            "RIME_DEMO_DATA_SOURCE": "files",
            "RIME_DEMO_DATA_PATH": str(FRAUD_DATA.resolve()),
            "RIME_DEMO_FIREWALL_START": first.isoformat(),
            "RIME_DEMO_FIREWALL_END": "2018-08-29",
        },
    )
    run_airflow(env, "RIME_Stress_Testing", [])
    run_airflow(env, "RIME_Firewall", days_from(first, 29))
    bins, _ = firewall_state(env)
    assert len(bins) == 29
    assert {b.n_rows for b in bins} == {1000}
