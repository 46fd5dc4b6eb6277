"""Continuous tests of the local engine: firewalls, time bins, monitors and detection events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rime_airflow_demo.rime.errors import InvalidInputError, NotFoundError
from rime_airflow_demo.rime.local import LocalRimeClient
from rime_airflow_demo.rime.protocol import (
    ContinuousTestResult,
    FirewallRef,
    JobState,
    Severity,
    TestCategory,
)
from tests.unit.local_engine_data import logistic_predictions, make_frame

DAY_1 = "2024-03-01"
DAY_2 = "2024-03-02"


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    result = frame.copy()
    result["preds"] = logistic_predictions(frame)
    return result


def _production(seed: int, day: str, age_shift: float = 0.0, n_rows: int = 300) -> pd.DataFrame:
    frame = _scored(make_frame(n_rows, seed=seed, age_shift=age_shift))
    seconds = np.linspace(0, 86_399, n_rows).astype(int)
    frame["timestamp"] = [
        (pd.Timestamp(day) + pd.Timedelta(seconds=int(s))).isoformat() for s in seconds
    ]
    return frame


class Setup:
    """A client with a project, a predictions-only model, a reference and a firewall."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.client = LocalRimeClient(root / "rime")
        self.project = self.client.get_or_create_project("fraud")
        self.model = self.client.register_model(self.project.project_id, "scores", "")
        reference = root / "ref.csv"
        _scored(make_frame(1000, seed=10)).to_csv(reference, index=False)
        self.ref = self.client.register_dataset(
            self.project.project_id, "ref", str(reference), label_col="label", pred_col="preds"
        )
        self.firewall = self.client.create_firewall(
            self.project.project_id, self.model.model_id, self.ref.dataset_id
        )

    def run(self, name: str, frame: pd.DataFrame) -> ContinuousTestResult:
        path = self.root / f"{name}.csv"
        frame.to_csv(path, index=False)
        dataset = self.client.register_dataset(
            self.project.project_id,
            name,
            str(path),
            label_col="label",
            pred_col="preds",
            timestamp_col="timestamp",
        )
        job = self.client.start_continuous_test(self.firewall.firewall_id, dataset.dataset_id)
        assert self.client.wait_for_job(job, timeout_s=1).state is JobState.SUCCEEDED
        return self.client.get_continuous_test_result(job)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return Setup(tmp_path_factory.mktemp("continuous"))


@pytest.fixture(scope="module")
def two_days(setup: Setup) -> ContinuousTestResult:
    frame = pd.concat([_production(20, DAY_1), _production(21, DAY_2, age_shift=25.0)])
    return setup.run("production", frame)


class TestBinning:
    def test_one_bin_per_day(self, two_days: ContinuousTestResult) -> None:
        """Rows of two days make two bins."""
        assert [b.start for b in two_days.bins] == [f"{DAY_1}T00:00:00Z", f"{DAY_2}T00:00:00Z"]

    def test_bins_end_a_day_later(self, two_days: ContinuousTestResult) -> None:
        """Each daily bin ends at the next UTC midnight."""
        assert two_days.bins[0].end == f"{DAY_2}T00:00:00Z"

    def test_rows_counted(self, two_days: ContinuousTestResult) -> None:
        """Each bin counts its rows."""
        assert [b.n_rows for b in two_days.bins] == [300, 300]

    def test_tz_aware_rows_converted(self, tmp_path: Path) -> None:
        """A row at 23:30 at UTC-2 belongs to the next UTC day."""
        frame = _production(30, DAY_1, n_rows=50)
        frame["timestamp"] = f"{DAY_1}T23:30:00-02:00"
        result = Setup(tmp_path).run("shifted", frame)
        assert [b.start for b in result.bins] == [f"{DAY_2}T00:00:00Z"]

    def test_six_hour_bins(self, tmp_path: Path) -> None:
        """A firewall with six-hour bins cuts one day into 4 bins."""
        setup = Setup(tmp_path)
        setup.firewall = setup.client.create_firewall(
            setup.project.project_id, setup.model.model_id, setup.ref.dataset_id, bin_size_s=21_600
        )
        result = setup.run("six_hours", _production(31, DAY_1, n_rows=240))
        assert [b.start[11:] for b in result.bins] == [
            "00:00:00Z",
            "06:00:00Z",
            "12:00:00Z",
            "18:00:00Z",
        ]


