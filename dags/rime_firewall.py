"""
# RIME_Firewall

Daily continuous testing of the production model: each run takes one UTC day
of production data, scores it with the model behind the MLflow alias
`production`, and runs the project's RIME firewall (continuous test) on it.

    fetch_production_data ► continue_if_data_available ► add_prod_preds ► run_firewall
    get_rime_project_id ─────────────────────────────────────────────────► run_firewall

* **Interval.** A run covers its data interval `[data_interval_start,
  data_interval_end)` in UTC, exactly one day. The timetable triggers at
  each UTC midnight for the day that just ended. So the first run triggers
  the day after the deployment date (`RIME_DEMO_FIREWALL_START`) and the last
  one the day after `RIME_DEMO_FIREWALL_END`. With catchup, every day of that
  window gets one run.
* **Days without data** stop at `continue_if_data_available`: the downstream
  tasks are skipped and the run succeeds.
* **Re-runs** are safe: clearing a day writes the same files and replaces the
  day's continuous-test bin and MLflow points.

Run `RIME_Stress_Testing` first: it creates the RIME project, the
`production` alias and the firewall. Results appear in the task logs, in RIME
(or the local engine's report pages) and in the MLflow run named `firewall`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
from airflow.sdk import DAG, CronTriggerTimetable

from rime_airflow_demo.settings import Settings

ONE_DAY = timedelta(days=1)

settings = Settings.from_env()


def midnight_after(day: date) -> datetime:
    """Return the UTC midnight that ends ``day``, when the run covering that day triggers."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + ONE_DAY


def lazy_callable(name: str) -> Callable[..., Any]:
    """Return a callable that imports the pipeline module only when the task runs."""

    def call(**kwargs: Any) -> Any:
        from rime_airflow_demo.pipelines.firewall import run_task

        return run_task(name, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def python_task(task_id: str, **op_kwargs: Any) -> PythonOperator:
    """Return a PythonOperator that runs the pipeline callable ``task_id`` with ``op_kwargs``."""
    return PythonOperator(
        task_id=task_id, python_callable=lazy_callable(task_id), op_kwargs=op_kwargs
    )


with DAG(
    dag_id="RIME_Firewall",
    description="Daily RIME continuous test of the production model on one day of data.",
    doc_md=__doc__,
    # Fire at each UTC midnight with the day that just ended as data interval.
    # Plain "@daily" gives an empty interval (start == end) in Airflow 3.
    schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=ONE_DAY),
    start_date=midnight_after(settings.firewall_start),
    end_date=midnight_after(settings.firewall_end),
    catchup=True,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=15)},
    tags=["rime", "firewall"],
) as dag:
    fetch_production_data = python_task("fetch_production_data")
    # A day without rows returns None here; the short circuit then skips every
    # downstream task, run_firewall included, whatever its trigger rule.
    continue_if_data_available = ShortCircuitOperator(
        task_id="continue_if_data_available",
        python_callable=lazy_callable("continue_if_data_available"),
        op_kwargs={"fetched": fetch_production_data.output},
        ignore_downstream_trigger_rules=True,
    )
    add_prod_preds = python_task("add_prod_preds", fetched=continue_if_data_available.output)
    get_rime_project_id = python_task("get_rime_project_id")
    python_task(
        "run_firewall",
        preds=add_prod_preds.output,
        project_id=get_rime_project_id.output,
    )
