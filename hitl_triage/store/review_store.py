"""``ReviewStore``: the one object the round loop, the web app and the terminal review use.

Open it with ``open_store(config)``. Every public method runs in its own transaction (writes are
retried on lock timeouts, deadlocks and unique-key races, so a retried request is safe), takes
and returns plain values (dataclasses, polars frames) and never leaks ORM objects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from hitl_triage.store import accounts, claims, evidence, submissions
from hitl_triage.store.accounts import NewCredentials, ReviewerInfo
from hitl_triage.store.claims import TaskView
from hitl_triage.store.db import default_sqlite_url, is_postgres, make_engine, upgrade
from hitl_triage.store.errors import AnswerError, ReviewerError, StoreError, TaskNotFoundError
from hitl_triage.store.evidence import SourceAccuracy
from hitl_triage.store.intake import enqueue_frame
from hitl_triage.store.models import GOLD_ROUTE, Answer, Reviewer, Round, Task, iso, utcnow
from hitl_triage.store.submissions import SubmitResult

if TYPE_CHECKING:
    from hitl_triage.config import TaskConfig

T = TypeVar("T")
RESOLVED_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "label": pl.Int64(),
    "reviewer": pl.String(),
    "round": pl.Int64(),
    "route": pl.String(),
    "answered_at": pl.String(),
    "correction": pl.String(),
}
_RETRIES = 8
ID_MAX = 2**31 - 1  # task ids are 32-bit integers on PostgreSQL


def _check_task_id(task_id: int) -> None:
    """Out-of-range ids are unknown tasks, not database overflow errors."""
    if not 0 <= task_id <= ID_MAX:
        raise TaskNotFoundError(f"no task with id {task_id}")


def _retryable(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True  # a concurrent insert of the same key: the retry sees it and answers
    code = getattr(exc.orig, "sqlstate", None)
    return code in ("40001", "40P01") or "database is locked" in str(exc.orig)


def open_store(config: TaskConfig, *, pool_size: int = 20) -> ReviewStore:
    """Open (creating or upgrading the schema of) the review store of a task.

    ``config.review.database_url`` null means ``<run_dir>/review.sqlite3``.

    Raises:
        StoreError: the URL is invalid, names a missing environment variable, or the database
            cannot be reached.
    """
    try:
        url = config.review.resolved_database_url()
    except KeyError as exc:
        raise StoreError(
            f"review.database_url references environment variable {exc.args[0]}, which is not set"
        ) from None
    engine = make_engine(url or default_sqlite_url(config.out_dir), pool_size=pool_size)
    upgrade(engine)
    return ReviewStore(engine, config)


class ReviewStore:
    """Items routed to experts, reviewers, assignments and answers, in one database."""

    def __init__(self, engine: Engine, config: TaskConfig) -> None:
        self.engine = engine
        self.config = config
        self.settings = config.review
        self._reader = engine.execution_options(hitl_read=True)
        self._skip_locked = is_postgres(engine)
        # SQLite has one writer at a time: queue this process's writers on a lock instead of
        # letting them poll SQLite's busy handler (which sleeps up to 100 ms between tries).
        self._write_lock = contextlib.nullcontext() if self._skip_locked else threading.Lock()
        self._accuracy_cache: tuple[tuple[int, str], dict[str, SourceAccuracy]] | None = None

    # -- transactions -------------------------------------------------------------------
    def write(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a write transaction, retrying transient conflicts."""
        for attempt in range(_RETRIES):
            try:
                with self._write_lock, Session(self.engine, expire_on_commit=False) as session, session.begin():
                    return fn(session)
            except DBAPIError as exc:
                if not _retryable(exc) or attempt == _RETRIES - 1:
                    raise
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    def read(self, fn: Callable[[Session], T]) -> T:
        with Session(self._reader) as session, session.begin():
            return fn(session)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def lease(self) -> timedelta:
        return timedelta(minutes=self.settings.lease_minutes)

    # -- the round loop's contract ------------------------------------------------------
    def enqueue(self, items: pl.DataFrame) -> int:
        """Add routed items; returns how many tasks were new. Idempotent per (id, round).

        ``items`` columns: ``id`` (str), ``text`` (str|null), ``route`` ("review"|"audit"),
        ``round`` (int >= 0), ``priority`` (float, higher first), ``suggested`` (class index or
        null), ``confidence`` (float in [0, 1] or null), ``votes`` (JSON object: source name →
        class index, or null / -1 for abstain), ``judge_rationale`` (str|null),
        ``suggestion_source`` (the posterior that suggested: "label_model", "end_model",
        "stacked", "stacked_judge", "crowdlab", or null), ``label_model_label`` / ``end_model_label`` (class
        index or null) with ``label_model_confidence`` / ``end_model_confidence`` (in [0, 1]
        or null), ``fields`` (JSON object field name -> text or null: the item's shown fields,
        ``dataset.fields``; null: the text alone). Only ``id``, ``route`` and ``round`` are
        required.

        ``text``, each field and ``judge_rationale`` have at most ``review.max_item_chars`` characters.

        Raises:
            IntakeError: a missing column or a bad value, naming the row's id.
        """
        return self.write(
            lambda s: enqueue_frame(
                s,
                items,
                n_classes=self.config.n_classes,
                overlap=self.settings.overlap,
                max_chars=self.settings.max_item_chars,
            )
        )

    def resolved_answers(self) -> pl.DataFrame:
        """One row per non-gold task whose final label is settled or adjudicated.

        Columns: ``id`` (item id), ``label`` (int), ``reviewer`` ("adjudicated" or a comma list
        of the reviewers whose labels settled it), ``round``, ``route``, ``answered_at`` (ISO),
        ``correction`` (the latest corrected text among the live answers that gave the final
        label; null when none corrected the item).
        """

        def run(s: Session) -> pl.DataFrame:
            tasks = s.execute(
                select(Task.id, Task.item_id, Task.final_label, Task.round, Task.route, Task.status, Task.settled_at)
                .where(Task.status.in_(("settled", "adjudicated")), Task.route != GOLD_ROUTE)
                .order_by(Task.round, Task.id)
            ).all()
            names: dict[int, list[str]] = {}
            corrections: dict[int, str] = {}
            for task_id, name, status, correction in s.execute(
                select(Answer.task_id, Reviewer.name, Task.status, Answer.correction)
                .join(Reviewer, Reviewer.id == Answer.reviewer_id)
                .join(Task, Task.id == Answer.task_id)
                .where(
                    Task.status.in_(("settled", "adjudicated")),
                    Answer.kind == "label",
                    Answer.retracted_at.is_(None),
                    Answer.label == Task.final_label,
                )
                .order_by(Answer.created_at, Answer.id)
            ):
                if status == "settled":
                    names.setdefault(task_id, []).append(name)
                if correction is not None:
                    corrections[task_id] = correction
            rows = [
                {
                    "id": t.item_id,
                    "label": t.final_label,
                    "reviewer": "adjudicated" if t.status == "adjudicated" else ",".join(sorted(names.get(t.id, []))),
                    "round": t.round,
                    "route": t.route,
                    "answered_at": iso(t.settled_at),
                    "correction": corrections.get(t.id),
                }
                for t in tasks
            ]
            return pl.DataFrame(rows, schema=RESOLVED_SCHEMA)

        return self.read(run)

    def answers_table(self) -> pl.DataFrame:
        """``resolved_answers()`` in the shape of the run's human answers table
        (``hitl_triage.answers.ANSWER_COLUMNS``: ``ANSWER_SCHEMA`` and ``correction``;
        ``origin`` = "store"), ready for
        ``save_answers`` after merging with the answers already recorded."""
        from hitl_triage.answer_table import conform

        return conform(self.resolved_answers().with_columns(pl.lit("store").alias("origin")))

    def task_keys(self) -> pl.DataFrame:
        """``id`` (item id) and ``round`` of every non-gold task the store holds, settled or
        not: the answers this store can settle, or retract by an undo, a relabel or an
        adjudication."""

        def run(s: Session) -> pl.DataFrame:
            rows = s.execute(select(Task.item_id, Task.round).where(Task.route != GOLD_ROUTE)).all()
            return pl.DataFrame(rows, schema={"id": pl.String(), "round": pl.Int64()}, orient="row")

        return self.read(run)

    def pending_count(self, round: int | None = None) -> int:
        """Routed (non-gold) tasks still without a settled label, in ``round`` or in all."""

        def run(s: Session) -> int:
            query = select(func.count(Task.id)).where(
                Task.status.in_(("open", "disputed")), Task.route != GOLD_ROUTE
            )
            if round is not None:
                query = query.where(Task.round == round)
            return int(s.scalar(query) or 0)

        return self.read(run)

    # -- reviewers ------------------------------------------------------------------------
    def add_reviewer(self, name: str, *, role: str = "reviewer", password: str | None = None) -> NewCredentials:
        return self.write(lambda s: accounts.add_reviewer(s, name=name, role=role, password=password))

    def reviewers(self) -> list[ReviewerInfo]:
        return self.read(
            lambda s: [accounts.info(r) for r in s.scalars(select(Reviewer).order_by(Reviewer.name))]
        )

    def reviewer(self, name: str) -> ReviewerInfo:
        """Raises ReviewerError if unknown or disabled."""
        found = self.read(lambda s: accounts.info(accounts.get_reviewer(s, name)))
        if not found.active:
            raise ReviewerError(f"reviewer {name!r} is disabled")
        return found

    def reset_credentials(self, name: str, *, password: bool, token: bool, new_password: str | None = None) -> NewCredentials:
        return self.write(
            lambda s: accounts.reset_credentials(s, name, password=password, token=token, new_password=new_password)
        )

    def set_active(self, name: str, active: bool) -> ReviewerInfo:
        return self.write(lambda s: accounts.set_active(s, name, active))

    def check_password(self, name: str, password: str) -> ReviewerInfo:
        """The account if the password is right (same scrypt work whether or not the name
        exists). A hash made with older scrypt parameters is replaced by a current one.

        Raises:
            ReviewerError: wrong name or password, or a disabled account (one message for all).
        """
        found = self.read(lambda s: accounts.check_password(s, name, password))
        if found.rehash:
            self.write(lambda s: accounts.upgrade_hash(s, found.reviewer.id, password))
        return found.reviewer

    def check_token(self, token: str) -> ReviewerInfo | None:
        return self.read(lambda s: accounts.check_token(s, token))

    def open_session(self, reviewer: ReviewerInfo) -> tuple[str, str]:
        hours = self.settings.session_hours
        return self.write(lambda s: accounts.open_session(s, reviewer.id, hours=hours))

    def find_session(self, cookie: str) -> tuple[ReviewerInfo, str] | None:
        return self.read(lambda s: accounts.find_session(s, cookie))

    def close_session(self, cookie: str) -> None:
        self.write(lambda s: accounts.close_session(s, cookie))

    # -- reviewing ------------------------------------------------------------------------
    def next_task(self, reviewer: ReviewerInfo, *, exclude: Iterable[int] = ()) -> TaskView | None:
        """The reviewer's current task (claimed for ``lease_minutes``), or None if done.
        ``exclude``: task ids to pass over (the ones a client already shows or holds), so a
        client can claim the task after its current one ahead of time."""
        skip = frozenset(int(t) for t in exclude)
        task = self.write(
            lambda s: claims.claim(
                s,
                reviewer_id=reviewer.id,
                reviewer_name=reviewer.name,
                lease=self.lease,
                gold_rate=self.settings.gold_rate,
                skip_locked=self._skip_locked,
                exclude=skip,
                blind_audit=self.settings.blind_audit,
            )
        )
        if task is None or not task.votes:
            return task
        table = self.source_accuracy()
        voted = {s: table.get(s, SourceAccuracy(0, 0)) for s, v in task.votes.items() if v is not None}
        return dataclasses.replace(task, source_accuracy=voted)

    def source_accuracy(self) -> dict[str, SourceAccuracy]:
        """Each source's accuracy on the human labels settled so far (``store.evidence``);
        recomputed only when a task has settled, reopened or been adjudicated since."""

        def run(s: Session) -> dict[str, SourceAccuracy]:
            key = evidence.settled_key(s)
            cached = self._accuracy_cache
            if cached is not None and cached[0] == key:
                return cached[1]
            table = evidence.source_accuracy(s)
            self._accuracy_cache = (key, table)
            return table

        return self.read(run)

    def submit(
        self,
        reviewer: ReviewerInfo,
        *,
        answer_id: str,
        task_id: int,
        kind: str,
        label: int | None = None,
        comment: str | None = None,
        correction: str | None = None,
    ) -> SubmitResult:
        """Record an answer; a retried ``answer_id`` returns the stored answer (``created``
        False) and never adds a second one.

        ``correction``: the reviewer's rewrite of the ``review.correction`` field (label answers
        only); stored with the answer, the item keeps its original text.

        Only a task the reviewer holds a live claim on (``next_task``) takes a new answer.

        Raises:
            AnswerError: bad id, kind, label or comment.
            AnswerConflictError: already answered by this reviewer, the id is another's, or the
                task is no longer open.
            PermissionDeniedError: the reviewer holds no claim on the task.
            TaskNotFoundError: no such task.
        """
        submissions.validate_answer_id(answer_id)
        _check_task_id(task_id)
        comment = comment or None
        submissions.validate_answer(kind, label, comment, self.config.n_classes)
        self._check_correction(kind, correction)
        return self.write(
            lambda s: submissions.submit(
                s,
                answer_id=answer_id,
                reviewer_id=reviewer.id,
                task_id=task_id,
                kind=kind,
                label=label,
                comment=comment,
                settle_mode=self.settings.settle,
                lease=self.lease,
                correction=correction,
            )
        )

    def _check_correction(self, kind: str, correction: str | None) -> None:
        field = None if self.settings.correction is None else self.settings.correction.field
        submissions.validate_correction(kind, correction, field=field, max_chars=self.settings.max_item_chars)

    def undo(self, reviewer: ReviewerInfo, answer_id: str | None = None) -> int:
        """Retract ``answer_id`` (default: the reviewer's latest live answer); its task becomes
        the reviewer's next one. Returns the task id.

        Raises:
            AnswerError: nothing to undo, or not the reviewer's answer.
        """

        def run(s: Session) -> int:
            target = answer_id or submissions.last_live_answer(s, reviewer.id)
            if target is None:
                raise AnswerError(f"nothing to undo: {reviewer.name} has no answers")
            return submissions.retract(
                s, answer_id=target, reviewer_id=reviewer.id, settle_mode=self.settings.settle, lease=self.lease
            )

        return self.write(run)

    def edit(
        self,
        reviewer: ReviewerInfo,
        *,
        answer_id: str,
        new_answer_id: str,
        kind: str = "label",
        label: int | None = None,
        comment: str | None = None,
        correction: str | None = None,
        keep_correction: bool = True,
    ) -> SubmitResult:
        """Replace one of the reviewer's live answers (the old one is kept, retracted); the
        new answer carries ``correction``, or with None and ``keep_correction`` (a relabel)
        the old answer's correction.

        Raises:
            AnswerError: bad new id, kind or label, or no such live answer of the reviewer.
            AnswerConflictError: the answer's round is finished (``submissions.round_is_open``).
        """
        submissions.validate_answer_id(new_answer_id)
        comment = comment or None
        submissions.validate_answer(kind, label, comment, self.config.n_classes)
        self._check_correction(kind, correction)
        return self.write(
            lambda s: submissions.edit(
                s,
                answer_id=answer_id,
                new_answer_id=new_answer_id,
                reviewer_id=reviewer.id,
                kind=kind,
                label=label,
                comment=comment,
                settle_mode=self.settings.settle,
                correction=correction,
                keep_correction=keep_correction,
            )
        )

    def adjudicate(self, admin: ReviewerInfo, *, task_id: int, label: int, comment: str | None = None) -> None:
        """Record the final label of a disputed (or any non-gold) task.

        Raises:
            PermissionDeniedError: ``admin`` is not an admin.
            AnswerError: label out of range.  TaskNotFoundError: no such task.
        """
        from hitl_triage.store.errors import PermissionDeniedError

        if not admin.is_admin:
            raise PermissionDeniedError(f"{admin.name} is not an admin; only admins adjudicate")
        submissions.validate_answer("label", label, comment, self.config.n_classes)
        _check_task_id(task_id)
        self.write(
            lambda s: submissions.adjudicate(s, task_id=task_id, admin_id=admin.id, label=label, comment=comment or None)
        )

    def resolve_flags(self, admin: ReviewerInfo, *, task_id: int, comment: str | None = None) -> int:
        """Mark a task's open flags as resolved (admins only); returns how many were open.

        Raises:
            PermissionDeniedError: not an admin.  TaskNotFoundError: no such task.
            AnswerError: comment too long.
        """
        from hitl_triage.store.errors import PermissionDeniedError

        if not admin.is_admin:
            raise PermissionDeniedError(f"{admin.name} is not an admin; only admins resolve flags")
        _check_task_id(task_id)
        if comment is not None and len(comment) > submissions.COMMENT_MAX:
            raise AnswerError(f"comment too long: {len(comment)} characters, at most {submissions.COMMENT_MAX}")
        return self.write(
            lambda s: submissions.resolve_flags(s, task_id=task_id, admin_id=admin.id, comment=comment or None)
        )

    def current_round(self) -> int | None:
        return self.read(lambda s: s.scalar(select(func.max(Round.number))))

    def now(self) -> str:
        return iso(utcnow()) or ""

    def add_gold(self, admin: ReviewerInfo, *, item_id: str, label: int, text: str | None = None) -> None:
        """Mark an item as gold with a known label (admins only).

        Raises:
            PermissionDeniedError: not an admin.  AnswerError: label out of range.
            IntakeError: unknown item and no text.
        """
        from hitl_triage.store.errors import PermissionDeniedError
        from hitl_triage.store.intake import add_gold

        if not admin.is_admin:
            raise PermissionDeniedError(f"{admin.name} is not an admin; only admins add gold items")
        submissions.validate_answer("label", label, None, self.config.n_classes)
        max_chars = self.settings.max_item_chars
        self.write(lambda s: add_gold(s, item_id=item_id, label=label, admin=admin.name, text=text, max_chars=max_chars))
