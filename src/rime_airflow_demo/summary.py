"""The end-of-demo summary: models, RIME results, the chosen model and the firewall's bins.

Everything is read back from MLflow, where the DAGs record it, so the same
summary works with the local engine and with a RIME cluster:

* one run per model type of the ``RIME_Stress_Testing`` DAG run, found by
  its tags, with ``test_*`` metrics, ``rime/summary/*`` and
  ``rime/<CATEGORY>/<SEVERITY>`` counts and the ``RIME Stress Test Link`` tag;
* the version behind the registered model's ``production`` alias, with the
  ``selection_reason`` and ``rime_firewall_link`` tags;
* the ``firewall`` run of that version, whose ``firewall/bins/<day>.json``
  artifacts hold each day's bins and detection events.

``collect_summary`` does the reading; ``model_summary``, ``firewall_days`` and
``format_summary`` are pure and build or print the values.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rime_airflow_demo.rime.protocol import BinResult, ContinuousTestResult, DetectionEvent
from rime_airflow_demo.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

STRESS_DAG_ID = "RIME_Stress_Testing"
COUNT_NAMES = ("total", "passed", "warning", "failed", "skipped")
SEVERITIES = ("PASS", "WARNING", "ALERT")
TEST_METRICS = ("auc", "accuracy", "precision", "recall", "f1", "log_loss")
FIREWALL_ARTIFACT_DIR = "firewall/bins"


@dataclass(frozen=True)
class ModelSummary:
    """One trained model: its test metrics and what its RIME stress test found."""

    model_type: str
    mlflow_run_id: str
    test_metrics: dict[str, float]
    # RIME summary counts: total, passed, warning, failed, skipped.
    rime_counts: dict[str, int]
    # category -> {"PASS": n, "WARNING": n, "ALERT": n}
    category_severities: dict[str, dict[str, int]]
    link: str = ""


@dataclass(frozen=True)
class ChoiceSummary:
    """The model version behind the ``production`` alias and why it was chosen."""

    model_type: str
    model_version: str
    reason: str
    firewall_link: str = ""
    # The RIME_Stress_Testing run that trained the version.
    stress_run_id: str = ""


@dataclass(frozen=True)
class DaySummary:
    """One day of the firewall window: its bin, or None when the day had no rows."""

    day: date
    bin: BinResult | None
    events: tuple[DetectionEvent, ...] = ()


@dataclass(frozen=True)
class DemoSummary:
    """Everything the summary prints, with the MLflow store it was read from."""

    stress_run_id: str
    tracking_uri: str
    models: tuple[ModelSummary, ...]
    choice: ChoiceSummary | None
    days: tuple[DaySummary, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


def model_summary(
    model_type: str, mlflow_run_id: str, metrics: Mapping[str, float], tags: Mapping[str, str]
) -> ModelSummary:
    """Build a model's summary from the metrics and tags of its MLflow run."""
    test_metrics = {
        name.removeprefix("test_"): float(value)
        for name, value in metrics.items()
        if name.startswith("test_")
    }
    counts = {
        name: int(metrics[f"rime/summary/{name}"])
        for name in COUNT_NAMES
        if f"rime/summary/{name}" in metrics
    }
    categories: dict[str, dict[str, int]] = {}
    for name, value in metrics.items():
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "rime" and parts[2] in SEVERITIES:
            categories.setdefault(parts[1], {})[parts[2]] = int(value)
    return ModelSummary(
        model_type=model_type,
        mlflow_run_id=mlflow_run_id,
        test_metrics=test_metrics,
        rime_counts=counts,
        category_severities={name: categories[name] for name in sorted(categories)},
        link=tags.get("RIME Stress Test Link", ""),
    )


def firewall_days(
    results: Iterable[ContinuousTestResult], first_day: date, last_day: date
) -> tuple[DaySummary, ...]:
    """Return one entry per day from ``first_day`` to ``last_day``, with that day's bin and events.

    A later result for the same bin replaces an earlier one, as a re-run of a
    day replaces its bin. Bins outside the window are left out.
    """
    bins: dict[str, BinResult] = {}
    events: dict[str, dict[str, DetectionEvent]] = {}
    for result in results:
        for item in result.bins:
            bins[item.start] = item
            events[item.start] = {}
        for event in result.events:
            events.setdefault(event.bin_start, {})[event.event_id] = event
    by_day = {_day_of(start): item for start, item in bins.items()}
    days = []
    current = first_day
    while current <= last_day:
        found = by_day.get(current)
        day_events = tuple(events.get(found.start, {}).values()) if found else ()
        days.append(DaySummary(current, found, day_events))
        current += timedelta(days=1)
    return tuple(days)


