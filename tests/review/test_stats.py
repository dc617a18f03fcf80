"""Per-reviewer statistics (``review.stats.reviewer_stats``) against figures computed by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from hitl_triage.review.stats import reviewer_stats

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _row(answer_id: str, reviewer: str, task_id: int, item_id: str, kind: str, label: int | None, seconds: float,
         *, route: str = "review", retracted: bool = False, replaced_by: str | None = None) -> dict[str, object]:
    return {"answer_id": answer_id, "reviewer": reviewer, "task_id": task_id, "item_id": item_id, "route": route, "kind": kind, "label": label,
            "created_at": (T0 + timedelta(seconds=seconds)).isoformat(), "retracted_at": T0.isoformat() if retracted else None, "replaced_by": replaced_by}


ANSWERS = pl.DataFrame([
    _row("a1", "ann", 1, "i1", "label", 1, 0),
    _row("a2", "ann", 2, "i2", "label", 0, 20, retracted=True, replaced_by="a2b"),  # relabelled: not a new event
    _row("a2b", "ann", 2, "i2", "label", 1, 20),
    _row("a3", "ann", 3, "g1", "label", 2, 60, route="gold"),
    _row("a4", "ann", 4, "i4", "skip", None, 2000),  # after a 1940 s break
    _row("a5", "ann", 5, "i5", "label", 0, 2030, retracted=True),  # undone: an event, not a live answer
    _row("a6", "ann", 5, "i5", "flag", None, 2090),
    _row("b1", "bob", 1, "i1", "label", 1, 100),
    _row("b2", "bob", 2, "i2", "label", 0, 110),
    _row("b3", "bob", 3, "g1", "label", 0, 130, route="gold"),
    _row("c1", "carl", 6, "i6", "skip", None, 5),
])
GOLD = pl.DataFrame({"item_id": ["g1"], "label": [2]})
ADJUDICATED = pl.DataFrame({"task_id": [1, 2], "label": [0, 1]})


def test_figures_match_the_hand_computed_ones():
    ann, bob, carl = reviewer_stats(ANSWERS, gold=GOLD, adjudicated=ADJUDICATED)
    # ann: events at 0, 20, 60, 2000, 2030, 2090 → gaps 20, 40, (1940 a break), 30, 60
    assert (ann.reviewer, ann.n_answers, ann.n_labels, ann.n_skips, ann.n_flags) == ("ann", 5, 3, 1, 1)
    assert (ann.skip_rate, ann.flag_rate) == (0.2, 0.2)
    assert (ann.n_timed, ann.active_seconds, ann.median_seconds) == (4, 150.0, 35.0)
    assert ann.items_per_hour == pytest.approx(96.0)  # 4 answers in 150 s
    assert (ann.n_gold, ann.gold_accuracy) == (1, 1.0)
    assert (ann.n_adjudicated, ann.adjudicated_accuracy) == (2, 0.5)  # task 1 wrong, task 2 right (after the relabel)
    # bob: gaps 10 and 20
    assert (bob.n_timed, bob.active_seconds, bob.median_seconds, bob.items_per_hour) == (2, 30.0, 15.0, pytest.approx(240.0))
    assert (bob.gold_accuracy, bob.adjudicated_accuracy, bob.skip_rate) == (0.0, 0.0, 0.0)
    # ann [1, 1, 2] vs bob [1, 0, 0] on tasks 1-3: p_o = 1/3, p_e = 2/3 * 1/3 = 2/9, kappa = (1/9) / (7/9)
    (peer,) = ann.peers
    assert (peer.other, peer.n, peer.percent) == ("bob", 3, pytest.approx(1 / 3))
    assert peer.kappa == pytest.approx(1 / 7)
    assert bob.peers[0].other == "ann" and bob.peers[0].kappa == pytest.approx(1 / 7)
    # carl: one skip, nothing timed, nothing to measure against
    assert (carl.n_answers, carl.skip_rate, carl.flag_rate, carl.n_timed) == (1, 1.0, 0.0, 0)
    assert carl.items_per_hour is None and carl.median_seconds is None
    assert carl.gold_accuracy is None and carl.adjudicated_accuracy is None and carl.peers == []


def test_idle_cutoff_decides_which_gaps_count():
    ann = reviewer_stats(ANSWERS, gold=GOLD, adjudicated=ADJUDICATED, idle_seconds=30)[0]
    assert (ann.n_timed, ann.active_seconds, ann.median_seconds) == (2, 50.0, 25.0)  # 20 and 30


def test_undefined_kappa_is_nan_not_an_error():
    same = pl.DataFrame([_row("x1", "ann", 1, "i1", "label", 1, 0), _row("y1", "bob", 1, "i1", "label", 1, 5)])
    ann = reviewer_stats(same, gold=GOLD, adjudicated=ADJUDICATED)[0]
    assert ann.peers[0].percent == 1.0 and math.isnan(ann.peers[0].kappa)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="idle_seconds must be > 0, got 0"):
        reviewer_stats(ANSWERS, gold=GOLD, adjudicated=ADJUDICATED, idle_seconds=0)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['replaced_by'\]"):
        reviewer_stats(ANSWERS.drop("replaced_by"), gold=GOLD, adjudicated=ADJUDICATED)
