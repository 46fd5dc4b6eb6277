"""The end-of-demo summary, built from metric names, bin results and a real MLflow store."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rime_airflow_demo import summary as summary_module
from rime_airflow_demo.rime.protocol import (
    BinResult,
    ContinuousTestResult,
    DetectionEvent,
    MetricPair,
    Severity,
    StressTestResult,
    SummaryCounts,
    TestCategory,
)
from rime_airflow_demo.settings import GeneratorSettings, Settings
from rime_airflow_demo.summary import (
    ChoiceSummary,
    DaySummary,
    DemoSummary,
    ModelSummary,
    collect_summary,
    firewall_days,
    format_summary,
    model_summary,
)

FIRST_DAY = date(2024, 3, 1)


def make_bin(
    day: date, rows: int = 100, auc: float | None = 0.9, severity: Severity = Severity.PASS
) -> BinResult:
    """Return a one-day bin starting at ``day``'s UTC midnight."""
    return BinResult(
        firewall_id="fw-1",
        start=f"{day.isoformat()}T00:00:00+00:00",
        end=f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00",
        n_rows=rows,
        severity=severity,
        metrics={"AUC": auc},
    )


def make_event(day: date, event_id: str, metric: str = "AUC") -> DetectionEvent:
    """Return an ALERT on ``day``'s bin."""
    return DetectionEvent(
        event_id=event_id,
        firewall_id="fw-1",
        bin_start=f"{day.isoformat()}T00:00:00+00:00",
        bin_end=f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00",
        metric=metric,
        feature=None,
        value=0.6,
        threshold=0.75,
        severity=Severity.ALERT,
        category=TestCategory.MODEL_PERFORMANCE,
    )


def day_result(day: date, *events: DetectionEvent, rows: int = 100) -> ContinuousTestResult:
    severity = Severity.ALERT if events else Severity.PASS
    return ContinuousTestResult(
        job_id=f"job-{day}",
        firewall_id="fw-1",
        bins=(make_bin(day, rows=rows, severity=severity),),
        events=events,
    )


class TestModelSummary:
    """``model_summary`` reads the metric names that the stress-testing DAG logs."""

    METRICS: ClassVar[dict[str, float]] = {
        "test_auc": 0.91,
        "test_f1": 0.4,
        "rime/summary/total": 59.0,
        "rime/summary/passed": 40.0,
        "rime/summary/warning": 10.0,
        "rime/summary/failed": 9.0,
        "rime/summary/skipped": 0.0,
        "rime/DRIFT/PASS": 9.0,
        "rime/MODEL_PERFORMANCE/ALERT": 2.0,
        "rime/MODEL_PERFORMANCE/PASS": 5.0,
        "rime/evaluation/AUC": 0.91,
    }

    def build(self) -> ModelSummary:
        return model_summary(
            "sgd-classifier", "run-1", self.METRICS, {"RIME Stress Test Link": "file:///r.html"}
        )

    def test_test_metrics_lose_prefix(self) -> None:
        """``test_auc`` becomes the test metric ``auc``."""
        assert self.build().test_metrics == {"auc": 0.91, "f1": 0.4}

    def test_summary_counts(self) -> None:
        """The five RIME summary counts become integers."""
        counts = self.build().rime_counts
        assert counts == {"total": 59, "passed": 40, "warning": 10, "failed": 9, "skipped": 0}

    def test_category_severities(self) -> None:
        """Per-category severity counts are grouped by category."""
        categories = self.build().category_severities
        assert categories["MODEL_PERFORMANCE"] == {"ALERT": 2, "PASS": 5}
        assert categories["DRIFT"] == {"PASS": 9}

    def test_model_metrics_are_not_categories(self) -> None:
        """``rime/evaluation/AUC`` is a model metric, not a category."""
        assert "evaluation" not in self.build().category_severities

    def test_link_from_tag(self) -> None:
        """The report link comes from the ``RIME Stress Test Link`` tag."""
        assert self.build().link == "file:///r.html"

    def test_missing_metrics_give_empty_values(self) -> None:
        """A run without stress-test metrics has no counts and no categories."""
        empty = model_summary("catboost-classifier", "run-2", {}, {})
        assert empty.rime_counts == {}
        assert empty.category_severities == {}
        assert empty.link == ""


