"""Human-readable HTML pages of stress test runs, projects, firewalls and bins.

Pages live under ``<root>/reports``; plots are PNG images embedded in the
page, so one file is the whole report. Every page is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from rime_airflow_demo.rime.local.continuous import (
    ABNORMAL_INPUT_RATE,
    FEATURE_DRIFT_PSI,
    PREDICTION_DRIFT_PSI,
)
from rime_airflow_demo.rime.local.files import atomic_write_text
from rime_airflow_demo.rime.local.outcomes import SkippedTest
from rime_airflow_demo.rime.local.performance import SLICE_PREFIX
from rime_airflow_demo.rime.local.plots import bar_chart
from rime_airflow_demo.rime.local.thresholds import Thresholds
from rime_airflow_demo.rime.protocol import (
    BinResult,
    DetectionEvent,
    FirewallRef,
    ProjectRef,
    StressTestResult,
    TestCategory,
)

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 0.9em; }
.PASS { color: #1a7f37; } .WARNING { color: #9a6700; } .ALERT { color: #cf222e; font-weight: bold; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


class ReportPaths:
    """Paths of the pages of the engine rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.base = root / "reports"

    def project(self, project_id: str) -> Path:
        """Index page of a project: its stress test runs and firewall."""
        return self.base / "projects" / project_id / "index.html"

    def stress_run(self, test_run_id: str) -> Path:
        """Page of one stress test run."""
        return self.base / "stress_tests" / f"{test_run_id}.html"

    def firewall(self, firewall_id: str) -> Path:
        """Index page of a firewall: its bins."""
        return self.base / "firewalls" / firewall_id / "index.html"

    def bin(self, firewall_id: str, start: str) -> Path:
        """Page of one continuous-test bin, named by its start time."""
        return self.base / "firewalls" / firewall_id / "bins" / f"{start.replace(':', '')}.html"


@dataclass(frozen=True)
class RunSummary:
    """One line of a project page: a stress test run and where its page is."""

    run_name: str
    created_at: str
    state: str
    link: str
    counts: str


