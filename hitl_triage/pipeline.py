"""The stages behind ``hitl-triage apply | label | export | demo``.

Each stage reads what the previous one left in the run directory, writes its own output
atomically and updates the report. Data passes forward as plain files and values:

* ``apply``: dataset → ``votes.parquet`` (id + one int8 column per source), LF analysis.
* ``label``: ``votes.parquet`` (+ human answers) → ``probs.parquet`` (id + ``p_<label>``).
* ``export``: ``final_labels.parquet`` from the round loop if present, else ``probs.parquet``
  and human answers → the training set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from hitl_triage.answer_table import latest_corrections
from hitl_triage.answers import known_labels, load_answers
from hitl_triage.config import TaskConfig
from hitl_triage.data import (
    ID,
    TEXT,
    field_column,
    field_values,
    gold_field,
    load_dataset,
    load_gold,
)
from hitl_triage.errors import RunStateError
from hitl_triage.export import ExportFormat, resolve_target, write_trainset
from hitl_triage.labelmodel import choose_label_model, make_label_model
from hitl_triage.lf import apply_sources, lf_summary
from hitl_triage.progress import Progress, report
from hitl_triage.report import update_report
from hitl_triage.rundir import check_run_dir, write_frame, write_jsonl

VOTES_FILE = "votes.parquet"
PROBS_FILE = "probs.parquet"
FINAL_LABELS_FILE = "final_labels.parquet"


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did. ``summary`` is the per-source analysis table."""

    n_items: int
    n_empty_text: int
    sources: list[str]
    recomputed: list[str]
    failures_by_lf: dict[str, int]
    summary: pl.DataFrame
    run_dir: Path
    report_path: Path


@dataclass(frozen=True)
class LabelResult:
    """What ``label`` did. ``gold_accuracy`` is set only when the config has gold labels."""

    n_items: int
    model: str
    class_counts: dict[str, int]
    n_known: int
    gold_accuracy: float | None
    path: Path


@dataclass(frozen=True)
class ExportResult:
    path: Path
    n_rows: int
    by_source: dict[str, int] = field(default_factory=dict)


def _gold_or_none(config: TaskConfig, ids: list[str]) -> np.ndarray | None:
    """Gold labels for scoring when the task has a gold column (never used to decide anything)."""
    if gold_field(config.dataset) is None:
        return None
    return load_gold(config.dataset, config.label_names, ids)


def _human_labels(config: TaskConfig, ids: list[str]) -> np.ndarray:
    """``(n_items,)`` human label per item, ``-1`` where none (see :func:`known_labels`)."""
    return known_labels(load_answers(config.out_dir), ids)


def save_votes(run_dir: Path, ids: list[str], L: np.ndarray, names: list[str]) -> Path:
    """Write the label matrix as ``votes.parquet``: id + one int8 column per source."""
    frame = pl.DataFrame({ID: ids}).with_columns(
        [pl.Series(name, L[:, j], dtype=pl.Int8) for j, name in enumerate(names)]
    )
    return write_frame(run_dir / VOTES_FILE, frame)


def run_apply(config: TaskConfig, *, progress: Progress | None = None) -> ApplyResult:
    """Load the dataset, apply every source, write ``votes.parquet`` and the LF analysis."""
    run_dir = check_run_dir(config.out_dir)
    report(progress, "load dataset", 0, 1)
    dataset = load_dataset(config.dataset, n_classes=config.n_classes, label_names=config.label_names)
    report(progress, "load dataset", 1, 1)
    votes = apply_sources(config, dataset, progress=progress)
    save_votes(run_dir, dataset.ids, votes.L, votes.names)
    write_jsonl(run_dir / "lf_errors.jsonl",
                [{"lf": f.lf, "id": f.item_id, "error": f.error} for f in votes.failures])
    failures_by_lf: dict[str, int] = {}
    for failure in votes.failures:
        failures_by_lf[failure.lf] = failures_by_lf.get(failure.lf, 0) + 1
    summary = lf_summary(votes.L, votes.names, label_names=config.label_names)
    summary = summary.with_columns(
        pl.Series("kind", votes.kinds),
        pl.Series("errors", [failures_by_lf.get(n, 0) for n in votes.names], dtype=pl.Int64),
    )
    reviewed = _human_labels(config, dataset.ids)
    if (reviewed >= 0).any():
        extra = lf_summary(votes.L, votes.names, label_names=config.label_names, y=reviewed,
                           prefix="reviewed_")
        summary = summary.join(extra.select("source", pl.selectors.starts_with("reviewed_")), on="source")
    gold = _gold_or_none(config, dataset.ids)
    if gold is not None:
        scored = lf_summary(votes.L, votes.names, label_names=config.label_names, y=gold, prefix="gold_")
        summary = summary.join(scored.select("source", pl.selectors.starts_with("gold_")), on="source")
    write_frame(run_dir / "lf_summary.csv", summary)
    n_empty = int(dataset.empty_text_mask.sum())
    covered = (votes.L != -1).any(axis=1) if votes.L.shape[1] else np.zeros(dataset.n_items, bool)
    report_path = update_report(run_dir, config.task, "apply", {
        "items": dataset.n_items,
        "empty_text_items (abstained on)": n_empty,
        "sources": len(votes.names),
        "coverage (items with at least one vote)": float(covered.mean()) if dataset.n_items else 0.0,
        "recomputed_this_run": ", ".join(votes.recomputed) or "none (all from cache)",
        "lf_errors": len(votes.failures),
        "lf_error_examples": [{"lf": f.lf, "id": f.item_id, "error": f.error} for f in votes.failures[:10]],
        "sources_table": summary.to_dicts(),
    })
    return ApplyResult(
        n_items=dataset.n_items, n_empty_text=n_empty, sources=votes.names,
        recomputed=votes.recomputed, failures_by_lf=failures_by_lf, summary=summary,
        run_dir=run_dir, report_path=report_path,
    )


