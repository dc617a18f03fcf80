"""Confidence: CROWDLAB posterior, review value, strong-source disputes, the end model."""

from __future__ import annotations

import numpy as np
import pytest
from cleanlab.multiannotator import get_label_quality_multiannotator
from hypothesis import given, settings
from hypothesis import strategies as st

from hitl_triage.confidence import (
    annotator_matrix,
    crowdlab_posterior,
    disputed_items,
    reasons,
    review_value,
    strong_sources,
)
from hitl_triage.endmodel import EndModelError, build_features, out_of_fold_probs
from hitl_triage.round_settings import ConfidenceConfig
from hitl_triage.triage import diverse_top


def _votes(n: int = 200, m: int = 5, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    L = np.where(rng.random((n, m)) < 0.8, y[:, None], rng.integers(0, k, (n, m)))
    L = np.where(rng.random((n, m)) < 0.6, L, -1).astype(np.int8)
    pred = np.full((n, k), 0.1)
    pred[np.arange(n), y] = 0.8
    return L, y, pred / pred.sum(axis=1, keepdims=True)


def test_posterior_reproduces_cleanlab_crowdlab() -> None:
    L, _, pred = _votes()
    A = annotator_matrix(L)
    post, model_weight, _, _ = crowdlab_posterior(A, pred, blind_cols=np.zeros(L.shape[1], bool))
    has = ~np.isnan(A).all(axis=1)
    ref = get_label_quality_multiannotator(A[has], pred[has], verbose=False)["label_quality"]
    labels = ref["consensus_label"].to_numpy()
    np.testing.assert_allclose(post[has][np.arange(has.sum()), labels], ref["consensus_quality_score"], atol=1e-9)
    assert model_weight is not None and model_weight > 0
    np.testing.assert_allclose(post[~has], pred[~has])


def test_blind_columns_leave_a_label_out_of_its_own_item() -> None:
    L, y, pred = _votes()
    human = np.full(len(y), np.nan)
    human[:50] = y[:50]  # a reviewer who is always right gets a large weight
    A = np.hstack([annotator_matrix(L), human[:, None]])
    seen, *_ = crowdlab_posterior(A, pred, blind_cols=np.zeros(A.shape[1], bool))
    blind, *_ = crowdlab_posterior(A, pred, blind_cols=np.r_[np.zeros(L.shape[1], bool), True])
    assert not np.allclose(seen[:50], blind[:50])
    np.testing.assert_allclose(seen[50:], blind[50:])


@settings(max_examples=25, deadline=None)
@given(st.integers(20, 80), st.integers(2, 6), st.integers(2, 4), st.integers(0, 10_000))
def test_posterior_rows_are_probabilities(n: int, m: int, k: int, seed: int) -> None:
    L, _, pred = _votes(n, m, k, seed)
    post, *_ = crowdlab_posterior(annotator_matrix(L), pred, blind_cols=np.zeros(m, bool))
    assert np.all(post >= 0)
    np.testing.assert_allclose(post.sum(axis=1), 1.0, atol=1e-9)
    value = review_value(annotator_matrix(L), post, order="activelab")
    assert value.shape == (n,) and np.all((value >= 0) & (value <= 1))


def test_margin_value_prefers_the_most_uncertain_item() -> None:
    probs = np.array([[0.99, 0.01], [0.55, 0.45], [0.8, 0.2]])
    value = review_value(np.empty((3, 0)), probs, order="margin")
    assert value.argmax() == 1 and value.argmin() == 0


def test_strong_sources_disagreeing_make_an_item_disputed() -> None:
    y = np.array([0, 0, 1, 1, -1, -1])
    L = np.array([[0, 0, 1], [0, 0, 1], [1, 1, 1], [1, 1, 0], [0, 1, -1], [1, 1, 0]], dtype=np.int8)
    strong = strong_sources(L, y, min_accuracy=0.9, min_labels=3)
    assert strong.tolist() == [True, True, False]
    assert disputed_items(L, strong).tolist() == [False, False, False, False, True, False]
    assert reasons(L, ["a", "b", "c"], np.array([0, 0, 1, 1, 0, 1]), np.array([4])) == [{"for": ["a"], "against": ["b"]}]


def test_end_model_is_out_of_fold() -> None:
    """A label that contradicts the text is not echoed back: the item's own fold never saw it."""
    texts = ["great song"] * 30 + ["free money click"] * 30
    y = np.array([0] * 30 + [1] * 30)
    y_flipped = y.copy()
    y_flipped[0] = 1
    settings_ = ConfidenceConfig(cv_folds=3, char_ngrams=None, vote_features=False)
    X = build_features(texts, np.empty((60, 0), np.int8), settings=settings_, n_classes=2)
    probs = out_of_fold_probs(X, y_flipped, np.ones(60), n_classes=2, settings=settings_, random_state=0)
    assert probs[0].argmax() == 0
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_end_model_needs_two_labels() -> None:
    X = build_features(["a b", "c d"], np.empty((2, 0), np.int8), settings=ConfidenceConfig(char_ngrams=None), n_classes=2)
    with pytest.raises(EndModelError, match="at least 2 labeled items, got 1"):
        out_of_fold_probs(X, np.array([0, -1]), np.ones(2), n_classes=2, settings=ConfidenceConfig(), random_state=0)


def test_spacy_features_without_vectors_is_a_clear_error() -> None:
    with pytest.raises(EndModelError, match="has no word vectors"):
        build_features(["a text"], np.empty((1, 0), np.int8), settings=ConfidenceConfig(features="spacy"),
                       n_classes=2, spacy_pipeline="blank:en")


def test_diverse_batch_skips_near_duplicates() -> None:
    texts = ["win free money now"] * 3 + ["click my channel link", "love this song"]
    X = build_features(texts, np.empty((5, 0), np.int8), settings=ConfidenceConfig(char_ngrams=None), n_classes=2)
    order = np.arange(5)
    assert diverse_top(order, X, 3, max_similarity=0.8).tolist() == [0, 3, 4]
    assert diverse_top(order, X, 4, max_similarity=0.8).tolist() == [0, 3, 4, 1]


def test_entity_markers_mark_both_entities_of_chemprot_records() -> None:
    from hitl_triage.devsets import load_devset
    from hitl_triage.endmodel import mark_entities

    assert mark_entities(["aspirin inhibits COX"], [[0, 7]], [[17, 20]]) == [
        "[E1] aspirin [/E1] inhibits [E2] COX [/E2]"]
    d = load_devset("chemprot")
    marked = mark_entities(d.texts[:200], d.extra["span1"][:200], d.extra["span2"][:200])
    for text, e1, e2 in zip(marked, d.extra["entity1"][:200], d.extra["entity2"][:200], strict=True):
        assert f"[E1] {e1} [/E1]" in text and f"[E2] {e2} [/E2]" in text
