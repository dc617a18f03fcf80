"""Apply labeling functions to a dataset: the label matrix ``L`` with per-LF caching.

Expression LFs are evaluated together as one polars ``select`` (vectorized, multi-threaded).
Row LFs run over rows (see :mod:`hitl_triage.lf.rows`: in worker processes with ``n_jobs``, with
a per-item ``timeout_s``); rows that need ``x.doc`` are parsed once, in batches, before the
workers start. Items with null or empty text get abstains.

A row LF that raises or times out on a row does not stop the run (snorkel's ``fault_tolerant``
habit): the row gets an abstain and the failure is recorded with the LF name, the item id and
the error. Failed cells are not cached, so the next run tries them again and reports them again.

Every LF's output is checked against the schema the same way, row or expression: an integer in
``-1..k-1``, None/null (abstain) or a label name is a vote; anything else (a float, a bool, an
unknown name, an out-of-range index) is an error naming the LF, the value and an item id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from snorkel.labeling import LabelingFunction

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf.cache import VoteCache, fingerprint, text_hashes
from hitl_triage.lf.kinds import ABSTAIN, ExpressionLF, uses_doc
from hitl_triage.lf.loader import LFSet
from hitl_triage.lf.nlp import load_pipeline, parse_texts
from hitl_triage.lf.rows import MISS, Row, run_rows
from hitl_triage.progress import Progress, report


@dataclass(frozen=True)
class LFFailure:
    """A labeling function raised on an item (``item_id`` is ``*`` when it failed on all)."""

    lf: str
    item_id: str
    error: str


@dataclass(frozen=True)
class AppliedVotes:
    """Result of :func:`apply_lfs`.

    Attributes:
        L: ``(n_items, n_lfs)`` int8 votes in ``{-1, ..., k-1}``; ``-1`` = abstain.
        names: LF name of each column (expression LFs first, then row LFs).
        failures: rows on which an LF raised or timed out (their vote is an abstain).
        recomputed: names of LFs that were applied to at least one item in this call.
        n_computed: per LF, how many items were computed rather than read from the cache.
    """

    L: np.ndarray
    names: list[str]
    failures: list[LFFailure] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    n_computed: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StaleCells:
    """The cells of ``L`` the vote cache could not answer: what a runner computes.

    Attributes:
        lfset: the task's LFs; column ``j`` of ``miss`` is ``[*lfset.expression, *lfset.row][j]``.
        items: the items frame (columns ``id``, ``text``, ...), ``n`` rows.
        miss: ``(n, m)`` bool, True where the vote must be computed.
    """

    lfset: LFSet
    items: pl.DataFrame
    miss: np.ndarray
    label_names: list[str]
    spacy_pipeline: str = "blank:en"
    spacy_batch_size: int = 256
    n_jobs: int = 1
    timeout_s: float | None = None
    progress: Progress | None = None


@dataclass
class ComputedCells:
    """What a runner returns for :class:`StaleCells` (only cells where ``miss`` is read).

    Attributes:
        votes: ``(n, m)`` int16 vote in ``{-1, ..., k-1}`` where ``miss``; anything elsewhere.
        failed: ``(n, m)`` bool, the LF raised or timed out there (an abstain, not cached).
        failures: one record per failure, expression LFs first (in column order), then row LFs
            ordered by (item row, LF column).
        bad: ``(item row, LF column, value repr)`` for values outside the schema.
    """

    votes: np.ndarray
    failed: np.ndarray
    failures: list[LFFailure] = field(default_factory=list)
    bad: list[tuple[int, int, str]] = field(default_factory=list)


Runner = Callable[[StaleCells], ComputedCells]
"""Computes stale cells: :func:`compute_local` here, or e.g. on a Ray cluster
(:mod:`hitl_triage.distributed.lf_runner`); the cache and ``L`` are the applier's either way."""


