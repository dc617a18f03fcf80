"""The admin's queue: open flags with their comments and the answers so far, the next dispute
to adjudicate, and the per-reviewer statistics' inputs. Read-only; plain values out."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from hitl_triage.review import reports
from hitl_triage.review.reports import TaskAnswer
from hitl_triage.review.stats import IDLE_SECONDS, ReviewerStats, reviewer_stats
from hitl_triage.store import ReviewStore
from hitl_triage.store.models import (
    Answer,
    FlagResolution,
    Item,
    Reviewer,
    Task,
    iso,
)


@dataclass(frozen=True)
class OpenFlag:
    answer_id: str
    reviewer: str
    comment: str | None
    created_at: str


@dataclass(frozen=True)
class FlagCard:
    """A task with at least one flag no admin has resolved: its flags (oldest first) and every
    live answer so far (by reviewer name)."""

    task_id: int
    item_id: str
    round: int
    route: str
    status: str
    text: str | None
    flags: list[OpenFlag]
    answers: list[TaskAnswer]


def open_flags(store: ReviewStore) -> list[FlagCard]:
    """Every task with open flags, in the order its oldest open flag was raised."""

    def run(s: Session) -> list[FlagCard]:
        flagged = s.execute(
            select(Answer.id, Answer.task_id, Reviewer.name, Answer.comment, Answer.created_at)
            .join(Reviewer, Reviewer.id == Answer.reviewer_id)
            .outerjoin(FlagResolution, FlagResolution.answer_id == Answer.id)
            .where(Answer.kind == "flag", Answer.retracted_at.is_(None), FlagResolution.answer_id.is_(None))
            .order_by(Answer.created_at, Answer.id)
        ).all()
        flags: dict[int, list[OpenFlag]] = {}
        for answer_id, task_id, name, comment, created in flagged:
            flags.setdefault(task_id, []).append(OpenFlag(answer_id, name, comment, iso(created) or ""))
        if not flags:
            return []
        tasks = {
            t.id: (t, text)
            for t, text in s.execute(select(Task, Item.text).join(Item, Item.id == Task.item_id).where(Task.id.in_(list(flags))))
        }
        answers: dict[int, list[TaskAnswer]] = {}
        for a, name in s.execute(
            select(Answer, Reviewer.name)
            .join(Reviewer, Reviewer.id == Answer.reviewer_id)
            .where(Answer.task_id.in_(list(flags)), Answer.retracted_at.is_(None))
            .order_by(Reviewer.name)
        ):
            answers.setdefault(a.task_id, []).append(TaskAnswer(name, a.kind, a.label, a.comment, iso(a.created_at) or ""))
        cards = []
        for task_id, raised in flags.items():  # dicts keep the order of the oldest flag
            task, text = tasks[task_id]
            cards.append(FlagCard(task_id, task.item_id, task.round, task.route, task.status, text, raised, answers.get(task_id, [])))
        return cards

    return store.read(run)


def next_dispute(store: ReviewStore, after: int | None = None) -> int | None:
    """The task id of the dispute (``reports.disputes``: disputed, or with an open flag) that
    follows task ``after`` in the queue's order (round, then id), wrapping round to the first;
    never ``after`` itself. None when nothing else needs an admin."""
    queue = reports.disputes(store).select("task_id", "round")
    rows = [(r, t) for t, r in queue.iter_rows() if t != after]
    if not rows:
        return None
    if after is not None:
        round_of = store.read(lambda s: s.scalar(select(Task.round).where(Task.id == after)))
        if round_of is not None:
            later = [row for row in rows if row > (round_of, after)]
            if later:
                return later[0][1]
    return rows[0][1]


def reviewer_stats_of(store: ReviewStore, *, idle_seconds: float = IDLE_SECONDS) -> list[ReviewerStats]:
    """``stats.reviewer_stats`` over every stored answer (retracted ones included), the gold
    items and the adjudicated tasks' final labels."""

    def adjudicated(s: Session) -> list[tuple[int, int]]:
        return list(s.execute(select(Task.id, Task.final_label).where(Task.status == "adjudicated")).all())

    adj = pl.DataFrame(store.read(adjudicated), schema={"task_id": pl.Int64(), "label": pl.Int64()}, orient="row")
    return reviewer_stats(
        reports.answers(store, include_retracted=True),
        gold=reports.gold_items(store).select("item_id", "label"),
        adjudicated=adj,
        idle_seconds=idle_seconds,
    )
