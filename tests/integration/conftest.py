"""A temporary demo home for end-to-end tests: Airflow, MLflow (SQLite) and the local RIME engine.

``demo_env`` gives each test its own ``RIME_DEMO_HOME`` with the local RIME
backend and no cluster credentials. ``run_dag`` runs a DAG through real
Airflow in a subprocess (``python -m rime_airflow_demo.airflow_runner``).
``apply`` sets the same variables in the test process, so the test can read
MLflow and the local engine. ``xcoms`` reads a finished run's XCom values
from the Airflow metadata database.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rime_airflow_demo.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_DATA = ROOT / ".." / "shared" / "data" / "rime_fraud"
DAG_RUN_TIMEOUT_S = 1200

# Variables of the caller that would point a test at another Airflow, MLflow or RIME.
CLEARED_VARIABLES = ("RIME_API_KEY", "RIME_UPLOAD_URL", "AIRFLOW_HOME", "MLFLOW_TRACKING_URI")


@dataclass
class DemoEnv:
    """Environment of one end-to-end test; change ``env`` before calling ``run_dag``."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Settings:
        """Return the settings that the DAG runs see."""
        return Settings.from_env(self.env)

    def run_dag(self, dag_id: str, dates: list[str] | None = None) -> subprocess.CompletedProcess:
        """Run ``dag_id`` once, or once per ISO date in ``dates``; fail the test if a run fails."""
        command = [sys.executable, "-m", "rime_airflow_demo.airflow_runner", dag_id]
        for day in dates or []:
            command += ["--date", day]
        completed = subprocess.run(
            command,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DAG_RUN_TIMEOUT_S,
            check=False,
        )
        log_file = self.home / f"{dag_id}.log"
        log_file.write_text(completed.stdout + completed.stderr)
        assert completed.returncode == 0, (
            f"{dag_id} failed (exit {completed.returncode}); last output:\n"
            f"{(completed.stdout + completed.stderr)[-4000:]}\nfull log: {log_file}"
        )
        return completed

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Set this environment's variables in the test process."""
        for name in CLEARED_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env.items():
            if name.startswith(("RIME_DEMO_", "MLFLOW_", "AIRFLOW")):
                monkeypatch.setenv(name, value)

    def xcoms(self, dag_id: str) -> tuple[str, dict[str, Any]]:
        """Return the run id of the latest run of ``dag_id`` and its return values per task id."""
        database = self.home / "airflow" / "airflow.db"
        with sqlite3.connect(database) as connection:
            (run_id,) = connection.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            rows = connection.execute(
                "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? "
                "AND key = 'return_value'",
                (dag_id, run_id),
            ).fetchall()
        return run_id, {task_id: json.loads(value) for task_id, value in rows}


@pytest.fixture
def demo_env(tmp_path: Path) -> DemoEnv:
    """A fresh demo home with the local RIME engine and a small generated data set."""
    home = tmp_path / "demo"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in CLEARED_VARIABLES}
    env.update(
        {
            "RIME_DEMO_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
            "RIME_DEMO_RIME_BACKEND": "local",
            "RIME_DEMO_GEN_REFERENCE_ROWS": "4000",
            "RIME_DEMO_RIME_POLL_INTERVAL": "0.2",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return DemoEnv(home=home, env=env)


@pytest.fixture
def public_data() -> Path:
    """Robust Intelligence's public fraud example data; the test is skipped when it is absent."""
    if not (PUBLIC_DATA / "ref.csv").is_file():
        pytest.skip("Robust Intelligence's public fraud example data is not available")
    return PUBLIC_DATA.resolve()
