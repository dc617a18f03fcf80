"""The in-round judge as one source of the engine: its weight is learned from human labels.

Synthetic arrays (no server): three noisy LFs, weak text features, gold labels. A helpful
judge (right on 90 % of the items it was asked about) must raise the accuracy of the labels;
a judge answering at random must not lower it below the label model's.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from hitl_triage.combine import LOG_FLOOR_SCALE, judge_features
from hitl_triage.engine import EngineError, HumanLabels, RoundEngine

N, K = 600, 2


def _problem(seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, K, N)
    L = np.full((N, 3), -1, dtype=np.int8)
    for j, (acc, cov) in enumerate([(0.75, 0.6), (0.7, 0.5), (0.65, 0.7)]):
        on = rng.random(N) < cov
        right = rng.random(N) < acc
        L[on, j] = np.where(right[on], gold[on], 1 - gold[on])
    noise = rng.random((N, 40)) < 0.05
    signal = (rng.random((N, 4)) < 0.15) & (gold[:, None] == 1)
    X = sp.csr_matrix(np.hstack([noise, signal]).astype(np.float64))
    human = HumanLabels.empty(N)
    audit = rng.choice(N, 120, replace=False)
    human = human.add(audit, gold[audit], audited=True, round=0)
    return gold, L, X, human


def _judge(gold: np.ndarray, accuracy: float, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    asked = rng.random(N) < share
    vote = np.where(rng.random(N) < accuracy, gold, 1 - gold)
    sure = rng.uniform(0.6, 0.95, N)
    probs = np.where((vote == 1)[:, None], np.c_[1 - sure, sure], np.c_[sure, 1 - sure])
    probs[~asked] = np.nan
    return probs


def _accuracy(engine: RoundEngine, L, X, human, gold, judge_probs=None) -> tuple[float, str]:  # type: ignore[no-untyped-def]
    ev, figures = engine.evidence(L, X, human, judge_probs=judge_probs, random_state=0)
    unlabeled = ~human.known
    return float((ev.label[unlabeled] == gold[unlabeled]).mean()), figures["posterior"]


def test_a_helpful_judge_raises_accuracy_and_a_random_one_does_not_lower_it() -> None:
    gold, L, X, human = _problem()
    engine = RoundEngine(K)
    base, chosen = _accuracy(engine, L, X, human, gold)
    lm = engine.evidence(L, X, human)[0].label_model_probs.argmax(axis=1)
    unlabeled = ~human.known
    lm_acc = float((lm[unlabeled] == gold[unlabeled]).mean())
    helpful, chosen_h = _accuracy(engine, L, X, human, gold, _judge(gold, 0.9, 0.8, 1))
    assert chosen_h == "stacked_judge"
    assert helpful >= base + 0.08, (helpful, base)
    random_acc, chosen_r = _accuracy(engine, L, X, human, gold, _judge(gold, 0.5, 0.8, 2))
    assert chosen_r != "stacked_judge"
    assert random_acc >= max(lm_acc, base) - 0.005, (random_acc, lm_acc, base, chosen)


def test_judge_figures_count_the_items_asked() -> None:
    gold, L, X, human = _problem()
    probs = _judge(gold, 0.9, 0.5, 3)
    _, figures = RoundEngine(K).evidence(L, X, human, judge_probs=probs)
    assert figures["judge_answered"] == int((~np.isnan(probs).any(axis=1)).sum())
    _, figures = RoundEngine(K).evidence(L, X, human)
    assert figures["judge_answered"] == 0


def test_judge_features_zero_where_not_asked() -> None:
    Z = judge_features(np.array([[0.8, 0.2], [np.nan, np.nan]]))
    assert Z.shape == (2, 3)
    np.testing.assert_allclose(Z[0] / LOG_FLOOR_SCALE, [np.log(0.8), np.log(0.2), -1.0])
    assert Z[0, 2] < 0 and (Z[1] == 0).all()


def test_bad_judge_probs_are_refused() -> None:
    _, L, X, human = _problem()
    with pytest.raises(EngineError, match=r"judge_probs must have shape \(600, 2\)"):
        RoundEngine(K).evidence(L, X, human, judge_probs=np.zeros((5, 2)))
    bad = np.full((N, K), np.nan)
    bad[7] = [0.9, 0.9]
    with pytest.raises(EngineError, match="judge_probs row 7: expected probabilities"):
        RoundEngine(K).evidence(L, X, human, judge_probs=bad)