def _checked(name: str, dtype: pl.DataType, label_names: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """``(vote, bad)`` expressions for the raw output column ``name`` of an expression LF.

    The same rule as :func:`hitl_triage.lf.rows.to_label` for row LFs: integers in ``-1..k-1``
    and label names are votes, null abstains; ``bad`` flags every other non-null value.
    """
    col, k = pl.col(name), len(label_names)
    if dtype == pl.Null:
        return pl.lit(ABSTAIN, pl.Int16), pl.lit(False)
    if dtype.is_integer():
        ok = col.is_between(ABSTAIN, k - 1)
        vote = pl.when(ok).then(col.cast(pl.Int16, strict=False)).otherwise(ABSTAIN)
        return vote, col.is_not_null() & ~ok
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        text = col.cast(pl.String)
        vote = text.replace_strict(label_names, list(range(k)), default=None, return_dtype=pl.Int16)
        return vote.fill_null(ABSTAIN), text.is_not_null() & vote.is_null()
    # floats (1.7 must not become class 1), booleans, lists, ...: never a vote
    return pl.lit(ABSTAIN, pl.Int16), col.is_not_null()


def _evaluate(lfs: list[ExpressionLF], items: pl.DataFrame) -> tuple[pl.DataFrame, list[LFFailure]]:
    """The raw output of each expression LF as column ``_<j>`` (scalars broadcast to every item);
    an LF whose expression fails is left out and recorded."""
    def raw(j: int) -> pl.Expr:
        return lfs[j].expr.alias(f"_{j}")

    names = [f"_{j}" for j in range(len(lfs))]
    try:
        return items.with_columns([raw(j) for j in range(len(lfs))]).select(names), []
    except pl.exceptions.PolarsError:
        pass
    columns, failures = [], []
    for j, lf in enumerate(lfs):
        try:
            columns.append(items.with_columns(raw(j)).get_column(f"_{j}"))
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0]
            failures.append(LFFailure(lf.name, "*", f"{type(exc).__name__}: {first}"))
    return pl.DataFrame(columns), failures


def expression_votes(
    lfs: list[ExpressionLF], items: pl.DataFrame, *, label_names: list[str]
) -> tuple[np.ndarray, list[LFFailure], list[tuple[int, int, str]]]:
    """Votes of expression LFs on ``items``, vectorized: the raw outputs are checked and mapped
    with polars.

    Returns:
        ``(n, len(lfs))`` int16 votes (a failing expression abstains everywhere), the failures,
        and ``(row, lf, value repr)`` for the first value outside the schema of each bad LF.
    """
    raw, failures = _evaluate(lfs, items)
    out = np.full((items.height, len(lfs)), ABSTAIN, dtype=np.int16)
    if not raw.width:
        return out, failures, []
    checks = {name: _checked(name, dtype, label_names) for name, dtype in raw.schema.items()}
    votes = raw.select([vote.alias(name) for name, (vote, _) in checks.items()])
    first_bad = raw.select([bad.arg_true().first().alias(name) for name, (_, bad) in checks.items()])
    bad = []
    for name in raw.columns:
        j = int(name[1:])
        out[:, j] = votes.get_column(name).to_numpy()
        row = first_bad.get_column(name)[0]
        if row is not None:
            bad.append((int(row), j, repr(raw.get_column(name)[row])[:80]))
    return out, failures, bad


def compute_local(cells: StaleCells) -> ComputedCells:
    """Compute stale cells in this process: expression LFs as one polars ``select``, row LFs
    through :func:`hitl_triage.lf.rows.run_rows` (``n_jobs`` worker processes, timeouts)."""
    lfset, items, miss, label_names = cells.lfset, cells.items, cells.miss, cells.label_names
    lfs: list[ExpressionLF | LabelingFunction] = [*lfset.expression, *lfset.row]
    n_expr, (n, m) = len(lfset.expression), miss.shape
    progress, n_jobs, timeout_s = cells.progress, cells.n_jobs, cells.timeout_s
    spacy_pipeline, spacy_batch_size = cells.spacy_pipeline, cells.spacy_batch_size
    votes = np.full((n, m), MISS, dtype=np.int16)
    failed = np.zeros((n, m), dtype=bool)  # raised or timed out: an abstain, not cached
    failures: list[LFFailure] = []
    bad: list[tuple[int, int, str]] = []  # (item row, LF column, value repr)

    stale_expr = [j for j in range(n_expr) if miss[:, j].any()]
    if stale_expr:
        rows = np.flatnonzero(miss[:, stale_expr].any(axis=1))
        out, expr_failures, expr_bad = expression_votes(
            [lfs[j] for j in stale_expr], items[rows], label_names=label_names  # type: ignore[misc]
        )
        failures += expr_failures
        broken = {f.lf for f in expr_failures}
        for col, j in enumerate(stale_expr):
            take = miss[rows, j]
            votes[rows[take], j] = out[take, col]
            failed[rows[take], j] = lfs[j].name in broken
        bad += [(int(rows[i]), stale_expr[col], value) for i, col, value in expr_bad]
        report(progress, "apply: expression LFs", len(stale_expr), len(stale_expr))

    stale_row = [j for j in range(n_expr, m) if miss[:, j].any()]
    if stale_row:
        row_lfs: list[LabelingFunction] = [lfs[j] for j in stale_row]  # type: ignore[misc]
        rows = np.flatnonzero(miss[:, stale_row].any(axis=1))
        records = [Row(**r) for r in items[rows].to_dicts()]
        if any(uses_doc(lf) for lf in row_lfs):
            nlp = load_pipeline(spacy_pipeline)
            docs = parse_texts(nlp, [r.text for r in records], batch_size=spacy_batch_size,
                               progress=progress)
            for record, doc in zip(records, docs, strict=True):
                record.doc = doc
        result = run_rows(row_lfs, records, miss[np.ix_(rows, stale_row)], label_names=label_names,
                          n_jobs=n_jobs, timeout_s=timeout_s, progress=progress)
        for col, j in enumerate(stale_row):
            take = miss[rows, j]
            votes[rows[take], j] = result.votes[take, col]
        for i, col, message in sorted(result.errors):
            failures.append(LFFailure(row_lfs[col].name, str(records[i].id), message))
            failed[rows[i], stale_row[col]] = True
        bad += [(int(rows[i]), stale_row[col], value) for i, col, value in sorted(result.bad)]

    return ComputedCells(votes, failed, failures, bad)


