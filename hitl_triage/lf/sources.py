"""All vote sources of a task assembled into one label matrix: LFs, precomputed columns, judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hitl_triage.config import TaskConfig
from hitl_triage.data import Dataset
from hitl_triage.judge import task_judgements
from hitl_triage.lf.applier import LFFailure, Runner, apply_lfs
from hitl_triage.lf.cache import VoteCache
from hitl_triage.lf.loader import load_lfs
from hitl_triage.progress import Progress

JUDGE = "judge"


@dataclass(frozen=True)
class VoteMatrix:
    """The label matrix of a task.

    Attributes:
        L: ``(n_items, n_sources)`` int8 in ``{-1, 0, ..., k-1}``, ``-1`` = abstain; rows follow
            the dataset's item order.
        names: source name per column.
        kinds: per column ``expression``, ``row``, ``precomputed`` or ``judge``.
        failures: rows on which an LF raised (recorded as abstains).
        recomputed: LFs applied in this call (the others came from the vote cache).
    """

    L: np.ndarray
    names: list[str]
    kinds: list[str]
    failures: list[LFFailure] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)


def task_lf_modules(config: TaskConfig) -> list[Path]:
    """The task's LF files: ``lfs.modules`` and, once a suggestion was accepted, the task's
    suggestions module (see :func:`suggested_module`)."""
    extra = suggested_module(config)
    modules = list(config.lfs.modules)
    if extra.is_file() and extra.resolve() not in {m.resolve() for m in modules}:
        modules.append(extra)
    return modules


def suggested_module(config: TaskConfig) -> Path:
    """Where accepted LF suggestions go: ``<task>_suggested.py`` beside the task's first LF
    module, or in ``<run_dir>/labeling_functions/`` when the task has no LF module."""
    folder = config.lfs.modules[0].parent if config.lfs.modules else config.out_dir / "labeling_functions"
    return folder / f"{config.task}_suggested.py"


def _judge_column(config: TaskConfig, dataset: Dataset) -> np.ndarray | None:
    """The judge's vote per item as one more column of ``L`` (None if there is no judge run)."""
    judged = task_judgements(config, dataset.ids)
    return None if judged is None else np.asarray(judged.votes, dtype=np.int8)


def _runner(config: TaskConfig) -> Runner | None:
    """Where stale LF votes are computed: None (this process) or the engine's Ray cluster."""
    if config.engine.kind == "local":
        return None
    from hitl_triage.distributed.lf_runner import ray_runner

    return ray_runner(config.engine)


def apply_sources(config: TaskConfig, dataset: Dataset, *, progress: Progress | None = None) -> VoteMatrix:
    """Apply the task's LFs (with the vote cache) and add precomputed and judge votes.

    Raises:
        LabelingFunctionError: see :func:`hitl_triage.lf.applier.apply_lfs` and
            :func:`hitl_triage.lf.loader.load_lfs`.
    """
    reserved = (*dataset.precomputed_names, JUDGE)
    lfset = load_lfs(task_lf_modules(config), reserved=reserved)
    applied = apply_lfs(
        lfset,
        dataset.items,
        label_names=config.label_names,
        n_jobs=config.lfs.n_jobs,
        spacy_pipeline=config.lfs.spacy_pipeline,
        spacy_batch_size=config.lfs.spacy_batch_size,
        cache=VoteCache(config.out_dir / "votes"),
        timeout_s=config.lfs.timeout_s,
        progress=progress,
        runner=_runner(config),
    )
    blocks = [applied.L, dataset.precomputed_L]
    names = [*applied.names, *dataset.precomputed_names]
    kinds = ["expression"] * len(lfset.expression) + ["row"] * len(lfset.row)
    kinds += ["precomputed"] * len(dataset.precomputed_names)
    judge = _judge_column(config, dataset)
    if judge is not None:
        blocks.append(judge.reshape(-1, 1))
        names.append(JUDGE)
        kinds.append(JUDGE)
    L = np.hstack(blocks).astype(np.int8) if blocks else np.empty((dataset.n_items, 0), np.int8)
    return VoteMatrix(L=L, names=names, kinds=kinds, failures=applied.failures,
                      recomputed=applied.recomputed)
