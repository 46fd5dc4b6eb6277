"""Known-answer tests of the local RIME engine: data and models whose findings are known.

Every case builds its own small data set and, where it needs one, a
scikit-learn model logged to a temporary MLflow store. It runs a stress test
through the public ``LocalRimeClient`` API and checks the one finding that the
data were built to produce, and that unchanged data do not produce it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rime_airflow_demo.rime.local import LocalRimeClient
from rime_airflow_demo.rime.protocol import (
    Severity,
    StressTestResult,
    TestCategory,
    TestResult,
)
from tests.unit.local_engine_data import log_model_dir, logistic_predictions, make_frame

SEGMENTS = ["a", "b", "c"]
# Log-odds that each segment adds to the label in the abnormal-input data.
SEGMENT_LOG_ODDS = {"a": 3.0, "b": 0.0, "c": -3.0}
NUMERIC_LOG_ODDS = 3.0


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _segment_frame(n_rows: int, seed: int) -> pd.DataFrame:
    """Return rows with a normal ``x``, a uniform ``segment`` and labels drawn from both.

    ``x`` and ``segment`` are independent, and each moves the label's
    log-odds by about three units.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=n_rows)
    segment = rng.choice(SEGMENTS, size=n_rows).astype(object)
    log_odds = NUMERIC_LOG_ODDS * x + np.array([SEGMENT_LOG_ODDS[s] for s in segment])
    label = (rng.random(n_rows) < _sigmoid(log_odds)).astype(int)
    return pd.DataFrame({"x": x, "segment": segment, "label": label})


def _sliced_frame(
    n_rows: int,
    seed: int,
    flipped_segment: str | None = None,
    segment_weights: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3),
) -> pd.DataFrame:
    """Return rows whose label follows ``preds``, with the labels of one segment flipped.

    ``segment`` is drawn with ``segment_weights``, independent of ``x`` and
    of the label, so before the flip every segment has the same expected
    Accuracy and AUC.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=n_rows)
    segment = rng.choice(SEGMENTS, size=n_rows, p=segment_weights).astype(object)
    preds = _sigmoid(NUMERIC_LOG_ODDS * x)
    label = (rng.random(n_rows) < preds).astype(int)
    if flipped_segment is not None:
        flip = segment == flipped_segment
        label[flip] = 1 - label[flip]
    return pd.DataFrame({"x": x, "segment": segment, "label": label, "preds": preds})


def _log_model_dir(pipeline: Any, features: pd.DataFrame, workdir: Path) -> Path:
    """Log a fitted scikit-learn pipeline and build its RIME model directory."""
    return log_model_dir(pipeline, features, workdir, "known-answer-tests")


def _segment_model_dir(workdir: Path) -> Path:
    """Fit a logistic regression on ``x`` and ``segment`` and return its RIME model directory."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = _segment_frame(2000, seed=1)
    features = train[["x", "segment"]]
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "numbers",
                            Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                            ["x"],
                        ),
                        (
                            "categories",
                            Pipeline(
                                [
                                    (
                                        "impute",
                                        SimpleImputer(strategy="constant", fill_value="missing"),
                                    ),
                                    ("encode", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            ["segment"],
                        ),
                    ]
                ),
            ),
            ("classify", LogisticRegression()),
        ]
    )
    pipeline.fit(features, train["label"])
    return _log_model_dir(pipeline, features, workdir)


def _constant_model_dir(workdir: Path) -> Path:
    """Fit a classifier that always predicts the training prior and return its model directory."""
    from sklearn.dummy import DummyClassifier

    train = _segment_frame(500, seed=2)
    features = train[["x", "segment"]]
    model = DummyClassifier(strategy="prior").fit(features, train["label"])
    return _log_model_dir(model, features, workdir)


def _stress_test(
    root: Path,
    reference: pd.DataFrame,
    evaluation: pd.DataFrame,
    model_dir: Path | None = None,
) -> StressTestResult:
    """Upload both frames and the model, run one stress test and return its result.

    Frames with a ``preds`` column are registered with those predictions,
    and frames without one are scored by the model. Without ``model_dir`` the
    model is registered by its predictions only.
    """
    client = LocalRimeClient(root / "rime")
    project = client.get_or_create_project("known answers")
    model_path = "" if model_dir is None else client.upload_model_dir(str(model_dir), "models")
    model = client.register_model(project.project_id, "model", model_path)
    datasets = []
    for name, frame in (("reference", reference), ("evaluation", evaluation)):
        path = root / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        datasets.append(
            client.register_dataset(
                project.project_id,
                name,
                client.upload_file(str(path), "data"),
                label_col="label",
                pred_col="preds" if "preds" in frame.columns else None,
                model_id=model.model_id,
            )
        )
    job = client.start_stress_test(
        project.project_id,
        model.model_id,
        datasets[0].dataset_id,
        datasets[1].dataset_id,
        "known answer",
    )
    client.wait_for_job(job, timeout_s=5, poll_interval_s=0.1)
    return client.get_stress_test_result(job)


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    result = frame.copy()
    result["preds"] = logistic_predictions(frame)
    return result


def _category(result: StressTestResult, category: TestCategory) -> list[TestResult]:
    return [test for test in result.tests if test.category is category]


def _flagged(tests: list[TestResult]) -> set[tuple[str, tuple[str, ...]]]:
    return {(test.test_name, test.features) for test in tests if test.severity is not Severity.PASS}


def _one(result: StressTestResult, test_name: str, feature: str) -> TestResult:
    [test] = [t for t in result.tests if t.test_name == test_name and t.features == (feature,)]
    return test


