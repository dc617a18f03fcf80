"""Read-only views of the review store for the screens: progress, a reviewer's history, answer
tables, disputes, gold accuracy and agreement. Plain dataclasses and polars frames out."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hitl_triage.review.agreement import Agreement, agreement
from hitl_triage.store import ReviewerInfo, ReviewStore, TaskNotFoundError, TaskView
from hitl_triage.store.claims import claimable, view
from hitl_triage.store.models import (
    GOLD_ROUTE,
    Adjudication,
    Answer,
    FlagResolution,
    GoldItem,
    Item,
    Reviewer,
    Round,
    Task,
    iso,
    utcnow,
)

ANSWER_COLUMNS = {
    "answer_id": pl.String(),
    "task_id": pl.Int64(),
    "item_id": pl.String(),
    "round": pl.Int64(),
    "route": pl.String(),
    "reviewer": pl.String(),
    "kind": pl.String(),
    "label": pl.Int64(),
    "comment": pl.String(),
    "created_at": pl.String(),
    "retracted_at": pl.String(),
    "replaced_by": pl.String(),
    "correction": pl.String(),
}


@dataclass(frozen=True)
class Progress:
    """Counts for the progress bar: the reviewer's own and the current round's."""

    done: int  # live answers of this reviewer (labels, skips, flags)
    remaining: int  # tasks this reviewer could still claim
    round: int | None
    round_total: int
    round_settled: int
    round_disputed: int


@dataclass(frozen=True)
class HistoryEntry:
    answer_id: str
    task_id: int
    item_id: str
    text: str | None
    kind: str
    label: int | None
    comment: str | None
    created_at: str
    correction: str | None = None


@dataclass(frozen=True)
class TaskAnswer:
    reviewer: str
    kind: str
    label: int | None
    comment: str | None
    created_at: str
    open_flag: bool = False  # a flag no admin has resolved yet


@dataclass(frozen=True)
class TaskDetail:
    """A task with every live answer, for adjudication (admins only)."""

    task: TaskView
    route: str
    status: str
    overlap: int
    final_label: int | None
    answers: list[TaskAnswer]
    adjudications: list[TaskAnswer]


def progress(store: ReviewStore, reviewer: ReviewerInfo) -> Progress:
    def run(s: Session) -> Progress:
        done = s.scalar(
            select(func.count(Answer.id)).where(
                Answer.reviewer_id == reviewer.id, Answer.retracted_at.is_(None)
            )
        )
        remaining = s.scalar(select(func.count(Task.id)).where(claimable(reviewer.id, utcnow())))
        current = s.scalar(select(func.max(Round.number)))
        counts = dict(
            s.execute(
                select(Task.status, func.count(Task.id))
                .where(Task.round == current, Task.route != GOLD_ROUTE)
                .group_by(Task.status)
            ).all()
        )
        return Progress(
            done=int(done or 0),
            remaining=int(remaining or 0),
            round=current,
            round_total=sum(counts.values()),
            round_settled=counts.get("settled", 0) + counts.get("adjudicated", 0),
            round_disputed=counts.get("disputed", 0),
        )

    return store.read(run)


def history(store: ReviewStore, reviewer: ReviewerInfo, *, n: int) -> list[HistoryEntry]:
    """The reviewer's ``n`` latest live answers, newest first."""

    def run(s: Session) -> list[HistoryEntry]:
        rows = s.execute(
            select(Answer, Task.item_id, Item.text)
            .join(Task, Task.id == Answer.task_id)
            .join(Item, Item.id == Task.item_id)
            .where(Answer.reviewer_id == reviewer.id, Answer.retracted_at.is_(None))
            .order_by(Answer.created_at.desc(), Answer.id.desc())
            .limit(n)
        ).all()
        return [
            HistoryEntry(a.id, a.task_id, item_id, text, a.kind, a.label, a.comment, iso(a.created_at) or "",
                         a.correction)
            for a, item_id, text in rows
        ]

    return store.read(run)


