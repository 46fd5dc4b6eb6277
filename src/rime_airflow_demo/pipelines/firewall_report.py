"""What the firewall found: one log line per bin and event, and the same results in MLflow.

MLflow keeps the results next to the production model:

* one run named ``firewall`` per production model version in the
  walkthrough's experiment, tagged with the registered model and version;
* per bin, metrics ``firewall/<metric>``, ``firewall/rows``,
  ``firewall/severity`` (0 PASS, 1 WARNING, 2 ALERT) and ``firewall/events``,
  logged at ``step`` = bin index since the Unix epoch (days since the epoch
  for daily bins) and ``timestamp`` = bin start, so the charts show the time
  series and a re-run of a day writes the same points again;
* per day, the artifact ``firewall/bins/<day>.json`` with the bins and
  events, overwritten by a re-run;
* on the model version, tags with the latest bin's start and severity.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rime_airflow_demo.rime.protocol import BinResult, ContinuousTestResult, Severity
from rime_airflow_demo.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

RUN_NAME = "firewall"
TAG_RUN_KIND = "run_kind"
TAG_MODEL_NAME = "registered_model_name"
TAG_MODEL_VERSION = "production_model_version"
ARTIFACT_DIR = "firewall/bins"
VERSION_TAG_LAST_BIN = "firewall_last_bin_start"
VERSION_TAG_LAST_SEVERITY = "firewall_last_bin_severity"
SEVERITY_LEVEL = {Severity.PASS: 0, Severity.WARNING: 1, Severity.ALERT: 2}


def log_result(result: ContinuousTestResult) -> str:
    """Log one line per bin and per detection event; return the worst severity's name."""
    for item in result.bins:
        metrics = ", ".join(
            f"{name}={_format(value)}" for name, value in sorted(item.metrics.items())
        )
        log.info(
            "Bin [%s, %s): %d rows, severity %s, metrics: %s",
            item.start,
            item.end,
            item.n_rows,
            item.severity.value,
            metrics or "none",
        )
    for event in result.events:
        log.info(
            "Detection event %s on bin [%s, %s): %s %s%s = %s (threshold %s), %s",
            event.event_id,
            event.bin_start,
            event.bin_end,
            event.category.value,
            event.metric,
            f" of feature {event.feature!r}" if event.feature else "",
            _format(event.value),
            _format(event.threshold),
            event.severity.value,
        )
    severities = [item.severity for item in result.bins] + [e.severity for e in result.events]
    worst = Severity.worst(severities)
    log.info(
        "Continuous test job %s: %d bin(s), %d detection event(s), worst severity %s",
        result.job_id,
        len(result.bins),
        len(result.events),
        worst.value,
    )
    return worst.value


def bin_metrics(item: BinResult, events: int) -> dict[str, float]:
    """Return the MLflow metrics of one bin; metrics RIME did not compute are left out."""
    metrics = {
        f"firewall/{name}": float(value)
        for name, value in item.metrics.items()
        if value is not None
    }
    metrics["firewall/rows"] = float(item.n_rows)
    metrics["firewall/severity"] = float(SEVERITY_LEVEL[item.severity])
    metrics["firewall/events"] = float(events)
    return metrics


