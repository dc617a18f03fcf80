"""Security rules of the review store (SQLite and PostgreSQL): answers need a live claim,
finished rounds are frozen, flags wait for an admin, password hashing costs the same for
unknown names, and out-of-range input is refused with a clear error."""

from __future__ import annotations

import base64
import hashlib
import statistics
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select, update

from hitl_triage.review import reports
from hitl_triage.store import (
    AnswerConflictError,
    IntakeError,
    PermissionDeniedError,
    ReviewerError,
    TaskNotFoundError,
    open_store,
)
from hitl_triage.store.accounts import hash_password, verify_password
from hitl_triage.store.models import Assignment, Reviewer, Task, utcnow
from tests.store.support import items, write_task


def _people(store, *names, admin=()):  # type: ignore[no-untyped-def]
    return [store.reviewer(store.add_reviewer(n, role="admin" if n in admin else "reviewer").reviewer.name) for n in names]


def test_an_answer_needs_the_reviewers_live_claim(make_store):
    store, _ = make_store(gold_rate=0.0)
    store.enqueue(items(3))
    ann, bob = _people(store, "ann", "bob")
    held = store.next_task(ann)
    with pytest.raises(PermissionDeniedError, match=f"task {held.task_id} is not claimed by you"):
        store.submit(bob, answer_id="b-1", task_id=held.task_id, kind="label", label=0)
    unclaimed = held.task_id + 1  # nobody has claimed it yet
    with pytest.raises(PermissionDeniedError, match="not claimed by you"):
        store.submit(bob, answer_id="b-2", task_id=unclaimed, kind="skip")
    first = store.submit(ann, answer_id="a-1", task_id=held.task_id, kind="label", label=1)
    retry = store.submit(ann, answer_id="a-1", task_id=held.task_id, kind="label", label=1)
    assert first.created and not retry.created and retry.task_status == "settled"
    # a lapsed lease still counts while nobody else took the slot; once taken, it does not
    mine = store.next_task(ann)
    store.write(lambda s: s.execute(update(Assignment).where(Assignment.task_id == mine.task_id).values(expires_at=utcnow() - timedelta(minutes=1))))
    assert store.submit(ann, answer_id="a-2", task_id=mine.task_id, kind="label", label=0).created
    late = store.next_task(ann)
    store.write(lambda s: s.execute(update(Assignment).where(Assignment.task_id == late.task_id).values(expires_at=utcnow() - timedelta(minutes=1))))
    assert store.next_task(bob).task_id == late.task_id
    with pytest.raises(PermissionDeniedError, match="expired and another reviewer took the task"):
        store.submit(ann, answer_id="a-3", task_id=late.task_id, kind="label", label=0)
    assert store.submit(bob, answer_id="b-3", task_id=late.task_id, kind="label", label=2).created


def test_a_finished_round_is_frozen(make_store):
    store, _ = make_store(gold_rate=0.0)
    store.enqueue(items(1, round=0))
    ann, bob = _people(store, "ann", "bob")
    task = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="label", label=1)
    store.edit(ann, answer_id="a-1", new_answer_id="a-2", label=0)  # round 0 is still the latest
    store.enqueue(items(1, round=1, start=5))  # the round loop moved on: round 0 is finished
    with pytest.raises(AnswerConflictError, match=f"task {task.task_id} is settled: it takes no more answers"):
        store.submit(bob, answer_id="b-1", task_id=task.task_id, kind="label", label=2)
    with pytest.raises(AnswerConflictError, match=r"cannot edit an answer of task \d+: round 0 is finished"):
        store.edit(ann, answer_id="a-2", new_answer_id="a-3", label=2)
    with pytest.raises(AnswerConflictError, match=r"cannot undo an answer of task \d+: round 0 is finished"):
        store.undo(ann, "a-2")
    resolved = store.resolved_answers()
    assert resolved.select("id", "label", "reviewer").rows() == [("c0000", 0, "ann")]
    # a round with work left stays open even when a later round exists
    store.enqueue(items(2, round=2, start=10))
    open_task = store.next_task(bob)
    assert open_task.round == 1
    store.submit(bob, answer_id="b-2", task_id=open_task.task_id, kind="label", label=1)
    store.enqueue(items(1, round=3, start=20))
    with pytest.raises(AnswerConflictError, match="round 1 is finished"):
        store.edit(bob, answer_id="b-2", new_answer_id="b-3", label=0)
    round2 = store.next_task(bob)
    store.submit(bob, answer_id="b-4", task_id=round2.task_id, kind="label", label=1)
    assert store.edit(bob, answer_id="b-4", new_answer_id="b-5", label=2).label == 2  # round 2 has work left


