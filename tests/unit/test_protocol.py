"""Protocol values survive a JSON round trip, as they must to travel through XCom."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from rime_airflow_demo.rime.protocol import (
    BinResult,
    ContinuousTestResult,
    DetectionEvent,
    FirewallRef,
    JobKind,
    JobRef,
    JobState,
    JobStatus,
    MetricPair,
    Severity,
    StressTestResult,
    SummaryCounts,
    TestCategory,
    TestResult,
)

finite = st.floats(allow_nan=False, allow_infinity=False)
names = st.text(min_size=1, max_size=12)


def _round_trip(value):  # type: ignore[no-untyped-def]
    return type(value).from_json(json.loads(json.dumps(value.to_json())))


test_results = st.builds(
    TestResult,
    test_name=names,
    category=st.sampled_from(TestCategory),
    features=st.tuples(names) | st.just(()),
    severity=st.sampled_from(Severity),
    metrics=st.dictionaries(names, finite | st.none(), max_size=3),
)


@given(
    counts=st.builds(SummaryCounts, *(st.integers(0, 1000) for _ in range(5))),
    perf=st.dictionaries(names, st.builds(MetricPair, finite | st.none(), finite | st.none())),
    tests=st.lists(test_results, max_size=4).map(tuple),
)
def test_stress_result_round_trip(
    counts: SummaryCounts, perf: dict[str, MetricPair], tests: tuple[TestResult, ...]
) -> None:
    """A stress test result equals itself after JSON encoding and decoding."""
    result = StressTestResult(
        "run",
        "job",
        "project",
        "model",
        "file:///r.html",
        counts,
        {"DRIFT": {"PASS": 1, "WARNING": 0, "ALERT": 2}},
        perf,
        tests,
    )
    assert _round_trip(result) == result


def test_continuous_result_round_trip() -> None:
    """Bins and events keep their enums and tuples through JSON."""
    bin_result = BinResult(
        "fw",
        "2024-03-01T00:00:00+00:00",
        "2024-03-02T00:00:00+00:00",
        10,
        Severity.WARNING,
        {"AUC": 0.7, "Accuracy": None},
    )
    event = DetectionEvent(
        "ev",
        "fw",
        bin_result.start,
        bin_result.end,
        "psi",
        "country",
        0.4,
        0.2,
        Severity.ALERT,
        TestCategory.DRIFT,
        "country drifted",
    )
    result = ContinuousTestResult("job", "fw", (bin_result,), (event,))
    assert _round_trip(result) == result


def test_small_refs_round_trip() -> None:
    """Job and firewall references round-trip with their enums."""
    for value in (
        JobRef("j", JobKind.CONTINUOUS_TEST, "p"),
        JobStatus("j", JobState.FAILED, "boom"),
        FirewallRef("f", "p", "m", "d", 3600, "file:///f.html"),
    ):
        assert _round_trip(value) == value


def test_severity_worst() -> None:
    """The worst severity of a list is its most severe member."""
    assert Severity.worst([Severity.PASS, Severity.ALERT, Severity.WARNING]) is Severity.ALERT
    assert Severity.worst([]) is Severity.PASS


def test_stress_severity_from_counts() -> None:
    """A run with failing tests is ALERT, with warnings only WARNING, else PASS."""
    base = dict(
        test_run_id="r",
        job_id="j",
        project_id="p",
        model_id="m",
        link="",
        category_severity_counts={},
        model_perf={},
    )
    assert StressTestResult(summary_counts=SummaryCounts(2, 1, 0, 1), **base).severity is (
        Severity.ALERT
    )
    assert StressTestResult(summary_counts=SummaryCounts(2, 1, 1, 0), **base).severity is (
        Severity.WARNING
    )
    assert StressTestResult(summary_counts=SummaryCounts(2, 2), **base).severity is Severity.PASS