def apply_lfs(
    lfset: LFSet,
    items: pl.DataFrame,
    *,
    label_names: list[str],
    n_jobs: int = 1,
    spacy_pipeline: str = "blank:en",
    spacy_batch_size: int = 256,
    cache: VoteCache | None = None,
    timeout_s: float | None = None,
    progress: Progress | None = None,
    runner: Runner | None = None,
) -> AppliedVotes:
    """Apply every LF of ``lfset`` to ``items`` (columns ``id``, ``text``, ...).

    Cached votes are reused per LF and item (see :mod:`hitl_triage.lf.cache`); only misses run.
    ``timeout_s`` (seconds per row LF per item, None = no limit) turns a hang into an abstain
    recorded as a failure "timed out after X s" (see :mod:`hitl_triage.lf.rows`).
    ``runner`` computes the cells the cache misses (default :func:`compute_local`, in this
    process); whatever runs them, the cache and the returned matrix are handled here.

    Raises:
        LabelingFunctionError: an LF returned a value that is not a class index, ``-1``, None or
            a label name (names the LF, the item id and the value). Votes of the other LFs are
            cached before this is raised, so no work is lost.
    """
    lfs: list[ExpressionLF | LabelingFunction] = [*lfset.expression, *lfset.row]
    n, m, k = items.height, len(lfs), len(label_names)
    keys = items.select("id").with_columns(text_hashes(items))
    text = items["text"]
    empty = (text.is_null() | (text.str.strip_chars() == "")).fill_null(True).to_numpy()
    fps = [fingerprint(lf, spacy_pipeline=spacy_pipeline) for lf in lfs]
    votes = np.full((n, m), MISS, dtype=np.int16)
    if cache is not None:
        for j, lf in enumerate(lfs):
            votes[:, j] = cache.lookup(lf.name, fps[j], keys)
    votes[empty] = ABSTAIN
    miss = votes == MISS
    n_expr = len(lfset.expression)

    cells = StaleCells(lfset, items, miss, label_names, spacy_pipeline, spacy_batch_size, n_jobs,
                       timeout_s, progress)
    computed = (runner or compute_local)(cells)
    votes[miss] = computed.votes[miss]
    failed, failures, bad = computed.failed & miss, computed.failures, computed.bad

    bad_lfs = {j for _, j, _ in bad}
    n_computed = {lfs[j].name: int(miss[:, j].sum()) for j in range(m) if miss[:, j].any()}
    if cache is not None:
        for j, lf in enumerate(lfs):
            if lf.name in n_computed and j not in bad_lfs:
                keep = ~failed[:, j]
                cache.store(lf.name, fps[j], keys.filter(keep), votes[keep, j])
    if bad:
        row, j, value = min(bad, key=lambda b: (b[1], b[0]))
        kind = "expression LF" if j < n_expr else "labeling function"
        raise LabelingFunctionError(
            f"{kind} {lfs[j].name!r} returned {value} for item {items['id'][row]!r}; "
            f"an LF must return a class index in 0..{k - 1}, -1 (abstain), None, or a label name "
            f"{label_names}"
        )
    return AppliedVotes(
        L=votes.astype(np.int8),
        names=[lf.name for lf in lfs],
        failures=failures,
        recomputed=list(n_computed),
        n_computed=n_computed,
    )
