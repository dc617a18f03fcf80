"""Apply labeling functions to a dataset: the label matrix ``L`` with per-LF caching.

Expression LFs are evaluated together as one polars ``select`` (vectorized, multi-threaded).
Row LFs run over rows in worker processes (``n_jobs``); rows that need ``x.doc`` are parsed
once, in batches, before the workers start. Items with null or empty text get abstains.

A row LF that raises on a row does not stop the run (snorkel's ``fault_tolerant`` habit): the
row gets an abstain and the failure is recorded with the LF name, the item id and the error.
An LF that returns something that is not a label of the schema is an error naming the LF.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
from snorkel.labeling import LabelingFunction

from hitl_triage.errors import LabelingFunctionError
from hitl_triage.lf.cache import VoteCache, fingerprint, text_hashes
from hitl_triage.lf.kinds import ABSTAIN, ExpressionLF, uses_doc
from hitl_triage.lf.loader import LFSet
from hitl_triage.lf.nlp import load_pipeline, parse_texts
from hitl_triage.progress import Progress, report

MISS = -2  # cache miss marker in int16 vote buffers
BAD = -3  # an LF returned something that is not a label


class Row(SimpleNamespace):
    """One item as a row LF sees it: ``x.text``, ``x.id``, other fields, ``x.doc`` if parsed."""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


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
        failures: rows on which an LF raised (their vote is an abstain).
        recomputed: names of LFs that were applied to at least one item in this call.
        n_computed: per LF, how many items were computed rather than read from the cache.
    """

    L: np.ndarray
    names: list[str]
    failures: list[LFFailure] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    n_computed: dict[str, int] = field(default_factory=dict)


def _to_label(value: Any, label_names: list[str]) -> int:
    """Map an LF's return value to a class index, ``-1`` (abstain) or ``BAD``."""
    if value is None:
        return ABSTAIN
    if isinstance(value, bool):
        return BAD
    if isinstance(value, int | np.integer):
        return int(value) if ABSTAIN <= value < len(label_names) else BAD
    if isinstance(value, str) and value in label_names:
        return label_names.index(value)
    return BAD


# Worker state for row LFs. Workers are forked, so they inherit it without pickling the user's
# LF objects or spaCy docs (LFs from files imported by path cannot be pickled by reference).
_WORK: dict[str, Any] = {}


_ChunkResult = tuple[int, np.ndarray, list[tuple[int, int, str]], list[tuple[int, int, str]]]


def _run_chunk(start: int, stop: int) -> _ChunkResult:
    """Apply the row LFs in ``_WORK`` to rows ``start:stop`` (row-wise by nature: user code)."""
    lfs: list[LabelingFunction] = _WORK["lfs"]
    rows: list[Row] = _WORK["rows"]
    todo: np.ndarray = _WORK["todo"]
    label_names: list[str] = _WORK["label_names"]
    out = np.full((stop - start, len(lfs)), MISS, dtype=np.int16)
    errors: list[tuple[int, int, str]] = []
    bad: list[tuple[int, int, str]] = []
    for i in range(start, stop):
        x = rows[i]
        for j, lf in enumerate(lfs):
            if not todo[i, j]:
                continue
            try:
                # snorkel's own spaCy LFs would parse the text again in their preprocessor;
                # x.doc is already there, so call the user's function directly.
                value = lf._f(x, **lf._resources) if uses_doc(lf) else lf(x)
            except Exception as exc:
                errors.append((i, j, f"{type(exc).__name__}: {exc}"))
                out[i - start, j] = ABSTAIN
                continue
            code = _to_label(value, label_names)
            if code == BAD:
                bad.append((i, j, repr(value)[:80]))
                code = ABSTAIN
            out[i - start, j] = code
    return start, out, errors, bad


