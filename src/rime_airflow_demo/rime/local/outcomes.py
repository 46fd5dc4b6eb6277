"""Test outcomes of a stress test, including the tests that could not run, and their counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rime_airflow_demo.rime.protocol import Severity, SummaryCounts, TestCategory, TestResult


@dataclass(frozen=True)
class SkippedTest:
    """A test that could not run, with the reason (for example, no model to call)."""

    test_name: str
    category: TestCategory
    features: tuple[str, ...]
    reason: str


@dataclass
class Outcomes:
    """Tests that ran and tests that were skipped, in the order they were produced."""

    tests: list[TestResult]
    skipped: list[SkippedTest]

    @classmethod
    def empty(cls) -> Outcomes:
        """Return outcomes with no test."""
        return cls(tests=[], skipped=[])

    def extend(self, other: Outcomes) -> None:
        """Append the tests and skipped tests of ``other``."""
        self.tests.extend(other.tests)
        self.skipped.extend(other.skipped)

    def summary_counts(self) -> SummaryCounts:
        """Count tests as RIME does: an ALERT is a failed test, a skipped test counts in skip."""
        severities = [test.severity for test in self.tests]
        return SummaryCounts(
            total=len(self.tests) + len(self.skipped),
            passed=severities.count(Severity.PASS),
            warning=severities.count(Severity.WARNING),
            failed=severities.count(Severity.ALERT),
            skipped=len(self.skipped),
        )

    def category_severity_counts(self) -> dict[str, dict[str, int]]:
        """Return category -> {"PASS": n, "WARNING": n, "ALERT": n} over every category."""
        counts = {
            category.value: {severity.value: 0 for severity in Severity}
            for category in TestCategory
        }
        for test in self.tests:
            counts[test.category.value][test.severity.value] += 1
        return counts


def worst(severities: Iterable[Severity]) -> Severity:
    """Return the most severe of ``severities`` (PASS when there is none)."""
    return Severity.worst(list(severities))