def test_a_flag_stays_until_an_admin_resolves_it(make_store):
    store, _ = make_store(gold_rate=0.0)
    store.enqueue(items(1))
    ann, bob, boss = _people(store, "ann", "bob", "boss", admin=("boss",))
    task = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="flag", comment="the text is cut off")
    assert store.next_task(bob).task_id == task.task_id  # the flag freed the slot
    assert store.submit(bob, answer_id="b-1", task_id=task.task_id, kind="label", label=1).task_status == "settled"
    queue = reports.disputes(store)
    assert queue.select("task_id", "status", "n_flags", "flags").rows() == [(task.task_id, "settled", 1, ["ann: the text is cut off"])]
    assert reports.task_detail(store, task.task_id).answers[0].open_flag
    with pytest.raises(PermissionDeniedError, match="only admins resolve flags"):
        store.resolve_flags(bob, task_id=task.task_id)
    with pytest.raises(TaskNotFoundError, match="no task with id 999"):
        store.resolve_flags(boss, task_id=999)
    assert store.resolve_flags(boss, task_id=task.task_id, comment="fine as it is") == 1
    assert reports.disputes(store).height == 0
    assert store.resolve_flags(boss, task_id=task.task_id) == 0  # nothing left open
    assert store.resolved_answers().height == 1  # resolving a flag changes no label


def test_adjudicating_resolves_the_tasks_flags(make_store):
    store, _ = make_store(gold_rate=0.0)
    store.enqueue(items(1))
    ann, boss = _people(store, "ann", "boss", admin=("boss",))
    task = store.next_task(ann)
    store.submit(ann, answer_id="a-1", task_id=task.task_id, kind="flag")
    assert reports.disputes(store).height == 1
    store.adjudicate(boss, task_id=task.task_id, label=2)
    assert reports.disputes(store).height == 0
    assert not reports.task_detail(store, task.task_id).answers[0].open_flag
    assert store.resolve_flags(boss, task_id=task.task_id) == 0  # the adjudication resolved it


def test_out_of_range_ids_and_long_texts_are_refused(make_store):
    store, _ = make_store(gold_rate=0.0)
    (ann,) = _people(store, "ann")
    with pytest.raises(TaskNotFoundError, match=r"no task with id 10{30}"):
        store.submit(ann, answer_id="a-1", task_id=10**30, kind="label", label=0)
    too_long = items(2, texts=["short", "x" * 100_001])
    with pytest.raises(IntakeError, match=r"item 'c0001': text has 100001 characters, at most 100000 \(review.max_item_chars\)"):
        store.enqueue(too_long)
    rationale = items(1).with_columns(pl.lit("y" * 100_002).alias("judge_rationale"))
    with pytest.raises(IntakeError, match="item 'c0000': judge_rationale has 100002 characters"):
        store.enqueue(rationale)
    with pytest.raises(IntakeError, match="round must be at most 2147483647, got 2147483648"):
        store.enqueue(items(1, round=2**31))
    assert store.pending_count() == 0  # nothing of a refused batch was stored


def test_scrypt_follows_owasp_and_old_hashes_still_verify(tmp_path: Path):
    assert hash_password("pw").startswith("scrypt$131072$8$1$")
    salt = b"0123456789abcdef"
    old = hashlib.scrypt(b"old-password", salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(old).decode()}"
    assert verify_password("old-password", legacy) and not verify_password("other", legacy)
    assert not verify_password("x", "scrypt$99999999999$8$1$AAAA$AAAA")  # absurd stored parameters
    store = open_store(write_task(tmp_path)[1])  # hashing is the same on every backend
    store.add_reviewer("ann", password="placeholder")
    store.write(lambda s: s.execute(update(Reviewer).where(Reviewer.name == "ann").values(password_hash=legacy)))
    assert store.check_password("ann", "old-password").name == "ann"
    upgraded = store.read(lambda s: s.scalar(select(Reviewer.password_hash).where(Reviewer.name == "ann")))
    assert upgraded.startswith("scrypt$131072$8$1$") and verify_password("old-password", upgraded)
    store.close()


def test_unknown_and_known_names_cost_the_same(tmp_path: Path):
    """User enumeration by timing: a wrong password for a real name and any password for an
    unknown name run the same scrypt work. Interleaved, 15 attempts each, medians compared."""
    store = open_store(write_task(tmp_path)[1])  # hashing is the same on every backend
    store.add_reviewer("ann", password="the-real-password")

    def timed(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(ReviewerError, match="wrong reviewer name or password"):
            store.check_password(name, "a-wrong-password")
        return time.perf_counter() - start

    timed("nobody-warmup")
    known, unknown = [], []
    for i in range(15):
        known.append(timed("ann"))
        unknown.append(timed(f"nobody-{i}"))
    store.close()
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.7 <= ratio <= 1.4, (ratio, known, unknown)


def test_task_ids_stay_in_the_32_bit_range(make_store):
    store, _ = make_store(gold_rate=0.0)
    store.enqueue(items(1))
    (boss,) = _people(store, "boss", admin=("boss",))
    for task_id in (2**31, 10**30):  # beyond PostgreSQL's integer, beyond SQLite's
        with pytest.raises(TaskNotFoundError, match=f"no task with id {task_id}"):
            store.adjudicate(boss, task_id=task_id, label=0)
        with pytest.raises(TaskNotFoundError, match=f"no task with id {task_id}"):
            store.resolve_flags(boss, task_id=task_id)
    assert store.read(lambda s: s.scalar(select(Task.status))) == "open"
