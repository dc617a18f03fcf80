import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hitl_triage.config import LabelModelConfig
from hitl_triage.errors import LabelModelError
from hitl_triage.labelmodel import (
    MajorityVoteModel,
    SnorkelLabelModel,
    choose_label_model,
    class_balance,
    fit_label_model_probs,
    make_label_model,
)


def _synthetic(n: int = 400, m: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    L = np.where(rng.random((n, m)) < 0.8, y[:, None], 1 - y[:, None])
    L[rng.random((n, m)) < 0.4] = -1
    return L.astype(np.int8), y


@settings(max_examples=40, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(1, 30), st.integers(1, 6)), elements=st.integers(-1, 2)))
def test_majority_probabilities_sum_to_one(L: np.ndarray) -> None:
    probs = MajorityVoteModel(n_classes=3).fit(L).predict_proba(L)
    assert probs.shape == (L.shape[0], 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    voted = (L != -1).any(axis=1)
    counts = np.stack([(L == c).sum(axis=1) for c in range(3)], axis=1)
    assert (counts[voted].max(axis=1) == counts[voted][np.arange(voted.sum()), probs[voted].argmax(axis=1)]).all()


def test_snorkel_model_learns_and_rows_sum_to_one() -> None:
    L, y = _synthetic()
    probs = SnorkelLabelModel(n_classes=2, n_epochs=200).fit(L).predict_proba(L)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    covered = (L != -1).any(axis=1)
    assert (probs[covered].argmax(axis=1) == y[covered]).mean() > 0.85


def test_snorkel_fit_does_not_reseed_global_generators() -> None:
    L, _ = _synthetic()
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    SnorkelLabelModel(n_classes=2, n_epochs=20, random_state=7).fit(L)
    assert (random.random(), np.random.random()) == expected


def test_known_labels_set_class_balance_and_prior() -> None:
    known = np.array([0, 0, 0, 1, -1, -1])
    np.testing.assert_allclose(class_balance(known, 2), [4 / 6, 2 / 6])
    assert class_balance(np.full(3, -1), 2) is None
    L = np.full((6, 3), -1, dtype=np.int8)
    probs = MajorityVoteModel(n_classes=2).fit(L, y_known=known).predict_proba(L)
    np.testing.assert_allclose(probs[0], [4 / 6, 2 / 6])


def test_snorkel_needs_three_sources() -> None:
    with pytest.raises(LabelModelError, match=r"needs at least 3 sources, got 2; .*label_model\.kind: majority"):
        SnorkelLabelModel(n_classes=2).fit(np.zeros((5, 2), dtype=np.int8))


def test_invalid_votes_are_rejected() -> None:
    model = MajorityVoteModel(n_classes=2)
    with pytest.raises(LabelModelError, match=r"L\[1, 0\] = 2 is outside \{-1, 0, \.\.\., 1\}"):
        model.fit(np.array([[0], [2]]))
    with pytest.raises(LabelModelError, match=r"2-D \(n_items, n_sources\) array, got shape \(3,\)"):
        model.fit(np.array([0, 1, 0]))
    with pytest.raises(LabelModelError, match=r"must hold integers, got dtype float64"):
        model.fit(np.array([[0.5]]))
    with pytest.raises(LabelModelError, match=r"predict_proba called before fit"):
        SnorkelLabelModel(n_classes=2).predict_proba(np.zeros((2, 3), dtype=np.int8))


def test_factory_follows_config() -> None:
    assert isinstance(make_label_model(LabelModelConfig(kind="majority"), n_classes=2), MajorityVoteModel)
    model = make_label_model(LabelModelConfig(kind="snorkel", n_epochs=10), n_classes=3, random_state=4)
    assert isinstance(model, SnorkelLabelModel) and model.n_epochs == 10 and model.random_state == 4


def test_round_loop_label_model_runs_on_any_task() -> None:
    from hitl_triage.labelmodel import fit_label_model_probs

    settings = LabelModelConfig(kind="snorkel")
    none = fit_label_model_probs(settings, np.empty((4, 0), dtype=np.int8), n_classes=3)
    np.testing.assert_allclose(none, 1 / 3)
    L = np.array([[0, 0], [1, -1], [-1, -1]], dtype=np.int8)
    two = fit_label_model_probs(settings, L, n_classes=2)  # snorkel cannot fit 2: majority vote
    np.testing.assert_allclose(two, MajorityVoteModel(n_classes=2).fit(L).predict_proba(L))


def _votes(rng: np.random.Generator, n: int, accuracies: list[float], coverage: float = 0.7):
    """``(n, m)`` binary votes of LFs with the given accuracies, and the truth."""
    truth = rng.integers(0, 2, size=n)
    acc = np.asarray(accuracies)[None, :]
    right = rng.random((n, acc.size)) < acc
    votes = np.where(right, truth[:, None], 1 - truth[:, None])
    return np.where(rng.random(votes.shape) < coverage, votes, -1).astype(np.int8), truth


def test_auto_chooses_dawid_skene_only_when_the_known_labels_show_it_wins() -> None:
    """Two accurate LFs outvoted by five near-random ones: Dawid-Skene learns the accuracies and
    beats majority vote; auto takes it once enough known labels show it, majority before."""
    rng = np.random.default_rng(0)
    L, truth = _votes(rng, 3000, [0.95, 0.93, 0.55, 0.55, 0.52, 0.55, 0.53])
    settings = LabelModelConfig(kind="auto")
    mv = fit_label_model_probs(LabelModelConfig(kind="majority"), L, n_classes=2)
    ds = fit_label_model_probs(LabelModelConfig(kind="dawid_skene"), L, n_classes=2)
    assert (ds.argmax(1) == truth).mean() > (mv.argmax(1) == truth).mean() + 0.05

    known = np.full(truth.size, -1)
    rows = rng.choice(truth.size, size=150, replace=False)
    known[rows] = truth[rows]
    probs, kind, reason = choose_label_model(settings, L, n_classes=2, y_known=known)
    assert kind == "dawid_skene" and "dawid_skene must beat majority" in reason
    assert (probs.argmax(1) == truth).mean() == pytest.approx((ds.argmax(1) == truth).mean(), abs=0.01)
    np.testing.assert_allclose(fit_label_model_probs(settings, L, n_classes=2, y_known=known), probs)

    few = np.full(truth.size, -1)
    few[rows[:10]] = truth[rows[:10]]
    _, kind, reason = choose_label_model(settings, L, n_classes=2, y_known=few)
    assert kind == "majority" and "10 known labels < 20" in reason


def test_auto_keeps_majority_when_the_models_agree() -> None:
    """Five equally accurate LFs voting on every item: no ties, the same labels either way."""
    rng = np.random.default_rng(1)
    L, truth = _votes(rng, 2000, [0.8] * 5, coverage=1.0)
    known = np.where(rng.random(truth.size) < 0.05, truth, -1)
    _, kind, _ = choose_label_model(LabelModelConfig(kind="auto"), L, n_classes=2, y_known=known)
    assert kind == "majority"


def test_label_stage_reports_the_model_auto_chose(task_config: Path) -> None:
    from hitl_triage.config import load_config
    from hitl_triage.pipeline import run_apply, run_label

    config = load_config(task_config)
    config = config.model_copy(update={"label_model": LabelModelConfig(kind="auto")})
    run_apply(config)
    result = run_label(config)
    assert result.model == "auto: majority"  # no human label yet: the documented default