class TestFirewallDays:
    """``firewall_days`` lays bins and events out on the firewall window."""

    def test_day_without_bin_is_none(self) -> None:
        """A window day with no result has no bin."""
        days = firewall_days([day_result(FIRST_DAY)], FIRST_DAY, FIRST_DAY + timedelta(days=1))
        assert days[1].day == FIRST_DAY + timedelta(days=1)
        assert days[1].bin is None

    def test_events_attach_to_their_day(self) -> None:
        """Events go to the day of their bin."""
        result = day_result(FIRST_DAY, make_event(FIRST_DAY, "e1"), make_event(FIRST_DAY, "e2"))
        days = firewall_days([result], FIRST_DAY, FIRST_DAY)
        assert [event.event_id for event in days[0].events] == ["e1", "e2"]

    def test_later_result_replaces_bin(self) -> None:
        """A re-run of a day replaces its bin and its events."""
        first = day_result(FIRST_DAY, make_event(FIRST_DAY, "old"), rows=10)
        second = day_result(FIRST_DAY, rows=20)
        days = firewall_days([first, second], FIRST_DAY, FIRST_DAY)
        assert days[0].bin is not None
        assert days[0].bin.n_rows == 20
        assert days[0].events == ()

    def test_bins_outside_window_dropped(self) -> None:
        """Bins before the window's first day are left out."""
        early = FIRST_DAY - timedelta(days=3)
        days = firewall_days([day_result(early)], FIRST_DAY, FIRST_DAY)
        assert len(days) == 1
        assert days[0].bin is None

    @given(
        offset=st.integers(min_value=0, max_value=400),
        length=st.integers(min_value=0, max_value=60),
        filled=st.sets(st.integers(min_value=-5, max_value=70), max_size=20),
    )
    def test_one_entry_per_window_day(self, offset: int, length: int, filled: set[int]) -> None:
        """Whatever bins exist, the result has each window day once, in order."""
        first = FIRST_DAY + timedelta(days=offset)
        last = first + timedelta(days=length)
        results = [day_result(first + timedelta(days=shift)) for shift in sorted(filled)]
        days = firewall_days(results, first, last)
        assert [d.day for d in days] == [first + timedelta(days=i) for i in range(length + 1)]
        assert {i for i, d in enumerate(days) if d.bin is not None} == {
            shift for shift in filled if 0 <= shift <= length
        }


class TestFormatSummary:
    """``format_summary`` prints every section a user needs."""

    SUMMARY = DemoSummary(
        stress_run_id="manual__2024-01-01T00:00:00+00:00",
        tracking_uri="sqlite:///x.db",
        models=(
            ModelSummary(
                "sgd-classifier",
                "r1",
                {"auc": 0.83, "f1": float("nan")},
                {"total": 3, "passed": 2, "warning": 0, "failed": 1, "skipped": 0},
                {"DRIFT": {"PASS": 2, "ALERT": 1}},
                "file:///sgd.html",
            ),
        ),
        choice=ChoiceSummary("sgd-classifier", "2", "fewest ALERTs", "file:///fw.html"),
        days=(
            DaySummary(FIRST_DAY, make_bin(FIRST_DAY, auc=0.712), (make_event(FIRST_DAY, "e"),)),
            DaySummary(FIRST_DAY + timedelta(days=1), None),
        ),
    )

    def text(self) -> str:
        return format_summary(self.SUMMARY, ["nox -s airflow"])

    def test_names_chosen_model_and_reason(self) -> None:
        """The chosen model, its version and the reason are printed."""
        text = self.text()
        assert "sgd-classifier (registered version 2, alias production)" in text
        assert "why: fewest ALERTs" in text

    def test_prints_category_severities(self) -> None:
        """Category counts print as PASS/WARNING/ALERT."""
        assert "2/0/1" in self.text()

    def test_prints_bin_rows_auc_severity(self) -> None:
        """A bin line shows the day, rows, AUC and severity."""
        lines = self.text().splitlines()
        line = next(
            line for line in lines if line.strip().startswith("2024-03-01") and "100" in line
        )
        assert "0.712" in line
        assert "PASS" in line

    def test_day_without_data_marked(self) -> None:
        """A day without a bin is marked ``no data``."""
        line = next(line for line in self.text().splitlines() if "2024-03-02" in line)
        assert "no data" in line

    def test_nan_metric_prints_na(self) -> None:
        """A NaN test metric prints as ``n/a``."""
        model_line = next(
            line
            for line in self.text().splitlines()
            if line.strip().startswith("sgd-classifier") and "0.830" in line
        )
        assert "n/a" in model_line

    def test_lists_events_and_next_steps(self) -> None:
        """Events and the next steps have their own sections."""
        text = self.text()
        assert "Detection events: 1" in text
        assert "MODEL_PERFORMANCE: AUC = 0.600 (threshold 0.750)" in text
        assert "Where to look next\n  nox -s airflow" in text

    def test_without_choice(self) -> None:
        """Without a production alias the summary states that no model was chosen."""
        text = format_summary(replace(self.SUMMARY, choice=None, days=()))
        assert "none: no version has the production alias" in text


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """A real SQLite MLflow store with one stress-testing DAG run of two models and a firewall."""
    from rime_airflow_demo import modeling, tracking
    from rime_airflow_demo.data import generator
    from rime_airflow_demo.data.schema import FEATURES, LABEL
    from rime_airflow_demo.pipelines.firewall_report import record_in_mlflow

    home = tmp_path_factory.mktemp("summary")
    settings = replace(
        Settings(),
        home=home,
        mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        mlflow_experiment="summary_test",
        registered_model_name="summary-test-model",
        firewall_start=FIRST_DAY,
        firewall_end=FIRST_DAY + timedelta(days=2),
    )
    # An experiment created by MLflow itself would keep artifacts in ./mlruns.
    tracking.client_for(settings).create_experiment(
        settings.mlflow_experiment, artifact_location=(home / "mlruns").as_uri()
    )
    train = generator.generate_reference(GeneratorSettings(reference_rows=300))
    run_id = "manual__2024-01-01T00:00:00+00:00"
    versions = {}
    for model_type, alerts in (("logistic-regression-classifier", 3), ("sgd-classifier", 1)):
        mlflow_run_id = tracking.find_or_create_run(
            settings, "RIME_Stress_Testing", run_id, model_type
        )
        tracking.log_metrics_once(settings, mlflow_run_id, {"test_auc": 0.8, "test_f1": 0.3})
        result = StressTestResult(
            test_run_id=f"tr-{model_type}",
            job_id="job",
            project_id="p",
            model_id="m",
            link=f"file:///{model_type}.html",
            summary_counts=SummaryCounts(total=10, passed=7, warning=0, failed=alerts, skipped=0),
            category_severity_counts={"MODEL_PERFORMANCE": {"PASS": 7, "ALERT": alerts}},
            model_perf={"AUC": MetricPair(0.85, 0.8)},
        )
        tests_file = home / f"{model_type}.json"
        tests_file.write_text("{}")
        tracking.log_stress_test(settings, mlflow_run_id, result, str(tests_file))
        model = modeling.train_model(model_type, train, FEATURES, LABEL, seed=1)
        uri = tracking.log_model(settings, mlflow_run_id, model, train[list(FEATURES)].head(5))
        version = tracking.register_version(
            settings, uri, mlflow_run_id, {tracking.TAG_MODEL_TYPE: model_type}
        )
        versions[model_type] = str(version.version)
    chosen = versions["sgd-classifier"]
    tracking.promote(settings, chosen, "sgd-classifier has the fewest ALERTs")
    tracking.tag_version(settings, chosen, {"rime_firewall_link": "file:///fw.html"})
    record_in_mlflow(settings, chosen, "2024-03-01", day_result(FIRST_DAY))
    second_day = FIRST_DAY + timedelta(days=1)
    record_in_mlflow(
        settings, chosen, "2024-03-02", day_result(second_day, make_event(second_day, "ev"))
    )
    return settings, run_id


