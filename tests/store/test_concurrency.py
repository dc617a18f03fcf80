"""Concurrent reviewers on SQLite and PostgreSQL: no shared single-overlap task, no lost or
duplicated answer, retries recorded once."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from hitl_triage.store.models import Answer, Assignment
from tests.store.support import items


def test_concurrent_reviewers_never_share_a_task(make_store):
    store, _ = make_store()
    n_tasks, n_reviewers = 120, 8
    store.enqueue(items(n_tasks))
    people = [store.reviewer(store.add_reviewer(f"r{i}").reviewer.name) for i in range(n_reviewers)]
    start = threading.Barrier(n_reviewers)

    def work(who) -> list[int]:
        start.wait()
        done = []
        while (task := store.next_task(who)) is not None:
            result = store.submit(who, answer_id=f"{who.name}-{task.task_id}", task_id=task.task_id, kind="label", label=task.task_id % 3)
            # a retried request (same id) must not create a second answer
            assert not store.submit(who, answer_id=result.answer_id, task_id=task.task_id, kind="label", label=task.task_id % 3).created
            done.append(task.task_id)
        return done

    with ThreadPoolExecutor(n_reviewers) as pool:
        per_reviewer = list(pool.map(work, people))
    answered = [t for done in per_reviewer for t in done]
    assert len(answered) == n_tasks and len(set(answered)) == n_tasks
    rows = store.read(lambda s: s.execute(select(Answer.task_id, Answer.id)).all())
    assert len(rows) == n_tasks
    assert Counter(t for t, _ in rows).most_common(1)[0][1] == 1
    claims = store.read(lambda s: s.execute(select(Assignment.task_id)).scalars().all())
    assert len(claims) == n_tasks  # every task was claimed by exactly one reviewer
    assert store.pending_count() == 0 and store.resolved_answers().height == n_tasks


def test_concurrent_retries_of_one_answer_are_recorded_once(make_store):
    store, _ = make_store()
    store.enqueue(items(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    start = threading.Barrier(6)

    def send(_: int) -> bool:
        start.wait()
        return store.submit(ann, answer_id="same-id", task_id=task.task_id, kind="label", label=2).created

    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(send, range(6)))
    assert created.count(True) == 1
    assert store.read(lambda s: s.execute(select(Answer.id)).scalars().all()) == ["same-id"]


def test_concurrent_retries_of_one_edit_are_recorded_once(make_store):
    store, _ = make_store()
    store.enqueue(items(1))
    ann = store.reviewer(store.add_reviewer("ann").reviewer.name)
    task = store.next_task(ann)
    store.submit(ann, answer_id="first", task_id=task.task_id, kind="label", label=0)
    start = threading.Barrier(6)

    def send(_: int) -> str:
        start.wait()
        return store.edit(ann, answer_id="first", new_answer_id="second", label=1).answer_id

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(send, range(6))) == {"second"}
    live = store.read(lambda s: s.execute(select(Answer.id).where(Answer.retracted_at.is_(None))).scalars().all())
    assert live == ["second"]
