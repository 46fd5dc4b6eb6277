"""The three model types: probabilities for every row, metrics, rejected types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rime_airflow_demo import modeling
from rime_airflow_demo.data import generator
from rime_airflow_demo.data.schema import FEATURES, LABEL
from rime_airflow_demo.data.splits import split_reference
from rime_airflow_demo.settings import GeneratorSettings


@pytest.fixture(scope="module")
def splits() -> tuple[pd.DataFrame, pd.DataFrame]:
    reference = generator.generate_reference(GeneratorSettings(reference_rows=2500))
    return split_reference(reference, LABEL, 0.2, seed=3)


@pytest.fixture(scope="module", params=modeling.MODEL_TYPES)
def trained(request, splits) -> tuple[str, object]:
    train, _ = splits
    return request.param, modeling.train_model(request.param, train, FEATURES, LABEL, seed=3)


def odd_rows(test: pd.DataFrame) -> pd.DataFrame:
    """Rows with missing values everywhere they can be and categories never seen in training."""
    rows = test.head(6).copy()
    rows["city"] = "Atlantis"
    rows["browser_version"] = "netscape 4.0"
    rows.loc[rows.index[:3], "transaction_amount"] = np.nan
    rows["category"] = np.nan
    return rows


def test_probabilities_in_unit_interval(trained, splits) -> None:
    """Every test row gets a probability in [0, 1]."""
    _, model = trained
    probabilities = modeling.fraud_probabilities(model, splits[1][list(FEATURES)])
    assert probabilities.shape == (len(splits[1]),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_unseen_and_missing_values_predicted(trained, splits) -> None:
    """Unseen categories and missing values still give finite probabilities in [0, 1]."""
    _, model = trained
    probabilities = modeling.fraud_probabilities(model, odd_rows(splits[1]))
    assert np.isfinite(probabilities).all()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


def test_extra_columns_ignored(trained, splits) -> None:
    """Label and other non-feature columns do not change the predictions."""
    _, model = trained
    test = splits[1]
    with_extra = modeling.fraud_probabilities(model, test.assign(preds=0.3))
    features_only = modeling.fraud_probabilities(model, test[list(FEATURES)])
    np.testing.assert_allclose(with_extra, features_only)


def test_model_beats_chance(trained, splits) -> None:
    """Each model type ranks fraud above legitimate rows better than chance (AUC > 0.65)."""
    _, model = trained
    test = splits[1]
    metrics = modeling.evaluate(test[LABEL], modeling.fraud_probabilities(model, test))
    assert metrics["auc"] > 0.65


def test_evaluate_returns_all_metrics() -> None:
    """evaluate reports AUC, accuracy, precision, recall, F1 and log loss."""
    metrics = modeling.evaluate(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.6, 0.4]))
    assert tuple(metrics) == modeling.METRIC_NAMES


def test_evaluate_single_class_auc_is_nan() -> None:
    """AUC is undefined (NaN) when the labels hold one class."""
    metrics = modeling.evaluate(np.array([0, 0]), np.array([0.1, 0.2]))
    assert np.isnan(metrics["auc"])


def test_unknown_model_type_lists_valid_ones() -> None:
    """An unknown model type is rejected with the valid names."""
    with pytest.raises(modeling.ModelTypeError, match="sgd-classifier"):
        modeling.check_model_type("random-forest")


def test_catboost_params_keep_training_fast() -> None:
    """CatBoost trains with at most 200 iterations and two threads."""
    params = modeling.model_params("catboost-classifier", seed=1)
    assert params["iterations"] <= 200
    assert params["thread_count"] <= 2