def collect_summary(settings: Settings, stress_run_id: str | None = None) -> DemoSummary:
    """Read the models of a ``RIME_Stress_Testing`` run, the production choice and the firewall.

    Without ``stress_run_id`` the models are those of the DAG run that
    trained the production version.
    """
    from rime_airflow_demo import tracking

    client = tracking.client_for(settings)
    notes: list[str] = []
    choice = _production_choice(settings, client)
    if stress_run_id is None:
        stress_run_id = choice.stress_run_id if choice is not None else ""
    models = _stress_test_models(settings, client, stress_run_id)
    if not models:
        notes.append(
            f"No MLflow run of {STRESS_DAG_ID} run {stress_run_id!r} was found in "
            f"experiment {settings.mlflow_experiment!r}."
        )
    days: tuple[DaySummary, ...] = ()
    if choice is None:
        notes.append(
            f"Registered model {settings.registered_model_name!r} has no "
            f"{tracking.PRODUCTION_ALIAS!r} alias, so no firewall results are shown."
        )
    else:
        results = _firewall_results(settings, client, choice.model_version)
        days = firewall_days(results, settings.firewall_start, settings.firewall_end)
    return DemoSummary(
        stress_run_id=stress_run_id,
        tracking_uri=settings.mlflow_tracking_uri,
        models=tuple(models),
        choice=choice,
        days=days,
        notes=tuple(notes),
    )


def load_firewall_day(settings: Settings, day: date) -> DaySummary | None:
    """Return the bin and events of ``day`` from the production version's firewall run."""
    from rime_airflow_demo import tracking

    client = tracking.client_for(settings)
    choice = _production_choice(settings, client)
    if choice is None:
        return None
    run_id = _firewall_run_id(settings, client, choice.model_version)
    if run_id is None:
        return None
    result = _download_day(client, run_id, f"{FIREWALL_ARTIFACT_DIR}/{day.isoformat()}.json")
    if result is None:
        return None
    return firewall_days([result], day, day)[0]


def format_summary(summary: DemoSummary, next_steps: Sequence[str] = ()) -> str:
    """Return the summary as plain text tables, one section per topic."""
    sections = [
        _format_models(summary),
        _format_rime(summary),
        _format_choice(summary),
        _format_firewall(summary),
    ]
    if summary.notes:
        sections.append("Notes\n" + "\n".join(f"  {note}" for note in summary.notes))
    if next_steps:
        sections.append("Where to look next\n" + "\n".join(f"  {step}" for step in next_steps))
    return "\n\n".join(section for section in sections if section)


def _format_models(summary: DemoSummary) -> str:
    lines = [f"Models of {STRESS_DAG_ID} run {summary.stress_run_id} (test split)"]
    if not summary.models:
        return lines[0] + "\n  none found"
    width = max(len(model.model_type) for model in summary.models)
    header = "  " + "model".ljust(width) + "".join(f"{name:>10}" for name in TEST_METRICS)
    lines.append(header)
    for model in summary.models:
        values = "".join(f"{_number(model.test_metrics.get(name)):>10}" for name in TEST_METRICS)
        lines.append("  " + model.model_type.ljust(width) + values)
    return "\n".join(lines)


def _format_rime(summary: DemoSummary) -> str:
    if not summary.models:
        return ""
    width = max(len(model.model_type) for model in summary.models)
    lines = ["RIME stress tests: test counts"]
    lines.append("  " + "model".ljust(width) + "".join(f"{name:>9}" for name in COUNT_NAMES))
    for model in summary.models:
        counts = "".join(f"{model.rime_counts.get(name, 0):>9}" for name in COUNT_NAMES)
        lines.append("  " + model.model_type.ljust(width) + counts)

    categories = sorted({name for m in summary.models for name in m.category_severities})
    if categories:
        lines.append("")
        lines.append("RIME stress tests: PASS/WARNING/ALERT per category")
        column = max(len(name) for name in categories) + 2
        lines.append(
            "  " + "model".ljust(width) + "".join(name.rjust(column) for name in categories)
        )
        for model in summary.models:
            cells = []
            for name in categories:
                severities = model.category_severities.get(name, {})
                cell = "/".join(str(severities.get(sev, 0)) for sev in SEVERITIES)
                cells.append(cell.rjust(column))
            lines.append("  " + model.model_type.ljust(width) + "".join(cells))
    links = [(model.model_type, model.link) for model in summary.models if model.link]
    if links:
        lines.append("")
        lines.append("RIME stress test reports")
        lines.extend(f"  {model_type.ljust(width)}  {link}" for model_type, link in links)
    return "\n".join(lines)


def _format_choice(summary: DemoSummary) -> str:
    choice = summary.choice
    if choice is None:
        return "Chosen model\n  none: no version has the production alias"
    lines = [
        "Chosen model",
        f"  {choice.model_type} (registered version {choice.model_version}, alias production)",
        f"  why: {choice.reason or 'no reason recorded'}",
    ]
    return "\n".join(lines)


