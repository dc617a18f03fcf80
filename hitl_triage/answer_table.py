"""The human answers table (``answers.parquet`` in the run directory): storage, locking, merging.

Columns (``ANSWER_SCHEMA``): ``id`` (str, item id), ``label`` (int, class index in [0, k)),
``reviewer`` (str), ``round`` (int, the round that routed the item; -1 if unknown), ``route``
(str: ``review``, ``audit`` or ``import``), ``origin`` (str: ``store``, ``import``, ``simulated``),
``answered_at`` (str, ISO-8601 UTC). Rows may carry ``correction`` (str or null: the reviewer's
corrected text of the ``review.correction`` field; ``ANSWER_COLUMNS``): a frame without it, or a
table written before it existed, reads as null. The stored table adds ``superseded_at`` (str or null): an
answer is *live* while it is null. Nothing is deleted; an answer stops counting when

* the same reviewer answers the same item again (import, simulated): the later answer replaces
  the earlier one;
* the review store no longer holds it as the settled label (an undo, a relabel from the
  history, an adjudication): every sync makes the live ``store`` rows equal to the store's
  current resolved answers (:func:`replace_store_answers`).

:func:`load_answers` returns the live answers. An item may have several (several reviewers);
:func:`known_labels` reduces them to one label per item: an adjudicated label wins, else the
most frequent, ties to the latest.

Every writer goes through :func:`update_answers`, which holds a file lock
(``answers.parquet.lock``) around read, merge and atomic replace, so concurrent imports, store
syncs and simulated reviewers never lose each other's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
from filelock import FileLock, Timeout

from hitl_triage.errors import HitlTriageError
from hitl_triage.indexing import row_index
from hitl_triage.rundir import write_frame

ANSWERS_FILE = "answers.parquet"
ANSWER_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "label": pl.Int64(),
    "reviewer": pl.String(),
    "round": pl.Int64(),
    "route": pl.String(),
    "origin": pl.String(),
    "answered_at": pl.String(),
}
ANSWER_COLUMNS: dict[str, pl.DataType] = {**ANSWER_SCHEMA, "correction": pl.String()}
OPTIONAL_COLUMNS = ("correction", "superseded_at")  # null where a frame lacks them
STORED_SCHEMA: dict[str, pl.DataType] = {**ANSWER_COLUMNS, "superseded_at": pl.String()}
ADJUDICATED = "adjudicated"
LOCK_TIMEOUT_S = 300.0


class AnswersBusyError(HitlTriageError):
    """Another process held the answers table's lock for too long."""


def empty_answers() -> pl.DataFrame:
    return pl.DataFrame(schema=ANSWER_SCHEMA)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType] = ANSWER_COLUMNS) -> pl.DataFrame:
    """``frame`` with exactly the columns of ``schema`` in order; the optional columns
    (``correction``, ``superseded_at``) are added as null where absent."""
    missing = [c for c in OPTIONAL_COLUMNS if c in schema and c not in frame.columns]
    if missing:
        frame = frame.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in missing])
    return frame.select(list(schema)).cast(schema)


