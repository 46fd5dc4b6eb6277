"""Time DAG file imports against an empty DAG file, and one RIME_Stress_Testing run.

    python benchmarks/dag_import.py [--repeats 5] [--skip-dag-run]

Each import is measured in a fresh Python process, timing only the execution
of the DAG file (the interpreter's own start-up is excluded). The empty DAG
file imports the same Airflow classes as the real ones, so the ratio shows
what the DAG file itself adds. The target is at most 1.2 times the empty
file's median. The DAG run uses the default generated data in a temporary
home with the local RIME engine, through ``rime_airflow_demo.airflow_runner``
(Airflow's metadata database migration included).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"
TARGET_RATIO = 1.2

EMPTY_DAG = """
from datetime import datetime, timezone

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

with DAG("empty", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)):
    PythonOperator(task_id="noop", python_callable=lambda: None)
"""

# Runs in the child process: import Airflow's modules first, then time the DAG file alone.
TIMER = """
import runpy, sys, time
import airflow.sdk
import airflow.providers.standard.operators.python
start = time.perf_counter()
runpy.run_path(sys.argv[1])
print(time.perf_counter() - start)
"""


def import_seconds(dag_file: Path, env: dict[str, str]) -> float:
    """Return the seconds a fresh interpreter spends executing ``dag_file``."""
    completed = subprocess.run(
        [sys.executable, "-c", TIMER, str(dag_file)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout.strip().splitlines()[-1])


def median_import(dag_file: Path, env: dict[str, str], repeats: int) -> float:
    return statistics.median(import_seconds(dag_file, env) for _ in range(repeats))


def dag_run_seconds(env: dict[str, str]) -> float:
    """Return the wall time of one RIME_Stress_Testing run, migration included."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rime_airflow_demo.airflow_runner", "RIME_Stress_Testing"],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="imports per file (median)")
    parser.add_argument("--skip-dag-run", action="store_true", help="only time the imports")
    args = parser.parse_args()

    python = platform.python_version()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {python}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("RIME_API_KEY", "RIME_UPLOAD_URL")},
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        empty = home / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        baseline = median_import(empty, env, args.repeats)
        print(f"{'empty DAG file':32} {baseline * 1000:8.1f} ms (median of {args.repeats})")
        for dag_file in sorted(DAGS.glob("*.py")):
            seconds = median_import(dag_file, env, args.repeats)
            ratio = seconds / baseline
            verdict = "ok" if ratio <= TARGET_RATIO else f"above the {TARGET_RATIO}x target"
            print(f"{dag_file.name:32} {seconds * 1000:8.1f} ms  {ratio:4.2f}x empty  {verdict}")

        if not args.skip_dag_run:
            run_env = {
                **env,
                "RIME_DEMO_HOME": str(home / "demo"),
                "RIME_DEMO_RIME_BACKEND": "local",
                "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'demo' / 'mlflow.db'}",
            }
            run_env.pop("AIRFLOW_HOME")
            seconds = dag_run_seconds(run_env)
            print(f"RIME_Stress_Testing run, generated data (defaults): {seconds:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
