"""Items with several fields and reviewer corrections in the review store, on SQLite and a real
PostgreSQL: the fields are stored with the item, a correction with the answer (the item keeps
its original text), and the resolved answers carry the correction."""

from __future__ import annotations

import json

import polars as pl
import pytest
from sqlalchemy import select

from hitl_triage.store import AnswerError, IntakeError
from hitl_triage.store.models import Answer, Item
from tests.store.support import items

FIELDS = {"instruction": "What is 2 + 2?", "response": "2 + 2 = **5**. <script>x()</script>"}


def _with_fields(n: int) -> pl.DataFrame:
    return items(n).with_columns(pl.lit(json.dumps(FIELDS)).alias("fields"))


def test_fields_are_stored_with_the_item_and_shown_in_order(make_store):
    store, _ = make_store()
    assert store.enqueue(_with_fields(2)) == 2
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    assert task is not None
    assert task.fields == FIELDS and list(task.fields) == ["instruction", "response"]
    assert task.text == "comment number 0"  # the text column is kept as it was


def test_items_without_fields_show_none(make_store):
    store, _ = make_store()
    store.enqueue(items(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    assert store.next_task(ann).fields == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("{not json", r"item 'c0000': fields is not valid JSON"),
        ('["a", "b"]', r"item 'c0000': fields must be a non-empty JSON object"),
        ('{"response": 3}', r"item 'c0000': field 'response' must be a string or null, got int"),
        (json.dumps({"response": "x" * 101}), r"item 'c0000': field 'response' has 101 characters, at most 100"),
    ],
)
def test_bad_fields_are_refused_naming_the_item(make_store, fields, message):
    store, _ = make_store(max_item_chars=100)
    with pytest.raises(IntakeError, match=message):
        store.enqueue(items(1).with_columns(pl.lit(fields).alias("fields")))
    assert store.pending_count() == 0  # nothing half-written


def test_correction_is_stored_with_the_answer_and_the_original_kept(make_store):
    store, _ = make_store(correction={"field": "text"})
    store.enqueue(_with_fields(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    result = store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1, correction="2 + 2 = 4.")
    assert result.created and result.correction == "2 + 2 = 4."
    retry = store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1, correction="2 + 2 = 4.")
    assert not retry.created and retry.correction == "2 + 2 = 4."
    with store.engine.connect() as conn:
        assert conn.execute(select(Answer.correction).where(Answer.id == "a-1")).scalar_one() == "2 + 2 = 4."
        item = conn.execute(select(Item.text, Item.fields).where(Item.id == "c0000")).one()
    assert item.text == "comment number 0" and json.loads(item.fields) == FIELDS  # original kept
    resolved = store.resolved_answers()
    assert resolved.select("id", "label", "reviewer", "correction").rows() == [("c0000", 1, "ann", "2 + 2 = 4.")]
    table = store.answers_table()
    assert table["correction"].to_list() == ["2 + 2 = 4."]


def test_an_edit_carries_its_own_correction_and_keeps_the_old_answer(make_store):
    store, _ = make_store(correction={"field": "text"})
    store.enqueue(_with_fields(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1, correction="first try")
    store.edit(ann, answer_id="a-1", new_answer_id="a-2", label=1, correction="second try")
    with store.engine.connect() as conn:
        rows = conn.execute(select(Answer.id, Answer.correction, Answer.retracted_at.is_(None)).order_by(Answer.id)).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [("a-1", "first try", False), ("a-2", "second try", True)]
    assert store.resolved_answers()["correction"].to_list() == ["second try"]


def test_corrections_are_refused_where_they_do_not_belong(make_store):
    plain, _ = make_store()
    plain.enqueue(items(1))
    ann = plain.reviewer(plain.add_reviewer("ann").reviewer.name)
    task = plain.next_task(ann)
    with pytest.raises(AnswerError, match=r"takes no corrections \(review.correction is not set\)"):
        plain.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=0, correction="x")
    store, _ = make_store(correction={"field": "text"}, max_item_chars=40)
    store.enqueue(items(1, start=1))  # a new item (on PostgreSQL both stores share one database)
    bob = store.reviewer(store.add_reviewer("bob").reviewer.name)
    task = store.next_task(bob)
    with pytest.raises(AnswerError, match=r"a correction goes with a label answer, got kind='skip'"):
        store.submit(bob, answer_id="b-1", task_id=task.task_id, kind="skip", correction="x")
    with pytest.raises(AnswerError, match=r"correction too long: 41 characters, at most 40"):
        store.submit(bob, answer_id="b-1", task_id=task.task_id, kind="label", label=0, correction="x" * 41)
    assert plain.resolved_answers().height == store.resolved_answers().height == 0


def test_a_relabel_keeps_the_correction_unless_told_otherwise(make_store):
    store, _ = make_store(correction={"field": "text"})
    store.enqueue(_with_fields(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1, correction="fixed text")
    assert store.edit(ann, answer_id="a-1", new_answer_id="a-2", label=0).correction == "fixed text"
    assert store.edit(ann, answer_id="a-2", new_answer_id="a-3", label=0, keep_correction=False).correction is None
    assert store.resolved_answers()["correction"].to_list() == [None]