def _stored(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every column of ``STORED_SCHEMA`` (optional columns null if absent)."""
    return conform(frame, STORED_SCHEMA)


def load_answers(run_dir: Path, *, include_superseded: bool = False) -> pl.DataFrame:
    """The live human answers of a run (``ANSWER_COLUMNS``: ``ANSWER_SCHEMA`` and
    ``correction``; empty if none).

    With ``include_superseded`` every answer ever recorded, with ``superseded_at``
    (``STORED_SCHEMA``; null = live).
    """
    path = Path(run_dir) / ANSWERS_FILE
    frame = _stored(pl.read_parquet(path)) if path.is_file() else pl.DataFrame(schema=STORED_SCHEMA)
    if include_superseded:
        return frame
    return frame.filter(pl.col("superseded_at").is_null()).select(list(ANSWER_COLUMNS))


@contextmanager
def answers_lock(run_dir: Path, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the answers table's lock (``answers.parquet.lock``, across processes).

    Raises:
        AnswersBusyError: another process held it for ``timeout`` seconds.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / f"{ANSWERS_FILE}.lock")
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise AnswersBusyError(
            f"{lock.lock_file}: another hitl-triage process has held the answers table for over "
            f"{timeout:.0f} s (an import, a run or a simulation); try again when it has finished"
        ) from None
    try:
        yield
    finally:
        lock.release()


def update_answers(run_dir: Path, change: Callable[[pl.DataFrame], pl.DataFrame], *, force: bool = False) -> pl.DataFrame:
    """Read every stored answer, apply ``change`` and replace the table, all under the lock.

    ``change`` gets and returns a ``STORED_SCHEMA`` frame (superseded answers included). The
    file is rewritten only if the frame changed (or ``force``). Returns the new stored frame.
    """
    with answers_lock(run_dir):
        old = load_answers(run_dir, include_superseded=True)
        new = _stored(change(old))
        if force or not new.equals(old):
            write_frame(Path(run_dir) / ANSWERS_FILE, new)
        return new


def save_answers(run_dir: Path, answers: pl.DataFrame) -> Path:
    """Replace the answers table atomically (columns as in ``ANSWER_SCHEMA``, optionally
    ``superseded_at``)."""
    update_answers(run_dir, lambda _old: answers, force=True)
    return Path(run_dir) / ANSWERS_FILE


@dataclass(frozen=True)
class MergeResult:
    """What a write to the answers table changed: rows ``added``, live rows ``superseded``."""

    added: int
    superseded: int


def _supersede(old: pl.DataFrame, rows: pl.DataFrame, stamp: str) -> tuple[pl.DataFrame, int]:
    """Mark the rows of ``old`` (with ``_row`` index) listed in ``rows["_row"]`` superseded."""
    hit = pl.col("_row").is_in(rows["_row"].implode())
    return old.with_columns(
        pl.when(hit).then(pl.lit(stamp)).otherwise(pl.col("superseded_at")).alias("superseded_at")
    ), rows.height


def _merge(old: pl.DataFrame, new: pl.DataFrame, stamp: str) -> tuple[pl.DataFrame, MergeResult]:
    """Add ``new`` (``ANSWER_SCHEMA``) to ``old`` (``STORED_SCHEMA``): a reviewer's latest
    answer on an item (per origin) replaces their earlier live one; exact repeats of a live
    answer are not added again."""
    who = ["id", "reviewer", "origin"]
    new = conform(new).unique(who, keep="last", maintain_order=True)
    old = old.with_row_index("_row")
    live = old.filter(pl.col("superseded_at").is_null())
    same = [*who, "label", "correction"]
    fresh = new.join(live.select(same), on=same, how="anti", nulls_equal=True)
    if fresh.is_empty():
        return old.drop("_row"), MergeResult(0, 0)
    replaced = live.join(fresh.select(who), on=who, how="semi", nulls_equal=True)
    old, n_replaced = _supersede(old, replaced, stamp)
    return pl.concat([old.drop("_row"), _stored(fresh)]), MergeResult(fresh.height, n_replaced)


def append_answers(run_dir: Path, new: pl.DataFrame) -> int:
    """Add answers (``ANSWER_SCHEMA``) under the lock; returns rows added.

    Exact repeats of a live answer are dropped; a reviewer's new answer on an item replaces
    their earlier one of the same origin (kept, superseded).
    """
    return merge_answers(run_dir, new).added


def merge_answers(run_dir: Path, new: pl.DataFrame) -> MergeResult:
    """:func:`append_answers`, returning what was added and what was superseded."""
    result: list[MergeResult] = []

    def change(old: pl.DataFrame) -> pl.DataFrame:
        merged, counts = _merge(old, new, now_iso())
        result.append(counts)
        return merged

    update_answers(run_dir, change)
    return result[0]


def replace_store_answers(run_dir: Path, current: pl.DataFrame, known_tasks: pl.DataFrame | None = None) -> MergeResult:
    """Make the live ``store`` answers equal to the review store's current resolved set.

    Args:
        current: the store's resolved answers as answer rows (``ANSWER_SCHEMA``, ``origin``
            ``store``), e.g. ``ReviewStore.answers_table()``.
        known_tasks: ``id``, ``round`` of every task the store holds. A live store answer whose
            task the store does not hold (a new or another database) is kept: the store cannot
            have retracted it. None: every store answer is the store's to retract.

    Returns:
        rows added, and live store rows superseded (undone, relabeled or adjudicated).
    """
    key = ["id", "round", "label", "reviewer", "correction"]  # a changed correction replaces the row
    current = conform(current).with_columns(pl.lit("store").alias("origin"))
    result: list[MergeResult] = []

    def change(old: pl.DataFrame) -> pl.DataFrame:
        old = old.with_row_index("_row")
        live_store = old.filter(pl.col("superseded_at").is_null() & (pl.col("origin") == "store"))
        gone = live_store.join(current.select(key), on=key, how="anti", nulls_equal=True)
        if known_tasks is not None:
            tasks = known_tasks.select(pl.col("id").cast(pl.String), pl.col("round").cast(pl.Int64))
            gone = gone.join(tasks, on=["id", "round"], how="semi")
        old, n_gone = _supersede(old, gone, now_iso())
        fresh = current.join(live_store.select(key), on=key, how="anti", nulls_equal=True)
        result.append(MergeResult(fresh.height, n_gone))
        return pl.concat([old.drop("_row"), _stored(fresh)])

    update_answers(run_dir, change)
    return result[0]


def drop_origin(run_dir: Path, origin: str) -> int:
    """Delete every answer of ``origin`` (e.g. ``simulated`` when a simulation starts
    afresh); returns rows deleted."""
    path = Path(run_dir) / ANSWERS_FILE
    if not path.is_file():
        return 0
    dropped: list[int] = []

    def change(old: pl.DataFrame) -> pl.DataFrame:
        keep = old.filter(pl.col("origin") != origin)
        dropped.append(old.height - keep.height)
        return keep

    update_answers(run_dir, change)
    return dropped[0]


def known_labels(answers: pl.DataFrame, ids: list[str]) -> np.ndarray:
    """``(len(ids),)`` int64 human label per item, ``-1`` where no answer exists.

    ``answers``: live answers (``ANSWER_SCHEMA``). An adjudicated store answer decides its item;
    otherwise the most frequent label wins, ties to the latest answer.
    """
    y = np.full(len(ids), -1, dtype=np.int64)
    if answers.is_empty():
        return y
    adjudicated = (pl.col("origin") == "store") & (pl.col("reviewer") == ADJUDICATED)
    top = (
        answers.with_columns(adjudicated.alias("adjudicated"))
        .group_by("id", "label")
        .agg(pl.col("adjudicated").any(), pl.len().alias("n"), pl.col("answered_at").max())
        .sort(["adjudicated", "n", "answered_at"], descending=True)
        .unique("id", keep="first")
    )
    rows = row_index(ids, top["id"])
    found = rows >= 0
    y[rows[found]] = top["label"].to_numpy()[found]
    return y


def latest_corrections(answers: pl.DataFrame, ids: list[str]) -> pl.Series:
    """``(len(ids),)`` String: each item's latest corrected text among its live answers
    (``answers``: ``ANSWER_SCHEMA``), null where no answer corrected it."""
    answers = conform(answers)
    latest = (
        answers.filter(pl.col("correction").is_not_null())
        .sort("answered_at", maintain_order=True)
        .unique("id", keep="last")
        .select("id", "correction")
    )
    return pl.DataFrame({"id": ids}, schema={"id": pl.String()}).join(
        latest, on="id", how="left", maintain_order="left"
    )["correction"]