def bin_step(item: BinResult) -> int:
    """Return the bin's index since the Unix epoch (days since the epoch for daily bins)."""
    start = _epoch_seconds(item.start)
    size = _epoch_seconds(item.end) - start
    return int(start // size) if size > 0 else int(start)


def record_in_mlflow(
    settings: Settings, model_version: str, day: str, result: ContinuousTestResult
) -> str:
    """Record the day's bins and events in the firewall run of ``model_version``; return its id."""
    from rime_airflow_demo.tracking import client_for

    client = client_for(settings)
    run_id = firewall_run(settings, model_version)
    for item in result.bins:
        events = sum(1 for e in result.events if e.bin_start == item.start)
        _log_points(client, run_id, item, bin_metrics(item, events))
    _log_day_artifact(client, run_id, day, result)
    _tag_version(settings, client, model_version, result)
    log.info("Recorded %d bin(s) of %s in MLflow run %s", len(result.bins), day, run_id)
    return run_id


def firewall_run(settings: Settings, model_version: str) -> str:
    """Return the id of the ``firewall`` run of ``model_version``, creating it once."""
    from rime_airflow_demo.tracking import _quote, client_for, experiment_id

    client = client_for(settings)
    experiment = experiment_id(settings)
    query = (
        f"tags.{TAG_RUN_KIND} = {_quote(RUN_NAME)} "
        f"and tags.{TAG_MODEL_NAME} = {_quote(settings.registered_model_name)} "
        f"and tags.{TAG_MODEL_VERSION} = {_quote(model_version)}"
    )
    existing = client.search_runs(
        [experiment], filter_string=query, order_by=["attributes.start_time ASC"]
    )
    if existing:
        return str(existing[0].info.run_id)
    run = client.create_run(
        experiment,
        run_name=RUN_NAME,
        tags={
            TAG_RUN_KIND: RUN_NAME,
            TAG_MODEL_NAME: settings.registered_model_name,
            TAG_MODEL_VERSION: model_version,
        },
    )
    log.info(
        "Created MLflow run %s for the firewall of model version %s", run.info.run_id, model_version
    )
    return str(run.info.run_id)


def _log_points(
    client: MlflowClient, run_id: str, item: BinResult, metrics: dict[str, float]
) -> None:
    """Log each metric at the bin's step unless that exact point is already there."""
    step = bin_step(item)
    timestamp_ms = int(_epoch_seconds(item.start) * 1000)
    for key, value in metrics.items():
        points = [p for p in client.get_metric_history(run_id, key) if p.step == step]
        if any(_same_number(p.value, value) for p in points):
            continue
        if points:
            # NOTE: MLflow cannot delete a metric point, so a re-run that computes
            # another value adds a second point at this step; the day's JSON
            # artifact contains the current value.
            log.warning(
                "MLflow run %s already has %s=%s at step %d; adding %s",
                run_id,
                key,
                points[0].value,
                step,
                value,
            )
        client.log_metric(run_id, key, value, step=step, timestamp=timestamp_ms)


def _log_day_artifact(
    client: MlflowClient, run_id: str, day: str, result: ContinuousTestResult
) -> None:
    """Write ``firewall/bins/<day>.json``; logging it again replaces the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{day}.json"
        path.write_text(json.dumps(result.to_json(), indent=2, sort_keys=True))
        client.log_artifact(run_id, str(path), artifact_path=ARTIFACT_DIR)


def _tag_version(
    settings: Settings, client: MlflowClient, model_version: str, result: ContinuousTestResult
) -> None:
    """Tag the model version with the latest bin, unless a later bin is already tagged."""
    if not result.bins:
        return
    latest = max(result.bins, key=lambda item: _epoch_seconds(item.start))
    version = client.get_model_version(settings.registered_model_name, model_version)
    tagged = version.tags.get(VERSION_TAG_LAST_BIN)
    if tagged and _epoch_seconds(tagged) > _epoch_seconds(latest.start):
        return
    client.set_model_version_tag(
        settings.registered_model_name, model_version, VERSION_TAG_LAST_BIN, latest.start
    )
    client.set_model_version_tag(
        settings.registered_model_name,
        model_version,
        VERSION_TAG_LAST_SEVERITY,
        latest.severity.value,
    )


def _epoch_seconds(iso: str) -> float:
    from rime_airflow_demo.data.daily import utc_instant

    return float(utc_instant(iso, "bin start").timestamp())


def _same_number(logged: float, value: float) -> bool:
    if math.isnan(logged) and math.isnan(value):
        return True
    return logged == value


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
