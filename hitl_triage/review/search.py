"""Searching a reviewer's own answers by item text or item id, for relabelling.

The query runs in the store as a parameterised, case-insensitive ``LIKE`` (``%``, ``_`` and the
escape character in the search text are escaped, so they match themselves); results are the
reviewer's live answers, newest first, one page at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hitl_triage.store import ReviewerInfo, ReviewStore
from hitl_triage.store.errors import AnswerError
from hitl_triage.store.models import Answer, Item, Task, iso
from hitl_triage.store.submissions import round_is_open

QUERY_MAX = 200
PAGE_MAX = 100
ESCAPE = "\\"


@dataclass(frozen=True)
class Hit:
    """One of the reviewer's live answers. ``editable``: its round is still open, so it may be
    relabelled (``store.submissions.round_is_open``)."""

    answer_id: str
    task_id: int
    item_id: str
    round: int
    text: str | None
    kind: str
    label: int | None
    comment: str | None
    created_at: str
    editable: bool


@dataclass(frozen=True)
class SearchPage:
    query: str
    hits: list[Hit]
    total: int  # matches over all pages
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.hits) < self.total


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` escaped (escape character ``\\``):
    ``like_pattern("50%_off")`` → ``%50\\%\\_off%``."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def search_history(store: ReviewStore, reviewer: ReviewerInfo, query: str, *, limit: int = 20, offset: int = 0) -> SearchPage:
    """The reviewer's live answers whose item text or item id contains ``query`` (ignoring case
    for ASCII letters on SQLite, all letters on PostgreSQL), newest first.

    Raises:
        AnswerError: an empty or too long query (more than 200 characters), ``limit`` outside
            [1, 100] or a negative ``offset``.
    """
    query = query.strip()
    if not 1 <= len(query) <= QUERY_MAX:
        raise AnswerError(f"search text must have 1-{QUERY_MAX} characters, got {len(query)}")
    if not 1 <= limit <= PAGE_MAX or offset < 0:
        raise AnswerError(f"limit must be in [1, {PAGE_MAX}] and offset >= 0, got limit={limit}, offset={offset}")
    pattern = like_pattern(query)
    where = (
        Answer.reviewer_id == reviewer.id,
        Answer.retracted_at.is_(None),
        or_(Item.text.ilike(pattern, escape=ESCAPE), Task.item_id.ilike(pattern, escape=ESCAPE)),
    )

    def run(s: Session) -> SearchPage:
        joined = select(Answer, Task.item_id, Task.round, Item.text).join(Task, Task.id == Answer.task_id).join(Item, Item.id == Task.item_id)
        total = s.scalar(
            select(func.count(Answer.id)).join(Task, Task.id == Answer.task_id).join(Item, Item.id == Task.item_id).where(*where)
        )
        rows = s.execute(joined.where(*where).order_by(Answer.created_at.desc(), Answer.id.desc()).limit(limit).offset(offset)).all()
        open_rounds = {rnd: round_is_open(s, rnd) for rnd in {r[2] for r in rows}}
        hits = [
            Hit(a.id, a.task_id, item_id, rnd, text, a.kind, a.label, a.comment, iso(a.created_at) or "", open_rounds[rnd])
            for a, item_id, rnd, text in rows
        ]
        return SearchPage(query, hits, int(total or 0), offset, limit)

    return store.read(run)
