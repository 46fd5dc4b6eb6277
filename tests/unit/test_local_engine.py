"""The local RIME engine end to end: registry, stress tests, jobs, persistence and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from rime_airflow_demo.rime.errors import (
    InvalidInputError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
)
from rime_airflow_demo.rime.local import LocalRimeClient
from rime_airflow_demo.rime.local.store import Store
from rime_airflow_demo.rime.protocol import (
    JobKind,
    JobRef,
    JobState,
    RimeClient,
    Severity,
    StressTestResult,
    TestCategory,
)
from tests.unit.local_engine_data import make_frame, train_model_dir, with_predictions


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def data_files(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("data")
    reference = with_predictions(make_frame(1000, seed=10), model_dir)
    evaluation = with_predictions(make_frame(600, seed=11, age_shift=25.0), model_dir)
    paths = {"ref": folder / "ref.csv", "eval": folder / "eval.parquet"}
    reference.to_csv(paths["ref"], index=False)
    evaluation.to_parquet(paths["eval"], index=False)
    return paths


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path, data_files: dict[str, Path]
) -> dict[str, object]:
    root = tmp_path_factory.mktemp("engine")
    client = LocalRimeClient(root)
    project = client.get_or_create_project("fraud", "local engine tests")
    model = client.register_model(
        project.project_id, "logistic", client.upload_model_dir(str(model_dir), "models/lr")
    )
    ref = client.register_dataset(
        project.project_id,
        "ref",
        client.upload_file(str(data_files["ref"]), "data"),
        label_col="label",
        pred_col="preds",
        model_id=model.model_id,
    )
    ev = client.register_dataset(
        project.project_id,
        "eval",
        client.upload_file(str(data_files["eval"]), "data"),
        label_col="label",
        pred_col="preds",
        model_id=model.model_id,
    )
    job = client.start_stress_test(
        project.project_id, model.model_id, ref.dataset_id, ev.dataset_id, "nightly run"
    )
    return {
        "root": root,
        "client": client,
        "project": project,
        "model": model,
        "ref": ref,
        "eval": ev,
        "job": job,
        "result": client.get_stress_test_result(job),
    }


def _tests(result: StressTestResult, name: str, feature: str | None = None) -> list:
    return [
        t
        for t in result.tests
        if t.test_name == name and (feature is None or t.features == (feature,))
    ]


class TestStressTest:
    def test_client_satisfies_protocol(self, run: dict) -> None:
        """LocalRimeClient implements the RimeClient protocol."""
        assert isinstance(run["client"], RimeClient)

    def test_job_succeeds(self, run: dict) -> None:
        """A stress test job is SUCCEEDED when its start call returns."""
        status = run["client"].wait_for_job(run["job"], timeout_s=1)
        assert status.state is JobState.SUCCEEDED

    def test_summary_counts_add_up(self, run: dict) -> None:
        """Total equals pass + warning + fail + skip, and ran tests equal the listed tests."""
        counts = run["result"].summary_counts
        assert counts.total == counts.passed + counts.warning + counts.failed + counts.skipped
        assert counts.total - counts.skipped == len(run["result"].tests)

    def test_category_counts_match_tests(self, run: dict) -> None:
        """Per-category severity counts sum to the number of tests of that category."""
        result = run["result"]
        for category in TestCategory:
            listed = [t for t in result.tests if t.category is category]
            assert sum(result.category_severity_counts[category.value].values()) == len(listed)

    def test_drifted_feature_alerts(self, run: dict) -> None:
        """The shifted age feature gets a DRIFT ALERT."""
        [age] = _tests(run["result"], "Feature Drift", "age")
        assert age.severity is Severity.ALERT

    def test_undrifted_features_pass(self, run: dict) -> None:
        """Features drawn from the same distribution pass the drift test."""
        for feature in ("amount", "channel"):
            [test] = _tests(run["result"], "Feature Drift", feature)
            assert test.severity is Severity.PASS, test.description

    def test_numeric_drift_has_ks(self, run: dict) -> None:
        """Numeric drift tests report a KS statistic and p-value."""
        [age] = _tests(run["result"], "Feature Drift", "age")
        assert age.metrics["ks_statistic"] > 0.5
        assert age.metrics["ks_pvalue"] < 1e-6

    def test_model_perf_equals_sklearn(self, run: dict, data_files: dict[str, Path]) -> None:
        """Evaluation metrics equal scikit-learn's on the same labels and predictions."""
        frame = pd.read_parquet(data_files["eval"])
        y, p = frame["label"].to_numpy(), frame["preds"].to_numpy()
        decisions = (p >= 0.5).astype(int)
        expected = {
            "AUC": metrics.roc_auc_score(y, p),
            "Accuracy": metrics.accuracy_score(y, decisions),
            "Precision": metrics.precision_score(y, decisions),
            "Recall": metrics.recall_score(y, decisions),
            "F1": metrics.f1_score(y, decisions),
            "Log Loss": metrics.log_loss(y, p),
            "Average Precision": metrics.average_precision_score(y, p),
        }
        for name, value in expected.items():
            assert run["result"].model_perf[name].evaluation == pytest.approx(value), name

    def test_abnormal_inputs_run_with_model(self, run: dict) -> None:
        """With a model directory every abnormal-input test runs and none is skipped."""
        abnormal = [t for t in run["result"].tests if t.category is TestCategory.ABNORMAL_INPUTS]
        names = {(t.test_name, t.features) for t in abnormal}
        assert ("Unseen Categorical", ("channel",)) in names
        assert ("Out-of-Range High", ("amount",)) in names
        assert all(t.metrics["flip_rate"] is not None for t in abnormal)

    def test_out_of_range_moves_predictions(self, run: dict) -> None:
        """Ten times the largest amount moves the model's probabilities."""
        [test] = _tests(run["result"], "Out-of-Range High", "amount")
        assert test.metrics["mean_abs_change"] > 0.1

    def test_result_json_round_trip(self, run: dict) -> None:
        """A result survives to_json, json.dumps, json.loads and from_json unchanged."""
        text = json.dumps(run["result"].to_json())
        assert StressTestResult.from_json(json.loads(text)) == run["result"]

    def test_state_persists_across_clients(self, run: dict) -> None:
        """A second client on the same root finds the project and the stored result."""
        other = LocalRimeClient(run["root"])
        assert other.find_project("fraud").project_id == run["project"].project_id
        assert other.get_stress_test_result(run["job"]) == run["result"]

    def test_report_mentions_run(self, run: dict) -> None:
        """The run's HTML page exists and names the run and its id."""
        page = Path(run["result"].link.removeprefix("file://"))
        text = page.read_text()
        assert "nightly run" in text
        assert run["result"].test_run_id in text
        assert "data:image/png;base64," in text

    def test_project_page_lists_run(self, run: dict) -> None:
        """The project page links the run's page."""
        project = run["client"].find_project("fraud")
        text = Path(project.link.removeprefix("file://")).read_text()
        assert run["result"].link in text