def load_votes(config: TaskConfig) -> tuple[list[str], np.ndarray, list[str]]:
    """Read ``votes.parquet``: ``(ids, L (n, m) int8, source names)``.

    Raises:
        RunStateError: ``apply`` has not run for this config yet.
    """
    path = config.out_dir / VOTES_FILE
    if not path.is_file():
        raise RunStateError(f"{path}: no votes yet; run `hitl-triage apply CONFIG` first")
    frame = pl.read_parquet(path)
    names = [c for c in frame.columns if c != ID]
    L = frame.select(names).to_numpy().astype(np.int8) if names else np.empty((frame.height, 0), np.int8)
    return frame[ID].to_list(), L, names


def run_label(config: TaskConfig, *, progress: Progress | None = None) -> LabelResult:
    """Fit the configured label model on the votes and write ``probs.parquet``."""
    check_run_dir(config.out_dir)
    ids, L, _names = load_votes(config)
    known = _human_labels(config, ids)
    kind = config.label_model.kind
    report(progress, f"label model ({kind})", 0, 1)
    if kind == "auto":  # majority vote or Dawid-Skene, by accuracy on the human labels so far
        probs, chosen, _ = choose_label_model(config.label_model, L, n_classes=config.n_classes,
                                              y_known=known, random_state=config.seed)
        kind = f"auto: {chosen}"
    else:
        model = make_label_model(config.label_model, n_classes=config.n_classes, random_state=config.seed)
        probs = model.fit(L, y_known=known).predict_proba(L)
    report(progress, f"label model ({kind})", 1, 1)
    frame = pl.DataFrame({ID: ids}).with_columns(
        [pl.Series(f"p_{name}", probs[:, c]) for c, name in enumerate(config.label_names)]
    )
    path = write_frame(config.out_dir / PROBS_FILE, frame)
    predicted = np.where(known >= 0, known, probs.argmax(axis=1))
    counts = {name: int((predicted == c).sum()) for c, name in enumerate(config.label_names)}
    gold_accuracy = None
    gold = _gold_or_none(config, ids)
    if gold is not None and (gold >= 0).any():
        scored = gold >= 0
        gold_accuracy = float((predicted[scored] == gold[scored]).mean())
    update_report(config.out_dir, config.task, "label", {
        "label_model": kind,
        "items": len(ids),
        "human_labels_used": int((known >= 0).sum()),
        "predicted_class_counts": counts,
        "accuracy_vs_gold (scoring only)": gold_accuracy,
    })
    return LabelResult(n_items=len(ids), model=kind, class_counts=counts,
                       n_known=int((known >= 0).sum()), gold_accuracy=gold_accuracy, path=path)


def _final_labels(config: TaskConfig, ids: list[str], L: np.ndarray) -> pl.DataFrame:
    """id, label_index, confidence, label_source, round: from the round loop or the label model."""
    final_path = config.out_dir / FINAL_LABELS_FILE
    if final_path.is_file():
        final = pl.read_parquet(final_path).rename({"label": "label_index"})
        return pl.DataFrame({ID: ids}).join(final, on=ID, how="left", maintain_order="left")
    probs_path = config.out_dir / PROBS_FILE
    if not probs_path.is_file():
        raise RunStateError(f"{probs_path}: no labels yet; run `hitl-triage label CONFIG` first")
    probs_frame = pl.DataFrame({ID: ids}).join(pl.read_parquet(probs_path), on=ID, how="left",
                                               maintain_order="left")
    probs = probs_frame.select([f"p_{n}" for n in config.label_names]).to_numpy()
    known = _human_labels(config, ids)
    no_votes = (L == -1).all(axis=1) if L.shape[1] else np.ones(len(ids), bool)
    source = np.where(known >= 0, "human", np.where(no_votes, "prior", "model"))
    return pl.DataFrame({
        ID: ids,
        "label_index": np.where(known >= 0, known, probs.argmax(axis=1)),
        "confidence": np.where(known >= 0, 1.0, probs.max(axis=1)),
        "label_source": source,
        "round": pl.Series([None] * len(ids), dtype=pl.Int64),
    })


