"""Cohen's kappa and Krippendorff's alpha: known values and invariants."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from hitl_triage.review.agreement import agreement, cohen_kappa, krippendorff_alpha


def test_known_values():
    assert math.isclose(cohen_kappa(np.array([0, 1, 1]), np.array([0, 1, 0])), 0.4)
    assert cohen_kappa(np.array([0, 1]), np.array([0, 1])) == 1.0
    assert math.isnan(cohen_kappa(np.array([1, 1]), np.array([1, 1])))  # undefined
    assert math.isnan(cohen_kappa(np.array([1]), np.array([1])))
    # Krippendorff (2011) nominal example without missing values, 2 coders x 10 units: alpha = 0.095
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    frame = pl.DataFrame({"reviewer": ["a"] * 10 + ["b"] * 10, "unit": list(range(10)) * 2, "label": a + b})
    assert round(krippendorff_alpha(frame), 3) == 0.095


def test_agreement_table():
    frame = pl.DataFrame(
        {"reviewer": ["a", "b", "a", "b", "a", "b", "c"], "unit": [1, 1, 2, 2, 3, 3, 3], "label": [0, 0, 1, 1, 0, 1, 1]}
    )
    result = agreement(frame)
    assert [(p.a, p.b, p.n) for p in result.pairs] == [("a", "b", 3), ("a", "c", 1), ("b", "c", 1)]
    assert math.isclose(result.mean_kappa, 0.4) and result.n_units == 3 and result.n_reviewers == 3
    empty = agreement(pl.DataFrame({"reviewer": ["a"], "unit": [1], "label": [0]}))
    assert empty.pairs == [] and math.isnan(empty.alpha) and math.isnan(empty.mean_kappa)


labels = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=40)


@settings(max_examples=60, deadline=None)
@given(labels)
def test_kappa_is_symmetric_bounded_and_one_on_identity(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    k = cohen_kappa(a, b)
    assert (math.isnan(k) and math.isnan(cohen_kappa(b, a))) or math.isclose(k, cohen_kappa(b, a), abs_tol=1e-12)
    assert math.isnan(k) or -1.0 - 1e-9 <= k <= 1.0 + 1e-9
    same = cohen_kappa(a, a)
    assert math.isnan(same) or math.isclose(same, 1.0)
