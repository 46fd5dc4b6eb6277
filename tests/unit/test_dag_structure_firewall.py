"""The RIME_Firewall DAG file: documented graph, daily schedule from settings, pure parsing.

The DAG file is imported in a fresh interpreter, so the check of which
modules parsing loads is not spoiled by imports of other tests, and no
Airflow home is created for the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILE = REPO / "dags" / "rime_firewall.py"

EXPECTED_DOWNSTREAM = {
    "fetch_production_data": ["continue_if_data_available"],
    "continue_if_data_available": ["add_prod_preds"],
    "add_prod_preds": ["run_firewall"],
    "get_rime_project_id": ["run_firewall"],
    "run_firewall": [],
}

HEAVY_MODULES = ["pandas", "mlflow", "sklearn", "catboost", "rime_sdk", "pyarrow"]

# Imports the DAG file with sockets disabled and prints what parsing produced.
PROBE = r"""
import json, socket, sys, importlib.util

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:2]))
    raise OSError("sockets are disabled while parsing the DAG file")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

spec = importlib.util.spec_from_file_location("rime_firewall_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = module.dag
interval = getattr(dag.timetable, "interval", None)
print(json.dumps({
    "dag_id": dag.dag_id,
    "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
    "timetable": type(dag.timetable).__name__,
    "cron": getattr(dag.timetable, "expression", None),
    "interval_s": interval.total_seconds() if interval is not None else None,
    "start_date": dag.start_date.isoformat(),
    "end_date": dag.end_date.isoformat(),
    "catchup": dag.catchup,
    "max_active_runs": dag.max_active_runs,
    "doc_md": dag.doc_md,
    "short_circuit": type(dag.get_task("continue_if_data_available")).__name__,
    "ignore_downstream": getattr(
        dag.get_task("continue_if_data_available"), "ignore_downstream_trigger_rules", None
    ),
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[2].split(",")),
    "sockets": attempts,
}))
"""


def parse_dag(tmp_path: Path, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Import the DAG file in a fresh interpreter and return what it defines."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "RIME_DEMO_HOME": str(tmp_path / "demo"),
        "PYTHONPATH": str(REPO / "src"),
        **(extra_env or {}),
    }
    for name in ("RIME_DEMO_FIREWALL_START", "RIME_DEMO_FIREWALL_END"):
        if extra_env is None or name not in extra_env:
            env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAG_FILE), ",".join(HEAVY_MODULES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The DAG parsed with default settings."""
    return parse_dag(tmp_path_factory.mktemp("dag"))


class TestFirewallDagStructure:
    """The graph and schedule match the documented design."""

    def test_dag_id(self, parsed: dict[str, Any]) -> None:
        """The DAG keeps the walkthrough's id."""
        assert parsed["dag_id"] == "RIME_Firewall"

    def test_edges_exact(self, parsed: dict[str, Any]) -> None:
        """Tasks and edges are exactly the documented ones."""
        assert parsed["downstream"] == EXPECTED_DOWNSTREAM

    def test_schedule_daily_interval(self, parsed: dict[str, Any]) -> None:
        """The timetable fires at UTC midnight with a one-day data interval."""
        assert parsed["timetable"] == "CronTriggerTimetable"
        assert parsed["cron"] == "0 0 * * *"
        assert parsed["interval_s"] == 86_400

    def test_catchup_on(self, parsed: dict[str, Any]) -> None:
        """Missed days are run (catchup) one run at a time."""
        assert parsed["catchup"] is True
        assert parsed["max_active_runs"] == 1

    def test_window_defaults_to_generated_days(self, parsed: dict[str, Any]) -> None:
        """By default the runs cover the generated window 2024-03-01..2024-03-30."""
        assert parsed["start_date"] == datetime(2024, 3, 2, tzinfo=timezone.utc).isoformat()
        assert parsed["end_date"] == datetime(2024, 3, 31, tzinfo=timezone.utc).isoformat()

    def test_window_from_settings(self, tmp_path: Path) -> None:
        """FIREWALL_START and FIREWALL_END set the first and last day covered."""
        parsed = parse_dag(
            tmp_path,
            {"RIME_DEMO_FIREWALL_START": "2018-08-01", "RIME_DEMO_FIREWALL_END": "2018-08-29"},
        )
        assert parsed["start_date"] == datetime(2018, 8, 2, tzinfo=timezone.utc).isoformat()
        assert parsed["end_date"] == datetime(2018, 8, 30, tzinfo=timezone.utc).isoformat()

    def test_gate_skips_all_downstream(self, parsed: dict[str, Any]) -> None:
        """The gate is a short-circuit task that skips downstream tasks whatever their rules."""
        assert parsed["short_circuit"] == "ShortCircuitOperator"
        assert parsed["ignore_downstream"] is True

    def test_doc_md_from_docstring(self, parsed: dict[str, Any]) -> None:
        """The module docstring is the DAG's documentation."""
        assert parsed["doc_md"].lstrip().startswith("# RIME_Firewall")


class TestFirewallDagParsing:
    """Parsing the DAG file does no heavy import and no network I/O."""

    def test_no_heavy_imports(self, parsed: dict[str, Any]) -> None:
        """pandas, MLflow, scikit-learn, CatBoost, rime-sdk and pyarrow stay unloaded."""
        assert parsed["heavy"] == []

    def test_no_socket_use(self, parsed: dict[str, Any]) -> None:
        """No socket connection or name lookup happens while parsing."""
        assert parsed["sockets"] == []