class TestWithoutModelDirectory:
    def test_abnormal_inputs_skipped(self, tmp_path: Path, data_files: dict[str, Path]) -> None:
        """A model registered without a directory skips every abnormal-input test."""
        client = LocalRimeClient(tmp_path)
        project = client.get_or_create_project("fraud")
        model = client.register_model(project.project_id, "scores only", "")
        ref = client.register_dataset(
            project.project_id, "ref", str(data_files["ref"]), label_col="label", pred_col="preds"
        )
        ev = client.register_dataset(
            project.project_id, "eval", str(data_files["eval"]), label_col="label", pred_col="preds"
        )
        job = client.start_stress_test(
            project.project_id, model.model_id, ref.dataset_id, ev.dataset_id, "no model"
        )
        result = client.get_stress_test_result(job)
        assert not [t for t in result.tests if t.category is TestCategory.ABNORMAL_INPUTS]
        # amount and age: missing, high, low; channel: missing, unseen.
        assert result.summary_counts.skipped == 8


class TestRegistry:
    def test_project_is_idempotent(self, tmp_path: Path) -> None:
        """The same project name returns the same project id."""
        client = LocalRimeClient(tmp_path)
        first = client.get_or_create_project("fraud")
        assert client.get_or_create_project("fraud").project_id == first.project_id

    def test_dataset_reregistration_replaces_rows(self, tmp_path: Path) -> None:
        """Re-registering a dataset name keeps its id and takes the new rows."""
        client = LocalRimeClient(tmp_path)
        project = client.get_or_create_project("fraud")
        small, large = tmp_path / "small.csv", tmp_path / "large.csv"
        make_frame(100, seed=1).to_csv(small, index=False)
        make_frame(200, seed=2).to_csv(large, index=False)
        first = client.register_dataset(project.project_id, "ref", str(small), label_col="label")
        second = client.register_dataset(project.project_id, "ref", str(large), label_col="label")
        assert second.dataset_id == first.dataset_id
        assert second.n_rows == 200

    def test_model_reregistration_keeps_id(self, tmp_path: Path) -> None:
        """Re-registering a model name returns the same model id."""
        client = LocalRimeClient(tmp_path)
        project = client.get_or_create_project("fraud")
        first = client.register_model(project.project_id, "m", "")
        assert client.register_model(project.project_id, "m", "").model_id == first.model_id

    def test_upload_overwrites(self, tmp_path: Path) -> None:
        """Uploading to the same upload path replaces the earlier copy."""
        client = LocalRimeClient(tmp_path / "rime")
        source = tmp_path / "a.csv"
        source.write_text("x\n1\n")
        client.upload_file(str(source), "data")
        source.write_text("x\n2\n")
        location = client.upload_file(str(source), "data")
        assert Path(location).read_text() == "x\n2\n"
        assert Path(location).is_relative_to(tmp_path / "rime" / "uploads" / "data")

    def test_upload_path_outside_rejected(self, tmp_path: Path) -> None:
        """An upload path with '..' is rejected."""
        client = LocalRimeClient(tmp_path / "rime")
        source = tmp_path / "a.csv"
        source.write_text("x\n1\n")
        with pytest.raises(InvalidInputError, match=r"'\.\./escape'"):
            client.upload_file(str(source), "../escape")

    def test_unknown_project_not_found(self, tmp_path: Path) -> None:
        """An unknown project id raises NotFoundError naming the id."""
        client = LocalRimeClient(tmp_path)
        with pytest.raises(NotFoundError, match="nope"):
            client.register_model("nope", "m", "")

    def test_model_path_without_entry_rejected(self, tmp_path: Path) -> None:
        """A model path without rime_model.py is rejected with the fix."""
        client = LocalRimeClient(tmp_path / "rime")
        project = client.get_or_create_project("fraud")
        with pytest.raises(InvalidInputError, match="build_model_dir"):
            client.register_model(project.project_id, "m", str(tmp_path))


