import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hitl_triage.config import LabelModelConfig, parse_config
from hitl_triage.dawid_skene import DawidSkeneModel
from hitl_triage.errors import ConfigError, LabelModelError
from hitl_triage.labelmodel import (
    MajorityVoteModel,
    SnorkelLabelModel,
    class_balance,
    fit_label_model_probs,
    make_label_model,
)


def _synthetic(
    n: int = 20_000, m: int = 8, k: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sources with known accuracy; wrong votes uniform over the other classes."""
    rng = np.random.default_rng(seed)
    prior = np.linspace(2, 1, k) / np.linspace(2, 1, k).sum()
    y = rng.choice(k, size=n, p=prior)
    accuracy = rng.uniform(0.55, 0.9, m)
    coverage = rng.uniform(0.3, 0.9, m)
    L = np.full((n, m), -1, dtype=np.int8)
    for j in range(m):
        wrong = (y + rng.integers(1, k, n)) % k
        vote = np.where(rng.random(n) < accuracy[j], y, wrong)
        L[:, j] = np.where(rng.random(n) < coverage[j], vote, -1)
    return L, y, accuracy, prior


votes = st.integers(2, 4).flatmap(
    lambda k: st.tuples(
        st.just(k),
        arrays(np.int8, st.tuples(st.integers(0, 40), st.integers(0, 7)), elements=st.integers(-1, k - 1)),
    )
)


@settings(max_examples=60, deadline=None)
@given(votes)
def test_rows_are_probabilities(case: tuple[int, np.ndarray]) -> None:
    k, L = case
    model = DawidSkeneModel(n_classes=k).fit(L)
    probs = model.predict_proba(L)
    assert probs.shape == (L.shape[0], k) and probs.dtype == np.float64
    assert np.isfinite(probs).all() and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    np.testing.assert_allclose(model.confusions_.sum(axis=2), 1.0, atol=1e-9)
    np.testing.assert_allclose(model.class_prior_.sum(), 1.0)
    assert model.confusions_.shape == (L.shape[1], k, k + 1)
    np.testing.assert_array_equal(model.predict(L), probs.argmax(axis=1))


@settings(max_examples=40, deadline=None)
@given(votes, st.randoms(use_true_random=False))
def test_invariant_to_row_and_source_order(case: tuple[int, np.ndarray], rand) -> None:
    k, L = case
    rows = np.array(rand.sample(range(L.shape[0]), L.shape[0]), dtype=np.intp)
    cols = np.array(rand.sample(range(L.shape[1]), L.shape[1]), dtype=np.intp)
    probs = DawidSkeneModel(n_classes=k).fit(L).predict_proba(L)
    shuffled = L[rows][:, cols]
    again = DawidSkeneModel(n_classes=k).fit(shuffled).predict_proba(shuffled)
    np.testing.assert_allclose(again, probs[rows], atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(votes, st.randoms(use_true_random=False))
def test_renaming_classes_permutes_the_columns(case: tuple[int, np.ndarray], rand) -> None:
    k, L = case
    perm = np.array(rand.sample(range(k), k))
    renamed = np.where(L >= 0, perm[np.maximum(L, 0)], -1).astype(np.int8)
    probs = DawidSkeneModel(n_classes=k).fit(L).predict_proba(L)
    again = DawidSkeneModel(n_classes=k).fit(renamed).predict_proba(renamed)
    np.testing.assert_allclose(again[:, perm], probs, atol=1e-4)


def test_recovers_known_source_accuracies_and_class_prior() -> None:
    L, y, accuracy, prior = _synthetic()
    model = DawidSkeneModel(n_classes=3).fit(L)
    np.testing.assert_allclose(model.source_accuracy_, accuracy, atol=0.03)
    np.testing.assert_allclose(model.class_prior_, prior, atol=0.02)
    assert model.converged_ and model.n_iter_ < 20
    ours = (model.predict(L) == y).mean()
    majority = (MajorityVoteModel(n_classes=3).fit(L).predict_proba(L).argmax(axis=1) == y).mean()
    assert ours > majority + 0.005


def test_all_abstain_rows_get_the_class_prior() -> None:
    L, _, _, _ = _synthetic(n=3000)
    L[:50] = -1
    model = DawidSkeneModel(n_classes=3).fit(L)
    probs = model.predict_proba(L)
    np.testing.assert_allclose(probs[:50], np.tile(model.class_prior_, (50, 1)))
    no_sources = DawidSkeneModel(n_classes=3, class_prior="uniform").fit(np.empty((4, 0), dtype=np.int8))
    np.testing.assert_allclose(no_sources.predict_proba(np.empty((4, 0), dtype=np.int8)), 1 / 3)


def test_class_prior_from_known_labels() -> None:
    L, y, _, _ = _synthetic(n=4000)
    known = np.full(y.shape, -1)
    known[:200] = y[:200]
    fixed = DawidSkeneModel(n_classes=3, class_prior="known").fit(L, y_known=known)
    np.testing.assert_allclose(fixed.class_prior_, class_balance(known, 3))
    given_prior = DawidSkeneModel(n_classes=3, class_prior=[0.2, 0.3, 0.5]).fit(L)
    np.testing.assert_allclose(given_prior.class_prior_, [0.2, 0.3, 0.5])
    uniform = DawidSkeneModel(n_classes=3, class_prior="uniform").fit(L)
    np.testing.assert_allclose(uniform.class_prior_, 1 / 3)
    # no label known: "known" falls back to learning the prior
    learned = DawidSkeneModel(n_classes=3, class_prior="known").fit(L, y_known=np.full(y.shape, -1))
    np.testing.assert_allclose(learned.class_prior_, DawidSkeneModel(n_classes=3).fit(L).class_prior_)


def test_known_labels_anchor_em() -> None:
    # Two sources that always disagree: the votes alone cannot tell which one is right.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    L = np.stack([y, 1 - y, np.where(rng.random(2000) < 0.5, y, 1 - y)], axis=1).astype(np.int8)
    known = np.where(np.arange(2000) < 40, y, -1)
    model = DawidSkeneModel(n_classes=2).fit(L, y_known=known)
    assert model.source_accuracy_[0] > 0.95 and model.source_accuracy_[1] < 0.05
    assert (model.predict(L) == y).mean() > 0.99


def test_fit_on_a_sample_keeps_known_items_and_scores_every_item() -> None:
    L, y, accuracy, _ = _synthetic(n=30_000)
    known = np.where(np.arange(30_000) >= 29_990, y, -1)
    model = DawidSkeneModel(n_classes=3, max_fit_items=5000, random_state=3).fit(L, y_known=known)
    np.testing.assert_allclose(model.source_accuracy_, accuracy, atol=0.05)
    assert model.predict_proba(L).shape == (30_000, 3)
    again = DawidSkeneModel(n_classes=3, max_fit_items=5000, random_state=3).fit(L, y_known=known)
    np.testing.assert_array_equal(again.confusions_, model.confusions_)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_classes": 1}, r"n_classes must be an integer >= 2, got 1"),
        ({"n_iter": 0}, r"n_iter must be an integer >= 1, got 0"),
        ({"tol": -1.0}, r"tol must be a finite number >= 0, got -1\.0"),
        ({"smoothing": float("nan")}, r"smoothing must be a finite number >= 0, got nan"),
        ({"accuracy_prior": "high"}, r"accuracy_prior must be a finite number >= 0, got 'high'"),
        ({"max_fit_items": 0}, r"max_fit_items must be None or an integer >= 1, got 0"),
        ({"class_prior": "balanced"}, r"class_prior must be None, 'known', 'uniform' or 2 probabilities, got 'balanced'"),
        ({"class_prior": [0.5, 0.6]}, r"class_prior must be 2 non-negative probabilities summing to 1, got \[0\.5, 0\.6\]"),
        ({"class_prior": [1.0]}, r"class_prior must be 2 non-negative probabilities summing to 1, got \[1\.0\]"),
    ],
)
def test_invalid_parameters_are_rejected_when_fit_starts(params: dict, message: str) -> None:
    model = DawidSkeneModel(**{"n_classes": 2, **params})  # __init__ only stores
    with pytest.raises(LabelModelError, match=message):
        model.fit(np.zeros((3, 2), dtype=np.int8))


def test_invalid_votes_and_labels_are_rejected() -> None:
    model = DawidSkeneModel(n_classes=2)
    with pytest.raises(LabelModelError, match=r"L\[1, 0\] = 2 is outside \{-1, 0, \.\.\., 1\}"):
        model.fit(np.array([[0], [2]]))
    with pytest.raises(LabelModelError, match=r"must hold integers, got dtype float64"):
        model.fit(np.array([[0.5]]))
    L = np.zeros((3, 2), dtype=np.int8)
    with pytest.raises(LabelModelError, match=r"y_known must have shape \(n_items,\) = \(3,\) like L's rows, got shape \(2,\)"):
        model.fit(L, y_known=np.array([0, 1]))
    with pytest.raises(LabelModelError, match=r"y_known\[2\] = 5 is outside \{-1, 0, \.\.\., 1\}"):
        model.fit(L, y_known=np.array([0, -1, 5]))
    with pytest.raises(LabelModelError, match=r"y_known must hold integers, got dtype float64"):
        model.fit(L, y_known=np.array([0.0, 1.0, 0.0]))
    with pytest.raises(LabelModelError, match=r"DawidSkeneModel\.predict_proba called before fit"):
        model.predict_proba(L)
    model.fit(L)
    with pytest.raises(LabelModelError, match=r"L has 3 sources \(columns\), but the model was fitted on 2"):
        model.predict_proba(np.zeros((3, 3), dtype=np.int8))


def test_config_builds_it_and_the_round_loop_uses_it() -> None:
    settings = LabelModelConfig(kind="dawid_skene", smoothing=0.5, tol=1e-4, max_fit_items=1000)
    model = make_label_model(settings, n_classes=3, random_state=7)
    assert isinstance(model, DawidSkeneModel)
    assert (model.smoothing, model.tol, model.max_fit_items, model.random_state) == (0.5, 1e-4, 1000, 7)
    L, y, _, _ = _synthetic(n=2000)
    probs = fit_label_model_probs(settings, L, n_classes=3)
    assert (probs.argmax(axis=1) == y).mean() > 0.8
    two = fit_label_model_probs(settings, L[:, :2], n_classes=3)  # unlike snorkel, fits 2 sources
    np.testing.assert_allclose(two.sum(axis=1), 1.0)


def test_config_rejects_an_unknown_kind_listing_the_valid_ones() -> None:
    base = {"task": "t", "labels": [{"name": "a", "description": "A."}, {"name": "b", "description": "B."}], "dataset": {"path": "x.csv"}}
    config = parse_config({**base, "label_model": {"kind": "dawid_skene", "smoothing": 0.2}})
    assert config.label_model.smoothing == 0.2
    with pytest.raises(ConfigError, match=r"label_model\.kind: Input should be 'snorkel', 'majority', 'dawid_skene' or 'auto'"):
        parse_config({**base, "label_model": {"kind": "em"}}, source="c.yaml")
    with pytest.raises(ConfigError, match=r"label_model\.smoothing: Input should be greater than or equal to 0"):
        parse_config({**base, "label_model": {"smoothing": -1}}, source="c.yaml")


def test_snorkel_runs_on_one_torch_thread_and_restores_the_setting() -> None:
    import torch

    before = torch.get_num_threads()
    L, _, _, _ = _synthetic(n=500, k=2)
    SnorkelLabelModel(n_classes=2, n_epochs=5).fit(L).predict_proba(L)
    assert torch.get_num_threads() == before
