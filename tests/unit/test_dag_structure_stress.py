"""The RIME_Stress_Testing DAG file: clean import, the documented graph, pure parsing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "rime_stress_testing.py"
DAG_ID = "RIME_Stress_Testing"
MODEL_COUNT = 3


def expected_edges() -> set[tuple[str, str]]:
    """The documented graph, edge for edge."""
    edges = set()
    for i in range(MODEL_COUNT):
        edges |= {
            ("fetch_train_data", f"train_model_{i}"),
            ("fetch_test_data", f"train_model_{i}"),
            (f"train_model_{i}", f"upload_model_{i}"),
            (f"train_model_{i}", f"add_preds_and_upload_ref_dataset_file_{i}"),
            (f"train_model_{i}", f"add_preds_and_upload_eval_dataset_file_{i}"),
            ("create_rime_project", f"run_stress_test_{i}"),
            (f"upload_model_{i}", f"run_stress_test_{i}"),
            (f"add_preds_and_upload_ref_dataset_file_{i}", f"run_stress_test_{i}"),
            (f"add_preds_and_upload_eval_dataset_file_{i}", f"run_stress_test_{i}"),
            (f"run_stress_test_{i}", f"log_results_to_mlflow_{i}"),
            (f"log_results_to_mlflow_{i}", "choose_best_model"),
        }
    edges |= {
        ("choose_best_model", "transition_best_model_to_production"),
        ("transition_best_model_to_production", "create_firewall"),
    }
    return edges


# Parses the DAG folder with DagBag and prints the DAG's shape as JSON.
DAGBAG_SCRIPT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags[sys.argv[2]]
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids),
    "schedule": str(dag.schedule),
    "catchup": dag.catchup,
    "doc_md": dag.doc_md or "",
    "retries": sorted({t.retries for t in dag.tasks}),
    "trigger_rules": {t.task_id: str(getattr(t.trigger_rule, "value", t.trigger_rule))
                      for t in dag.tasks},
    "start_date": dag.start_date.isoformat() if dag.start_date else None,
}))
"""

# Imports the DAG file with network access blocked and prints the heavy modules it loaded.
PURITY_SCRIPT = """
import json, runpy, socket, sys

def reject_connection(*args, **kwargs):
    raise RuntimeError(f"network call while parsing the DAG file: {args!r}")

socket.socket.connect = reject_connection
socket.create_connection = reject_connection
runpy.run_path(sys.argv[1])
heavy = ("pandas", "mlflow", "sklearn", "catboost", "rime_sdk")
loaded = sorted(name for name in heavy if name in sys.modules)
project = sorted(m for m in sys.modules if m.startswith("rime_airflow_demo"))
print(json.dumps({"heavy": loaded, "project": project}))
"""


def run_python(script: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    completed = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("dagbag")
    return run_python(DAGBAG_SCRIPT, tmp_path, str(DAG_FILE), DAG_ID)


def test_dag_file_imports_without_errors(parsed) -> None:
    """DagBag reports no import error for the DAG file."""
    assert parsed["import_errors"] == {}


def test_graph_matches_documented_edges(parsed) -> None:
    """The task graph equals the documented one, edge for edge."""
    assert {tuple(edge) for edge in parsed["edges"]} == expected_edges()


def test_schedule_is_once(parsed) -> None:
    """The DAG runs once."""
    assert parsed["schedule"] == "@once"


def test_catchup_disabled(parsed) -> None:
    """The DAG does not catch up."""
    assert parsed["catchup"] is False


def test_start_date_in_past(parsed) -> None:
    """The start date lies in the past, so the DAG can run now."""
    assert parsed["start_date"] < "2025"


def test_doc_md_is_module_docstring(parsed) -> None:
    """The DAG's documentation is the file's Markdown docstring."""
    assert parsed["doc_md"].lstrip().startswith("# RIME_Stress_Testing")


def test_tasks_retry(parsed) -> None:
    """Every task retries twice."""
    assert parsed["retries"] == [2]


def test_choice_waits_for_all_candidates(parsed) -> None:
    """choose_best_model runs once every log_results task is done, failed or not."""
    assert parsed["trigger_rules"]["choose_best_model"] == "all_done"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict[str, Any]:
    tmp_path = tmp_path_factory.mktemp("purity")
    return run_python(PURITY_SCRIPT, tmp_path, str(DAG_FILE))


def test_parse_imports_nothing_heavy(loaded) -> None:
    """Parsing loads no pandas, MLflow, scikit-learn, CatBoost or rime-sdk, and no network call."""
    assert loaded["heavy"] == []


def test_parse_imports_no_pipeline_code(loaded) -> None:
    """Parsing does not import the callables; they load when a task runs."""
    assert "rime_airflow_demo.pipelines.stress_testing" not in loaded["project"]