class TestCollectSummary:
    """``collect_summary`` reads a real MLflow store written by the tracking code."""

    def test_finds_both_models(self, tracked: tuple[Settings, str]) -> None:
        """Both model runs of the DAG run are found, sorted by model type."""
        found = collect_summary(*tracked)
        assert [m.model_type for m in found.models] == [
            "logistic-regression-classifier",
            "sgd-classifier",
        ]

    def test_reads_rime_counts(self, tracked: tuple[Settings, str]) -> None:
        """The failed count and category ALERTs come back from the metrics."""
        model = collect_summary(*tracked).models[1]
        assert model.rime_counts["failed"] == 1
        assert model.category_severities["MODEL_PERFORMANCE"]["ALERT"] == 1
        assert model.link == "file:///sgd-classifier.html"

    def test_reads_choice(self, tracked: tuple[Settings, str]) -> None:
        """The production alias, reason and firewall link are read from the version."""
        choice = collect_summary(*tracked).choice
        assert choice is not None
        assert choice.model_type == "sgd-classifier"
        assert choice.reason == "sgd-classifier has the fewest ALERTs"
        assert choice.firewall_link == "file:///fw.html"

    def test_reads_firewall_days(self, tracked: tuple[Settings, str]) -> None:
        """Two recorded days have bins, the third window day has none."""
        days = collect_summary(*tracked).days
        assert [d.bin is not None for d in days] == [True, True, False]
        assert len(days[1].events) == 1

    def test_other_run_id_finds_no_models(self, tracked: tuple[Settings, str]) -> None:
        """Another DAG run id has no models, and the summary notes it."""
        found = collect_summary(tracked[0], "manual__other")
        assert found.models == ()
        assert any("manual__other" in note for note in found.notes)

    def test_load_firewall_day(self, tracked: tuple[Settings, str]) -> None:
        """One day's bin is read from its artifact."""
        day = summary_module.load_firewall_day(tracked[0], FIRST_DAY)
        assert day is not None
        assert day.bin is not None
        assert math.isclose(day.bin.metrics["AUC"] or 0.0, 0.9)

    def test_missing_alias_gives_no_choice(self, tmp_path: Path) -> None:
        """An empty store has no chosen model and no firewall days."""
        settings = replace(
            Settings(), home=tmp_path, mlflow_tracking_uri=f"sqlite:///{tmp_path / 'm.db'}"
        )
        found = collect_summary(settings, "manual__x")
        assert found.choice is None
        assert found.days == ()
