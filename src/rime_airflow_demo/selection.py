"""Choose the model to promote from the stress test results of the candidates.

Policy, applied in order:

1. Exclude every candidate whose stress test did not finish (the job failed,
   timed out or its results were not logged).
2. Prefer the fewest ALERTs in the categories where the model decides the
   outcome: MODEL_PERFORMANCE, SUBSET_PERFORMANCE and ABNORMAL_INPUTS.
   DRIFT and DATA_CLEANLINESS are left out because every candidate is
   tested on the same reference and evaluation data.
3. Then prefer the highest AUC on the evaluation data; a missing or NaN AUC
   ranks last.
4. Break remaining ties by model type name, in alphabetical order.

``choose_best`` is a pure function: the same candidates in any order give
the same choice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RANKED_CATEGORIES = ("MODEL_PERFORMANCE", "SUBSET_PERFORMANCE", "ABNORMAL_INPUTS")
ALERT = "ALERT"


class NoEligibleModelError(ValueError):
    """No candidate finished its stress test, so no model can be promoted."""


@dataclass(frozen=True)
class Candidate:
    """One trained model and what its stress test found."""

    model_type: str
    stress_test_succeeded: bool
    alerts: int = 0
    eval_auc: float | None = None


@dataclass(frozen=True)
class Choice:
    """The chosen candidate, why it won, and the eligible model types best first."""

    winner: Candidate
    reason: str
    ranking: tuple[str, ...]


def count_alerts(category_severity_counts: Mapping[str, Mapping[str, int]]) -> int:
    """Return the ALERT count over ``RANKED_CATEGORIES`` of a stress test."""
    return sum(
        int(category_severity_counts.get(category, {}).get(ALERT, 0))
        for category in RANKED_CATEGORIES
    )


def choose_best(candidates: Iterable[Candidate]) -> Choice:
    """Return the candidate the module's policy prefers.

    Raises ``NoEligibleModelError`` when no stress test succeeded and
    ``ValueError`` when two candidates share a model type.
    """
    pool = list(candidates)
    types = [candidate.model_type for candidate in pool]
    duplicates = sorted({name for name in types if types.count(name) > 1})
    if duplicates:
        raise ValueError(f"Each model type may appear once; repeated: {duplicates}.")
    eligible = sorted(
        (candidate for candidate in pool if candidate.stress_test_succeeded), key=_rank
    )
    if not eligible:
        raise NoEligibleModelError(
            f"No model can be promoted: the stress tests of {sorted(types)} did not succeed. "
            "Check the run_stress_test tasks' logs."
        )
    winner = eligible[0]
    return Choice(
        winner=winner,
        reason=_reason(winner, eligible),
        ranking=tuple(candidate.model_type for candidate in eligible),
    )


def _rank(candidate: Candidate) -> tuple[int, float, str]:
    """Return the sort key: fewer alerts, then higher AUC, then model type name."""
    auc = candidate.eval_auc
    auc_key = math.inf if auc is None or math.isnan(auc) else -auc
    return (candidate.alerts, auc_key, candidate.model_type)


def _reason(winner: Candidate, eligible: list[Candidate]) -> str:
    auc = "n/a" if winner.eval_auc is None else f"{winner.eval_auc:.4f}"
    return (
        f"{winner.model_type} has {winner.alerts} ALERT(s) in "
        f"{', '.join(RANKED_CATEGORIES)} and evaluation AUC {auc}, "
        f"best of {len(eligible)} model(s) whose stress test succeeded "
        "(fewest ALERTs, then highest AUC, then model type name)."
    )