BAD_FILES = [
    ("missing label column", "a,b\n1,2\n", "label column 'label' is missing"),
    ("label not binary", "a,label\n1,0\n2,2\n", "contains 2"),
    ("label text", "a,label\n1,yes\n", "'yes'"),
    ("prediction above one", "a,label,preds\n1,0,0.5\n2,1,1.5\n", "contains 1.5"),
    ("bad timestamp", "a,label,ts\n1,0,2024-03-01\n2,1,someday\n", "'someday'"),
    ("no rows", "a,label\n", "has no rows"),
    ("empty file", "", "is empty"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_register_dataset_rejects(tmp_path: Path, case: str, text: str, message: str) -> None:
    """Invalid dataset files raise InvalidInputError naming the value."""
    client = LocalRimeClient(tmp_path / "rime")
    project = client.get_or_create_project("fraud")
    path = tmp_path / "bad.csv"
    path.write_text(text)
    pred_col = "preds" if "preds" in text else None
    timestamp_col = "ts" if ",ts" in text else None
    with pytest.raises(InvalidInputError, match=message):
        client.register_dataset(
            project.project_id,
            "bad",
            str(path),
            label_col="label",
            pred_col=pred_col,
            timestamp_col=timestamp_col,
        )


def test_register_dataset_missing_file(tmp_path: Path) -> None:
    """A missing dataset file raises InvalidInputError naming the path."""
    client = LocalRimeClient(tmp_path)
    project = client.get_or_create_project("fraud")
    with pytest.raises(InvalidInputError, match=r"nowhere\.csv"):
        client.register_dataset(
            project.project_id, "x", str(tmp_path / "nowhere.csv"), label_col="label"
        )


class TestJobs:
    def test_unknown_job_not_found(self, tmp_path: Path) -> None:
        """wait_for_job on an unknown id raises NotFoundError naming it."""
        client = LocalRimeClient(tmp_path)
        job = JobRef(job_id="missing-job", kind=JobKind.STRESS_TEST, project_id="p")
        with pytest.raises(NotFoundError, match="missing-job"):
            client.wait_for_job(job, timeout_s=1)

    def test_running_job_times_out(self, tmp_path: Path) -> None:
        """A job that stays RUNNING raises JobTimeoutError after the timeout."""
        client = LocalRimeClient(tmp_path)
        Store(tmp_path).insert_job("stuck", JobKind.STRESS_TEST, "p", "stuck run")
        job = JobRef(job_id="stuck", kind=JobKind.STRESS_TEST, project_id="p")
        with pytest.raises(JobTimeoutError):
            client.wait_for_job(job, timeout_s=0.0, poll_interval_s=0.01)

    def test_broken_model_fails_job(self, tmp_path: Path, data_files: dict[str, Path]) -> None:
        """A model whose entry file raises ends the job FAILED with the error message."""
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "rime_model.py").write_text("raise RuntimeError('weights are corrupt')\n")
        client = LocalRimeClient(tmp_path / "rime")
        project = client.get_or_create_project("fraud")
        model = client.register_model(project.project_id, "broken", str(broken))
        ref = client.register_dataset(
            project.project_id, "ref", str(data_files["ref"]), label_col="label", pred_col="preds"
        )
        job = client.start_stress_test(
            project.project_id, model.model_id, ref.dataset_id, ref.dataset_id, "broken"
        )
        with pytest.raises(JobFailedError, match="weights are corrupt"):
            client.wait_for_job(job, timeout_s=1)


def test_missing_predictions_come_from_model(
    tmp_path: Path, model_dir: Path, data_files: dict[str, Path]
) -> None:
    """A dataset without a prediction column is scored by the registered model."""
    client = LocalRimeClient(tmp_path)
    project = client.get_or_create_project("fraud")
    model = client.register_model(project.project_id, "lr", str(model_dir))
    frame = pd.read_csv(data_files["ref"])
    frame.drop(columns="preds").to_csv(tmp_path / "unscored.csv", index=False)
    ref = client.register_dataset(
        project.project_id, "ref", str(tmp_path / "unscored.csv"), label_col="label"
    )
    job = client.start_stress_test(
        project.project_id, model.model_id, ref.dataset_id, ref.dataset_id, "self"
    )
    auc = client.get_stress_test_result(job).model_perf["AUC"].reference
    assert auc == pytest.approx(metrics.roc_auc_score(frame["label"], frame["preds"]))
    assert np.isfinite(auc)
