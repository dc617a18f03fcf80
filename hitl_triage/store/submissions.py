"""Recording answers: submit, undo, edit and adjudicate, and settling a task's final label.

Every function runs inside one write transaction opened by ``ReviewStore``. Recording an answer
locks the task row (``FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` serializes SQLite) so the
settle step sees every answer. Answers are never deleted: undo and edit retract the old one.
A client-generated answer id makes a retried submit return the stored answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hitl_triage.store.claims import lock_task, slot_free
from hitl_triage.store.errors import (
    AnswerConflictError,
    AnswerError,
    PermissionDeniedError,
    TaskNotFoundError,
)
from hitl_triage.store.models import (
    ANSWER_KINDS,
    GOLD_ROUND,
    GOLD_ROUTE,
    Adjudication,
    Answer,
    Assignment,
    FlagResolution,
    Round,
    Task,
    utcnow,
)

COMMENT_MAX = 2000
ANSWER_ID_MAX = 64


@dataclass(frozen=True)
class SubmitResult:
    """An answer as stored. ``created`` is False when the id was already recorded (a retry)."""

    answer_id: str
    task_id: int
    kind: str
    label: int | None
    created: bool
    task_status: str = "open"
    correction: str | None = None


def settle(session: Session, task: Task, *, mode: str) -> None:
    """Recompute a task's status from its live label answers (gold and adjudicated tasks keep
    theirs). With fewer than ``overlap`` labels the task is open; then ``unanimous`` settles only
    if all agree, ``majority`` if one label has more than half; otherwise it is disputed."""
    if task.route == GOLD_ROUTE or task.status == "adjudicated":
        return
    labels = session.scalars(
        select(Answer.label).where(
            Answer.task_id == task.id, Answer.kind == "label", Answer.retracted_at.is_(None)
        )
    ).all()
    if len(labels) < task.overlap:
        task.status, task.final_label, task.settled_at = "open", None, None
        return
    (top, count), *_ = Counter(labels).most_common(1)
    agreed = count == len(labels) if mode == "unanimous" else 2 * count > len(labels)
    if agreed:
        if task.status != "settled" or task.final_label != top:
            task.status, task.final_label, task.settled_at = "settled", top, utcnow()
    else:
        task.status, task.final_label, task.settled_at = "disputed", None, None


def validate_answer(kind: str, label: int | None, comment: str | None, n_classes: int) -> None:
    """Raises AnswerError naming what was expected and what was got."""
    if kind not in ANSWER_KINDS:
        raise AnswerError(f"answer kind must be one of {list(ANSWER_KINDS)}, got {kind!r}")
    if kind == "label":
        if label is None or not 0 <= label < n_classes:
            raise AnswerError(
                f"a label answer needs a class index in [0, {n_classes}), got {label!r}"
            )
    elif label is not None:
        raise AnswerError(f"a {kind} answer carries no label, got label={label!r}")
    if comment is not None and len(comment) > COMMENT_MAX:
        raise AnswerError(f"comment too long: {len(comment)} characters, at most {COMMENT_MAX}")


def validate_correction(kind: str, correction: str | None, *, field: str | None, max_chars: int) -> None:
    """A correction goes with a label answer, only when ``review.correction`` names a field,
    and has at most ``max_chars`` characters (``review.max_item_chars``).

    Raises:
        AnswerError: naming what was expected and what was got.
    """
    if correction is None:
        return
    if field is None:
        raise AnswerError("this task takes no corrections (review.correction is not set)")
    if kind != "label":
        raise AnswerError(f"a correction goes with a label answer, got kind={kind!r}")
    if len(correction) > max_chars:
        raise AnswerError(
            f"correction too long: {len(correction)} characters, at most {max_chars} "
            "(review.max_item_chars)"
        )


def validate_answer_id(answer_id: str) -> None:
    if not answer_id or len(answer_id) > ANSWER_ID_MAX or not answer_id.isascii():
        raise AnswerError(
            f"answer id must be 1-{ANSWER_ID_MAX} ASCII characters (e.g. a UUID), got {answer_id!r}"
        )


def find_answer(session: Session, answer_id: str, reviewer_id: int) -> SubmitResult | None:
    """The stored answer ``answer_id`` (a retry), or None if the id is new.

    Raises:
        AnswerConflictError: the id belongs to another reviewer's answer.
    """
    row = session.get(Answer, answer_id)
    if row is None:
        return None
    if row.reviewer_id != reviewer_id:
        raise AnswerConflictError(f"answer id {answer_id!r} is already used by another answer")
    task = session.get(Task, row.task_id)
    return SubmitResult(row.id, row.task_id, row.kind, row.label, False, task.status if task else "", row.correction)


def round_is_open(session: Session, round: int) -> bool:
    """Whether answers of tasks of ``round`` may still change (edit, undo).

    A round is finished once a later round has been enqueued and none of its (non-gold) tasks
    is still open or disputed: the round loop has moved on and taken its labels. The latest
    round, a round with work left, and the gold pseudo-round are open.
    """
    if round == GOLD_ROUND:
        return True
    later = session.scalar(select(func.count(Round.number)).where(Round.number > round))
    if not later:
        return True
    pending = session.scalar(
        select(func.count(Task.id)).where(
            Task.round == round, Task.route != GOLD_ROUTE, Task.status.in_(("open", "disputed"))
        )
    )
    return bool(pending)


def _check_round_open(session: Session, task: Task, action: str) -> None:
    if not round_is_open(session, task.round):
        raise AnswerConflictError(
            f"cannot {action} an answer of task {task.id}: round {task.round} is finished "
            "(a later round started and all its tasks are settled); ask an admin to adjudicate"
        )


def _check_claim(session: Session, task: Task, reviewer_id: int, now) -> Assignment:  # type: ignore[no-untyped-def]
    """The reviewer's live claim on ``task``. A claim whose lease ran out still counts while
    nobody else took the slot (the reviewer's next ``claim`` would have renewed it).

    Raises:
        AnswerConflictError: the task is no longer open (settled, disputed or adjudicated).
        PermissionDeniedError: the reviewer holds no claim on the task.
    """
    if task.status != "open":
        raise AnswerConflictError(
            f"task {task.id} is {task.status}: it takes no more answers (edit your own answer "
            "while its round is open, or ask an admin)"
        )
    row = session.scalar(
        select(Assignment).where(Assignment.task_id == task.id, Assignment.reviewer_id == reviewer_id)
    )
    if row is not None and row.state == "released":  # the claim ran out and was taken over
        raise PermissionDeniedError(f"your claim on task {task.id} expired and another reviewer took the task")
    if row is None or row.state != "active":
        raise PermissionDeniedError(
            f"task {task.id} is not claimed by you: answer the task GET /api/v1/tasks/next gives you"
        )
    if row.expires_at <= now and not slot_free(session, task.id, task.overlap, now):
        raise PermissionDeniedError(
            f"your claim on task {task.id} expired and another reviewer took the task"
        )
    return row


def submit(
    session: Session,
    *,
    answer_id: str,
    reviewer_id: int,
    task_id: int,
    kind: str,
    label: int | None,
    comment: str | None,
    settle_mode: str,
    lease: timedelta,
    correction: str | None = None,
) -> SubmitResult:
    """Record an answer (inputs already validated). A retried id returns the stored answer.

    Raises:
        TaskNotFoundError: no task ``task_id``.
        AnswerConflictError: the reviewer already has a live answer on this task (edit it),
            the id belongs to another reviewer, or the task takes no more answers.
        PermissionDeniedError: the reviewer holds no live claim on the task.
    """
    previous = find_answer(session, answer_id, reviewer_id)
    if previous is not None:
        return previous
    task = lock_task(session, task_id)
    if task is None:
        raise TaskNotFoundError(f"no task with id {task_id}")
    # A concurrent retry may have committed while this one waited for the task's lock.
    previous = find_answer(session, answer_id, reviewer_id)
    if previous is not None:
        return previous
    live = session.scalar(
        select(Answer.id).where(
            Answer.task_id == task_id,
            Answer.reviewer_id == reviewer_id,
            Answer.retracted_at.is_(None),
        )
    )
    if live is not None:
        raise AnswerConflictError(
            f"task {task_id} already has your answer {live!r}; edit or undo it instead"
        )
    now = utcnow()
    assignment = _check_claim(session, task, reviewer_id, now)
    session.add(
        Answer(
            id=answer_id,
            task_id=task_id,
            reviewer_id=reviewer_id,
            kind=kind,
            label=label,
            comment=comment,
            correction=correction,
            created_at=now,
        )
    )
    assignment.state = {"label": "done", "skip": "skipped", "flag": "flagged"}[kind]
    assignment.expires_at = now + lease
    session.flush()
    settle(session, task, mode=settle_mode)
    return SubmitResult(answer_id, task_id, kind, label, True, task.status, correction)


def _own_answer(session: Session, answer_id: str, reviewer_id: int) -> Answer:
    row = session.get(Answer, answer_id)
    if row is None or row.reviewer_id != reviewer_id:
        raise AnswerError(f"no answer {answer_id!r} of yours")
    return row


def last_live_answer(session: Session, reviewer_id: int) -> str | None:
    return session.scalar(
        select(Answer.id)
        .where(Answer.reviewer_id == reviewer_id, Answer.retracted_at.is_(None))
        .order_by(Answer.created_at.desc(), Answer.id.desc())
        .limit(1)
    )


def retract(
    session: Session, *, answer_id: str, reviewer_id: int, settle_mode: str, lease: timedelta
) -> int:
    """Undo an answer: it is kept with ``retracted_at`` set, and the task is handed back to the
    reviewer (an active assignment), so it is the next one they see. Retracting an already
    retracted answer changes nothing (a retried undo). Returns the task id.

    Raises:
        AnswerError: no such answer of this reviewer, or it was replaced by an edit.
        AnswerConflictError: the task's round is finished.
    """
    row = _own_answer(session, answer_id, reviewer_id)
    task = lock_task(session, row.task_id)
    assert task is not None
    session.refresh(row)  # see a concurrent undo or edit that committed while we waited
    if row.retracted_at is not None:
        if row.replaced_by is not None:
            raise AnswerError(f"answer {answer_id!r} was replaced by {row.replaced_by!r}; undo that")
        return row.task_id
    _check_round_open(session, task, "undo")
    now = utcnow()
    row.retracted_at = now
    assignment = session.scalar(
        select(Assignment).where(Assignment.task_id == row.task_id, Assignment.reviewer_id == reviewer_id)
    )
    assert assignment is not None  # submit always creates one
    assignment.state, assignment.assigned_at, assignment.expires_at = "active", now, now + lease
    session.flush()
    settle(session, task, mode=settle_mode)
    return row.task_id


def edit(
    session: Session,
    *,
    answer_id: str,
    new_answer_id: str,
    reviewer_id: int,
    kind: str,
    label: int | None,
    comment: str | None,
    settle_mode: str,
    correction: str | None = None,
    keep_correction: bool = False,
) -> SubmitResult:
    """Replace a live answer with a new one (``new_answer_id``); the old one is kept, retracted,
    with ``replaced_by``. A retried edit returns the stored replacement. With
    ``keep_correction`` (and no ``correction``) a label answer keeps the old one's correction.

    Raises:
        AnswerError: no such live answer of this reviewer.
        AnswerConflictError: the task's round is finished.
    """
    previous = find_answer(session, new_answer_id, reviewer_id)
    if previous is not None:
        return previous
    row = _own_answer(session, answer_id, reviewer_id)
    task = lock_task(session, row.task_id)
    assert task is not None
    # A concurrent retry of this edit may have committed while we waited for the lock.
    session.refresh(row)
    previous = find_answer(session, new_answer_id, reviewer_id)
    if previous is not None:
        return previous
    if row.retracted_at is not None:
        raise AnswerError(f"answer {answer_id!r} was undone or replaced; it cannot be edited")
    _check_round_open(session, task, "edit")
    if correction is None and keep_correction and kind == "label":
        correction = row.correction
    now = utcnow()
    row.retracted_at, row.replaced_by = now, new_answer_id
    session.flush()
    session.add(
        Answer(
            id=new_answer_id,
            task_id=row.task_id,
            reviewer_id=reviewer_id,
            kind=kind,
            label=label,
            comment=comment,
            correction=correction,
            created_at=row.created_at,
        )
    )
    assignment = session.scalar(
        select(Assignment).where(Assignment.task_id == row.task_id, Assignment.reviewer_id == reviewer_id)
    )
    assert assignment is not None
    assignment.state = {"label": "done", "skip": "skipped", "flag": "flagged"}[kind]
    session.flush()
    settle(session, task, mode=settle_mode)
    return SubmitResult(new_answer_id, row.task_id, kind, label, True, task.status, correction)


def adjudicate(
    session: Session, *, task_id: int, admin_id: int, label: int, comment: str | None
) -> None:
    """Record the final label of a task (any status but gold); kept in ``adjudications``.
    The task's open flags count as resolved by the adjudication.

    Raises:
        TaskNotFoundError: no such task, or it is a gold task.
    """
    task = lock_task(session, task_id)
    if task is None or task.route == GOLD_ROUTE:
        raise TaskNotFoundError(f"no adjudicable task with id {task_id}")
    now = utcnow()
    session.add(
        Adjudication(task_id=task_id, reviewer_id=admin_id, label=label, comment=comment, created_at=now)
    )
    task.status, task.final_label, task.settled_at = "adjudicated", label, now
    resolve_flags(session, task_id=task_id, admin_id=admin_id, comment=comment)


def open_flags(session: Session, task_id: int) -> list[str]:
    """Ids of the live flag answers of a task that no admin has resolved yet."""
    return list(
        session.scalars(
            select(Answer.id)
            .outerjoin(FlagResolution, FlagResolution.answer_id == Answer.id)
            .where(
                Answer.task_id == task_id,
                Answer.kind == "flag",
                Answer.retracted_at.is_(None),
                FlagResolution.answer_id.is_(None),
            )
            .order_by(Answer.created_at, Answer.id)
        )
    )


def resolve_flags(session: Session, *, task_id: int, admin_id: int, comment: str | None) -> int:
    """Mark every open flag of a task as resolved by an admin; returns how many were open.
    A flag stays in the admin queue until this (or an adjudication) happens.

    Raises:
        TaskNotFoundError: no such task.
    """
    if session.get(Task, task_id) is None:
        raise TaskNotFoundError(f"no task with id {task_id}")
    ids = open_flags(session, task_id)
    now = utcnow()
    session.add_all(
        FlagResolution(answer_id=i, reviewer_id=admin_id, comment=comment, created_at=now) for i in ids
    )
    session.flush()
    return len(ids)
