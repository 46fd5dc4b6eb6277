"""RIME model directories: an MLflow model plus an entry file exposing ``predict_df``.

A RIME cluster calls a tabular model through a Python file that defines
``predict_df(df: pandas.DataFrame) -> numpy.ndarray`` returning one
positive-class probability per row. ``build_model_dir`` writes such a
directory from a logged MLflow model; the local engine loads the same
directory with ``load_predict_df``, so a model that runs locally is one a
cluster can run.
"""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENTRY_FILE = "rime_model.py"
MLFLOW_MODEL_DIR = "mlflow_model"

_ENTRY_SOURCE = '''"""RIME tabular model interface for an MLflow pyfunc model in ./mlflow_model."""

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

_MODEL = mlflow.pyfunc.load_model(str(Path(__file__).resolve().parent / "mlflow_model"))


def predict_df(df: pd.DataFrame) -> np.ndarray:
    """Return the positive-class probability of each row of ``df``."""
    output = _MODEL.predict(df)
    if isinstance(output, pd.DataFrame):
        output = output.to_numpy()
    probabilities = np.asarray(output, dtype=float)
    if probabilities.ndim == 2:
        probabilities = probabilities[:, -1]
    return probabilities.reshape(-1)
'''


def build_model_dir(model_uri: str, dest: str | Path) -> Path:
    """Write a RIME model directory for the MLflow model at ``model_uri`` into ``dest``.

    ``dest`` is replaced when it exists, so a retried task writes the same
    directory again. Returns the directory path.
    """
    import mlflow.artifacts

    target = Path(dest)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    mlflow.artifacts.download_artifacts(
        artifact_uri=model_uri, dst_path=str(target / MLFLOW_MODEL_DIR)
    )
    (target / ENTRY_FILE).write_text(_ENTRY_SOURCE)
    return target


def load_predict_df(model_dir: str | Path) -> Callable[[Any], Any]:
    """Import the entry file of ``model_dir`` and return its ``predict_df``."""
    entry = Path(model_dir) / ENTRY_FILE
    if not entry.is_file():
        raise FileNotFoundError(
            f"Model directory {str(model_dir)!r} has no {ENTRY_FILE}; "
            "build it with rime_airflow_demo.rime.model_dir.build_model_dir."
        )
    module_name = f"rime_model_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, entry)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    predict_df = getattr(module, "predict_df", None)
    if not callable(predict_df):
        raise TypeError(f"{entry} defines no callable predict_df(df).")
    return predict_df
