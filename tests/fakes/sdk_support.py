"""Helpers for tests of the rime-sdk adapter against ``FakeRimeServer``.

Small synthetic fraud files (two features, a 0/1 label, a prediction column
and, for production data, a timestamp), a model directory, and a way to turn
off rime-sdk's client-side throttle so many stress tests in one process do
not sleep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rime_airflow_demo.rime.model_dir import ENTRY_FILE

LABEL_COL = "label"
PRED_COL = "preds"
TIMESTAMP_COL = "timestamp"


def fraud_frame(rows: int, seed: int, informative: bool = True) -> pd.DataFrame:
    """Return rows whose ``preds`` track the label when ``informative``, and are noise otherwise."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    amount = rng.normal(100.0, 20.0, rows) + 15.0 * label
    age = rng.normal(40.0, 10.0, rows)
    signal = label if informative else rng.integers(0, 2, rows)
    preds = np.clip(0.25 + 0.5 * signal + rng.normal(0.0, 0.2, rows), 0.0, 1.0)
    return pd.DataFrame({"amount": amount, "age": age, LABEL_COL: label, PRED_COL: preds})


def write_reference_csv(path: Path, rows: int = 200, seed: int = 1) -> Path:
    """Write a reference file of ``rows`` rows with informative predictions."""
    fraud_frame(rows, seed).to_csv(path, index=False)
    return path


def write_production_csv(
    path: Path, days: int = 3, rows_per_day: int = 60, noisy_days: tuple[int, ...] = (2,)
) -> Path:
    """Write daily rows from 2024-03-01; predictions on ``noisy_days`` (0-based) are noise."""
    frames = []
    for day in range(days):
        frame = fraud_frame(rows_per_day, seed=100 + day, informative=day not in noisy_days)
        start = pd.Timestamp("2024-03-01") + pd.Timedelta(days=day)
        offsets = pd.to_timedelta(np.linspace(0, 86_000, rows_per_day), unit="s")
        frame[TIMESTAMP_COL] = (start + offsets).strftime("%Y-%m-%d %H:%M:%S")
        frames.append(frame)
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


def write_model_dir(path: Path) -> Path:
    """Write a minimal model directory: an entry file and one artifact."""
    path.mkdir(parents=True, exist_ok=True)
    (path / ENTRY_FILE).write_text(
        "def predict_df(df):\n    return df['amount'].to_numpy() / 200.0\n"
    )
    (path / "mlflow_model").mkdir(exist_ok=True)
    (path / "mlflow_model" / "MLmodel").write_text("flavors: {}\n")
    return path


def disable_sdk_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make rime-sdk's stress-test and continuous-test throttles never sleep."""
    from rime_sdk.internal.throttle_queue import ThrottleQueue

    monkeypatch.setattr(ThrottleQueue, "throttle", lambda self, throttling_msg: False)
