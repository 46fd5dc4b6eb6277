"""The model-selection policy: a pure, order-independent choice."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rime_airflow_demo.selection import (
    Candidate,
    NoEligibleModelError,
    choose_best,
    count_alerts,
)

MODEL_TYPES = ("catboost-classifier", "sgd-classifier", "logistic-regression-classifier", "extra")

aucs = st.one_of(st.none(), st.just(math.nan), st.floats(0.0, 1.0))
candidate_lists = st.lists(
    st.builds(
        Candidate,
        model_type=st.sampled_from(MODEL_TYPES),
        stress_test_succeeded=st.booleans(),
        alerts=st.integers(0, 5),
        eval_auc=aucs,
    ),
    min_size=1,
    max_size=len(MODEL_TYPES),
    unique_by=lambda candidate: candidate.model_type,
)


@given(candidate_lists, st.randoms())
def test_choice_ignores_candidate_order(candidates: list[Candidate], rng) -> None:
    """Shuffling the candidates never changes the winner."""
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    try:
        expected = choose_best(candidates).winner
    except NoEligibleModelError:
        with pytest.raises(NoEligibleModelError):
            choose_best(shuffled)
        return
    assert choose_best(shuffled).winner == expected


@given(candidate_lists)
def test_choice_never_failed_stress_test(candidates: list[Candidate]) -> None:
    """The winner's stress test succeeded."""
    if not any(candidate.stress_test_succeeded for candidate in candidates):
        return
    assert choose_best(candidates).winner.stress_test_succeeded


@given(candidate_lists)
def test_winner_has_fewest_alerts(candidates: list[Candidate]) -> None:
    """No eligible candidate has fewer ALERTs than the winner."""
    eligible = [candidate for candidate in candidates if candidate.stress_test_succeeded]
    if not eligible:
        return
    winner = choose_best(candidates).winner
    assert winner.alerts == min(candidate.alerts for candidate in eligible)


@given(candidate_lists)
def test_ranking_lists_each_eligible_once(candidates: list[Candidate]) -> None:
    """The ranking lists every eligible model type once, winner first."""
    eligible = {c.model_type for c in candidates if c.stress_test_succeeded}
    if not eligible:
        return
    choice = choose_best(candidates)
    assert sorted(choice.ranking) == sorted(eligible)
    assert choice.ranking[0] == choice.winner.model_type


def test_all_failed_raises() -> None:
    """Without a successful stress test there is nothing to promote."""
    candidates = [Candidate("sgd-classifier", False), Candidate("catboost-classifier", False)]
    with pytest.raises(NoEligibleModelError, match="sgd-classifier"):
        choose_best(candidates)


def test_fewer_alerts_beat_higher_auc() -> None:
    """ALERT count ranks before AUC."""
    robust = Candidate("sgd-classifier", True, alerts=1, eval_auc=0.7)
    accurate = Candidate("catboost-classifier", True, alerts=3, eval_auc=0.9)
    assert choose_best([accurate, robust]).winner == robust


def test_higher_auc_breaks_alert_tie() -> None:
    """With equal ALERTs the higher evaluation AUC wins."""
    low = Candidate("catboost-classifier", True, alerts=2, eval_auc=0.8)
    high = Candidate("sgd-classifier", True, alerts=2, eval_auc=0.85)
    assert choose_best([low, high]).winner == high


def test_missing_auc_ranks_last() -> None:
    """A NaN or missing AUC loses to any real AUC."""
    nan_auc = Candidate("catboost-classifier", True, alerts=0, eval_auc=math.nan)
    no_auc = Candidate("logistic-regression-classifier", True, alerts=0, eval_auc=None)
    real = Candidate("sgd-classifier", True, alerts=0, eval_auc=0.1)
    assert choose_best([nan_auc, no_auc, real]).winner == real


def test_full_tie_goes_to_first_name() -> None:
    """A full tie is broken by model type name, alphabetically."""
    first = Candidate("catboost-classifier", True, alerts=0, eval_auc=0.8)
    second = Candidate("sgd-classifier", True, alerts=0, eval_auc=0.8)
    assert choose_best([second, first]).winner == first


def test_duplicate_model_types_rejected() -> None:
    """Each model type may appear once."""
    twice = [Candidate("sgd-classifier", True), Candidate("sgd-classifier", True)]
    with pytest.raises(ValueError, match="repeated"):
        choose_best(twice)


def test_reason_names_winner_and_policy() -> None:
    """The reason names the winner, its ALERTs and AUC."""
    winner = Candidate("sgd-classifier", True, alerts=1, eval_auc=0.8125)
    reason = choose_best([winner]).reason
    assert "sgd-classifier has 1 ALERT(s)" in reason
    assert "0.8125" in reason


def test_count_alerts_uses_ranked_categories() -> None:
    """Only MODEL_PERFORMANCE, SUBSET_PERFORMANCE and ABNORMAL_INPUTS ALERTs count."""
    counts = {
        "MODEL_PERFORMANCE": {"ALERT": 1, "WARNING": 4},
        "SUBSET_PERFORMANCE": {"ALERT": 2},
        "ABNORMAL_INPUTS": {"PASS": 3},
        "DRIFT": {"ALERT": 7},
    }
    assert count_alerts(counts) == 3
