"""The review queue as plain arrays, and answers read back from another tool, in one shape.

Every format module turns a :class:`ReviewQueue` into its tool's records, and its tool's
answered records into :class:`ForeignAnswers`; the files and the run directory are handled in
:mod:`hitl_triage.interop.files`.

Shared names in every format: the text is ``text``, the class question is ``label`` and its
options are the config's label names, so a file made for one task reads back only into it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from hitl_triage.answers import AnswerImportError
from hitl_triage.schema import ABSTAIN

TEXT = "text"
LABEL = "label"
FOREIGN_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "label": pl.Int64(), "reviewer": pl.String(), "answered_at": pl.String(),
}


class InteropError(AnswerImportError):
    """A file in another tool's format is unreadable or has a bad record (the message names
    the file, the record and the field)."""


@dataclass(frozen=True)
class ReviewQueue:
    """Items waiting for a human answer, with what a reviewer may see.

    Attributes:
        ids: ``n`` item ids.
        texts: ``n`` item texts (None where the dataset has none).
        rounds: ``(n,)`` int64 round that routed the item.
        suggested: ``(n,)`` int64 suggested class index, ``-1`` = no suggestion (an audit item
            under ``review.blind_audit``).
        score: ``(n,)`` float64 confidence of the suggestion in [0, 1] (higher = more likely
            right), NaN where there is no suggestion.
        suggested_by: ``n`` names of the posterior that suggested (``label_model``,
            ``end_model``, ``stacked``, ``crowdlab``), None where unknown or hidden.
        votes: ``(n, m)`` int8 each source's vote, ``-1`` = abstain (or hidden).
        sources: ``m`` source names (labeling functions, precomputed columns, the judge).
    """

    ids: list[str]
    texts: list[str | None]
    rounds: np.ndarray
    suggested: np.ndarray
    score: np.ndarray
    suggested_by: list[str | None]
    votes: np.ndarray
    sources: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def votes_of(self, i: int, label_names: list[str]) -> dict[str, str]:
        """Item ``i``'s votes as ``{source: class name}``, abstaining sources left out."""
        return {name: label_names[int(v)] for name, v in zip(self.sources, self.votes[i], strict=True)
                if v != ABSTAIN}

    def suggestion_of(self, i: int, label_names: list[str]) -> tuple[str, float | None, str | None] | None:
        """Item ``i``'s suggestion as (class name, score or None, posterior name or None)."""
        if self.suggested[i] < 0:
            return None
        score = float(self.score[i])
        return label_names[int(self.suggested[i])], (None if math.isnan(score) else score), self.suggested_by[i]


def build_queue(requests: pl.DataFrame, votes: pl.DataFrame, *, label_names: list[str],
                suggested_by: Mapping[int, str | None], blind_audit: bool) -> ReviewQueue:
    """The review queue from the open requests and the vote matrix.

    Args:
        requests: :func:`hitl_triage.answers.open_requests`: ``id``, ``text``, ``route``
            (``review`` or ``audit``), ``round``, ``priority``, ``suggested`` (class name or
            null), ``confidence``.
        votes: ``votes.parquet``: ``id`` and one int8 column per source (``-1`` = abstain);
            items missing from it get no votes.
        label_names: class names in index order.
        suggested_by: round -> the posterior that suggested in that round.
        blind_audit: audit items carry no suggestion, score, posterior name or votes, so that
            they look like review items without evidence.

    Returns:
        :class:`ReviewQueue`, ordered by round, then by a hash of the id (so that an item's
        position does not tell audit from review).
    """
    frame = requests.sort(["round", pl.col("id").hash(seed=7)])
    sources = [c for c in votes.columns if c != "id"]
    joined = frame.select("id").join(votes, on="id", how="left", maintain_order="left")
    L = (joined.select([pl.col(c).fill_null(ABSTAIN) for c in sources]).to_numpy().astype(np.int8)
         if sources else np.empty((frame.height, 0), np.int8))
    names = {name: i for i, name in enumerate(label_names)}
    suggested = np.array([names.get(s, -1) if s is not None else -1 for s in frame["suggested"].to_list()],
                         dtype=np.int64)
    score = frame["confidence"].cast(pl.Float64).fill_null(float("nan")).to_numpy().copy()
    rounds = frame["round"].cast(pl.Int64).to_numpy().copy()
    by = [suggested_by.get(int(r)) for r in rounds]
    if blind_audit:
        hide = (frame["route"] == "audit").to_numpy()
        suggested[hide] = -1
        score[hide] = np.nan
        L[hide] = ABSTAIN
        by = [None if h else b for h, b in zip(hide, by, strict=True)]
    return ReviewQueue(ids=frame["id"].to_list(), texts=frame["text"].to_list(), rounds=rounds,
                       suggested=suggested, score=score, suggested_by=by, votes=L, sources=sources)


