"""Run the walkthrough's DAGs through real Airflow in one process, without a scheduler.

``dag.test()`` runs every task of a DAG run in order, with real XCom and a
real metadata database, which is what the demo and the integration tests
need. Keeping one process for all runs pays Airflow's start-up cost once.

    python -m rime_airflow_demo.airflow_runner RIME_Stress_Testing
    python -m rime_airflow_demo.airflow_runner RIME_Firewall --date 2024-03-01 --date 2024-03-02
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from rime_airflow_demo.settings import Settings

log = logging.getLogger(__name__)

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


def airflow_environment(settings: Settings) -> dict[str, str]:
    """Return the Airflow variables for a local home under ``settings.home``.

    Values already set in the environment win, so a user's own Airflow home
    and configuration stay in charge.
    """
    home = Path(os.environ.get("AIRFLOW_HOME") or settings.home / "airflow")
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("RIME_DEMO_DAGS_FOLDER", str(DAGS_FOLDER)),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    return {name: os.environ.get(name, value) for name, value in defaults.items()}


def prepare_airflow(settings: Settings) -> dict[str, str]:
    """Set the Airflow variables in this process and migrate the metadata database.

    Must run before anything imports ``airflow``, because Airflow reads its
    configuration at import time.
    """
    env = airflow_environment(settings)
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    log.info("Migrating the Airflow metadata database in %s", env["AIRFLOW_HOME"])
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
    )
    return env


def load_dag(dag_id: str) -> Any:
    """Parse the DAG folder and return ``dag_id``; raise if any DAG file fails to import."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise RuntimeError(f"DAG files failed to import: {bag.import_errors}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise KeyError(f"DAG {dag_id!r} not found; known DAGs: {sorted(bag.dags)}")
    return dag


def run_dag(dag: Any, logical_date: datetime | None = None) -> str:
    """Run one DAG run of ``dag`` with ``dag.test()`` and return its final state."""
    dag_run = dag.test(logical_date=logical_date)
    state = str(getattr(dag_run.state, "value", dag_run.state))
    log.info("DAG run %s of %s finished: %s", dag_run.run_id, dag.dag_id, state)
    return state


def logical_date_for_day(dag: Any, day: date) -> datetime:
    """Return the logical date whose ``dag.test()`` run covers ``day``.

    ``dag.test()`` infers a manual run's data interval as the period that ends
    at its logical date. So a DAG whose data interval is a day needs the next
    midnight to cover ``day``, and a DAG with empty intervals gets ``day``'s
    midnight.
    """
    from airflow.serialization.encoders import coerce_to_core_timetable

    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    next_midnight = midnight + timedelta(days=1)
    timetable = coerce_to_core_timetable(dag.timetable)
    interval = timetable.infer_manual_data_interval(run_after=next_midnight)
    return next_midnight if interval.start == midnight else midnight


def run_days(dag: Any, days: Iterable[date]) -> dict[str, str]:
    """Run ``dag`` once per day so each run covers that UTC day; return state per day."""
    states = {}
    for day in days:
        states[day.isoformat()] = run_dag(dag, logical_date_for_day(dag, day))
    return states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag_id")
    parser.add_argument(
        "--date",
        action="append",
        type=date.fromisoformat,
        default=[],
        help="UTC day (YYYY-MM-DD) that the run covers; repeat for several runs",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    prepare_airflow(settings)
    dag = load_dag(args.dag_id)
    states = run_days(dag, args.date) if args.date else {"run": run_dag(dag)}
    failed = {day: state for day, state in states.items() if state != "success"}
    if failed:
        log.error("Runs that did not succeed: %s", failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