def _format_firewall(summary: DemoSummary) -> str:
    if summary.choice is None:
        return ""
    lines = ["Firewall (continuous test) bins"]
    if summary.choice.firewall_link:
        lines[0] += f": {summary.choice.firewall_link}"
    if not summary.days:
        lines.append("  no days in the window")
        return "\n".join(lines)
    lines.append(f"  {'day':<12}{'rows':>7}{'AUC':>9}  {'severity':<9}{'events':>7}")
    for day in summary.days:
        if day.bin is None:
            lines.append(f"  {day.day.isoformat():<12}{'-':>7}{'-':>9}  {'no data':<9}{'-':>7}")
            continue
        auc = _number(day.bin.metrics.get("AUC"))
        lines.append(
            f"  {day.day.isoformat():<12}{day.bin.n_rows:>7}{auc:>9}  "
            f"{day.bin.severity.value:<9}{len(day.events):>7}"
        )
    events = [event for day in summary.days for event in day.events]
    lines.append("")
    lines.append(f"Detection events: {len(events)}")
    for event in sorted(events, key=lambda e: (e.bin_start, e.category.value, e.metric)):
        feature = f" of {event.feature}" if event.feature else ""
        lines.append(
            f"  {_day_of(event.bin_start).isoformat()}  {event.severity.value:<8}"
            f"{event.category.value}: {event.metric}{feature} = {_number(event.value)} "
            f"(threshold {_number(event.threshold)})"
        )
    return "\n".join(lines)


def _stress_test_models(
    settings: Settings, client: MlflowClient, stress_run_id: str
) -> list[ModelSummary]:
    from rime_airflow_demo import tracking

    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is None:
        return []
    query = (
        f"tags.{tracking.TAG_DAG_ID} = {tracking._quote(STRESS_DAG_ID)} "
        f"and tags.{tracking.TAG_RUN_ID} = {tracking._quote(stress_run_id)}"
    )
    runs = client.search_runs([experiment.experiment_id], filter_string=query)
    models = [
        model_summary(
            run.data.tags.get(tracking.TAG_MODEL_TYPE, run.info.run_name or run.info.run_id),
            run.info.run_id,
            run.data.metrics,
            run.data.tags,
        )
        for run in runs
    ]
    return sorted(models, key=lambda model: model.model_type)


def _production_choice(settings: Settings, client: MlflowClient) -> ChoiceSummary | None:
    from mlflow.exceptions import MlflowException

    from rime_airflow_demo import tracking

    try:
        version = client.get_model_version_by_alias(
            settings.registered_model_name, tracking.PRODUCTION_ALIAS
        )
    except MlflowException:
        return None
    return ChoiceSummary(
        model_type=version.tags.get(tracking.TAG_MODEL_TYPE, ""),
        model_version=str(version.version),
        reason=version.tags.get("selection_reason", ""),
        firewall_link=version.tags.get("rime_firewall_link", ""),
        stress_run_id=version.tags.get(tracking.TAG_RUN_ID, ""),
    )


def _firewall_run_id(settings: Settings, client: MlflowClient, model_version: str) -> str | None:
    from rime_airflow_demo import tracking
    from rime_airflow_demo.pipelines import firewall_report

    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is None:
        return None
    query = (
        f"tags.{firewall_report.TAG_RUN_KIND} = {tracking._quote(firewall_report.RUN_NAME)} "
        f"and tags.{firewall_report.TAG_MODEL_NAME} = "
        f"{tracking._quote(settings.registered_model_name)} "
        f"and tags.{firewall_report.TAG_MODEL_VERSION} = {tracking._quote(model_version)}"
    )
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=query, order_by=["attributes.start_time ASC"]
    )
    return str(runs[0].info.run_id) if runs else None


def _firewall_results(
    settings: Settings, client: MlflowClient, model_version: str
) -> list[ContinuousTestResult]:
    run_id = _firewall_run_id(settings, client, model_version)
    if run_id is None:
        return []
    results = []
    for item in client.list_artifacts(run_id, FIREWALL_ARTIFACT_DIR):
        if item.is_dir or not item.path.endswith(".json"):
            continue
        result = _download_day(client, run_id, item.path)
        if result is not None:
            results.append(result)
    return results


def _download_day(client: MlflowClient, run_id: str, path: str) -> ContinuousTestResult | None:
    import tempfile

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as folder:
        try:
            local = client.download_artifacts(run_id, path, folder)
        except (MlflowException, OSError):
            return None
        return ContinuousTestResult.from_json(json.loads(Path(local).read_text()))


def _day_of(iso: str) -> date:
    """Return the UTC date of an ISO 8601 bin start such as ``2024-03-01T00:00:00+00:00``."""
    return date.fromisoformat(iso[:10])


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.3f}"