@dataclass
class ForeignAnswers:
    """Answers read from another tool's file, before they join the answers table.

    Attributes:
        rows: one dict per answer: ``id``, ``label`` (class index), ``reviewer``,
            ``answered_at`` (ISO-8601 UTC).
        skipped: why records gave no answer -> how many (e.g. ``cancelled``, ``rejected``).
    """

    rows: list[dict[str, object]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def frame(self) -> pl.DataFrame:
        """The answers as a frame (``id``, ``label``, ``reviewer``, ``answered_at``), oldest
        first, so that a reviewer's latest answer on an item comes last."""
        return pl.DataFrame(self.rows, schema=FOREIGN_SCHEMA).sort("answered_at", maintain_order=True)


@dataclass(frozen=True)
class Checker:
    """Validates the values of one file's records; every error names the file, the record and
    the field.

    Attributes:
        source: the file (as shown in messages).
        label_names: class names in index order (answers must name one exactly).
        ids: the dataset's item ids.
        task: the config's task name.
    """

    source: str
    label_names: list[str]
    ids: frozenset[str]
    task: str

    def error(self, where: str, field_name: str, message: str) -> InteropError:
        return InteropError(f"{self.source}: {where}: field {field_name!r}: {message}")

    def item(self, where: str, field_name: str, value: object) -> str:
        """The item id ``value`` (text, or an integer written as a number)."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.error(where, field_name, f"expected an item id (text), got {value!r}")
        item = str(value)
        if item not in self.ids:
            raise self.error(where, field_name, f"{item!r} is not an item of this dataset")
        return item

    def label(self, where: str, field_name: str, value: object) -> int:
        """The class index of ``value``, which must be one of the label names exactly."""
        if isinstance(value, str) and value in self.label_names:
            return self.label_names.index(value)
        raise self.error(where, field_name, f"{value!r} is not a class; expected one of {self.label_names}")

    def same_task(self, where: str, field_name: str, value: object) -> None:
        """A record that names a task must name this config's task."""
        if value not in (None, "") and value != self.task:
            raise self.error(where, field_name, f"{value!r} is another task's record; this config's task is {self.task!r}")

    def reviewer(self, where: str, field_name: str, value: object, default: str | None) -> str:
        """The reviewer's name from ``value``, else ``default``."""
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
        if default:
            return default
        raise self.error(where, field_name, f"no reviewer (got {value!r}); pass a default reviewer "
                         "(--reviewer NAME) for records that name none")

    def time(self, where: str, field_name: str, value: object) -> str:
        """``value`` (ISO-8601 text, or Unix seconds) as ISO-8601 UTC; the present time if None."""
        if value is None:
            return now_utc()
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                stamp = datetime.fromtimestamp(float(value), tz=UTC)
            elif isinstance(value, str):
                stamp = datetime.fromisoformat(value)
                stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
            else:
                raise TypeError
        except (TypeError, ValueError, OverflowError, OSError):
            raise self.error(where, field_name, f"expected an ISO-8601 time or Unix seconds, got {value!r}") from None
        return stamp.isoformat(timespec="microseconds")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def record_where(index: int, item: object = None) -> str:
    """``record 3`` or ``record 3 (id 'x')``: a record of a JSON array, counted from 1."""
    return f"record {index}" + (f" (id {item!r})" if isinstance(item, str | int) and not isinstance(item, bool) else "")
