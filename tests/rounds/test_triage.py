"""The threshold rule (exact binomial bound, fixed-sequence scan) and routing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from hitl_triage.triage import (
    ACCEPT,
    AUDIT,
    DEFER,
    HUMAN,
    REVIEW,
    calibrate_threshold,
    clopper_pearson_lower,
    clopper_pearson_upper,
    draw_audit,
    estimate_figures,
    min_audit_for,
    route_items,
)


@pytest.mark.parametrize(("errors", "n", "delta"), [(0, 45, 0.1), (1, 80, 0.1), (3, 50, 0.05), (10, 10, 0.1), (7, 200, 0.2)])
def test_clopper_pearson_matches_scipy_exact_one_sided_interval(errors: int, n: int, delta: float) -> None:
    ci = binomtest(errors, n, alternative="less").proportion_ci(confidence_level=1 - delta, method="exact")
    assert clopper_pearson_upper(errors, n, delta) == pytest.approx(ci.high, abs=1e-10)
    lo = binomtest(errors, n, alternative="greater").proportion_ci(confidence_level=1 - delta, method="exact")
    assert clopper_pearson_lower(errors, n, delta) == pytest.approx(lo.low, abs=1e-10)


def test_bound_with_no_data_is_one() -> None:
    assert clopper_pearson_upper(0, 0, 0.1) == 1.0


def test_min_audit_is_the_first_n_whose_zero_error_bound_passes() -> None:
    need = min_audit_for(0.05, 0.1)
    assert clopper_pearson_upper(0, need, 0.1) <= 0.05 < clopper_pearson_upper(0, need - 1, 0.1)


def test_too_few_audit_labels_accept_nothing_and_say_why() -> None:
    result = calibrate_threshold(np.linspace(0.5, 1, 20), np.ones(20, bool), alpha=0.05, delta=0.1)
    assert not result.accepts and math.isinf(result.threshold)
    assert "too few audit labels: 20" in result.reason and "45" in result.reason


def test_scan_stops_at_the_first_failing_threshold() -> None:
    scores = np.linspace(1.0, 0.0, 200)
    correct = np.ones(200, bool)
    correct[[120, 121, 122, 123, 124, 125, 126, 127, 128, 129]] = False  # errors start at rank 120
    result = calibrate_threshold(scores, correct, alpha=0.05, delta=0.1)
    assert result.accepts
    assert result.n_covered >= 120 and result.upper_bound <= 0.05
    covered = scores >= result.threshold
    assert covered.sum() == result.n_covered
    assert clopper_pearson_upper(int((~correct[covered]).sum()), int(covered.sum()), 0.1) <= 0.05


def test_strict_failure_blocks_looser_thresholds() -> None:
    """Fixed sequence: an early failure is final even if a looser threshold would pass."""
    scores = np.linspace(1.0, 0.0, 400)
    correct = np.ones(400, bool)
    correct[:3] = False  # three errors at the very top
    result = calibrate_threshold(scores, correct, alpha=0.05, delta=0.1)
    assert not result.accepts
    assert "strictest testable threshold" in result.reason


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=0, max_size=150), st.data())
def test_threshold_is_monotone_in_the_labels(items: list[tuple[float, bool]], data: st.DataObject) -> None:
    """Turning a wrong audit answer right never makes the threshold stricter."""
    scores = np.array([s for s, _ in items], dtype=float)
    correct = np.array([c for _, c in items], dtype=bool)
    before = calibrate_threshold(scores, correct, alpha=0.1, delta=0.1)
    if (~correct).any():
        flip = data.draw(st.sampled_from(np.flatnonzero(~correct).tolist()))
        better = correct.copy()
        better[flip] = True
        after = calibrate_threshold(scores, better, alpha=0.1, delta=0.1)
        assert after.threshold <= before.threshold


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100), st.integers(1, 100), st.floats(0.01, 0.5))
def test_upper_bound_is_monotone(errors: int, extra: int, delta: float) -> None:
    n = errors + extra
    assert clopper_pearson_upper(errors, n, delta) <= clopper_pearson_upper(min(errors + 1, n), n, delta) + 1e-12
    assert clopper_pearson_upper(errors, n, delta) >= errors / n


def test_draw_audit_is_uniform_among_unlabeled() -> None:
    unlabeled = np.ones(1000, bool)
    unlabeled[:500] = False
    rng = np.random.default_rng(0)
    audit = draw_audit(unlabeled, 100, rng=rng)
    assert audit.size == 100 and unlabeled[audit].all() and np.unique(audit).size == 100
    assert draw_audit(unlabeled, 10_000, rng=rng).size == 500


def _route(**overrides):  # type: ignore[no-untyped-def]
    n = 10
    args = dict(
        scores=np.array([0.99, 0.98, 0.97, 0.6, 0.55, 0.9, 0.95, 0.5, 0.51, 0.99]),
        value=np.array([0.0, 0.1, 0.2, 0.8, 0.9, 0.3, 0.4, 1.0, 0.95, 0.0]),
        disputed=np.zeros(n, bool), known=np.zeros(n, bool), audit=np.array([2]),
        threshold=0.9, review_budget=2,
    )
    args.update(overrides)
    return route_items(**args)


def test_routing_cuts_the_review_queue_to_the_budget_by_value() -> None:
    routing = _route()
    assert routing.route[2] == AUDIT
    assert set(np.flatnonzero(routing.route == REVIEW)) == {7, 8}
    assert (routing.route[[0, 1, 5, 6, 9]] == ACCEPT).all()
    assert (routing.route[[3, 4]] == DEFER).all()
    assert routing.n_review == 2 and routing.n_audit == 1


def test_disputed_items_are_never_accepted_and_known_items_never_routed() -> None:
    disputed = np.zeros(10, bool)
    disputed[0] = True
    known = np.zeros(10, bool)
    known[9] = True
    routing = _route(disputed=disputed, known=known, review_budget=0)
    assert routing.route[0] == DEFER and routing.route[9] == HUMAN
    assert routing.n_disputed == 1


def test_infinite_threshold_accepts_nothing_and_budget_above_candidates_reviews_accepted_ones() -> None:
    routing = _route(threshold=math.inf, review_budget=20)
    assert ACCEPT not in set(routing.route)
    routing = _route(review_budget=9)
    assert (routing.route == REVIEW).sum() == 9


def test_estimate_figures_reports_interval_and_trainset_estimate() -> None:
    rng = np.random.default_rng(1)
    n = 400
    guess = rng.integers(0, 2, n)
    known = np.full(n, -1)
    audit = np.arange(100)
    known[audit] = guess[audit]
    known[:3] = 1 - guess[:3]
    figures = estimate_figures(guess=guess, guess_score=np.linspace(1, 0.5, n), known=known,
                               audit_rows=audit, disputed=np.zeros(n, bool), alpha=0.05, delta=0.1)
    assert figures["audit_errors"] == 3 and figures["n_audit_labels"] == 100
    assert figures["threshold"] is None  # the three errors are the most confident items
    low = figures["est_trainset_accuracy_low"]
    assert low is not None and 0.25 < low < figures["est_trainset_accuracy"] <= 1.0


def test_a_later_scan_start_lets_one_top_error_through() -> None:
    scores = np.linspace(1.0, 0.0, 400)
    correct = np.ones(400, bool)
    correct[0] = False  # one confident error at the very top
    assert not calibrate_threshold(scores, correct, alpha=0.05, delta=0.1).accepts
    result = calibrate_threshold(scores, correct, alpha=0.05, delta=0.1, start_fraction=0.25)
    assert result.accepts and result.n_covered >= 100 and result.upper_bound <= 0.05