def _with_fields(config: TaskConfig, items: pl.DataFrame, trainset: pl.DataFrame) -> pl.DataFrame:
    """Add the shown fields other than the text (``dataset.fields``), in the configured order."""
    extra = [f.name for f in config.dataset.fields if field_column(config.dataset, f.name) != TEXT and f.name != ID]
    if not extra:
        return trainset
    return trainset.with_columns(field_values(items, config.dataset).select(extra))


def _with_corrections(config: TaskConfig, final: pl.DataFrame) -> pl.DataFrame:
    """With ``review.correction``: add ``<field>_corrected``, the latest corrected text among an
    item's live answers (null where nobody corrected it). A corrected item carries its human
    label (``label_source`` human, confidence 1), even if the last round ran before the answer.

    ``final``: ``id``, ``label_index``, ``confidence``, ``label_source``, ``round`` per item."""
    correction = config.review.correction
    if correction is None:
        return final
    ids = final[ID].to_list()
    answers = load_answers(config.out_dir)
    corrected = latest_corrections(answers, ids)
    human = pl.Series(known_labels(answers, ids))
    fixed = corrected.is_not_null() & (human >= 0)
    return final.with_columns(
        corrected.alias(f"{correction.field}_corrected"),
        pl.when(fixed).then(human).otherwise(pl.col("label_index")).alias("label_index"),
        pl.when(fixed).then(1.0).otherwise(pl.col("confidence")).alias("confidence"),
        pl.when(fixed).then(pl.lit("human")).otherwise(pl.col("label_source")).alias("label_source"),
    )


def run_export(config: TaskConfig, *, fmt: ExportFormat = "parquet", out: Path | None = None,
               force: bool = False) -> ExportResult:
    """Write the training set: id, text, the other shown fields (``dataset.fields``), label,
    label_index, confidence, label_source, round, ``<field>_corrected`` (with
    ``review.correction``), votes.

    ``out`` is a file or a folder (see :func:`hitl_triage.export.resolve_target`; default
    ``RUN_DIR/trainset/``). An existing target is replaced only if it is a previous export of
    this task, or of another task with ``force`` (see :mod:`hitl_triage.export`).

    Raises:
        ExportError: ``out`` contradicts ``fmt``, or holds something no export of this task wrote.
        RunStateError: ``apply`` or ``label`` has not run, or the dataset changed since.
    """
    target = resolve_target(fmt, out, config.out_dir / "trainset")
    check_run_dir(config.out_dir)
    ids, L, names = load_votes(config)
    dataset = load_dataset(config.dataset, n_classes=config.n_classes, label_names=config.label_names)
    if dataset.ids != ids:
        raise RunStateError(
            f"{config.out_dir / VOTES_FILE}: votes are for a different version of the dataset; "
            "run `hitl-triage apply CONFIG` again"
        )
    final = _with_corrections(config, _final_labels(config, ids, L))
    k = config.n_classes
    decode = {"old": list(range(-1, k)), "new": [None, *config.label_names], "return_dtype": pl.String}
    trainset = dataset.items.select(ID, TEXT).join(final, on=ID, how="left", maintain_order="left")
    trainset = trainset.with_columns(pl.col("label_index").replace_strict(**decode).alias("label"))
    corrected = [c for c in final.columns if c.endswith("_corrected")]
    trainset = trainset.select(ID, TEXT, "label", "label_index", "confidence", "label_source", "round", *corrected)
    trainset = _with_fields(config, dataset.items, trainset)
    if names:
        votes = pl.struct([pl.Series(name, L[:, j].astype(np.int64)).replace_strict(**decode)
                           for j, name in enumerate(names)])
        trainset = trainset.with_columns(pl.select(votes.alias("votes")).to_series())
    write_trainset(trainset, fmt=fmt, target=target, task=config.task, force=force, legacy=out is None)
    by_source = dict(trainset.group_by("label_source").len().iter_rows())
    update_report(config.out_dir, config.task, "export", {
        "path": str(target), "format": fmt, "rows": trainset.height,
        "label_sources": {str(k): int(v) for k, v in by_source.items()},
    })
    return ExportResult(path=target, n_rows=trainset.height, by_source=by_source)