def answers(
    store: ReviewStore, *, reviewer: str | None = None, include_retracted: bool = False
) -> pl.DataFrame:
    """All answers (``ANSWER_COLUMNS``), optionally of one reviewer, oldest first."""

    def run(s: Session) -> pl.DataFrame:
        query = (
            select(Answer, Task.item_id, Task.round, Task.route, Reviewer.name)
            .join(Task, Task.id == Answer.task_id)
            .join(Reviewer, Reviewer.id == Answer.reviewer_id)
            .order_by(Answer.created_at, Answer.id)
        )
        if reviewer is not None:
            query = query.where(Reviewer.name == reviewer)
        if not include_retracted:
            query = query.where(Answer.retracted_at.is_(None))
        rows = [
            {
                "answer_id": a.id,
                "task_id": a.task_id,
                "item_id": item_id,
                "round": rnd,
                "route": route,
                "reviewer": name,
                "kind": a.kind,
                "label": a.label,
                "comment": a.comment,
                "created_at": iso(a.created_at),
                "retracted_at": iso(a.retracted_at),
                "replaced_by": a.replaced_by,
                "correction": a.correction,
            }
            for a, item_id, rnd, route, name in s.execute(query)
        ]
        return pl.DataFrame(rows, schema=ANSWER_COLUMNS)

    return store.read(run)


def answer_owner(store: ReviewStore, answer_id: str) -> str | None:
    return store.read(
        lambda s: s.scalar(
            select(Reviewer.name).join(Answer, Answer.reviewer_id == Reviewer.id).where(Answer.id == answer_id)
        )
    )


def _open_flags_query():  # type: ignore[no-untyped-def]
    """Live flag answers that no admin has resolved (task id, reviewer name, comment)."""
    return (
        select(Answer.task_id, Reviewer.name, Answer.comment)
        .join(Reviewer, Reviewer.id == Answer.reviewer_id)
        .outerjoin(FlagResolution, FlagResolution.answer_id == Answer.id)
        .where(Answer.kind == "flag", Answer.retracted_at.is_(None), FlagResolution.answer_id.is_(None))
        .order_by(Answer.created_at, Answer.id)
    )


def disputes(store: ReviewStore) -> pl.DataFrame:
    """Tasks that need an admin: disputed ones, and any task (whatever its status, gold too)
    with a flag no admin has resolved. Columns task_id, item_id, round, route, status,
    n_labels, n_flags (open flags), flags (list of "reviewer: comment"), text."""

    def run(s: Session) -> pl.DataFrame:
        flags: dict[int, list[str]] = {}
        for task_id, name, comment in s.execute(_open_flags_query()):
            flags.setdefault(task_id, []).append(f"{name}: {comment}" if comment else name)
        labels = dict(
            s.execute(
                select(Answer.task_id, func.count(Answer.id))
                .where(Answer.kind == "label", Answer.retracted_at.is_(None))
                .group_by(Answer.task_id)
            ).all()
        )
        rows = s.execute(
            select(Task.id, Task.item_id, Task.round, Task.route, Task.status, Item.text)
            .join(Item, Item.id == Task.item_id)
            .where(
                ((Task.status == "disputed") & (Task.route != GOLD_ROUTE)) | Task.id.in_(list(flags))
            )
            .order_by(Task.round, Task.id)
        ).all()
        return pl.DataFrame(
            [
                {
                    "task_id": t, "item_id": item, "round": rnd, "route": route, "status": status,
                    "n_labels": int(labels.get(t, 0)), "n_flags": len(flags.get(t, [])),
                    "flags": flags.get(t, []), "text": text,
                }
                for t, item, rnd, route, status, text in rows
            ],
            schema={
                "task_id": pl.Int64(), "item_id": pl.String(), "round": pl.Int64(), "route": pl.String(),
                "status": pl.String(), "n_labels": pl.Int64(), "n_flags": pl.Int64(),
                "flags": pl.List(pl.String()), "text": pl.String(),
            },
        )

    return store.read(run)


