"""Small synthetic fraud-like data and a real scikit-learn model for the local engine's tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURES = ["amount", "age", "channel"]
CHANNELS = ["web", "app", "store"]


def make_frame(n_rows: int, seed: int, age_shift: float = 0.0) -> pd.DataFrame:
    """Return ``n_rows`` transactions with a label that depends on amount and channel.

    ``age_shift`` moves the age distribution, which drifts the ``age``
    feature only.
    """
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(mean=3.0, sigma=1.0, size=n_rows)
    age = rng.normal(40.0, 10.0, size=n_rows) + age_shift
    channel = rng.choice(CHANNELS, size=n_rows, p=[0.5, 0.3, 0.2]).astype(object)
    channel[rng.random(n_rows) < 0.05] = None
    score = 0.04 * (amount - 25.0) + np.where(channel == "web", 1.0, -0.5)
    label = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-score))).astype(int)
    return pd.DataFrame({"amount": amount, "age": age, "channel": channel, "label": label})


def train_model_dir(workdir: Path) -> Path:
    """Fit a logistic regression pipeline, log it to MLflow and build a RIME model directory.

    The tracking store is a SQLite file in ``workdir``. The filters below
    silence warnings raised inside SQLAlchemy, MLflow and skops while the
    model is logged.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = make_frame(600, seed=1)
    features = train[FEATURES].astype({"channel": object})
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "numbers",
                            Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                            ["amount", "age"],
                        ),
                        (
                            "categories",
                            Pipeline(
                                [
                                    (
                                        "impute",
                                        SimpleImputer(strategy="constant", fill_value="missing"),
                                    ),
                                    ("encode", OneHotEncoder(handle_unknown="ignore")),
                                ]
                            ),
                            ["channel"],
                        ),
                    ]
                ),
            ),
            ("classify", LogisticRegression()),
        ]
    )
    pipeline.fit(features, train["label"])
    return log_model_dir(pipeline, features, workdir, "local-engine-tests")


def log_model_dir(pipeline: Any, features: pd.DataFrame, workdir: Path, experiment: str) -> Path:
    """Log a fitted scikit-learn pipeline to a SQLite MLflow store and build its RIME model dir."""
    import mlflow
    import mlflow.sklearn

    from rime_airflow_demo.rime.model_dir import build_model_dir

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="The ``noload`` loader strategy is deprecated",
            category=DeprecationWarning,
        )
        warnings.filterwarnings("ignore", message=".*inferred as AnyType", category=UserWarning)
        # skops, which MLflow uses to save scikit-learn models, reads attributes of every
        # loaded module when imported, which trips Airflow's deprecated-attribute warnings.
        warnings.filterwarnings("ignore", message=r"The `airflow\.", category=Warning)
        mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
        mlflow.set_experiment(experiment)
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                pyfunc_predict_fn="predict_proba",
                skops_trusted_types=["numpy.dtype"],
                pip_requirements=["scikit-learn"],
                signature=mlflow.models.infer_signature(features, pipeline.predict_proba(features)),
            )
        return build_model_dir(info.model_uri, workdir / "model_dir")


def with_predictions(frame: pd.DataFrame, model_dir: Path) -> pd.DataFrame:
    """Return ``frame`` with a ``preds`` column from the model in ``model_dir``."""
    from rime_airflow_demo.rime.model_dir import load_predict_df

    predict_df = load_predict_df(model_dir)
    result = frame.copy()
    result["preds"] = np.asarray(predict_df(frame[FEATURES]), dtype=float)
    return result


def logistic_predictions(frame: pd.DataFrame) -> np.ndarray:
    """Return fixed-formula probabilities, for tests that need predictions but no model."""
    score = 0.04 * (frame["amount"] - 25.0) + np.where(frame["channel"] == "web", 1.0, -0.5)
    return 1.0 / (1.0 + np.exp(-score.to_numpy(dtype=float)))
