"""The three fraud model types: preprocessing, training, probabilities and metrics.

Every model is one scikit-learn ``Pipeline`` whose first step prepares the
raw feature columns, so the same preprocessing serves training and
prediction:

* ``sgd-classifier`` and ``logistic-regression-classifier``: missing
  categories become ``"missing"`` and are one-hot encoded with
  ``handle_unknown="ignore"``, so a category never seen in training encodes
  as all zeros. Missing numbers take the training median and are scaled.
* ``catboost-classifier``: categories go to CatBoost's native categorical
  handling, with missing ones filled as ``"missing"``. CatBoost handles
  missing numbers itself.

All three weight the classes as ``balanced`` because fraud is rare, so a
0.5 threshold on the probability flags a useful share of fraud; the
probabilities are therefore higher than the base fraud rate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

MODEL_TYPES = ("catboost-classifier", "sgd-classifier", "logistic-regression-classifier")

MISSING_CATEGORY = "missing"
DECISION_THRESHOLD = 0.5
CATBOOST_ITERATIONS = 150
CATBOOST_THREADS = 2
METRIC_NAMES = ("auc", "accuracy", "precision", "recall", "f1", "log_loss")


class ModelTypeError(ValueError):
    """An unknown model type was requested."""


def check_model_type(model_type: str) -> str:
    """Return ``model_type`` if it is one of ``MODEL_TYPES``, else raise ``ModelTypeError``."""
    if model_type not in MODEL_TYPES:
        raise ModelTypeError(
            f"Unknown model type {model_type!r}; use one of {', '.join(MODEL_TYPES)}."
        )
    return model_type


def split_feature_kinds(df: pd.DataFrame, features: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return ``(numeric, categorical)`` features of ``df``; booleans count as categorical."""
    import pandas as pd

    numeric = [
        name
        for name in features
        if pd.api.types.is_numeric_dtype(df[name]) and not pd.api.types.is_bool_dtype(df[name])
    ]
    categorical = [name for name in features if name not in numeric]
    return numeric, categorical


def model_params(model_type: str, seed: int) -> dict[str, Any]:
    """Return the estimator's hyperparameters, as logged to MLflow."""
    check_model_type(model_type)
    if model_type == "catboost-classifier":
        return {
            "iterations": CATBOOST_ITERATIONS,
            "depth": 4,
            "learning_rate": 0.1,
            "auto_class_weights": "Balanced",
            "thread_count": CATBOOST_THREADS,
            "random_seed": seed,
        }
    if model_type == "sgd-classifier":
        return {
            "loss": "log_loss",
            "alpha": 1e-3,
            "max_iter": 1000,
            "tol": 1e-4,
            "class_weight": "balanced",
            "random_state": seed,
        }
    return {"C": 1.0, "max_iter": 1000, "class_weight": "balanced", "random_state": seed}


def build_pipeline(
    model_type: str, numeric: Sequence[str], categorical: Sequence[str], seed: int
) -> Pipeline:
    """Return the untrained preprocessing + estimator pipeline for ``model_type``."""
    from sklearn.pipeline import Pipeline

    params = model_params(model_type, seed)
    if model_type == "catboost-classifier":
        from catboost import CatBoostClassifier

        estimator: Any = CatBoostClassifier(
            **params,
            cat_features=list(categorical),
            allow_writing_files=False,
            verbose=False,
        )
        return Pipeline(
            [("prepare", _catboost_preprocessor(numeric, categorical)), ("model", estimator)]
        )
    if model_type == "sgd-classifier":
        from sklearn.linear_model import SGDClassifier

        estimator = SGDClassifier(**params)
    else:
        from sklearn.linear_model import LogisticRegression

        estimator = LogisticRegression(**params)
    return Pipeline([("prepare", _linear_preprocessor(numeric, categorical)), ("model", estimator)])


