"""Validation of items to enqueue, and the stop-gap queueing from ids or probs.parquet."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hitl_triage.store import IntakeError
from hitl_triage.store.intake import items_from_ids, items_from_probs, validate_items
from tests.store.support import items


def _with(**columns) -> pl.DataFrame:
    return items(1).with_columns(**{k: pl.lit(v) for k, v in columns.items()})


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (items(1).drop("route"), r"lack column\(s\) \['route'\]"),
        (pl.concat([items(1), items(1)]), r"repeat \(id, round\)"),
        (_with(route="accept"), r"route must be one of \['review', 'audit'\], got 'accept'"),
        (_with(round=-2), "round must be an integer >= 0, got -2"),
        (_with(suggested=7), r"suggested must be a class index in \[0, 3\) or null, got 7"),
        (_with(confidence=1.5), r"confidence must be in \[0, 1\] or null, got 1.5"),
        (_with(votes="{oops"), "votes is not valid JSON"),
        (_with(votes="[1, 2]"), "votes must be a JSON object"),
        (_with(votes='{"lf": 9}'), r"vote of 'lf' must be a class index in \[0, 3\), -1 or null, got 9"),
        (_with(id=""), "item id must be a non-empty string"),
    ],
)
def test_bad_items_name_the_row(frame: pl.DataFrame, message: str):
    with pytest.raises(IntakeError, match=message):
        validate_items(frame, n_classes=3)


def test_minimal_items_and_abstains():
    rows = validate_items(
        pl.DataFrame({"id": ["a"], "route": ["audit"], "round": [2], "votes": ['{"lf": -1, "j": 2}']}), n_classes=3
    )
    assert rows[0]["votes"] == '{"j": 2, "lf": null}' and rows[0]["text"] is None and rows[0]["priority"] == 0.0


def test_queue_from_probs_takes_the_least_confident(tmp_path: Path):
    texts = pl.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    pl.DataFrame({"id": ["a", "b", "c"], "p_ham": [0.9, 0.45, 0.7], "p_spam": [0.1, 0.55, 0.3]}).write_parquet(tmp_path / "probs.parquet")
    frame = items_from_probs(tmp_path, texts, ["ham", "spam"], n=2, round=3)
    assert frame.select("id", "suggested", "route", "round").rows() == [("b", 1, "review", 3), ("c", 0, "review", 3)]
    validate_items(frame, n_classes=2)
    with pytest.raises(IntakeError, match=r"missing column\(s\) \['p_other'\]"):
        items_from_probs(tmp_path, texts, ["ham", "other"], n=2, round=0)
    with pytest.raises(IntakeError, match="run `hitl-triage label CONFIG` first"):
        items_from_probs(tmp_path / "nowhere", texts, ["ham"], n=2, round=0)


def test_queue_from_ids(tmp_path: Path):
    texts = pl.DataFrame({"id": ["a", "b"], "text": ["x", None]})
    (tmp_path / "ids.txt").write_text("b\n\na\nb\n")
    frame = items_from_ids(tmp_path / "ids.txt", texts, round=1)
    assert frame.select("id", "text").rows() == [("b", None), ("a", "x")]
    (tmp_path / "bad.txt").write_text("a\nzz\n")
    with pytest.raises(IntakeError, match=r"1 id\(s\) not in the dataset, e.g. \['zz'\]"):
        items_from_ids(tmp_path / "bad.txt", texts, round=1)
    with pytest.raises(IntakeError, match="ids file not found"):
        items_from_ids(tmp_path / "none.txt", texts, round=1)