def task_detail(store: ReviewStore, task_id: int) -> TaskDetail:
    """Raises TaskNotFoundError for an unknown id."""

    def run(s: Session) -> TaskDetail:
        task = s.get(Task, task_id)
        if task is None:
            raise TaskNotFoundError(f"no task with id {task_id}")
        item = s.get(Item, task.item_id)
        assert item is not None
        rows = s.execute(
            select(Answer, Reviewer.name, FlagResolution.answer_id.is_(None))
            .join(Reviewer, Reviewer.id == Answer.reviewer_id)
            .outerjoin(FlagResolution, FlagResolution.answer_id == Answer.id)
            .where(Answer.task_id == task_id, Answer.retracted_at.is_(None))
            .order_by(Reviewer.name)
        ).all()
        adj = s.execute(
            select(Adjudication, Reviewer.name)
            .join(Reviewer, Reviewer.id == Adjudication.reviewer_id)
            .where(Adjudication.task_id == task_id)
            .order_by(Adjudication.created_at)
        ).all()
        return TaskDetail(
            task=view(task, item),
            route=task.route,
            status=task.status,
            overlap=task.overlap,
            final_label=task.final_label,
            answers=[
                TaskAnswer(n, a.kind, a.label, a.comment, iso(a.created_at) or "", a.kind == "flag" and bool(unresolved))
                for a, n, unresolved in rows
            ],
            adjudications=[TaskAnswer(n, "label", a.label, a.comment, iso(a.created_at) or "") for a, n in adj],
        )

    return store.read(run)


def gold_accuracy(store: ReviewStore) -> pl.DataFrame:
    """Per reviewer: ``n_gold`` gold items labelled, ``n_correct``, ``accuracy`` (in [0, 1])."""

    def run(s: Session) -> list[tuple[str, int, int]]:
        return list(
            s.execute(
                select(Reviewer.name, Answer.label, GoldItem.label)
                .join(Answer, Answer.reviewer_id == Reviewer.id)
                .join(Task, Task.id == Answer.task_id)
                .join(GoldItem, GoldItem.item_id == Task.item_id)
                .where(Task.route == GOLD_ROUTE, Answer.kind == "label", Answer.retracted_at.is_(None))
            ).all()
        )

    rows = store.read(run)
    frame = pl.DataFrame(rows, schema={"reviewer": pl.String(), "label": pl.Int64(), "gold": pl.Int64()}, orient="row")
    return (
        frame.group_by("reviewer")
        .agg(pl.len().alias("n_gold"), (pl.col("label") == pl.col("gold")).sum().alias("n_correct"))
        .with_columns((pl.col("n_correct") / pl.col("n_gold")).alias("accuracy"))
        .sort("reviewer")
    )


def gold_items(store: ReviewStore) -> pl.DataFrame:
    def run(s: Session) -> list[tuple[str, int, str]]:
        return list(s.execute(select(GoldItem.item_id, GoldItem.label, GoldItem.created_by).order_by(GoldItem.item_id)).all())

    return pl.DataFrame(store.read(run), schema={"item_id": pl.String(), "label": pl.Int64(), "created_by": pl.String()}, orient="row")


def reviewer_agreement(store: ReviewStore) -> Agreement:
    """Agreement over live label answers, each task a unit (gold tasks included)."""
    frame = answers(store).filter(pl.col("kind") == "label")
    return agreement(frame.select("reviewer", pl.col("task_id").alias("unit"), "label"))


def rounds(store: ReviewStore) -> pl.DataFrame:
    """Per round and route: tasks by status (open, settled, disputed, adjudicated)."""

    def run(s: Session) -> list[tuple[int, str, str, int]]:
        return list(
            s.execute(
                select(Task.round, Task.route, Task.status, func.count(Task.id))
                .where(Task.route != GOLD_ROUTE)
                .group_by(Task.round, Task.route, Task.status)
            ).all()
        )

    frame = pl.DataFrame(store.read(run), schema={"round": pl.Int64(), "route": pl.String(), "status": pl.String(), "n": pl.Int64()}, orient="row")
    statuses = ["open", "settled", "disputed", "adjudicated"]
    return (
        frame.group_by("round", "route")
        .agg([pl.col("n").filter(pl.col("status") == st).sum().alias(st) for st in statuses])
        .with_columns(pl.sum_horizontal(statuses).alias("total"))
        .sort("round", "route")
    )