class TestDrift:
    def test_identical_data_pass(self, tmp_path: Path) -> None:
        """Identical reference and evaluation data pass every DRIFT test with a PSI of 0."""
        frame = _scored(make_frame(1000, seed=10))
        result = _stress_test(tmp_path, frame, frame)
        drift = _category(result, TestCategory.DRIFT)
        assert {test.test_name for test in drift} == {
            "Feature Drift",
            "Prediction Drift",
            "Label Drift",
        }
        assert _flagged(drift) == set()
        assert [test.metrics["psi"] for test in drift] == [0.0] * len(drift)

    def test_shifted_feature_alerts_only_there(self, tmp_path: Path) -> None:
        """Shifting age by 2.5 standard deviations raises a DRIFT ALERT on age and nowhere else."""
        reference = _scored(make_frame(2000, seed=10))
        evaluation = _scored(make_frame(2000, seed=11, age_shift=25.0))
        result = _stress_test(tmp_path, reference, evaluation)
        drift = _category(result, TestCategory.DRIFT)
        assert _flagged(drift) == {("Feature Drift", ("age",))}
        assert _one(result, "Feature Drift", "age").severity is Severity.ALERT

    def test_shifted_category_alerts_only_there(self, tmp_path: Path) -> None:
        """Moving the segment mix from even to 70/15/15 raises a DRIFT ALERT on segment only."""
        reference = _sliced_frame(2000, seed=12)
        evaluation = _sliced_frame(2000, seed=13, segment_weights=(0.7, 0.15, 0.15))
        result = _stress_test(tmp_path, reference, evaluation)
        drift = _category(result, TestCategory.DRIFT)
        assert _flagged(drift) == {("Feature Drift", ("segment",))}
        assert _one(result, "Feature Drift", "segment").severity is Severity.ALERT


@pytest.fixture(scope="module")
def constant_result(tmp_path_factory: pytest.TempPathFactory) -> StressTestResult:
    workdir = tmp_path_factory.mktemp("constant")
    model_dir = _constant_model_dir(workdir)
    reference = _segment_frame(800, seed=3)
    evaluation = _segment_frame(800, seed=4)
    return _stress_test(workdir, reference, evaluation, model_dir)


class TestConstantModel:
    def test_auc_is_half(self, constant_result: StressTestResult) -> None:
        """A model that gives every row the same score has AUC 0.5 on both datasets."""
        assert constant_result.model_perf["AUC"].reference == pytest.approx(0.5)
        assert constant_result.model_perf["AUC"].evaluation == pytest.approx(0.5)

    def test_abnormal_inputs_do_not_move_it(self, constant_result: StressTestResult) -> None:
        """Abnormal inputs leave a constant model's predictions unchanged, so every test passes."""
        abnormal = _category(constant_result, TestCategory.ABNORMAL_INPUTS)
        assert abnormal
        assert [test.metrics["mean_abs_change"] for test in abnormal] == [0.0] * len(abnormal)
        assert _flagged(abnormal) == set()


class TestSubsetPerformance:
    def test_flipped_segment_flagged(self, tmp_path: Path) -> None:
        """Flipping the labels of segment c flags both subset tests of the segment feature."""
        reference = _sliced_frame(3000, seed=5)
        evaluation = _sliced_frame(3000, seed=6, flipped_segment="c")
        result = _stress_test(tmp_path, reference, evaluation)
        for test_name in ("Subset Accuracy", "Subset AUC"):
            test = _one(result, test_name, "segment")
            assert test.severity is not Severity.PASS, test.description
            assert "segment = c " in test.description

    def test_unflipped_segment_passes(self, tmp_path: Path) -> None:
        """Without the flip no segment falls behind, so neither subset test of segment fires."""
        reference = _sliced_frame(3000, seed=5)
        evaluation = _sliced_frame(3000, seed=6)
        result = _stress_test(tmp_path, reference, evaluation)
        for test_name in ("Subset Accuracy", "Subset AUC"):
            test = _one(result, test_name, "segment")
            assert test.severity is Severity.PASS, test.description


ABNORMAL_CASES = [
    ("Missing Values", "x"),
    ("Out-of-Range High", "x"),
    ("Out-of-Range Low", "x"),
    ("Missing Values", "segment"),
    ("Unseen Categorical", "segment"),
]


@pytest.fixture(scope="module")
def abnormal_result(tmp_path_factory: pytest.TempPathFactory) -> StressTestResult:
    workdir = tmp_path_factory.mktemp("abnormal")
    model_dir = _segment_model_dir(workdir)
    reference = _segment_frame(1000, seed=7)
    evaluation = _segment_frame(1000, seed=8)
    return _stress_test(workdir, reference, evaluation, model_dir)


class TestAbnormalInputs:
    def test_every_perturbation_runs(self, abnormal_result: StressTestResult) -> None:
        """Each feature gets exactly the perturbations that fit its type."""
        abnormal = _category(abnormal_result, TestCategory.ABNORMAL_INPUTS)
        assert sorted((t.test_name, t.features[0]) for t in abnormal) == sorted(ABNORMAL_CASES)

    @pytest.mark.parametrize(
        ("test_name", "feature"),
        ABNORMAL_CASES,
        ids=[f"{name}-{feature}" for name, feature in ABNORMAL_CASES],
    )
    def test_perturbation_moves_model(
        self, abnormal_result: StressTestResult, test_name: str, feature: str
    ) -> None:
        """A perturbation of a feature the model relies on changes its predictions and fires."""
        test = _one(abnormal_result, test_name, feature)
        assert test.metrics["mean_abs_change"] is not None, test.description
        assert test.metrics["mean_abs_change"] > 0.05
        assert test.severity is not Severity.PASS
