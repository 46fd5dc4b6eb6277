"""Time one RIME_Firewall day with 30 and with 365 days of production history.

The daily callables (fetch_production_data, add_prod_preds, run_firewall)
run against the local engine and a SQLite MLflow store in a temp folder,
once per history length, in the same process. Each setup trains one
logistic regression on generated data, promotes it and builds the firewall
as RIME_Stress_Testing would. The first fetch of a setup builds the day
partitions, a one-off cost that grows with history. The figure that should
not grow is the steady-state day, measured after that.

    .venv/bin/python benchmarks/firewall_day.py [--rows-per-day 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HISTORIES = (30, 365)


def configure(home: Path, days: int, rows_per_day: int) -> None:
    """Point every setting at ``home`` with ``days`` of generated production data."""
    for name in [n for n in os.environ if n.startswith(("RIME_", "MLFLOW_"))]:
        del os.environ[name]
    os.environ.update(
        {
            "RIME_DEMO_HOME": str(home),
            "RIME_DEMO_RIME_BACKEND": "local",
            "RIME_DEMO_RIME_POLL_INTERVAL": "0.05",
            "RIME_DEMO_GEN_PRODUCTION_DAYS": str(days),
            "RIME_DEMO_GEN_ROWS_PER_DAY": str(rows_per_day),
            "RIME_DEMO_GEN_REFERENCE_ROWS": "2000",
        }
    )


def deploy_model() -> None:
    """Train, register and promote a model, and create the RIME project and firewall."""
    import mlflow
    import mlflow.sklearn

    from rime_airflow_demo import tracking
    from rime_airflow_demo.data.schema import PREDICTION_COL
    from rime_airflow_demo.data.sources import feature_columns, load_reference
    from rime_airflow_demo.modeling import fraud_probabilities, train_model
    from rime_airflow_demo.pipelines.common import load_settings, rime_client
    from rime_airflow_demo.rime.model_dir import build_model_dir

    settings = load_settings()
    reference = load_reference(settings)
    features = feature_columns(settings, reference)
    model = train_model("logistic-regression-classifier", reference, features, "label", 1)
    run_id = tracking.find_or_create_run(settings, "benchmark", "setup", "lr")
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            pyfunc_predict_fn="predict_proba",
            serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
    version = tracking.register_version(settings, str(info.model_uri), run_id, {})
    tracking.promote(settings, version.version, "benchmark")

    client = rime_client(settings)
    project = client.get_or_create_project(settings.rime_project_name)
    model_dir = build_model_dir(str(info.model_uri), settings.home / "model_dir")
    remote_model = client.upload_model_dir(str(model_dir), "benchmark/model")
    rime_model = client.register_model(project.project_id, "lr", remote_model)
    reference[PREDICTION_COL] = fraud_probabilities(model, reference[features])
    reference_file = settings.home / "reference.parquet"
    reference.to_parquet(reference_file, index=False)
    remote_reference = client.upload_file(str(reference_file), "benchmark/reference")
    dataset = client.register_dataset(
        project.project_id,
        "reference",
        remote_reference,
        label_col=settings.label_col,
        pred_col=PREDICTION_COL,
        model_id=rime_model.model_id,
        ignored_cols=tuple(settings.ignored_cols),
    )
    client.create_firewall(project.project_id, rime_model.model_id, dataset.dataset_id)


def run_day(day_offset: int) -> dict[str, float]:
    """Run the three daily callables for one day; return the seconds each took."""
    from rime_airflow_demo.pipelines.common import load_settings
    from rime_airflow_demo.pipelines.firewall import run_task

    settings = load_settings()
    start = datetime.combine(
        settings.generator.production_start, datetime.min.time(), tzinfo=timezone.utc
    ) + timedelta(days=day_offset)
    context: dict[str, Any] = {
        "dag": SimpleNamespace(dag_id="RIME_Firewall"),
        "run_id": f"benchmark__{start.date()}",
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
    }
    timings = {}
    began = time.perf_counter()
    fetched = run_task("fetch_production_data", **context)
    timings["fetch_production_data"] = time.perf_counter() - began
    began = time.perf_counter()
    preds = run_task("add_prod_preds", fetched=fetched, **context)
    timings["add_prod_preds"] = time.perf_counter() - began
    began = time.perf_counter()
    project_id = run_task("get_rime_project_id")
    run_task("run_firewall", preds=preds, project_id=project_id, **context)
    timings["run_firewall"] = time.perf_counter() - began
    timings["total"] = sum(timings.values())
    return timings


def measure(days: int, rows_per_day: int, repeats: int) -> dict[str, float]:
    """Set up a history of ``days`` days and time its last day; return median seconds."""
    with tempfile.TemporaryDirectory(prefix=f"firewall-bench-{days}-") as folder:
        configure(Path(folder), days, rows_per_day)
        deploy_model()
        first = run_day(days - 1)
        runs = [run_day(days - 1) for _ in range(repeats)]
    result = {name: statistics.median(run[name] for run in runs) for name in runs[0]}
    result["first_fetch"] = first["fetch_production_data"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-day", type=int, default=1000, help="production rows per day")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the day (median)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    results = {days: measure(days, args.rows_per_day, args.repeats) for days in HISTORIES}
    columns = ["first_fetch", "fetch_production_data", "add_prod_preds", "run_firewall", "total"]
    print(f"One firewall day, {args.rows_per_day} rows per day, median of {args.repeats} runs")
    print(f"{'history':>8} " + " ".join(f"{name:>22}" for name in columns))
    for days, timings in results.items():
        print(f"{days:>7}d " + " ".join(f"{timings[name]:>21.3f}s" for name in columns))
    short, long = results[HISTORIES[0]], results[HISTORIES[1]]
    print(
        f"ratio {HISTORIES[1]}d/{HISTORIES[0]}d of a steady-state day: "
        f"{long['total'] / short['total']:.2f} (fetch alone: "
        f"{long['fetch_production_data'] / short['fetch_production_data']:.2f})"
    )


if __name__ == "__main__":
    main()
