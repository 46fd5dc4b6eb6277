"""DATA_CLEANLINESS stress tests: missing values, duplicate rows and unseen categories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rime_airflow_demo.rime.local.binning import is_numeric
from rime_airflow_demo.rime.local.outcomes import Outcomes
from rime_airflow_demo.rime.local.thresholds import Thresholds, grade
from rime_airflow_demo.rime.protocol import TestCategory, TestResult

if TYPE_CHECKING:
    import pandas as pd

MISSING_RATE = "Missing Value Rate"
DUPLICATE_ROWS = "Duplicate Rows"
UNSEEN_CATEGORIES = "Unseen Categories"
MAX_LISTED_VALUES = 5


def cleanliness_tests(
    reference: pd.DataFrame,
    evaluation: pd.DataFrame,
    features: list[str],
    thresholds: Thresholds,
) -> Outcomes:
    """Grade each feature's missing rate and unseen categories, and the duplicated rows."""
    outcomes = Outcomes.empty()
    for feature in features:
        outcomes.tests.append(_missing_rate(reference[feature], evaluation[feature], thresholds))
    outcomes.tests.append(_duplicates(evaluation[features], thresholds))
    for feature in features:
        if not is_numeric(reference[feature]):
            outcomes.tests.append(
                _unseen_categories(reference[feature], evaluation[feature], thresholds)
            )
    return outcomes


def _missing_rate(
    reference: pd.Series, evaluation: pd.Series, thresholds: Thresholds
) -> TestResult:
    reference_rate = float(reference.isna().mean())
    evaluation_rate = float(evaluation.isna().mean())
    rise = evaluation_rate - reference_rate
    return TestResult(
        test_name=MISSING_RATE,
        category=TestCategory.DATA_CLEANLINESS,
        features=(str(reference.name),),
        severity=grade(rise, thresholds.missing_rise_warning, thresholds.missing_rise_alert),
        metrics={
            "reference_rate": reference_rate,
            "evaluation_rate": evaluation_rate,
            "rise": rise,
        },
        description=(
            f"{evaluation_rate:.2%} of evaluation values of {reference.name!r} are missing, "
            f"against {reference_rate:.2%} in the reference (warning at a rise of "
            f"{thresholds.missing_rise_warning}, alert at {thresholds.missing_rise_alert})."
        ),
    )


def _duplicates(frame: pd.DataFrame, thresholds: Thresholds) -> TestResult:
    duplicated = int(frame.duplicated().sum())
    share = duplicated / len(frame) if len(frame) else 0.0
    return TestResult(
        test_name=DUPLICATE_ROWS,
        category=TestCategory.DATA_CLEANLINESS,
        features=(),
        severity=grade(share, thresholds.duplicate_warning, thresholds.duplicate_alert),
        metrics={"duplicate_rows": float(duplicated), "duplicate_share": share},
        description=(
            f"{duplicated} evaluation rows ({share:.2%}) repeat an earlier row's features "
            f"(warning at {thresholds.duplicate_warning}, alert at {thresholds.duplicate_alert})."
        ),
    )


def _unseen_categories(
    reference: pd.Series, evaluation: pd.Series, thresholds: Thresholds
) -> TestResult:
    known = reference.dropna().astype(str).unique()
    present = evaluation.dropna().astype(str)
    unseen = present[~present.isin(known)]
    share = len(unseen) / len(evaluation) if len(evaluation) else 0.0
    examples = sorted(str(value) for value in unseen.unique())[:MAX_LISTED_VALUES]
    return TestResult(
        test_name=UNSEEN_CATEGORIES,
        category=TestCategory.DATA_CLEANLINESS,
        features=(str(reference.name),),
        severity=grade(share, thresholds.unseen_warning, thresholds.unseen_alert),
        metrics={"unseen_share": share, "unseen_values": float(unseen.nunique())},
        description=(
            f"{share:.2%} of evaluation rows have a value of {reference.name!r} never seen in "
            f"the reference{', such as ' + repr(examples) if examples else ''} "
            f"(warning at {thresholds.unseen_warning}, alert at {thresholds.unseen_alert})."
        ),
    )
