"""The API key never leaves the rime-sdk adapter: not in logs, output, values or errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from rime_airflow_demo.rime.connect import RimeCredentials
from rime_airflow_demo.rime.errors import RimeError
from rime_airflow_demo.rime.sdk import SdkRimeClient
from tests.fakes import sdk_support
from tests.fakes.rime_server import FakeRimeServer
from tests.fakes.sdk_support import LABEL_COL, PRED_COL, TIMESTAMP_COL

DISTINCTIVE_KEY = "rk-7f3a9c-DISTINCTIVE-5e1b"


def _run_whole_flow(server: FakeRimeServer, tmp_path: Path) -> list[dict[str, object]]:
    """Run every protocol method once and return the JSON of every returned value."""
    credentials = RimeCredentials(url=server.url, api_key=DISTINCTIVE_KEY)
    client = SdkRimeClient(credentials, job_timeout_s=5.0, poll_interval_s=0.01)
    project = client.get_or_create_project("fraud")
    model_dir = client.upload_model_dir(
        str(sdk_support.write_model_dir(tmp_path / "model")), "models/m"
    )
    model = client.register_model(project.project_id, "m", model_dir)

    datasets = []
    for name, seed in (("ref", 1), ("eval", 2)):
        local = sdk_support.write_reference_csv(tmp_path / f"{name}.csv", seed=seed)
        remote = client.upload_file(str(local), f"data/{name}")
        datasets.append(
            client.register_dataset(
                project.project_id,
                name,
                remote,
                label_col=LABEL_COL,
                pred_col=PRED_COL,
                model_id=model.model_id,
            )
        )
    job = client.start_stress_test(
        project.project_id, model.model_id, datasets[0].dataset_id, datasets[1].dataset_id, "r"
    )
    status = client.wait_for_job(job, timeout_s=5.0, poll_interval_s=0.01)
    stress = client.get_stress_test_result(job)

    firewall = client.create_firewall(project.project_id, model.model_id, datasets[0].dataset_id)
    prod_remote = client.upload_file(
        str(sdk_support.write_production_csv(tmp_path / "prod.csv")), "data/prod"
    )
    prod = client.register_dataset(
        project.project_id,
        "prod",
        prod_remote,
        label_col=LABEL_COL,
        pred_col=PRED_COL,
        timestamp_col=TIMESTAMP_COL,
        model_id=model.model_id,
    )
    ct_job = client.start_continuous_test(firewall.firewall_id, prod.dataset_id)
    ct = client.get_continuous_test_result(ct_job)
    values = [project, model, *datasets, job, status, stress, firewall, prod, ct_job, ct]
    return [value.to_json() for value in values]


def test_key_absent_everywhere(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Logs, stdout, stderr, returned values and the repr never contain the API key."""
    sdk_support.disable_sdk_throttle(monkeypatch)
    caplog.set_level(logging.DEBUG)
    with FakeRimeServer(api_key=DISTINCTIVE_KEY) as server:
        values = _run_whole_flow(server, tmp_path)
        client = SdkRimeClient(RimeCredentials(url=server.url, api_key=DISTINCTIVE_KEY))
    captured = capsys.readouterr()
    assert len(values) == 11
    assert DISTINCTIVE_KEY not in caplog.text
    assert DISTINCTIVE_KEY not in captured.out
    assert DISTINCTIVE_KEY not in captured.err
    assert DISTINCTIVE_KEY not in json.dumps(values)
    assert DISTINCTIVE_KEY not in repr(client)
    assert DISTINCTIVE_KEY not in repr(
        RimeCredentials(url="http://127.0.0.1", api_key=DISTINCTIVE_KEY)
    )


def test_key_absent_from_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """An error about a rejected key does not repeat the key."""
    sdk_support.disable_sdk_throttle(monkeypatch)
    with FakeRimeServer(api_key="the-right-key") as server, pytest.raises(RimeError) as caught:
        SdkRimeClient(RimeCredentials(url=server.url, api_key=DISTINCTIVE_KEY))
    assert DISTINCTIVE_KEY not in str(caught.value)
    assert DISTINCTIVE_KEY not in str(caught.value.__cause__)
