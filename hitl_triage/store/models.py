"""SQLAlchemy 2 models of the review store.

Tables: ``reviewers`` (accounts), ``web_sessions`` (browser logins), ``rounds``, ``items``
(id, text, and the shown fields as a JSON object when ``dataset.fields`` lists several), ``tasks`` (one item routed in one round: route, priority, the evidence shown to
reviewers, overlap ``k`` and the settled label), ``assignments`` (a reviewer's claim on a task),
``answers`` (what a reviewer submitted, keyed by a client-generated id; never deleted: undo and
edit set ``retracted_at``), ``gold_items``, ``adjudications`` and ``flag_resolutions`` (an
admin's resolution of a flag answer).

Timestamps are naive UTC (``utcnow()``), identical on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("admin", "reviewer", "writer")  # writer: also sees the LF workbench (/lf)
NAME_MAX = 64
ROUTES = ("review", "audit")
GOLD_ROUTE = "gold"
GOLD_ROUND = -1
ANSWER_KINDS = ("label", "skip", "flag")
# Task status: open (needs answers), settled (k answers agree), disputed (needs adjudication),
# adjudicated (an admin recorded the final label).
TASK_STATUSES = ("open", "settled", "disputed", "adjudicated")
# Assignment state: active (claimed, unanswered), done (labelled), skipped, flagged, released.
ASSIGNMENT_STATES = ("active", "done", "skipped", "flagged", "released")


def utcnow() -> datetime:
    """Now in UTC, without tzinfo (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC text of a stored timestamp."""
    return None if value is None else value.replace(tzinfo=UTC).isoformat()


class Base(DeclarativeBase):
    pass


class Reviewer(Base):
    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(256))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WebSession(Base):
    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Round(Base):
    __tablename__ = "rounds"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Item(Base):
    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    text: Mapped[str | None] = mapped_column(Text)
    # JSON object: field name -> value (str or null), in the configured order; null: text only
    fields: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("item_id", "round", name="uq_tasks_item_round"),
        Index("ix_tasks_queue", "status", "round", text("priority DESC"), "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"))
    round: Mapped[int] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(16))
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    suggested: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)
    votes: Mapped[str] = mapped_column(Text, default="{}")
    judge_rationale: Mapped[str | None] = mapped_column(Text)
    # JSON: {"source": posterior that suggested, "label_model": [label, confidence],
    # "end_model": [label, confidence]} (keys optional), or null
    models: Mapped[str | None] = mapped_column(Text)
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="open")
    final_label: Mapped[int | None] = mapped_column(Integer)
    settled_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("task_id", "reviewer_id", name="uq_assignments_task_reviewer"),
        Index("ix_assignments_reviewer_state", "reviewer_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    state: Mapped[str] = mapped_column(String(16), default="active")
    assigned_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (
        # At most one live answer per reviewer and task; retracted answers are kept.
        Index(
            "uq_answers_live",
            "task_id",
            "reviewer_id",
            unique=True,
            sqlite_where=text("retracted_at IS NULL"),
            postgresql_where=text("retracted_at IS NULL"),
        ),
        Index("ix_answers_reviewer_created", "reviewer_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    kind: Mapped[str] = mapped_column(String(8))
    label: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    # the reviewer's corrected text of the ``review.correction`` field (the item keeps the original)
    correction: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    retracted_at: Mapped[datetime | None] = mapped_column(DateTime)
    replaced_by: Mapped[str | None] = mapped_column(String(64))


class GoldItem(Base):
    __tablename__ = "gold_items"

    item_id: Mapped[str] = mapped_column(ForeignKey("items.id"), primary_key=True)
    label: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Adjudication(Base):
    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    label: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FlagResolution(Base):
    """An admin's resolution of a flag answer. A flag stays in the admin queue (with its
    comment) until it has a row here, whatever happens to its task meanwhile."""

    __tablename__ = "flag_resolutions"

    answer_id: Mapped[str] = mapped_column(ForeignKey("answers.id"), primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
