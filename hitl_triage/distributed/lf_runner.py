"""Labeling functions on a Ray cluster: a runner for :func:`hitl_triage.lf.applier.apply_lfs`.

The driver (this process) keeps everything that is not per-item work: the vote cache decides
which LFs and items are stale exactly as in a local run, and the votes that come back are
cached and assembled into ``L`` by the applier, so the rest of the pipeline is unchanged.
What runs on the workers, through Ray Data ``map_batches`` over batches of the stale items:

* expression LFs whose output for a row depends on that row alone (polars'
  ``meta.is_row_separable`` for the expression and every sub-expression): evaluated per batch
  with the same code as locally (:func:`hitl_triage.lf.applier.expression_votes`). An
  expression that looks at other rows (``mean``, ``rank``, ``over``, ``is_duplicated``...)
  would give other votes per batch, so it is evaluated on the driver over the same rows as a
  local run;
* row LFs, per row in the batch (:func:`hitl_triage.lf.rows.run_rows_in_process`), with the
  spaCy docs of LFs that read ``x.doc`` parsed per batch with ``nlp.pipe``.

LF modules travel with the tasks: their source text is part of every task's arguments, and a
worker loads them once per process (from the original path when that file exists there with
the same content, as on one machine or a shared filesystem; else from a copy in its temp dir).
Workers need the same Python, polars and snorkel versions as the driver (checked per batch).

What differs from a local run: ``lfs.n_jobs`` does not apply (parallelism is the cluster's:
one task per batch, ``engine.num_cpus`` each); ``lfs.timeout_s`` interrupts Python code in a
row LF exactly as locally (SIGALRM in the worker's main thread) but there is no watchdog
process, so an LF stuck in C code that ignores signals holds its task until it returns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import snorkel
from snorkel.labeling import LabelingFunction

from hitl_triage.distributed.cluster import RayEngineError, connect
from hitl_triage.distributed.settings import EngineConfig
from hitl_triage.errors import HitlTriageError
from hitl_triage.lf.applier import ComputedCells, LFFailure, Runner, StaleCells, expression_votes
from hitl_triage.lf.kinds import ABSTAIN, ExpressionLF, uses_doc
from hitl_triage.lf.loader import load_lfs
from hitl_triage.lf.nlp import load_pipeline, parse_texts
from hitl_triage.lf.rows import MISS, Row, run_rows_in_process
from hitl_triage.progress import report

ROW = "__hitl_row"  # position of the item among the rows sent
ISSUES = "__hitl_issues"  # per row: JSON list of [kind, LF column, message] or null
STAGE = "apply: LFs on Ray"


def row_separable(expr: pl.Expr) -> bool:
    """True if each row's output depends on that row only, for ``expr`` and every sub-expression
    (polars' own flag is not enough: ``when(a > a.mean())`` reports True at the top)."""
    return expr.meta.is_row_separable() and all(row_separable(e) for e in expr.meta.pop())


def _versions() -> dict[str, str]:
    return {"python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "polars": pl.__version__, "snorkel": snorkel.__version__}


@dataclass(frozen=True)
class Plan:
    """What every batch task needs besides its rows (pickled into each task's arguments).

    ``modules`` holds ``(path, source)`` of each LF module; ``expr`` and ``row`` map an LF
    column of ``L`` to the name of the LF to run there.
    """

    modules: tuple[tuple[str, str], ...]
    expr: tuple[tuple[int, str], ...]
    row: tuple[tuple[int, str], ...]
    label_names: tuple[str, ...]
    spacy_pipeline: str
    spacy_batch_size: int
    timeout_s: float | None
    versions: tuple[tuple[str, str], ...]


# --- on a worker -----------------------------------------------------------------------------

@functools.cache
def _load(modules: tuple[tuple[str, str], ...]) -> dict[str, ExpressionLF | LabelingFunction]:
    """The LFs of ``modules`` by name, loaded once per worker process and module content."""
    paths = []
    for path, source in modules:
        original = Path(path)
        if original.is_file() and original.read_text(encoding="utf-8") == source:
            paths.append(original)
            continue
        digest = hashlib.sha256(source.encode()).hexdigest()[:16]
        copy = Path(tempfile.gettempdir()) / "hitl-triage-lfs" / digest / original.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(source, encoding="utf-8")
        paths.append(copy)
    lfset = load_lfs(paths)
    return {lf.name: lf for lf in [*lfset.expression, *lfset.row]}


def _check_versions(expected: dict[str, str]) -> None:
    found = _versions()
    for name, version in expected.items():
        if found.get(name) != version:
            import ray

            node = ray.get_runtime_context().get_node_id()[:8]
            raise RayEngineError(
                f"Ray worker on node {node}: {name} {found.get(name)} differs from the driver's "
                f"{version}; install the same versions on every node"
            )


def vote_batch(batch: Any, plan: Plan) -> Any:
    """One Ray Data batch (a pyarrow table of items, ``ROW`` and one ``todo<j>`` column per row
    LF) in, a pyarrow table out: ``ROW``, ``v<j>`` int16 per LF column, ``ISSUES``."""
    import pyarrow as pa

    _check_versions(dict(plan.versions))
    lfs = _load(plan.modules)
    label_names = list(plan.label_names)
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)  # a table in, a frame out
    todo_names = [f"todo{j}" for j, _ in plan.row]
    items = frame.drop(ROW, *todo_names)
    issues: list[list[tuple[str, int, str]]] = [[] for _ in range(frame.height)]
    out: dict[str, Any] = {ROW: frame[ROW].to_numpy()}
    if plan.expr:
        votes, failures, bad = expression_votes([lfs[name] for _, name in plan.expr], items,  # type: ignore[misc]
                                                label_names=label_names)
        column = {name: j for j, name in plan.expr}
        for c, (j, _) in enumerate(plan.expr):
            out[f"v{j}"] = votes[:, c]
        if frame.height:
            issues[0] += [("lf", column[f.lf], f.error) for f in failures]
        for i, c, value in bad:
            issues[i].append(("bad", plan.expr[c][0], value))
    if plan.row:
        row_lfs: list[LabelingFunction] = [lfs[name] for _, name in plan.row]  # type: ignore[misc]
        records = [Row(**r) for r in items.to_dicts()]
        if any(uses_doc(lf) for lf in row_lfs):
            nlp = load_pipeline(plan.spacy_pipeline)
            docs = parse_texts(nlp, [r.text for r in records], batch_size=plan.spacy_batch_size)
            for record, doc in zip(records, docs, strict=True):
                record.doc = doc
        todo = frame.select(todo_names).to_numpy().astype(bool)
        result = run_rows_in_process(row_lfs, records, todo, label_names=label_names,
                                     timeout_s=plan.timeout_s)
        for c, (j, _) in enumerate(plan.row):
            out[f"v{j}"] = result.votes[:, c]
        for i, c, message in result.errors:
            issues[i].append(("error", plan.row[c][0], message))
        for i, c, value in result.bad:
            issues[i].append(("bad", plan.row[c][0], value))
    columns = {k: pa.array(v) for k, v in out.items()}
    columns[ISSUES] = pa.array([json.dumps(x) if x else None for x in issues], pa.string())
    return pa.table(columns)


# --- on the driver ---------------------------------------------------------------------------

def _plan(cells: StaleCells, expr: list[int], row: list[int]) -> Plan:
    lfs = [*cells.lfset.expression, *cells.lfset.row]
    paths = list(dict.fromkeys(str(p) for p in cells.lfset.origin.values()))
    modules = tuple((p, Path(p).read_text(encoding="utf-8")) for p in paths)
    return Plan(modules=modules, expr=tuple((j, lfs[j].name) for j in expr),
                row=tuple((j, lfs[j].name) for j in row), label_names=tuple(cells.label_names),
                spacy_pipeline=cells.spacy_pipeline, spacy_batch_size=cells.spacy_batch_size,
                timeout_s=cells.timeout_s, versions=tuple(_versions().items()))


def _cause(exc: BaseException) -> HitlTriageError | None:
    """A project error raised on a worker, from the wrappers Ray puts around it."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, HitlTriageError):
            return current
        todo += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return None


def _run_remote(cells: StaleCells, rows: np.ndarray, plan: Plan, engine: EngineConfig) -> Any:
    """Yield the result batches (pyarrow tables) of the stale ``rows`` computed on the cluster."""
    ray = connect(engine)
    frame = cells.items[rows].with_columns(pl.Series(ROW, np.arange(rows.size, dtype=np.int64)))
    frame = frame.with_columns([pl.Series(f"todo{j}", cells.miss[rows, j]) for j, _ in plan.row])
    table = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
    size = engine.batch_size
    blocks = [table.slice(start, size) for start in range(0, table.num_rows, size)]
    dataset = ray.data.from_arrow(blocks).map_batches(
        vote_batch, batch_size=size, batch_format="pyarrow", zero_copy_batch=True,
        num_cpus=engine.num_cpus, fn_kwargs={"plan": plan})
    try:
        yield from dataset.iter_batches(batch_format="pyarrow", batch_size=None)
    except Exception as exc:
        cause = _cause(exc)
        if cause is not None:
            raise cause from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = engine.address or "a private Ray instance"
        raise RayEngineError(f"applying LFs on Ray ({where}) failed: {first}") from exc


def compute_on_ray(cells: StaleCells, *, engine: EngineConfig) -> ComputedCells:
    """Compute the stale cells on the engine's Ray cluster (see the module doc); the same
    result as :func:`hitl_triage.lf.applier.compute_local`."""
    lfs = [*cells.lfset.expression, *cells.lfset.row]
    miss, items = cells.miss, cells.items
    n_expr, (n, m) = len(cells.lfset.expression), miss.shape
    out = ComputedCells(np.full((n, m), MISS, dtype=np.int16), np.zeros((n, m), dtype=bool))
    stale_expr = [j for j in range(n_expr) if miss[:, j].any()]
    stale_row = [j for j in range(n_expr, m) if miss[:, j].any()]
    here = [j for j in stale_expr if not row_separable(lfs[j].expr)]  # type: ignore[union-attr]
    there = [j for j in stale_expr if j not in here]
    expr_rows = np.flatnonzero(miss[:, stale_expr].any(axis=1)) if stale_expr else np.empty(0, int)
    broken: dict[int, str] = {}  # expression LF column -> its error (it abstains everywhere)
    bad: list[tuple[int, int, str]] = []
    errors: list[tuple[int, int, str]] = []  # (item row, LF column, message) of row LFs
    if here:
        votes, failures, here_bad = expression_votes(
            [lfs[j] for j in here], items[expr_rows], label_names=cells.label_names)  # type: ignore[misc]
        out.votes[np.ix_(expr_rows, here)] = votes
        column = {lfs[j].name: j for j in here}
        broken |= {column[f.lf]: f.error for f in failures}
        bad += [(int(expr_rows[i]), here[c], value) for i, c, value in here_bad]
    if there or stale_row:
        rows = np.flatnonzero(miss[:, there + stale_row].any(axis=1))
        done = 0
        for batch in _run_remote(cells, rows, _plan(cells, there, stale_row), engine):
            at = rows[batch.column(ROW).to_numpy()]
            for j in there + stale_row:
                out.votes[at, j] = batch.column(f"v{j}").to_numpy()
            for i, text in zip(at, batch.column(ISSUES).to_pylist(), strict=True):
                for kind, j, message in json.loads(text) if text else ():
                    if kind == "lf":
                        broken.setdefault(j, message)
                    elif kind == "bad":
                        bad.append((int(i), j, message))
                    else:
                        errors.append((int(i), j, message))
            done += batch.num_rows
            report(cells.progress, STAGE, done, rows.size)
    for j, message in sorted(broken.items()):  # as locally: abstains, recorded once with "*"
        out.votes[miss[:, j], j] = ABSTAIN
        out.failed[:, j] = miss[:, j]
        out.failures.append(LFFailure(lfs[j].name, "*", message))
    for i, j, message in sorted(errors):
        out.failures.append(LFFailure(lfs[j].name, str(items["id"][i]), message))
        out.failed[i, j] = True
    out.bad = [b for b in bad if b[1] not in broken]
    return out


def ray_runner(engine: EngineConfig) -> Runner:
    """The runner :func:`hitl_triage.lf.applier.apply_lfs` takes for ``engine``."""
    return functools.partial(compute_on_ray, engine=engine)
