"""Executing stress tests and continuous tests on stored datasets and models."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rime_airflow_demo.rime.errors import InvalidInputError
from rime_airflow_demo.rime.local.abnormal import PredictFn
from rime_airflow_demo.rime.local.continuous import (
    Baseline,
    BinInputs,
    evaluate_bin,
    split_by_bin,
)
from rime_airflow_demo.rime.local.datasets import Dataset, to_utc
from rime_airflow_demo.rime.local.report import ReportPaths, write_bin_report, write_stress_report
from rime_airflow_demo.rime.local.store import DatasetRecord, ModelRecord, Store, new_id
from rime_airflow_demo.rime.local.stress import StressInputs, run_stress_tests
from rime_airflow_demo.rime.local.thresholds import Thresholds
from rime_airflow_demo.rime.protocol import (
    BinResult,
    FirewallRef,
    ProjectRef,
    StressTestResult,
)

log = logging.getLogger(__name__)


def snapshot_path(root: Path, dataset_id: str) -> Path:
    """Return where the engine keeps its copy of a registered dataset's rows."""
    return root / "datasets" / f"{dataset_id}.parquet"


def load_dataset(root: Path, record: DatasetRecord) -> Dataset:
    """Read the stored copy of a registered dataset."""
    import pandas as pd

    frame = pd.read_parquet(snapshot_path(root, record.ref.dataset_id))
    return Dataset(name=record.ref.name, frame=frame, spec=record.spec)


@dataclass
class ModelCaller:
    """A registered model, whose ``predict_df`` is loaded on first use.

    A model registered without a directory has no ``predict_df``.
    """

    model: ModelRecord
    _predict_df: PredictFn | None = None

    @property
    def available(self) -> bool:
        """True when the model was registered with a model directory."""
        return bool(self.model.path)

    def predict_df(self) -> PredictFn:
        """Return the model's ``predict_df``, importing its entry file once."""
        if not self.available:
            raise InvalidInputError(
                f"Model {self.model.ref.name!r} ({self.model.ref.model_id}) was registered "
                "without a model directory, so the engine cannot compute predictions; register "
                "datasets with pred_col or register the model with a directory."
            )
        if self._predict_df is None:
            from rime_airflow_demo.rime.model_dir import load_predict_df

            self._predict_df = load_predict_df(self.model.path)
        return self._predict_df

    def predictions(self, dataset: Dataset, features: list[str]) -> np.ndarray:
        """Return the dataset's registered predictions, or the model's when it has none."""
        registered = dataset.predictions
        if registered is not None:
            return registered
        predictions = np.asarray(self.predict_df()(dataset.frame[features]), dtype=float)
        return predictions.reshape(-1)


def require_features(dataset: Dataset, features: list[str], reference_name: str) -> None:
    """Raise ``InvalidInputError`` when ``dataset`` lacks a feature of the reference dataset."""
    missing = [feature for feature in features if feature not in dataset.frame.columns]
    if missing:
        raise InvalidInputError(
            f"Dataset {dataset.name!r} lacks the features {missing} of the reference dataset "
            f"{reference_name!r}; register a file with the same feature columns."
        )


def execute_stress_test(
    job_id: str,
    run_name: str,
    project: ProjectRef,
    model: ModelCaller,
    datasets: tuple[Dataset, Dataset],
    thresholds: Thresholds,
    paths: ReportPaths,
) -> StressTestResult:
    """Run every test category and write the run's HTML page; returns the result."""
    reference, evaluation = datasets
    features = reference.features
    inputs = StressInputs(
        reference=reference,
        evaluation=evaluation,
        reference_predictions=model.predictions(reference, features),
        evaluation_predictions=model.predictions(evaluation, features),
        features=features,
        predict_df=model.predict_df() if model.available else None,
        no_model_reason=(
            f"model {model.model.ref.name!r} was registered without a model directory, "
            "so the engine cannot call it on abnormal inputs."
        ),
    )
    outcomes, model_perf = run_stress_tests(inputs, thresholds)
    test_run_id = new_id()
    page = paths.stress_run(test_run_id)
    result = StressTestResult(
        test_run_id=test_run_id,
        job_id=job_id,
        project_id=project.project_id,
        model_id=model.model.ref.model_id,
        link=page.as_uri(),
        summary_counts=outcomes.summary_counts(),
        category_severity_counts=outcomes.category_severity_counts(),
        model_perf=model_perf,
        tests=tuple(outcomes.tests),
    )
    write_stress_report(page, result, run_name, project, outcomes.skipped, thresholds)
    log.info(
        "Stress test %s of model %s finished: %s",
        test_run_id,
        model.model.ref.model_id,
        result.summary_counts,
    )
    return result


def execute_continuous_test(
    job_id: str,
    firewall: FirewallRef,
    model: ModelCaller,
    datasets: tuple[Dataset, Dataset],
    store: Store,
    thresholds: Thresholds,
    paths: ReportPaths,
) -> list[BinResult]:
    """Bin the production dataset by time, evaluate and store each bin, and write its page.

    ``datasets`` is (reference, production). A bin that already exists for
    the firewall is replaced together with its events.
    """
    reference, production = datasets
    features = reference.features
    baseline = Baseline.from_reference(
        reference.frame, features, reference.labels, model.predictions(reference, features)
    )
    timestamp_col = production.spec.timestamp_col
    assert timestamp_col is not None  # checked when the job started
    timestamps = to_utc(production.frame[timestamp_col], timestamp_col, production.name)
    predictions = model.predictions(production, features)
    labels = production.labels
    firewall_page = paths.firewall(firewall.firewall_id).as_uri()
    results = []
    for start_s, positions in split_by_bin(timestamps, firewall.bin_size_s).items():
        rows = BinInputs(
            start_s=start_s,
            frame=production.frame.iloc[positions][features].reset_index(drop=True),
            labels=labels[positions],
            predictions=predictions[positions],
        )
        result, events = evaluate_bin(firewall, rows, baseline, thresholds)
        page = paths.bin(firewall.firewall_id, result.start)
        result = dataclasses.replace(result, link=page.as_uri())
        write_bin_report(page, result, events, firewall_page, thresholds)
        store.replace_bin(job_id, result, events)
        log.info(
            "Continuous test %s wrote bin %s of firewall %s: %d rows, %s, %d event(s)",
            job_id,
            result.start,
            firewall.firewall_id,
            result.n_rows,
            result.severity.value,
            len(events),
        )
        results.append(result)
    return results