def _page(title: str, body: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    lines = ["<table>", f"<tr>{head}</tr>"]
    lines += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    lines.append("</table>")
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _severity(value: str) -> str:
    return f"<span class='{escape(value)}'>{escape(value)}</span>"


def _link(uri: str, text: str) -> str:
    return f"<a href='{escape(uri)}'>{escape(text)}</a>"


def write_stress_report(
    path: Path,
    result: StressTestResult,
    run_name: str,
    project: ProjectRef,
    skipped: Sequence[SkippedTest],
    thresholds: Thresholds,
) -> None:
    """Write the page of one stress test run: counts, metric and drift plots, every test."""
    counts = result.summary_counts
    body = [
        f"<p>Project {_link(project.link, project.name)}, run id "
        f"<code>{escape(result.test_run_id)}</code>, model <code>{escape(result.model_id)}</code>."
        "</p>",
        f"<p>Overall severity {_severity(result.severity.value)}: {counts.total} tests, "
        f"{counts.passed} passed, {counts.warning} warnings, {counts.failed} alerts, "
        f"{counts.skipped} skipped.</p>",
        "<h2>Tests per category</h2>",
        _table(
            ["category", "PASS", "WARNING", "ALERT"],
            [
                [escape(category), *(str(n) for n in by_severity.values())]
                for category, by_severity in result.category_severity_counts.items()
            ],
        ),
        "<h2>Model performance</h2>",
        _table(
            ["metric", "reference", "evaluation"],
            [
                [escape(name), _number(pair.reference), _number(pair.evaluation)]
                for name, pair in result.model_perf.items()
            ],
        ),
    ]

    names = list(result.model_perf)
    body.append(
        _image(
            bar_chart(
                "Reference vs evaluation metrics",
                names,
                {
                    "reference": [result.model_perf[n].reference for n in names],
                    "evaluation": [result.model_perf[n].evaluation for n in names],
                },
                "value",
            )
        )
    )

    drift = [t for t in result.tests if t.category is TestCategory.DRIFT and t.features]
    if drift:
        body += [
            "<h2>Feature drift</h2>",
            _image(
                bar_chart(
                    "PSI per feature",
                    [t.features[0] for t in drift],
                    {"PSI": [t.metrics.get("psi") for t in drift]},
                    "PSI",
                    [(thresholds.psi_warning, "warning"), (thresholds.psi_alert, "alert")],
                )
            ),
        ]
    body += _subset_plots(result)

    body.append("<h2>All tests</h2>")
    body.append(
        _table(
            ["category", "test", "features", "severity", "description"],
            [
                [
                    escape(t.category.value),
                    escape(t.test_name),
                    escape(", ".join(t.features)),
                    _severity(t.severity.value),
                    escape(t.description),
                ]
                for t in result.tests
            ],
        )
    )

    if skipped:
        body.append("<h2>Skipped tests</h2>")
        body.append(
            _table(
                ["category", "test", "features", "reason"],
                [
                    [
                        escape(s.category.value),
                        escape(s.test_name),
                        escape(", ".join(s.features)),
                        escape(s.reason),
                    ]
                    for s in skipped
                ],
            )
        )

    atomic_write_text(path, _page(f"Stress test {run_name}", body))


def _subset_plots(result: StressTestResult) -> list[str]:
    flagged = [
        t
        for t in result.tests
        if t.category is TestCategory.SUBSET_PERFORMANCE and t.severity.value != "PASS"
    ]
    if not flagged:
        return []
    body = ["<h2>Subset performance of flagged features</h2>"]
    for test in flagged:
        slices = {
            k.removeprefix(SLICE_PREFIX): v
            for k, v in test.metrics.items()
            if k.startswith(SLICE_PREFIX)
        }
        body.append(
            _image(
                bar_chart(
                    f"{test.test_name} by slice of {test.features[0]}",
                    list(slices),
                    {test.test_name: list(slices.values())},
                    "value",
                    [(test.metrics["overall"] or 0.0, "whole set")],
                )
            )
        )
    return body


def _image(uri: str) -> str:
    return f"<img alt='plot' src='{uri}'>"


def write_project_index(
    path: Path, project: ProjectRef, runs: Sequence[RunSummary], firewall_link: str | None
) -> None:
    """Write a project's index page listing its stress test runs and its firewall."""
    body = [f"<p>Project id <code>{escape(project.project_id)}</code>.</p>"]
    if firewall_link:
        body.append(f"<p>Continuous test: {_link(firewall_link, 'firewall bins')}</p>")
    body.append("<h2>Stress test runs</h2>")
    body.append(
        _table(
            ["run", "started (UTC)", "state", "tests"],
            [
                [
                    _link(run.link, run.run_name) if run.link else escape(run.run_name),
                    escape(run.created_at),
                    escape(run.state),
                    escape(run.counts),
                ]
                for run in runs
            ],
        )
        if runs
        else "<p>No stress test has run yet.</p>"
    )
    atomic_write_text(path, _page(f"RIME project {project.name}", body))


def write_firewall_index(path: Path, firewall: FirewallRef, bins: Sequence[BinResult]) -> None:
    """Write a firewall's index page: one row per bin and a plot of prediction drift."""
    body = [
        f"<p>Firewall <code>{escape(firewall.firewall_id)}</code> of project "
        f"<code>{escape(firewall.project_id)}</code>: model <code>{escape(firewall.model_id)}"
        f"</code>, reference dataset <code>{escape(firewall.ref_dataset_id)}</code>, "
        f"bins of {firewall.bin_size_s} s.</p>",
    ]
    if bins:
        body.append(
            _image(
                bar_chart(
                    "Prediction drift per bin",
                    [b.start[:16] for b in bins],
                    {"PSI": [b.metrics.get(PREDICTION_DRIFT_PSI) for b in bins]},
                    "PSI",
                )
            )
        )
    body.append(
        _table(
            ["bin start", "rows", "severity", "AUC", "prediction PSI"],
            [
                [
                    _link(b.link, b.start) if b.link else escape(b.start),
                    str(b.n_rows),
                    _severity(b.severity.value),
                    _number(b.metrics.get("AUC")),
                    _number(b.metrics.get(PREDICTION_DRIFT_PSI)),
                ]
                for b in bins
            ],
        )
    )
    atomic_write_text(path, _page(f"Continuous test {firewall.firewall_id}", body))


def write_bin_report(
    path: Path,
    result: BinResult,
    events: Sequence[DetectionEvent],
    firewall_link: str,
    thresholds: Thresholds,
) -> None:
    """Write the page of one bin: its metrics, detection events and drift per feature."""
    prefix = f"{FEATURE_DRIFT_PSI}:"
    drift = {k.removeprefix(prefix): v for k, v in result.metrics.items() if k.startswith(prefix)}
    other = {k: v for k, v in result.metrics.items() if not k.startswith(prefix)}
    body = [
        f"<p>{_link(firewall_link, 'Firewall')} bin [{escape(result.start)}, "
        f"{escape(result.end)}): {result.n_rows} rows, severity "
        f"{_severity(result.severity.value)}, abnormal-input rate "
        f"{_number(result.metrics.get(ABNORMAL_INPUT_RATE))}.</p>",
        "<h2>Detection events</h2>",
        _table(
            ["severity", "category", "metric", "feature", "value", "threshold", "description"],
            [
                [
                    _severity(e.severity.value),
                    escape(e.category.value),
                    escape(e.metric),
                    escape(e.feature or ""),
                    _number(e.value),
                    _number(e.threshold),
                    escape(e.description),
                ]
                for e in events
            ],
        )
        if events
        else "<p>No monitor fired on this bin.</p>",
        "<h2>Metrics</h2>",
        _table(["metric", "value"], [[escape(k), _number(v)] for k, v in other.items()]),
        "<h2>Feature drift</h2>",
        _image(
            bar_chart(
                "PSI per feature against the reference",
                list(drift),
                {"PSI": list(drift.values())},
                "PSI",
                [(thresholds.psi_warning, "warning"), (thresholds.psi_alert, "alert")],
            )
        ),
    ]
    atomic_write_text(path, _page(f"Continuous-test bin {result.start}", body))