class TestMonitors:
    def test_clean_bin_has_no_events(self, two_days: ContinuousTestResult) -> None:
        """A bin drawn like the reference passes with no event."""
        clean = two_days.bins[0]
        assert [e for e in two_days.events if e.bin_start == clean.start] == []
        assert clean.severity is Severity.PASS

    def test_drifted_bin_alerts_on_feature(self, two_days: ContinuousTestResult) -> None:
        """The bin with shifted ages gets a DRIFT ALERT on age."""
        drifted = two_days.bins[1]
        events = [e for e in two_days.events if e.bin_start == drifted.start]
        assert any(e.feature == "age" and e.severity is Severity.ALERT for e in events)
        assert all(e.category is not TestCategory.DRIFT or e.feature != "amount" for e in events)

    def test_drifted_bin_has_abnormal_inputs(self, two_days: ContinuousTestResult) -> None:
        """Ages beyond the reference range raise the abnormal-input rate."""
        drifted = two_days.bins[1]
        assert drifted.metrics["abnormal_input_rate"] > 0.1
        assert drifted.severity is Severity.ALERT

    def test_bin_metrics_include_performance(self, two_days: ContinuousTestResult) -> None:
        """Labelled bins report AUC and accuracy."""
        assert 0.5 < two_days.bins[0].metrics["AUC"] <= 1.0
        assert two_days.bins[0].metrics["Accuracy"] is not None

    def test_bin_page_lists_events(self, two_days: ContinuousTestResult) -> None:
        """The drifted bin's HTML page shows its detection events."""
        page = Path(two_days.bins[1].link.removeprefix("file://"))
        assert "feature_drift_psi" in page.read_text()


class TestRerun:
    def test_rerun_replaces_bin(self, tmp_path: Path) -> None:
        """Running the same day again keeps one bin and one set of events."""
        setup = Setup(tmp_path)
        frame = _production(40, DAY_1, age_shift=25.0)
        first = setup.run("day", frame)
        second = setup.run("day", frame)
        bins = setup.client.get_continuous_test_result
        assert len(second.bins) == 1
        assert len(second.events) == len(first.events)
        assert bins(_job_of(first)).bins == ()

    def test_firewall_is_idempotent(self, setup: Setup) -> None:
        """create_firewall again returns the same firewall id."""
        again = setup.client.create_firewall(
            setup.project.project_id, setup.model.model_id, setup.ref.dataset_id
        )
        assert again.firewall_id == setup.firewall.firewall_id


def _job_of(result: ContinuousTestResult):  # type: ignore[no-untyped-def]
    from rime_airflow_demo.rime.protocol import JobKind, JobRef

    return JobRef(job_id=result.job_id, kind=JobKind.CONTINUOUS_TEST, project_id="")


class TestFirewallErrors:
    def test_get_firewall_without_one(self, tmp_path: Path) -> None:
        """A project without a firewall raises NotFoundError pointing at the stress DAG."""
        client = LocalRimeClient(tmp_path)
        project = client.get_or_create_project("fraud")
        with pytest.raises(NotFoundError, match="RIME_Stress_Testing"):
            client.get_firewall(project.project_id)

    def test_get_firewall_returns_link(self, setup: Setup) -> None:
        """get_firewall returns the firewall with the file URI of its page."""
        firewall: FirewallRef = setup.client.get_firewall(setup.project.project_id)
        assert firewall.link.startswith("file://")

    def test_unaligned_bin_size_rejected(self, setup: Setup) -> None:
        """A bin size that does not tile a day is rejected with the fix."""
        with pytest.raises(InvalidInputError, match="divides 86400"):
            setup.client.create_firewall(
                setup.project.project_id,
                setup.model.model_id,
                setup.ref.dataset_id,
                bin_size_s=7_000,
            )

    def test_dataset_without_timestamps_rejected(self, setup: Setup) -> None:
        """A continuous test needs a timestamp column."""
        with pytest.raises(InvalidInputError, match="timestamp_col"):
            setup.client.start_continuous_test(setup.firewall.firewall_id, setup.ref.dataset_id)

    def test_unknown_firewall_not_found(self, setup: Setup) -> None:
        """An unknown firewall id raises NotFoundError naming it."""
        with pytest.raises(NotFoundError, match="no-such-firewall"):
            setup.client.start_continuous_test("no-such-firewall", setup.ref.dataset_id)
