"""The bounds of :mod:`hitl_triage.guarantee`: PPI++ against its definition and by Monte-Carlo,
per-class thresholds, and validity across rounds whose models change.

Synthetic scores only (no models): each test takes seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import norm

from hitl_triage.guarantee import (
    clopper_pearson_upper,
    per_class_thresholds,
    ppi_upper,
    scan_ppi,
)
from hitl_triage.triage import draw_audit

ALPHA, DELTA = 0.05, 0.1


def _slack(trials: int) -> float:
    return DELTA * trials + 3 * math.sqrt(DELTA * (1 - DELTA) * trials)


def test_ppi_with_lambda_zero_is_the_audit_mean_with_a_normal_bound() -> None:
    wrong = np.array([0, 1, 0, 0, 1, 0, 0, 0], dtype=float)
    est = ppi_upper(wrong, np.full(8, 0.3), np.full(100, 0.9), delta=0.1, lam=0.0)
    assert est.estimate == pytest.approx(wrong.mean())
    assert est.upper == pytest.approx(wrong.mean() + norm.ppf(0.9) * wrong.std(ddof=1) / math.sqrt(8))


def test_ppi_with_exact_predictions_estimates_the_pool_mean() -> None:
    rng = np.random.default_rng(0)
    pool = rng.random(500) * 0.2
    rows = rng.choice(500, size=50, replace=False)
    wrong = pool[rows]  # the "truth" equals the prediction: the residuals vanish
    est = ppi_upper(wrong, pool[rows], pool, delta=0.1, lam=1.0)
    assert est.estimate == pytest.approx(pool.mean())


def test_the_vectorized_scan_matches_ppi_upper_at_its_threshold() -> None:
    rng = np.random.default_rng(1)
    scores = rng.beta(5, 1, size=3000)
    wrong = rng.random(3000) < 0.6 * (1 - scores) ** 1.5
    rows = rng.choice(3000, size=300, replace=False)
    t, covered, upper = scan_ppi(scores[rows], wrong[rows], scores, alpha=ALPHA, delta=DELTA, min_audit=10)
    assert math.isfinite(t) and covered >= 10
    above = scores[rows] >= t
    assert above.sum() == covered
    direct = ppi_upper(wrong[rows][above], 1 - scores[rows][above], 1 - scores[scores >= t], delta=DELTA)
    assert upper == pytest.approx(direct.upper)
    assert upper <= ALPHA


def _ppi_violations(n_audit: int, trials: int) -> tuple[int, int]:
    rng = np.random.default_rng(n_audit)
    bad = accepted = 0
    for _ in range(trials):
        scores = rng.beta(5.0, 1.0, size=4000)
        wrong = rng.random(4000) < 1.0 - scores  # calibrated scores
        rows = rng.choice(4000, size=n_audit, replace=False)
        t, _, _ = scan_ppi(scores[rows], wrong[rows], scores, alpha=ALPHA, delta=DELTA, min_audit=10,
                           start_fraction=0.2)
        if math.isfinite(t):
            accepted += 1
            bad += wrong[scores >= t].mean() > ALPHA
    return bad, accepted


def test_ppi_is_valid_with_hundreds_of_audit_labels() -> None:
    bad, accepted = _ppi_violations(400, 300)
    assert accepted > 100
    assert bad <= _slack(300), bad


def test_ppi_under_covers_with_fifty_audit_labels_which_is_why_the_default_is_exact() -> None:
    """The measured reason the threshold keeps Clopper-Pearson at these sample sizes."""
    bad, _ = _ppi_violations(50, 300)
    assert bad > _slack(300), bad


def test_per_class_thresholds_keep_every_class_within_alpha() -> None:
    """Two classes of very different difficulty: one threshold per class, delta split. Every
    class's accepted error is <= alpha in >= 1 - delta of the trials (a stronger promise than
    the single threshold's, which bounds only the mix)."""
    rng = np.random.default_rng(7)
    trials, bad, accepted = 300, 0, 0
    for _ in range(trials):
        n = 6000
        guess = rng.integers(0, 2, size=n)
        scores = rng.beta(6.0, 1.0, size=n)
        hardness = np.where(guess == 0, 0.3, 2.5)  # class 1 is much harder at the same score
        wrong = rng.random(n) < np.clip(hardness * (1 - scores) ** 1.5, 0, 1)
        rows = draw_audit(np.ones(n, bool), 400, rng=rng)
        th = per_class_thresholds(scores[rows], ~wrong[rows], guess[rows], 2, alpha=ALPHA, delta=DELTA,
                                  start_fraction=0.2)
        accept = scores >= th[guess]
        accepted += bool(accept.any())
        bad += any(wrong[accept & (guess == c)].mean() > ALPHA for c in range(2) if (accept & (guess == c)).any())
    assert accepted > trials / 2
    assert bad <= _slack(trials), bad


def test_exact_bound_reference_value() -> None:
    assert clopper_pearson_upper(0, 45, 0.1) == pytest.approx(0.0499, abs=1e-4)


def test_the_engine_routes_and_labels_with_per_class_thresholds() -> None:
    from hitl_triage.engine import RoundEngine
    from hitl_triage.round_settings import TriageConfig

    rng = np.random.default_rng(3)
    n, m = 3000, 8
    truth = rng.integers(0, 2, size=n)
    acc = np.where(truth[:, None] == 0, 0.95, 0.75)  # class 1 is the harder one
    votes = np.where(rng.random((n, m)) < acc, truth[:, None], 1 - truth[:, None])
    L = np.where(rng.random((n, m)) < 0.6, votes, -1).astype(np.int8)
    engine = RoundEngine(["a", "b"], triage=TriageConfig(per_class_thresholds=True, audit_fraction=0.6))
    X = sp.csr_matrix(np.hstack([rng.random((n, 10)), (truth[:, None] == np.arange(2)) * rng.random((n, 2))]))
    final, results = engine.simulate(L, X, truth, budget=900, schedule=(0.5, 0.5))
    cuts = final.figures["class_thresholds"]
    assert len(cuts) == 2
    auto = final.source == "auto"
    for c, cut in enumerate(cuts):
        mine = auto & (final.label == c)
        if cut is None:
            assert not mine.any()
        else:
            assert (final.confidence[mine] >= cut).all()
    assert all("class_thresholds" in r.figures for r in results)
