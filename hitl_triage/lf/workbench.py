"""The LF writer's workbench, in memory: what each LF does, where it is wrong, what no LF covers.

:func:`lf_report` takes a label matrix, the items and the human labels and returns an
:class:`LFReport` of plain polars frames. It never reads the run directory; the file layer
(:mod:`hitl_triage.workbench`), the ``hitl-triage lf`` command and the review app's LF page
all call it. Suggestions of new LFs live in :mod:`hitl_triage.lf.suggest`.

    >>> L = np.array([[1, -1], [1, 0], [-1, -1]], dtype=np.int8)
    >>> report = lf_report(L, ["link", "short"], texts=["a http b", "ok http", "hi"],
    ...                    ids=["a", "b", "c"], human_labels=np.array([1, 0, 0]),
    ...                    label_names=["ham", "spam"])
    >>> report.lfs["accuracy"].to_list()
    [0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from hitl_triage.errors import HitlTriageError
from hitl_triage.lf.analysis import lf_summary
from hitl_triage.schema import ABSTAIN


class WorkbenchError(HitlTriageError):
    """Inputs to the workbench do not fit together, or name an unknown LF or suggestion."""


def wilson_interval(k: np.ndarray | int, n: np.ndarray | int, *, confidence: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``k / n``, vectorized.

    Args:
        k: successes, int array (or scalar) with ``0 <= k <= n``.
        n: trials, same shape; where ``n == 0`` the interval is ``(nan, nan)``.
        confidence: two-sided coverage in (0, 1).

    Returns:
        ``(low, high)`` float arrays in [0, 1] with ``low <= k / n <= high``.
        Example: ``wilson_interval(9, 10)`` is about ``(0.596, 0.982)``.
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    z = float(norm.ppf(0.5 + confidence / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # rounding can leave the bound a hair inside the point estimate at k = 0 or k = n
    low = np.where(n > 0, np.minimum(low, np.nan_to_num(p)), np.nan)
    high = np.where(n > 0, np.maximum(high, np.nan_to_num(p)), np.nan)
    return low, high


@dataclass(frozen=True)
class LFReport:
    """What each source does, measured on the human labels.

    Attributes:
        lfs: one row per source: ``source``, ``kind``, ``polarity``, ``coverage``,
            ``overlaps``, ``conflicts`` (shares of all items, in [0, 1]), ``n`` (human-labeled
            items it votes on), ``correct``, ``accuracy`` (correct / n, null when n = 0),
            ``accuracy_low`` and ``accuracy_high`` (Wilson interval at ``confidence``),
            ``n_wrong`` and ``n_strong_conflicts``.
        wrong: one row per (source, human-labeled item it votes against): ``source``, ``row``,
            ``id``, ``text``, ``vote``, ``human`` (label names).
        conflicts: one row per (source, item) where a strong source votes another label:
            ``source``, ``row``, ``id``, ``text``, ``vote`` and ``strong_votes`` (``"name: label"``
            of each strong source that disagrees, comma-separated).
        uncovered: human-labeled items on which every LF abstains: ``row``, ``id``, ``text``,
            ``human``; sorted by label, then row.
        strong: names of the strong sources.
        label_names: class names in index order.
        n_items: items in the matrix; n_human: items with a human label.
        confidence: coverage of the intervals.
    """

    lfs: pl.DataFrame
    wrong: pl.DataFrame
    conflicts: pl.DataFrame
    uncovered: pl.DataFrame
    strong: list[str]
    label_names: list[str]
    n_items: int
    n_human: int
    confidence: float

    def source(self, name: str) -> dict[str, object]:
        """The ``lfs`` row of ``name`` as a dict.

        Raises:
            WorkbenchError: no source has that name (the message lists them).
        """
        found = self.lfs.filter(pl.col("source") == name)
        if found.is_empty():
            raise WorkbenchError(f"unknown LF {name!r}; the sources are {self.lfs['source'].to_list()}")
        return found.row(0, named=True)

    def uncovered_by_label(self) -> pl.DataFrame:
        """``label`` and ``n``: uncovered human-labeled items per label, most first."""
        counts = self.uncovered.group_by("human").len("n").rename({"human": "label"})
        return counts.sort("n", descending=True)


@dataclass(frozen=True)
class Page:
    """One page of a frame: ``rows`` (at most ``limit``), ``total`` matching rows, ``offset``."""

    rows: pl.DataFrame
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total


def page(frame: pl.DataFrame, *, query: str | None = None, source: str | None = None,
         offset: int = 0, limit: int = 20) -> Page:
    """Filter ``frame`` (a report's ``wrong``, ``conflicts`` or ``uncovered``) and cut one page.

    ``query`` keeps rows whose text or id contains it (case-insensitive, literal); ``source``
    keeps one source's rows (frames with a ``source`` column).

    Raises:
        WorkbenchError: ``offset`` is negative or ``limit`` is not in 1..1000.
    """
    if offset < 0 or not 1 <= limit <= 1000:
        raise WorkbenchError(f"page: expected offset >= 0 and limit in 1..1000, got offset {offset}, limit {limit}")
    if source is not None and "source" in frame.columns:
        frame = frame.filter(pl.col("source") == source)
    if query:
        needle = query.lower()
        frame = frame.filter(
            pl.col("text").fill_null("").str.to_lowercase().str.contains(needle, literal=True)
            | pl.col("id").str.to_lowercase().str.contains(needle, literal=True)
        )
    return Page(rows=frame.slice(offset, limit), total=frame.height, offset=offset, limit=limit)


def _names_of(values: np.ndarray, label_names: list[str]) -> pl.Series:
    return pl.Series(values.astype(np.int64)).replace_strict(
        list(range(-1, len(label_names))), [None, *label_names], return_dtype=pl.String)


def _check(L: np.ndarray, names: Sequence[str], texts: Sequence[str | None] | pl.Series,
           ids: Sequence[str] | pl.Series, human: np.ndarray, k: int) -> np.ndarray:
    L = np.asarray(L)
    if L.ndim != 2 or L.shape[1] != len(names):
        raise WorkbenchError(f"L must be (n_items, {len(names)}) for {len(names)} source names, got shape {L.shape}")
    n = L.shape[0]
    for what, got in (("texts", len(texts)), ("ids", len(ids)), ("human_labels", human.shape[0])):
        if got != n:
            raise WorkbenchError(f"{what} has {got} entries but L has {n} rows; both need one per item")
    if L.size and (L.min() < ABSTAIN or L.max() >= k):
        raise WorkbenchError(f"L holds votes outside {{-1, ..., {k - 1}}}: min {int(L.min())}, max {int(L.max())}")
    if human.size and (human.min() < ABSTAIN or human.max() >= k):
        raise WorkbenchError(f"human_labels must be in {{-1, ..., {k - 1}}}, got {int(human.min())}..{int(human.max())}")
    return L.astype(np.int8, copy=False)


def lf_report(
    L: np.ndarray,
    names: Sequence[str],
    *,
    texts: Sequence[str | None] | pl.Series,
    ids: Sequence[str] | pl.Series,
    human_labels: np.ndarray,
    label_names: Sequence[str],
    kinds: Sequence[str] | None = None,
    strong: Sequence[str] | None = None,
    strong_min_accuracy: float = 0.85,
    confidence: float = 0.95,
) -> LFReport:
    """Per-source figures, wrong items, conflicts with strong sources and uncovered items.

    Args:
        L: ``(n_items, n_sources)`` int votes in ``{-1, ..., k-1}``, ``-1`` = abstain.
        names: ``n_sources`` source names.
        texts, ids: ``(n_items,)`` item texts (null allowed) and ids.
        human_labels: ``(n_items,)`` int class index from human answers, ``-1`` = none.
        label_names: the ``k`` class names in index order.
        kinds: per source ``expression``, ``row``, ``precomputed`` or ``judge`` (default all
            ``lf``). The judge does not count as an LF for ``uncovered``.
        strong: names of the sources to check conflicts against; default: every source whose
            accuracy interval on human labels starts at ``strong_min_accuracy`` or above.
        confidence: coverage of the accuracy intervals.

    Raises:
        WorkbenchError: shapes or value ranges do not fit (says expected and got), or ``strong``
            names an unknown source.
    """
    names = list(names)
    label_names = list(label_names)
    k = len(label_names)
    human = np.asarray(human_labels, dtype=np.int64)
    L = _check(L, names, texts, ids, human, k)
    n, m = L.shape
    kinds = list(kinds) if kinds is not None else ["lf"] * m
    ids_s = pl.Series("id", ids, dtype=pl.String)
    text_s = pl.Series("text", texts, dtype=pl.String)

    summary = lf_summary(L, names, label_names=label_names).select(
        "source", "polarity", "coverage", "overlaps", "conflicts")
    known = human >= 0
    voted = L != ABSTAIN
    judged = voted & known[:, None]
    right = judged & (L == human[:, None])
    n_judged = judged.sum(axis=0)
    n_right = right.sum(axis=0)
    low, high = wilson_interval(n_right, n_judged, confidence=confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n_judged > 0, n_right / np.maximum(n_judged, 1), np.nan)

    if strong is None:
        strong = [nm for j, nm in enumerate(names) if n_judged[j] and low[j] >= strong_min_accuracy]
    unknown = [s for s in strong if s not in names]
    if unknown:
        raise WorkbenchError(f"strong sources {unknown} are not sources; the sources are {names}")
    strong = list(strong)
    strong_cols = [names.index(s) for s in strong]

    wrong_parts, conflict_parts, n_conflicts = [], [], np.zeros(m, dtype=np.int64)
    for j in range(m):  # a loop over sources, never over items
        rows = np.flatnonzero(judged[:, j] & ~right[:, j])
        if rows.size:
            wrong_parts.append(pl.DataFrame({"source": [names[j]] * rows.size, "row": rows,
                                             "vote": L[rows, j], "human": human[rows]}))
        others = [s for s in strong_cols if s != j]
        if not others:
            continue
        disagree = voted[:, others] & (L[:, others] != L[:, [j]]) & voted[:, [j]]
        rows = np.flatnonzero(disagree.any(axis=1))
        n_conflicts[j] = rows.size
        if rows.size:
            parts = [pl.when(pl.Series(disagree[rows, c])).then(
                pl.lit(f"{names[s]}: ") + _names_of(L[rows, s], label_names)) for c, s in enumerate(others)]
            votes = pl.select(pl.concat_str(parts, separator=", ", ignore_nulls=True).alias("strong_votes"))
            conflict_parts.append(pl.DataFrame({"source": [names[j]] * rows.size, "row": rows,
                                                "vote": L[rows, j]}).hstack(votes))

    def finish(parts: list[pl.DataFrame], schema: dict[str, pl.DataType]) -> pl.DataFrame:
        frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
        rows = frame["row"].to_numpy()
        out = frame.with_columns(
            pl.Series("id", ids_s.gather(rows) if rows.size else [], dtype=pl.String),
            pl.Series("text", text_s.gather(rows) if rows.size else [], dtype=pl.String),
        )
        for col in ("vote", "human"):
            if col in out.columns:
                out = out.with_columns(_names_of(out[col].to_numpy(), label_names).alias(col))
        return out

    wrong = finish(wrong_parts, {"source": pl.String, "row": pl.Int64, "vote": pl.Int8, "human": pl.Int64})
    wrong = wrong.select("source", "row", "id", "text", "vote", "human")
    conflicts = finish(conflict_parts, {"source": pl.String, "row": pl.Int64, "vote": pl.Int8,
                                        "strong_votes": pl.String})
    conflicts = conflicts.select("source", "row", "id", "text", "vote", "strong_votes")

    lf_cols = [j for j in range(m) if kinds[j] != "judge"]
    covered = voted[:, lf_cols].any(axis=1) if lf_cols else np.zeros(n, dtype=bool)
    rows = np.flatnonzero(known & ~covered)
    order = rows[np.lexsort((rows, human[rows]))]
    uncovered = pl.DataFrame({"row": order.astype(np.int64)}).with_columns(
        pl.Series("id", ids_s.gather(order) if order.size else [], dtype=pl.String),
        pl.Series("text", text_s.gather(order) if order.size else [], dtype=pl.String),
        _names_of(human[order], label_names).alias("human"),
    )

    lfs = summary.with_columns(
        pl.Series("kind", kinds, dtype=pl.String),
        pl.Series("n", n_judged.astype(np.int64)),
        pl.Series("correct", n_right.astype(np.int64)),
        pl.Series("accuracy", acc).fill_nan(None),
        pl.Series("accuracy_low", low).fill_nan(None),
        pl.Series("accuracy_high", high).fill_nan(None),
        pl.Series("n_wrong", (n_judged - n_right).astype(np.int64)),
        pl.Series("n_strong_conflicts", n_conflicts),
        pl.Series("strong", [nm in strong for nm in names]),
    ).select("source", "kind", "polarity", "coverage", "overlaps", "conflicts", "n", "correct",
             "accuracy", "accuracy_low", "accuracy_high", "n_wrong", "n_strong_conflicts", "strong")
    return LFReport(lfs=lfs, wrong=wrong, conflicts=conflicts, uncovered=uncovered, strong=strong,
                    label_names=label_names, n_items=n, n_human=int(known.sum()), confidence=confidence)


@dataclass(frozen=True)
class TrainsetEstimate:
    """The loop's estimate of training-set accuracy for a label matrix.

    Human-labeled items count as right; the rest at the label model's accuracy on the audit
    labels (a uniform sample), or on all human labels when there are no audit labels
    (``basis`` says which; the reviewed items are the hard ones, so that is pessimistic).

    Attributes:
        accuracy, low, high: the estimate and its interval (None without human labels).
        label_model_accuracy: accuracy of the label model's blind guess on the basis items.
        n_basis: items the accuracy is measured on; basis: ``audit`` or ``human``.
    """

    accuracy: float | None
    low: float | None
    high: float | None
    label_model_accuracy: float | None
    n_basis: int
    basis: str


def estimate_trainset_accuracy(probs: np.ndarray, human_labels: np.ndarray, *,
                               audited: np.ndarray | None = None, confidence: float = 0.95) -> TrainsetEstimate:
    """See :class:`TrainsetEstimate`.

    Args:
        probs: ``(n_items, k)`` label-model probabilities fitted *without* the human labels
            (a blind guess), rows sum to 1.
        human_labels: ``(n_items,)`` class index, ``-1`` = none.
        audited: ``(n_items,)`` bool, the label came from the uniform audit sample.
    """
    human = np.asarray(human_labels, dtype=np.int64)
    known = human >= 0
    audit = known & (np.asarray(audited, dtype=bool) if audited is not None else np.zeros_like(known))
    basis, rows = ("audit", np.flatnonzero(audit)) if audit.any() else ("human", np.flatnonzero(known))
    if not rows.size:
        return TrainsetEstimate(None, None, None, None, 0, basis)
    guess = np.asarray(probs).argmax(axis=1)
    n_right = int((guess[rows] == human[rows]).sum())
    acc = n_right / rows.size
    low, high = wilson_interval(n_right, rows.size, confidence=confidence)
    share = float(known.mean())
    return TrainsetEstimate(
        accuracy=share + (1 - share) * acc, low=share + (1 - share) * float(low),
        high=share + (1 - share) * float(high), label_model_accuracy=acc, n_basis=int(rows.size), basis=basis)
