"""The review store on SQLite and a real PostgreSQL: schema, intake, answers, overlap, gold."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import func, select, update

from hitl_triage.store import (
    RESOLVED_SCHEMA,
    AnswerConflictError,
    AnswerError,
    IntakeError,
    PermissionDeniedError,
    TaskNotFoundError,
)
from hitl_triage.store.db import current_revision, head_revision
from hitl_triage.store.models import Answer, Assignment, Base, utcnow
from tests.store.support import items


def test_schema_is_created_at_head_and_matches_the_models(make_store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    store, config = make_store()
    assert current_revision(store.engine) == head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Alembic cannot compare expression indexes (``priority DESC``); check that one by name.
    assert [d for d in diff if "ix_tasks_queue" not in repr(d)] == []
    from sqlalchemy import inspect

    assert "ix_tasks_queue" in {i["name"] for i in inspect(store.engine).get_indexes("tasks")}
    from hitl_triage.store import open_store

    open_store(config).close()  # reopening an up-to-date store is a no-op


def test_enqueue_is_idempotent_per_id_and_round(make_store):
    store, _ = make_store()
    assert store.enqueue(items(5)) == 5
    assert store.enqueue(items(5)) == 0
    assert store.enqueue(items(3, round=1)) == 3
    assert store.pending_count() == 8
    assert store.pending_count(0) == 5
    assert store.pending_count(1) == 3
    assert store.resolved_answers().schema == pl.Schema(RESOLVED_SCHEMA)
    assert store.resolved_answers().height == 0


def test_submit_is_idempotent_and_settles(make_store):
    store, _ = make_store()
    store.enqueue(items(3))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    assert task is not None and task.item_id == "c0000"  # highest priority first
    assert store.next_task(ann).task_id == task.task_id  # held until answered
    first = store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1)
    retry = store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1)
    assert first.created and not retry.created and retry.task_status == "settled"
    resolved = store.resolved_answers()
    assert resolved.select("id", "label", "reviewer", "round", "route").rows() == [("c0000", 1, "ann", 0, "review")]
    assert resolved["answered_at"][0].endswith("+00:00")
    from hitl_triage.answers import ANSWER_COLUMNS

    table = store.answers_table()
    assert table.schema == pl.Schema(ANSWER_COLUMNS) and table["origin"].to_list() == ["store"]
    n = store.read(lambda s: s.scalar(select(func.count(Answer.id))))
    assert n == 1
    assert store.pending_count() == 2


def test_conflicting_answers_are_refused(make_store):
    store, _ = make_store()
    store.enqueue(items(2))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    bob = store.reviewer(store.add_reviewer("bob").reviewer.name)
    task = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=0)
    with pytest.raises(AnswerConflictError, match="already has your answer"):
        store.submit(ann, answer_id="a-2", task_id=task.task_id, kind="label", label=1)
    with pytest.raises(AnswerConflictError, match="already used by another answer"):
        store.submit(bob, answer_id="a-1", task_id=task.task_id, kind="label", label=0)
    with pytest.raises(TaskNotFoundError, match="no task with id 999"):
        store.submit(bob, answer_id="b-1", task_id=999, kind="label", label=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "label", "label": 3}, r"class index in \[0, 3\), got 3"),
        ({"kind": "label", "label": None}, r"class index in \[0, 3\), got None"),
        ({"kind": "vote", "label": 1}, r"kind must be one of \['label', 'skip', 'flag'\], got 'vote'"),
        ({"kind": "skip", "label": 1}, "a skip answer carries no label"),
        ({"kind": "flag", "comment": "x" * 2001}, "comment too long: 2001 characters"),
        ({"kind": "label", "label": 0, "answer_id": "x" * 65}, "answer id must be 1-64 ASCII characters"),
    ],
)
def test_invalid_answers_are_refused(make_store, kwargs, message):
    store, _ = make_store()
    store.enqueue(items(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    args = {"answer_id": "a-1", "task_id": task.task_id, **kwargs}
    with pytest.raises(AnswerError, match=message):
        store.submit(ann, **args)


def test_undo_and_edit_keep_every_submission(make_store):
    store, _ = make_store()
    store.enqueue(items(3))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    with pytest.raises(AnswerError, match="nothing to undo: ann has no answers"):
        store.undo(ann)
    t1 = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=t1.task_id, kind="label", label=0)
    t2 = store.next_task(ann)
    store.submit(ann, answer_id="a-2", task_id=t2.task_id, kind="skip")
    assert store.undo(ann) == t2.task_id  # the latest answer
    assert store.undo(ann, "a-2") == t2.task_id  # a retried undo changes nothing
    assert store.next_task(ann).task_id == t2.task_id  # the undone item comes back first
    store.submit(ann, answer_id="a-3", task_id=t2.task_id, kind="label", label=2)
    edited = store.edit(ann, answer_id="a-1", new_answer_id="a-4", label=1)
    assert edited.created and edited.task_status == "settled"
    assert not store.edit(ann, answer_id="a-1", new_answer_id="a-4", label=1).created
    with pytest.raises(AnswerError, match="was undone or replaced; it cannot be edited"):
        store.edit(ann, answer_id="a-1", new_answer_id="a-5", label=2)
    with pytest.raises(AnswerError, match="was replaced by 'a-4'; undo that"):
        store.undo(ann, "a-1")
    with pytest.raises(AnswerError, match="no answer 'zzz' of yours"):
        store.undo(ann, "zzz")
    rows = store.read(lambda s: s.execute(select(Answer.id, Answer.retracted_at.is_not(None), Answer.replaced_by).order_by(Answer.id)).all())
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("a-1", True, "a-4"),
        ("a-2", True, None),
        ("a-3", False, None),
        ("a-4", False, None),
    ]
    resolved = dict(store.resolved_answers().select("id", "label").rows())
    assert resolved == {"c0000": 1, "c0001": 2}


def test_overlap_unanimous_dispute_and_adjudication(make_store):
    store, _ = make_store(overlap={"review": 2, "audit": 1})
    store.enqueue(items(2))
    store.enqueue(items(1, start=2, route="audit"))
    ann, bob, cat = (store.reviewer(store.add_reviewer(n).reviewer.name) for n in ("ann", "bob", "cat"))
    admin = store.reviewer(store.add_reviewer("boss", role="admin").reviewer.name)
    # ann and bob share the two review items; the audit item (k=1) goes to one of them.
    for who, labels in ((ann, [1, 0]), (bob, [1, 1])):
        for label in labels:
            task = store.next_task(who)
            store.submit(who, answer_id=f"{who.name}-{task.task_id}", task_id=task.task_id, kind="label", label=label)
    audit = store.next_task(cat)
    assert audit is not None and audit.item_id == "c0002"
    assert store.next_task(bob) is None  # nothing left with a free slot
    store.submit(cat, answer_id="cat-1", task_id=audit.task_id, kind="label", label=2)
    resolved = store.resolved_answers()
    assert sorted(resolved.select("id", "label", "reviewer", "route").rows()) == [
        ("c0000", 1, "ann,bob", "review"),
        ("c0002", 2, "cat", "audit"),
    ]
    assert store.pending_count() == 1  # c0001 is disputed
    disputed = store.read(lambda s: s.execute(select(Answer.task_id).where(Answer.id == "bob-2")).scalar())
    with pytest.raises(PermissionDeniedError, match="ann is not an admin; only admins adjudicate"):
        store.adjudicate(ann, task_id=disputed, label=0)
    store.adjudicate(admin, task_id=disputed, label=0, comment="rule 2")
    assert ("c0001", 0, "adjudicated") in store.resolved_answers().select("id", "label", "reviewer").rows()
    assert store.pending_count() == 0
    with pytest.raises(TaskNotFoundError, match="no adjudicable task with id 999"):
        store.adjudicate(admin, task_id=999, label=0)


def test_majority_settles_with_three(make_store):
    store, _ = make_store(overlap={"review": 3}, settle="majority")
    store.enqueue(items(1))
    people = [store.reviewer(store.add_reviewer(n).reviewer.name) for n in ("ann", "bob", "cat")]
    for who, label in zip(people, [2, 2, 0], strict=True):
        task = store.next_task(who)
        store.submit(who, answer_id=f"{who.name}-1", task_id=task.task_id, kind="label", label=label)
    assert store.resolved_answers().select("label", "reviewer").rows() == [(2, "ann,bob")]


def test_skips_and_flags_are_not_answers_and_free_the_slot(make_store):
    store, _ = make_store()
    store.enqueue(items(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    bob = store.reviewer(store.add_reviewer("bob").reviewer.name)
    task = store.next_task(ann)
    assert store.next_task(bob) is None  # single overlap: held by ann
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="flag", comment="unreadable")
    assert store.resolved_answers().height == 0
    assert store.next_task(ann) is None  # ann is done with it
    assert store.next_task(bob).task_id == task.task_id


def test_expired_claims_return_to_the_pool(make_store):
    store, _ = make_store()
    store.enqueue(items(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    bob = store.reviewer(store.add_reviewer("bob").reviewer.name)
    task = store.next_task(ann)
    store.write(lambda s: s.execute(update(Assignment).values(expires_at=utcnow().replace(year=2000))))
    assert store.next_task(bob).task_id == task.task_id
    assert store.next_task(ann) is None  # bob holds it now; ann's claim was released
    # ann's late answer is refused with the reason: the task is bob's now
    with pytest.raises(PermissionDeniedError, match="expired and another reviewer took the task"):
        store.submit(ann, answer_id="late", task_id=task.task_id, kind="label", label=0)


def test_gold_items_are_mixed_in_and_scored(make_store):
    store, _ = make_store(gold_rate=0.5)
    store.enqueue(items(10))
    admin = store.reviewer(store.add_reviewer("boss", role="admin").reviewer.name)
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    with pytest.raises(PermissionDeniedError, match="only admins add gold items"):
        store.add_gold(ann, item_id="c0001", label=1)
    with pytest.raises(IntakeError, match="gold item 'g-new' is not in the store; give its text"):
        store.add_gold(admin, item_id="g-new", label=1)
    store.add_gold(admin, item_id="g-new", label=1, text="free iphone at my channel")
    store.add_gold(admin, item_id="c0005", label=0)
    seen = []
    while (task := store.next_task(ann)) is not None:
        seen.append(task.item_id)
        store.submit(ann, answer_id=f"ann-{len(seen)}", task_id=task.task_id, kind="label", label=1)
    assert "g-new" in seen and seen.count("c0005") == 2  # once as gold, once as review item
    from hitl_triage.review.reports import gold_accuracy

    acc = gold_accuracy(store).row(0, named=True)
    assert acc == {"reviewer": "ann", "n_gold": 2, "n_correct": 1, "accuracy": 0.5}
    assert "g-new" not in store.resolved_answers()["id"].to_list()
    assert store.pending_count() == 0