def train_model(
    model_type: str, train: pd.DataFrame, features: Sequence[str], label_col: str, seed: int
) -> Pipeline:
    """Fit a ``model_type`` pipeline on ``train[features]`` against ``train[label_col]``."""
    check_model_type(model_type)
    numeric, categorical = split_feature_kinds(train, features)
    pipeline = build_pipeline(model_type, numeric, categorical, seed)
    log.info(
        "Training %s on %d rows (%d numeric, %d categorical features)",
        model_type,
        len(train),
        len(numeric),
        len(categorical),
    )
    pipeline.fit(train[list(features)], train[label_col].to_numpy())
    return pipeline


def fraud_probabilities(model: Any, df: pd.DataFrame) -> np.ndarray:
    """Return the fraud (positive-class) probability of each row, as a 1-D float array.

    ``model`` is a fitted pipeline or an MLflow pyfunc model; both return one
    column per class, or a 1-D array of positive-class probabilities.
    """
    import numpy as np
    import pandas as pd

    if hasattr(model, "predict_proba"):
        output = model.predict_proba(df)
    else:
        output = model.predict(_match_signature(model, df))
    if isinstance(output, pd.DataFrame):
        output = output.to_numpy()
    probabilities = np.asarray(output, dtype=float)
    if probabilities.ndim == 2:
        probabilities = probabilities[:, -1]
    return probabilities.reshape(-1)


def _match_signature(model: Any, df: pd.DataFrame) -> pd.DataFrame:
    """Keep the signature's columns of ``df``, with string columns as pandas strings.

    MLflow's schema check rejects a string column that pandas read as float
    because every value in it is missing. As strings, the values stay missing
    and reach the pipeline's imputer.
    """
    schema = model.metadata.get_input_schema() if model.metadata else None
    if schema is None or not schema.has_input_names():
        return df
    from mlflow.types import DataType

    types = schema.input_types_dict()
    frame = df[[name for name in schema.input_names() if name in df.columns]].copy()
    for name, column_type in types.items():
        if name in frame.columns and column_type == DataType.string:
            frame[name] = frame[name].astype("str")
    return frame


def evaluate(labels: Sequence[int] | np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Return AUC, accuracy, precision, recall, F1 (at threshold 0.5) and log loss.

    AUC is NaN when ``labels`` contain a single class.
    """
    import numpy as np
    from sklearn import metrics

    y_true = np.asarray(labels, dtype=int)
    y_pred = (probabilities >= DECISION_THRESHOLD).astype(int)
    two_classes = len(np.unique(y_true)) == 2
    return {
        "auc": float(metrics.roc_auc_score(y_true, probabilities)) if two_classes else float("nan"),
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
        "log_loss": float(metrics.log_loss(y_true, probabilities, labels=[0, 1])),
    }


def _categorical_imputer() -> Any:
    from sklearn.impute import SimpleImputer

    return SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY, keep_empty_features=True)


def _linear_preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    numeric_steps = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
    )
    categorical_steps = make_pipeline(
        FunctionTransformer(_as_text, feature_names_out="one-to-one"),
        _categorical_imputer(),
        OneHotEncoder(handle_unknown="ignore"),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric_steps, list(numeric)),
            ("categorical", categorical_steps, list(categorical)),
        ],
        remainder="drop",
    )


def _catboost_preprocessor(numeric: Sequence[str], categorical: Sequence[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    categorical_steps = make_pipeline(
        FunctionTransformer(_as_text, feature_names_out="one-to-one"), _categorical_imputer()
    )
    transformer = ColumnTransformer(
        [
            ("numeric", "passthrough", list(numeric)),
            ("categorical", categorical_steps, list(categorical)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    return transformer.set_output(transform="pandas")


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` as Python strings with ``NaN`` for missing values.

    Columns read as numbers (such as a code column) or entirely missing in a
    batch then reach the imputer and the encoder with the same type as in
    training.
    """
    import numpy as np

    values = frame.astype("object")
    return values.where(values.isna(), values.astype(str)).where(values.notna(), np.nan)
