"""
# RIME_Stress_Testing

Trains three fraud models, stress tests each one with RIME, tracks everything
in MLflow, promotes the best model and puts a firewall (continuous test)
around it.

```
create_rime_project ──────────────────────────────────────────► run_stress_test_i
fetch_train_data, fetch_test_data ► train_model_i ► upload_model_i ► run_stress_test_i
train_model_i ► add_preds_and_upload_ref_dataset_file_i ──────► run_stress_test_i
train_model_i ► add_preds_and_upload_eval_dataset_file_i ─────► run_stress_test_i
run_stress_test_i ► log_results_to_mlflow_i
all log_results_to_mlflow_i ► choose_best_model
choose_best_model ► transition_best_model_to_production ► create_firewall
```

`i` is 0 for `catboost-classifier`, 1 for `sgd-classifier` and 2 for
`logistic-regression-classifier`.

* `train_model_i` logs one MLflow run per model and registers it as a version
  of the registered model.
* `run_stress_test_i` runs a RIME stress test of the model on the train split
  (reference) and the test split (evaluation). `log_results_to_mlflow_i` adds
  its summary, per-test results and link to the model's MLflow run.
* `choose_best_model` runs when all three `log_results_to_mlflow_i` tasks are
  done, whether they succeeded or not, and picks among the models whose
  stress test succeeded: fewest ALERTs in model performance, subset
  performance and abnormal inputs, then highest evaluation AUC, then model
  type name.
* `transition_best_model_to_production` points the registered model's
  `production` alias at the winner; `create_firewall` creates the RIME
  continuous test that the `RIME_Firewall` DAG feeds every day.

Every task is idempotent: clearing and re-running a task of a finished run
creates no second project, MLflow run, model version or firewall. Errors a
retry cannot fix (bad data, unknown ids, a failed RIME job) fail the task
at once; transient RIME errors are retried.

Settings come from `RIME_DEMO_*` environment variables; see the README.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

MODEL_TYPES = ("catboost-classifier", "sgd-classifier", "logistic-regression-classifier")


def lazy_callable(name: str) -> Callable[..., Any]:
    """Return a callable that imports the pipeline module only when the task runs."""

    def call(**kwargs: Any) -> Any:
        from rime_airflow_demo.pipelines.stress_testing import run_task

        return run_task(name, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def python_task(task_id: str, name: str, **op_kwargs: Any) -> PythonOperator:
    """Return a PythonOperator that runs the pipeline callable ``name`` with ``op_kwargs``."""
    return PythonOperator(task_id=task_id, python_callable=lazy_callable(name), op_kwargs=op_kwargs)


with DAG(
    dag_id="RIME_Stress_Testing",
    schedule="@once",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    doc_md=__doc__,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=15)},
    tags=["rime", "mlflow", "stress-testing"],
):
    project = python_task("create_rime_project", "create_rime_project")
    train_data = python_task("fetch_train_data", "fetch_train_data")
    test_data = python_task("fetch_test_data", "fetch_test_data")

    candidate_tasks = {}
    log_results_tasks = []
    for index, model_type in enumerate(MODEL_TYPES):
        trained = python_task(
            f"train_model_{index}",
            "train_model",
            model_type=model_type,
            train=train_data.output,
            test=test_data.output,
        )
        uploaded = python_task(f"upload_model_{index}", "upload_model", trained=trained.output)
        ref_dataset = python_task(
            f"add_preds_and_upload_ref_dataset_file_{index}",
            "add_preds_and_upload_ref_dataset_file",
            trained=trained.output,
        )
        eval_dataset = python_task(
            f"add_preds_and_upload_eval_dataset_file_{index}",
            "add_preds_and_upload_eval_dataset_file",
            trained=trained.output,
        )
        stress_test = python_task(
            f"run_stress_test_{index}",
            "run_stress_test",
            project=project.output,
            model=uploaded.output,
            ref_dataset=ref_dataset.output,
            eval_dataset=eval_dataset.output,
        )
        logged = python_task(
            f"log_results_to_mlflow_{index}",
            "log_results_to_mlflow",
            stress_test=stress_test.output,
        )
        candidate_tasks[logged.task_id] = model_type
        log_results_tasks.append(logged)

    # A model whose stress test failed must not block the others, so the
    # choice runs once every candidate is done and skips the failed ones.
    choose_best_model = PythonOperator(
        task_id="choose_best_model",
        python_callable=lazy_callable("choose_best_model"),
        op_kwargs={"candidate_tasks": candidate_tasks},
        trigger_rule="all_done",
    )
    log_results_tasks >> choose_best_model
    production = python_task(
        "transition_best_model_to_production",
        "transition_best_model_to_production",
        choice=choose_best_model.output,
    )
    python_task("create_firewall", "create_firewall", production=production.output)
