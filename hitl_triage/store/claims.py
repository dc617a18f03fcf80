"""Claiming tasks: which task a reviewer gets next (the concurrency-critical read-then-write).

Every function here runs inside one write transaction opened by ``ReviewStore``:

* SQLite: the transaction starts with ``BEGIN IMMEDIATE``, so writers are serialized and a
  read-then-write step sees no concurrent change.
* PostgreSQL: claiming locks candidate task rows with ``FOR UPDATE SKIP LOCKED`` and recounts
  the task's taken slots after the lock; only a claim adds a slot and a claim always holds the
  task's row lock, so two reviewers can never both hold the last slot of a task.

A slot of a task is taken by an assignment that is ``done`` (a live label answer) or ``active``
and not expired. A task with ``overlap`` k has k slots. Recording answers is in ``submissions``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from hitl_triage.store.evidence import SourceAccuracy
from hitl_triage.store.models import (
    GOLD_ROUTE,
    Assignment,
    Item,
    Task,
    utcnow,
)

_CANDIDATES = 10


@dataclass(frozen=True)
class TaskView:
    """What a reviewer sees of a task. The route is left out on purpose: audit and gold items
    must look exactly like review items."""

    task_id: int
    item_id: str
    text: str | None
    suggested: int | None
    confidence: float | None
    votes: dict[str, int | None]
    judge_rationale: str | None
    round: int
    expires_at: datetime | None = None
    # {"source": "end_model", "label_model": [label, confidence], "end_model": [...]}, keys optional
    models: dict[str, Any] = field(default_factory=dict)
    # per source that voted: its accuracy on settled human labels (filled by ReviewStore.next_task)
    source_accuracy: dict[str, SourceAccuracy] = field(default_factory=dict)
    # the item's shown fields (name -> text or null, configured order); empty: the text alone
    fields: dict[str, str | None] = field(default_factory=dict)


def view(task: Task, item: Item, expires_at: datetime | None = None, *, blind_audit: bool = False) -> TaskView:
    """The task as a reviewer sees it. With ``blind_audit``, an audit task shows no evidence
    (no suggestion, confidence, votes, rationale or model guesses), so its answer is not
    anchored; it then looks like a review item that has no evidence."""
    fields = json.loads(item.fields) if item.fields else {}
    if blind_audit and task.route == "audit":
        return TaskView(task_id=task.id, item_id=item.id, text=item.text, suggested=None, confidence=None, votes={},
                        judge_rationale=None, round=task.round, expires_at=expires_at, fields=fields)
    return TaskView(
        task_id=task.id,
        item_id=item.id,
        text=item.text,
        suggested=task.suggested,
        confidence=task.confidence,
        votes=json.loads(task.votes or "{}"),
        judge_rationale=task.judge_rationale,
        round=task.round,
        expires_at=expires_at,
        models=json.loads(task.models or "{}"),
        fields=fields,
    )


def _taken(now: datetime):  # type: ignore[no-untyped-def]
    """Correlated count of the slots of ``Task`` that are taken."""
    return (
        select(func.count(Assignment.id))
        .where(
            Assignment.task_id == Task.id,
            or_(
                Assignment.state == "done",
                and_(Assignment.state == "active", Assignment.expires_at > now),
            ),
        )
        .scalar_subquery()
    )


def _not_mine(reviewer_id: int):  # type: ignore[no-untyped-def]
    return ~exists().where(
        Assignment.task_id == Task.id,
        Assignment.reviewer_id == reviewer_id,
        Assignment.state != "released",
    )


def claimable(reviewer_id: int, now: datetime):  # type: ignore[no-untyped-def]
    """Filter of the non-gold tasks ``reviewer_id`` could claim now."""
    return and_(
        Task.status == "open",
        Task.route != GOLD_ROUTE,
        _not_mine(reviewer_id),
        _taken(now) < Task.overlap,
    )


def slot_free(session: Session, task_id: int, overlap: int, now: datetime) -> bool:
    taken = session.scalar(
        select(func.count(Assignment.id)).where(
            Assignment.task_id == task_id,
            or_(
                Assignment.state == "done",
                and_(Assignment.state == "active", Assignment.expires_at > now),
            ),
        )
    )
    return int(taken or 0) < overlap


def lock_task(session: Session, task_id: int) -> Task | None:
    return session.scalar(select(Task).where(Task.id == task_id).with_for_update())


def _take(session: Session, task: Task, reviewer_id: int, now: datetime, lease: timedelta, blind_audit: bool) -> TaskView:
    row = session.scalar(
        select(Assignment).where(Assignment.task_id == task.id, Assignment.reviewer_id == reviewer_id)
    )
    if row is None:
        row = Assignment(task_id=task.id, reviewer_id=reviewer_id)
        session.add(row)
    row.state, row.assigned_at, row.expires_at = "active", now, now + lease
    session.flush()
    item = session.get(Item, task.item_id)
    assert item is not None  # tasks reference items by foreign key
    return view(task, item, row.expires_at, blind_audit=blind_audit)


def serve_gold_now(reviewer_name: str, n_served: int, rate: float) -> bool:
    """Whether the ``n_served``-th task of a reviewer is a gold item: a reproducible draw
    (SHA-256 of name and count) with probability ``rate``, not guessable from the count."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{reviewer_name}:{n_served}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def claim(
    session: Session,
    *,
    reviewer_id: int,
    reviewer_name: str,
    lease: timedelta,
    gold_rate: float,
    skip_locked: bool,
    exclude: frozenset[int] = frozenset(),
    blind_audit: bool = False,
) -> TaskView | None:
    """The reviewer's current task: the one they hold, else a gold item (at ``gold_rate``),
    else the open task with free slots that comes first (round ascending, priority descending).
    Tasks in ``exclude`` are passed over (and held ones stay held): the review screen asks for
    the task after the ones it already shows, holds in its prefetch buffer or has answers for
    that are still on their way. Returns None when nothing is left for this reviewer."""
    now = utcnow()
    held = session.scalars(
        select(Assignment)
        .where(Assignment.reviewer_id == reviewer_id, Assignment.state == "active")
        .order_by(Assignment.assigned_at.desc(), Assignment.id.desc())
    ).all()
    for row in held:
        if row.task_id in exclude:
            continue
        task = session.get(Task, row.task_id)
        assert task is not None  # assignments reference tasks by foreign key
        if task.status != "open":  # adjudicated meanwhile: nothing left to do here
            row.state = "released"
            continue
        if row.expires_at - now > lease / 2:  # well within its lease: no write needed
            item = session.get(Item, task.item_id)
            assert item is not None
            return view(task, item, row.expires_at, blind_audit=blind_audit)
        task = lock_task(session, row.task_id)
        assert task is not None
        if row.expires_at > now or slot_free(session, task.id, task.overlap, now):
            return _take(session, task, reviewer_id, now, lease, blind_audit)
        row.state = "released"
    n_served = 0
    if gold_rate > 0:
        n_served = session.scalar(
            select(func.count(Assignment.id)).where(
                Assignment.reviewer_id == reviewer_id, Assignment.state != "released"
            )
        )
    if serve_gold_now(reviewer_name, int(n_served or 0), gold_rate):
        gold = session.scalar(
            select(Task)
            .where(Task.route == GOLD_ROUTE, _not_mine(reviewer_id), Task.id.not_in(exclude))
            .order_by(Task.id)
            .limit(1)
        )
        if gold is not None:
            return _take(session, gold, reviewer_id, now, lease, blind_audit)
    while True:
        query = (
            select(Task.id)
            .where(claimable(reviewer_id, now), Task.id.not_in(exclude))
            .order_by(Task.round, Task.priority.desc(), Task.id)
            .limit(_CANDIDATES)
        )
        if skip_locked:
            query = query.with_for_update(skip_locked=True, of=Task)
        ids = session.scalars(query).all()
        if not ids:
            return None
        for task_id in ids:
            task = session.get(Task, task_id)
            assert task is not None
            if task.status == "open" and slot_free(session, task_id, task.overlap, now):
                return _take(session, task, reviewer_id, now, lease, blind_audit)