def _gather(
    results: Iterable[_ChunkResult], n: int, m: int, progress: Progress | None
) -> tuple[np.ndarray, list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    """Merge chunk results (in any order) into one ``(n, m)`` vote buffer, errors and bad returns."""
    votes = np.full((n, m), MISS, dtype=np.int16)
    errors: list[tuple[int, int, str]] = []
    bad: list[tuple[int, int, str]] = []
    done = 0
    for start, out, errs, bads in results:
        votes[start:start + len(out)] = out
        errors += errs
        bad += bads
        done += len(out)
        report(progress, "apply: row LFs", done, n)
    return votes, errors, bad


def _apply_rows(
    lfs: list[LabelingFunction],
    rows: list[Row],
    todo: np.ndarray,
    *,
    label_names: list[str],
    n_jobs: int,
    progress: Progress | None,
) -> tuple[np.ndarray, list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    n = len(rows)
    _WORK.update(lfs=lfs, rows=rows, todo=todo, label_names=label_names)
    chunk = max(32, min(2048, n // max(1, n_jobs * 8) or 1))
    bounds = [(s, min(n, s + chunk)) for s in range(0, n, chunk)]
    try:
        if n_jobs <= 1 or len(bounds) <= 1 or os.name != "posix":
            results: Iterable[_ChunkResult] = (_run_chunk(s, e) for s, e in bounds)
            return _gather(results, n, len(lfs), progress)
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_run_chunk, s, e) for s, e in bounds]
            return _gather((f.result() for f in as_completed(futures)), n, len(lfs), progress)
    finally:
        _WORK.clear()


def _apply_expressions(
    lfs: list[ExpressionLF], items: pl.DataFrame, *, n_classes: int
) -> tuple[np.ndarray, list[LFFailure]]:
    """``(n, len(lfs))`` int16 votes for expression LFs; a failing expression abstains everywhere."""
    def column(lf: ExpressionLF) -> pl.Expr:
        return lf.expr.cast(pl.Int16, strict=False).fill_null(ABSTAIN).alias(lf.name)

    failures: list[LFFailure] = []
    try:
        frame = items.select([column(lf) for lf in lfs])
        out = frame.to_numpy().astype(np.int16).reshape(items.height, len(lfs))
    except pl.exceptions.PolarsError:
        out = np.full((items.height, len(lfs)), ABSTAIN, dtype=np.int16)
        for j, lf in enumerate(lfs):
            try:
                out[:, j] = items.select(column(lf)).to_series().to_numpy()
            except pl.exceptions.PolarsError as exc:
                first = str(exc).strip().splitlines()[0]
                failures.append(LFFailure(lf.name, "*", f"{type(exc).__name__}: {first}"))
    bad = (out < ABSTAIN) | (out >= n_classes)
    if bad.any():
        row, j = (int(v[0]) for v in np.nonzero(bad))
        raise LabelingFunctionError(
            f"expression LF {lfs[j].name!r} returned {int(out[row, j])} for item "
            f"{items['id'][row]!r}; labels must be in {{-1, 0, ..., {n_classes - 1}}}"
        )
    return out, failures


def apply_lfs(
    lfset: LFSet,
    items: pl.DataFrame,
    *,
    label_names: list[str],
    n_jobs: int = 1,
    spacy_pipeline: str = "blank:en",
    spacy_batch_size: int = 256,
    cache: VoteCache | None = None,
    progress: Progress | None = None,
) -> AppliedVotes:
    """Apply every LF of ``lfset`` to ``items`` (columns ``id``, ``text``, ...).

    Cached votes are reused per LF and item (see :mod:`hitl_triage.lf.cache`); only misses run.

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
    failures: list[LFFailure] = []
    n_expr = len(lfset.expression)

    stale_expr = [j for j in range(n_expr) if miss[:, j].any()]
    if stale_expr:
        rows = np.flatnonzero(miss[:, stale_expr].any(axis=1))
        out, expr_failures = _apply_expressions(
            [lfs[j] for j in stale_expr], items[rows], n_classes=k  # type: ignore[misc]
        )
        failures += expr_failures
        for col, j in enumerate(stale_expr):
            take = miss[rows, j]
            votes[rows[take], j] = out[take, col]
        report(progress, "apply: expression LFs", len(stale_expr), len(stale_expr))

    stale_row = [j for j in range(n_expr, m) if miss[:, j].any()]
    bad: list[tuple[int, int, str]] = []
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
        out, errors, bad = _apply_rows(
            row_lfs, records, miss[np.ix_(rows, stale_row)], label_names=label_names,
            n_jobs=n_jobs, progress=progress,
        )
        for col, j in enumerate(stale_row):
            take = miss[rows, j]
            votes[rows[take], j] = out[take, col]
        failures += [LFFailure(row_lfs[j].name, str(records[i].id), msg) for i, j, msg in errors]
        bad = [(int(rows[i]), stale_row[j], value) for i, j, value in bad]

    bad_lfs = {j for _, j, _ in bad}
    n_computed = {lfs[j].name: int(miss[:, j].sum()) for j in range(m) if miss[:, j].any()}
    if cache is not None:
        for j, lf in enumerate(lfs):
            if lf.name in n_computed and j not in bad_lfs:
                cache.store(lf.name, fps[j], keys, votes[:, j])
    if bad:
        row, j, value = bad[0]
        raise LabelingFunctionError(
            f"labeling function {lfs[j].name!r} returned {value} for item {items['id'][row]!r}; "
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
